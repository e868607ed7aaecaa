import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError, type ErrorDetail } from '../platform/errors.ts';

/** FHIR endpoints answer errors with an OperationOutcome; everything else with JSON:API `errors`. */
export function isFhirPath(url: string): boolean {
  return url === '/fhir' || url.startsWith('/fhir/') || url.startsWith('/fhir?');
}

export function operationOutcome(details: ErrorDetail[]) {
  return {
    resourceType: 'OperationOutcome',
    issue: details.map((d) => ({
      severity: d.severity ?? 'error',
      code: d.code,
      diagnostics: d.message,
      ...(d.path ? { expression: [d.path] } : {}),
    })),
  };
}

export function jsonApiErrors(status: number, details: ErrorDetail[]) {
  return {
    errors: details.map((d) => ({
      status: String(status),
      code: d.code,
      title: d.message,
      ...(d.path ? { source: { pointer: d.path } } : {}),
    })),
  };
}

/** Normalises anything thrown into an HttpError (Fastify's own errors keep their status). */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const fe = err as FastifyError;
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = fe.statusCode === 413 ? 'too-costly' : fe.statusCode === 415 ? 'not-supported' : fe.statusCode === 404 ? 'not-found' : 'invalid';
    const message = fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'Request body is too large'
      : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? `Unsupported content type` : fe.message;
    return new HttpError(fe.statusCode, code, message);
  }
  return new HttpError(500, 'exception', 'Internal server error');
}

export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown) {
  const e = toHttpError(err);
  if (e.status >= 500) request.log.error({ err }, 'request failed');
  for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
  if (e.status === 401 && !isFhirPath(request.url) && request.url.startsWith('/oauth/')) {
    return reply.status(401).send({ error: 'invalid_client', error_description: e.message });
  }
  if (isFhirPath(request.url)) {
    return reply.status(e.status).type('application/fhir+json; charset=utf-8').send(operationOutcome(e.details));
  }
  return reply.status(e.status).type('application/vnd.api+json; charset=utf-8').send(jsonApiErrors(e.status, e.details));
}
