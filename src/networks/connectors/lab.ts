// Lab network connector (quest): one HTTP query of a person's lab history (ORU^R01 messages) by demographics.
// Timeouts, refused connections and 5xx → ConnectorError('unreachable'); 422 → 'rejected' (demographics);
// 404 → no data (not fatal).
import { ConnectorError, type NetworkService, type PatientDemographics } from './types.ts';

export interface LabResult {
  id: string;
  /** when the result was reported (ISO) */
  date: string;
  contentType: string;
  /** the ORU^R01 message (ER7) */
  message: string;
}

export type LabHistory = { found: true; personId: string; results: LabResult[] } | { found: false; reason: string };

export interface LabConnector {
  service: NetworkService;
  /** results reported on or after `since` (YYYY-MM-DD) */
  labHistory(patient: PatientDemographics, since: string): Promise<LabHistory>;
}

export function httpLabConnector(o: { service: NetworkService; baseUrl: string; timeoutMs?: number; maxBytes?: number }): LabConnector {
  const timeout = o.timeoutMs ?? 30_000;
  const maxBytes = o.maxBytes ?? 50 * 1024 * 1024;
  return {
    service: o.service,
    async labHistory(patient, since) {
      let res: Response;
      let text: string;
      try {
        res = await fetch(`${o.baseUrl.replace(/\/$/, '')}/lab-history`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ ...patient, since }),
          signal: AbortSignal.timeout(timeout),
        });
        text = await res.text();
      } catch (err) {
        const e = err as { name?: string; message?: string; cause?: { code?: string } };
        throw new ConnectorError('unreachable', `${o.service} unreachable: ${e.cause?.code ?? e.name ?? ''} ${e.message ?? ''}`.trim());
      }
      if (res.status >= 500) throw new ConnectorError('unreachable', `${o.service} answered ${res.status}`);
      if (text.length > maxBytes) throw new ConnectorError('protocol', `${o.service}: response larger than ${maxBytes} bytes`);
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        throw new ConnectorError('protocol', `${o.service}: the answer is not JSON (status ${res.status})`);
      }
      if (res.status === 404) return { found: false, reason: String(body?.error ?? 'no match') };
      if (res.status === 422 || res.status === 400) throw new ConnectorError('rejected', `${o.service} rejected the demographics: ${String(body?.error ?? res.status)}`);
      if (res.status !== 200 || !Array.isArray(body?.results)) throw new ConnectorError('protocol', `${o.service}: unexpected answer (status ${res.status})`);
      const results: LabResult[] = body.results
        .filter((r: any) => typeof r?.id === 'string' && typeof r?.message === 'string')
        .map((r: any) => ({ id: r.id, date: String(r.date ?? ''), contentType: String(r.contentType ?? 'x-application/hl7-v2+er7'), message: r.message }));
      return { found: true, personId: String(body.personId ?? ''), results };
    },
  };
}
