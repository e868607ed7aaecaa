// Errors carry an HTTP status and a machine code; the HTTP layer renders them as a FHIR
// OperationOutcome (under /fhir) or JSON:API `errors` (elsewhere).
export interface ErrorDetail {
  /** FHIR issue-type code (invalid, not-found, forbidden, conflict, ...) */
  code: string;
  message: string;
  /** FHIRPath-like location or JSON pointer of the offending input */
  path?: string;
  severity?: 'fatal' | 'error' | 'warning' | 'information';
}

export class HttpError extends Error {
  readonly status: number;
  readonly details: ErrorDetail[];
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, details?: ErrorDetail[], headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.details = details && details.length > 0 ? details : [{ code, message }];
    this.headers = headers;
  }
}

export const badRequest = (message: string, details?: ErrorDetail[]) => new HttpError(400, 'invalid', message, details);
export const unauthorized = (message = 'Authentication required') => new HttpError(401, 'login', message);
export const forbidden = (message = 'Forbidden') => new HttpError(403, 'forbidden', message);
export const notFound = (message = 'Not found') => new HttpError(404, 'not-found', message);
export const conflict = (message: string) => new HttpError(409, 'conflict', message);
export const gone = (message: string) => new HttpError(410, 'deleted', message);
export const preconditionFailed = (message: string) => new HttpError(412, 'conflict', message);
export const unprocessable = (message: string, details?: ErrorDetail[]) => new HttpError(422, 'processing', message, details);
export const tooManyRequests = (message: string, retryAfterSeconds: number) =>
  new HttpError(429, 'throttled', message, undefined, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });
