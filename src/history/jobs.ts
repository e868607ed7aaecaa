// Patient-history job records and their JSON:API shape (notes §4).
import type { Queryable } from '../db/types.ts';
import type { NetworkService } from '../networks/connectors/types.ts';

export type ProviderStatus = 'initialize' | 'in_progress' | 'done' | 'error';

export interface JobRow {
  id: string;
  builder_id: string;
  patient_id: string;
  practitioner_id: string;
  practitioner: { npi: string; name?: string; role?: string };
  request_consent: boolean;
  chart_build_type: string;
  priority: boolean;
  target_date: Date | null;
  run_at: Date;
  status: ProviderStatus;
  reason: string | null;
  created_at: Date;
  last_updated_at: Date;
}

export interface ProviderRow {
  job_id: string;
  service: NetworkService;
  status: ProviderStatus;
  counts: Record<string, number>;
  errors: string[];
  started_at: Date | null;
  finished_at: Date | null;
}

const epoch = (d: Date) => String(Math.floor(d.getTime() / 1000));

export function jobJson(job: JobRow, providers: ProviderRow[]) {
  return {
    type: 'patient-history/jobs',
    id: job.id,
    attributes: {
      createdAt: epoch(job.created_at),
      lastUpdatedAt: epoch(job.last_updated_at),
      status: job.status,
      requestConsent: job.request_consent,
      practitioner: job.practitioner,
      chartBuildType: job.chart_build_type,
      priority: job.priority,
      ...(job.target_date ? { targetDate: job.target_date.toISOString() } : {}),
      scheduledFor: job.run_at.toISOString(),
      ...(job.reason ? { reason: job.reason } : {}),
      providers: providers.map((p) => ({ service: p.service, status: p.status, counts: p.counts, ...(p.errors.length ? { errors: p.errors } : {}) })),
    },
    relationships: {
      patient: { data: { type: 'fhir/Patient', id: job.patient_id } },
      practitioner: { data: { type: 'fhir/Practitioner', id: job.practitioner_id } },
    },
  };
}

/** The umbrella status: error if any provider errored; done when all are done; in_progress once any started. */
export const DERIVE_STATUS_SQL = `
  (SELECT CASE
     WHEN bool_or(p.status = 'error') AND bool_and(p.status IN ('done','error')) THEN 'error'
     WHEN bool_and(p.status = 'done') THEN 'done'
     WHEN bool_and(p.status = 'initialize') THEN 'initialize'
     ELSE 'in_progress' END
   FROM patient_history_providers p WHERE p.job_id = $1)`;

export async function setProviderStatus(q: Queryable, jobId: string, service: string, status: ProviderStatus, now: Date, extra: { counts?: Record<string, number>; errors?: string[] } = {}): Promise<void> {
  await q.query(
    `UPDATE patient_history_providers SET status = $3,
       counts = COALESCE($4::jsonb, counts), errors = COALESCE($5::jsonb, errors),
       started_at = CASE WHEN $3 = 'in_progress' AND started_at IS NULL THEN $6 ELSE started_at END,
       finished_at = CASE WHEN $3 IN ('done','error') THEN $6 ELSE NULL END
     WHERE job_id = $1 AND service = $2`,
    [jobId, service, status, extra.counts ? JSON.stringify(extra.counts) : null, extra.errors ? JSON.stringify(extra.errors) : null, now],
  );
  await q.query(`UPDATE patient_history_jobs SET status = ${DERIVE_STATUS_SQL}, last_updated_at = $2 WHERE id = $1`, [jobId, now]);
}

export async function loadJob(q: Queryable, id: string): Promise<{ job: JobRow; providers: ProviderRow[] } | null> {
  const j = (await q.query<JobRow>('SELECT * FROM patient_history_jobs WHERE id = $1', [id])).rows[0];
  if (!j) return null;
  const p = (await q.query<ProviderRow>('SELECT * FROM patient_history_providers WHERE job_id = $1 ORDER BY service', [id])).rows;
  return { job: j, providers: p };
}

export async function loadProviders(q: Queryable, ids: string[]): Promise<Map<string, ProviderRow[]>> {
  const out = new Map<string, ProviderRow[]>();
  if (ids.length === 0) return out;
  const rows = (await q.query<ProviderRow>('SELECT * FROM patient_history_providers WHERE job_id = ANY($1::text[]) ORDER BY service', [ids])).rows;
  for (const r of rows) {
    const list = out.get(r.job_id) ?? [];
    list.push(r);
    out.set(r.job_id, list);
  }
  return out;
}
