// Creating, listing and cancelling patient-history jobs (spec/002, notes §4).
import type { Database, Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import { newId } from '../platform/ids.ts';
import { HttpError, badRequest, notFound, unprocessable, type ErrorDetail } from '../platform/errors.ts';
import type { AccessContext } from '../access/context.ts';
import { requirePermission } from '../access/context.ts';
import type { FhirStore } from '../fhir/store/index.ts';
import { Queue } from '../queue/index.ts';
import type { NetworkService } from '../networks/connectors/types.ts';
import { CHART_BUILD_TYPES, DEFAULT_CHART_BUILD_TYPE, isValidNpi, parseTargetDate, patientDemographics } from './rules.ts';
import { loadJob, loadProviders, jobJson, type JobRow } from './jobs.ts';
import type { HistoryConfig } from './config.ts';

export const NPI_SYSTEM = 'http://hl7.org/fhir/sid/us-npi';

export interface ProviderTask {
  jobId: string;
  service: NetworkService;
}

export function providerQueue(db: Database, clock: Clock, service: NetworkService, cfg: HistoryConfig): Queue<ProviderTask> {
  // A crash of our own (process killed, database error) is retried; the network's own answers are final.
  return new Queue<ProviderTask>(db, clock, `patient-history:${service}`, { maxFailures: cfg.maxAttempts, retryDelayMs: 30_000 });
}

export interface CreateJobInput {
  body: unknown;
  /** why the job runs, shown on the job (API request, or a refresh trigger) */
  reason?: string;
}

/** A job the platform starts by itself (subscription refreshes): no request validation, consent attested by the enrollment. */
export interface RefreshJobInput {
  builderId: string;
  patientId: string;
  practitionerId: string;
  practitioner: { npi: string; name?: string; role?: string };
  /** history services to query; the ones this runner lacks are left out */
  services: string[];
  /** why the job runs, shown on the job (e.g. `appointment:<id>`) */
  reason: string;
  runAt?: Date;
  priority?: boolean;
}

const err = (message: string, pointer: string, code = 'invalid'): ErrorDetail => ({ code, message, path: pointer });

export class HistoryService {
  readonly queues: Map<NetworkService, Queue<ProviderTask>>;
  /** producers in this process wake the runners (set by the worker) */
  onEnqueued: (services: NetworkService[]) => void = () => {};

  constructor(readonly db: Database, readonly clock: Clock, readonly store: FhirStore, readonly cfg: HistoryConfig) {
    this.queues = new Map((['commonwell', 'carequality', 'surescripts', 'quest'] as NetworkService[]).map((s) => [s, providerQueue(db, clock, s, cfg)]));
  }

  async create(ctx: AccessContext, input: CreateJobInput): Promise<ReturnType<typeof jobJson>> {
    requirePermission(ctx, 'patient-history:manage');
    const builderId = ctx.writeBuilderId;
    if (!builderId) throw new HttpError(403, 'forbidden', 'This client cannot create jobs (it acts for no builder)');
    const body = input.body as any;
    if (typeof body !== 'object' || body === null || typeof body.data !== 'object' || body.data === null) throw badRequest('The body must be a JSON:API document with `data`', [err('`data` is required', '/data', 'structure')]);
    const data = body.data;
    if (data.type !== undefined && data.type !== 'patient-history/jobs') throw badRequest("data.type must be 'patient-history/jobs'", [err("data.type must be 'patient-history/jobs'", '/data/type')]);
    const attrs = (data.attributes ?? {}) as Record<string, any>;
    const rels = (data.relationships ?? {}) as Record<string, any>;

    const attrPractitioner = attrs.practitioner;
    const relPractitionerId = rels.practitioner?.data?.id;
    if (attrPractitioner !== undefined && relPractitionerId !== undefined) {
      throw badRequest('Give the practitioner either in attributes or in relationships, not both', [err('practitioner is present in both attributes and relationships', '/data/attributes/practitioner')]);
    }
    const patientId = rels.patient?.data?.id;
    const problems: ErrorDetail[] = [];
    if (typeof patientId !== 'string' || !patientId) problems.push(err('relationships.patient is required', '/data/relationships/patient', 'required'));
    if (attrPractitioner === undefined && relPractitionerId === undefined) problems.push(err('A practitioner is required (attributes.practitioner with npi, name and role, or relationships.practitioner)', '/data/attributes/practitioner', 'required'));
    if (attrPractitioner !== undefined) {
      if (typeof attrPractitioner !== 'object' || attrPractitioner === null) problems.push(err('attributes.practitioner must be an object with npi, name and role', '/data/attributes/practitioner'));
      else if (typeof attrPractitioner.npi !== 'string' || !isValidNpi(attrPractitioner.npi)) problems.push(err(`NPI '${attrPractitioner.npi ?? ''}' is not a valid individual NPI (10 digits with a valid check digit)`, '/data/attributes/practitioner/npi'));
    }
    const chartBuildType = attrs.chartBuildType ?? DEFAULT_CHART_BUILD_TYPE;
    if (!CHART_BUILD_TYPES[chartBuildType]) problems.push(err(`chartBuildType must be one of ${Object.keys(CHART_BUILD_TYPES).join(', ')}`, '/data/attributes/chartBuildType'));
    // The reference docs place targetDate beside attributes; accept it in either place.
    const rawTarget = data.targetDate ?? attrs.targetDate;
    let targetDate: Date | null = null;
    if (rawTarget !== undefined && rawTarget !== null) {
      targetDate = typeof rawTarget === 'string' ? parseTargetDate(rawTarget) : null;
      if (!targetDate) problems.push(err('targetDate must be an RFC 3339 date-time with a time zone (e.g. 2023-09-01T07:00:00Z) or a date (YYYY-MM-DD)', '/data/targetDate'));
    }
    if (attrs.requestConsent !== undefined && typeof attrs.requestConsent !== 'boolean') problems.push(err('requestConsent must be a boolean', '/data/attributes/requestConsent'));
    if (problems.length) throw unprocessable(problems.map((p) => p.message).join('; '), problems);

    // The patient must be the caller's own, with the demographics networks need.
    const patient = await this.store.read(ctx, 'Patient', patientId).catch((e) => {
      if (e instanceof HttpError && (e.status === 404 || e.status === 410)) throw unprocessable(`Patient/${patientId} is not a patient of your builder`, [err(`Patient/${patientId} not found in your builder`, '/data/relationships/patient/data/id', 'not-found')]);
      throw e;
    });
    const owner = ((patient.resource?.meta as any)?.tag ?? []).find((t: any) => t.system === 'https://zusapi.com/accesscontrol/owner')?.code;
    if (owner !== `builder/${builderId}`) throw unprocessable(`Patient/${patientId} is not a patient of your builder`, [err('The patient belongs to another builder', '/data/relationships/patient/data/id', 'forbidden')]);
    const demo = patientDemographics(patient.resource!);
    if (demo.missing.length) {
      throw unprocessable(`The patient lacks demographics needed for matching: ${demo.missing.join(', ')}`, demo.missing.map((m) => err(`Patient is missing ${m}`, `/fhir/Patient/${patientId}`, 'required')));
    }

    // Consent: the attestation, or an active Consent resource for the patient.
    if (attrs.requestConsent !== true) {
      const consents = await this.store.search(ctx, 'Consent', [['patient', `Patient/${patientId}`], ['status', 'active'], ['_count', '1']]);
      if (consents.result.matches.length === 0) {
        throw unprocessable('Consent is required: set attributes.requestConsent to true or record an active Consent resource for the patient', [err('requestConsent must be true, or the patient needs an active Consent', '/data/attributes/requestConsent', 'business-rule')]);
      }
    }

    let practitionerId: string;
    let practitioner: { npi: string; name?: string; role?: string };
    if (relPractitionerId !== undefined) {
      const pr = await this.store.read(ctx, 'Practitioner', String(relPractitionerId)).catch((e) => {
        if (e instanceof HttpError && (e.status === 404 || e.status === 410)) throw unprocessable(`Practitioner/${relPractitionerId} not found`, [err('Practitioner not found', '/data/relationships/practitioner/data/id', 'not-found')]);
        throw e;
      });
      const npi = ((pr.resource?.identifier as any[]) ?? []).find((i) => i.system === NPI_SYSTEM)?.value;
      if (!npi || !isValidNpi(npi)) throw unprocessable('The practitioner has no valid individual NPI', [err(`Practitioner/${relPractitionerId} needs an identifier ${NPI_SYSTEM} with a valid NPI`, '/data/relationships/practitioner/data/id')]);
      const n = ((pr.resource?.name as any[]) ?? [])[0];
      practitionerId = pr.id;
      practitioner = { npi, name: n ? [...(n.given ?? []), n.family].filter(Boolean).join(' ') : undefined };
    } else {
      practitioner = { npi: attrPractitioner.npi, ...(attrPractitioner.name ? { name: String(attrPractitioner.name) } : {}), ...(attrPractitioner.role ? { role: String(attrPractitioner.role) } : {}) };
      practitionerId = await this.findOrCreatePractitioner(ctx, practitioner);
    }

    const now = this.clock.now();
    const runAt = targetDate ? new Date(Math.max(now.getTime(), targetDate.getTime() - this.cfg.leadTimeMs)) : now;
    const services = CHART_BUILD_TYPES[chartBuildType]!;
    const id = newId();
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO patient_history_jobs (id, builder_id, patient_id, practitioner_id, practitioner, request_consent, chart_build_type, priority, target_date, run_at, status, reason, created_at, last_updated_at)
         VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7,$8,$9,$10,'initialize',$11,$12,$12)`,
        [id, builderId, patientId, practitionerId, JSON.stringify(practitioner), attrs.requestConsent === true, chartBuildType, attrs.priority === true, targetDate, runAt, input.reason ?? 'api', now],
      );
      await tx.query(`INSERT INTO patient_history_providers (job_id, service, status) SELECT $1, s, 'initialize' FROM unnest($2::text[]) AS s`, [id, services]);
      for (const s of services) await this.queues.get(s)!.enqueue(tx, [{ payload: { jobId: id, service: s }, groupKey: id, dedupeKey: `${id}:${s}`, runAt }]);
    });
    this.onEnqueued(services);
    const loaded = (await loadJob(this.db, id))!;
    return jobJson(loaded.job, loaded.providers);
  }

  /**
   * Creates a job for a system trigger (subscriptions), inside `tx` when given (the caller wakes the runners with
   * onEnqueued after its commit). Returns the job id, or null when none of the services is available.
   */
  async createRefreshJob(input: RefreshJobInput, tx?: Queryable): Promise<{ id: string; services: NetworkService[] } | null> {
    const services = input.services.filter((s) => this.queues.has(s as NetworkService)) as NetworkService[];
    if (services.length === 0) return null;
    const now = this.clock.now();
    const runAt = input.runAt ?? now;
    const chartBuildType = Object.entries(CHART_BUILD_TYPES).find(([, list]) => list.length === services.length && list.every((s) => services.includes(s)))?.[0] ?? 'subscription-refresh';
    const id = newId();
    const write = async (q: Queryable) => {
      await q.query(
        `INSERT INTO patient_history_jobs (id, builder_id, patient_id, practitioner_id, practitioner, request_consent, chart_build_type, priority, target_date, run_at, status, reason, created_at, last_updated_at)
         VALUES ($1,$2,$3,$4,$5::jsonb,true,$6,$7,NULL,$8,'initialize',$9,$10,$10)`,
        [id, input.builderId, input.patientId, input.practitionerId, JSON.stringify(input.practitioner), chartBuildType, input.priority === true, runAt, input.reason, now],
      );
      await q.query(`INSERT INTO patient_history_providers (job_id, service, status) SELECT $1, s, 'initialize' FROM unnest($2::text[]) AS s`, [id, services]);
      for (const s of services) await this.queues.get(s)!.enqueue(q, [{ payload: { jobId: id, service: s }, groupKey: id, dedupeKey: `${id}:${s}`, runAt }]);
    };
    if (tx) await write(tx);
    else {
      await this.db.transaction(write);
      this.onEnqueued(services);
    }
    return { id, services };
  }

  /**
   * Find a Practitioner of the builder by NPI, or create one (spec/002). Imported documents may carry the same
   * NPI, so several can match: a first-party one (no third-party source tag) wins, then the oldest.
   */
  async findOrCreatePractitioner(ctx: AccessContext, p: { npi: string; name?: string }): Promise<string> {
    const criteria = `identifier=${encodeURIComponent(`${NPI_SYSTEM}|${p.npi}`)}`;
    const find = async () => {
      const found = await this.store.search(ctx, 'Practitioner', [['identifier', `${NPI_SYSTEM}|${p.npi}`], ['_sort', '_lastUpdated'], ['_count', '50']]);
      const rows = found.result.matches;
      const firstParty = rows.find((r) => !((r.content.meta as any)?.tag ?? []).some((t: any) => t.system === 'https://zusapi.com/thirdparty/source'));
      return (firstParty ?? rows[0])?.id;
    };
    const existing = await find();
    if (existing) return existing;
    const parts = (p.name ?? '').trim().split(/\s+/).filter(Boolean);
    const resource = {
      resourceType: 'Practitioner',
      identifier: [{ system: NPI_SYSTEM, value: p.npi }],
      ...(parts.length ? { name: [{ family: parts.length > 1 ? parts[parts.length - 1] : parts[0], ...(parts.length > 1 ? { given: parts.slice(0, -1) } : {}), text: p.name }] } : {}),
    };
    try {
      return (await this.store.conditionalCreate(ctx, resource, criteria)).id;
    } catch (e) {
      // Lost a race with a concurrent request that created it: use theirs.
      if (e instanceof HttpError && e.status === 412) return (await find())!;
      throw e;
    }
  }

  private visibleBuilders(ctx: AccessContext): string[] {
    return ctx.principal.isPlatformAdmin ? [] : ctx.readBuilderIds;
  }

  async get(ctx: AccessContext, id: string) {
    const loaded = await loadJob(this.db, id);
    if (!loaded || !this.visibleBuilders(ctx).includes(loaded.job.builder_id)) throw notFound('Job not found');
    return jobJson(loaded.job, loaded.providers);
  }

  async list(ctx: AccessContext, q: Record<string, unknown>, limit: number, offset: number) {
    let builders = this.visibleBuilders(ctx);
    const str = (k: string) => (typeof q[k] === 'string' && q[k] !== '' ? (q[k] as string) : undefined);
    const fb = str('filter[builder-id]');
    if (fb) builders = builders.filter((b) => b === fb);
    const conds = ['builder_id = ANY($1::text[])'];
    const params: unknown[] = [builders];
    const pid = str('filter[patient-id]');
    if (pid) { params.push(pid); conds.push(`patient_id = $${params.length}`); }
    const status = str('filter[status]');
    if (status) { params.push(status.split(',')); conds.push(`status = ANY($${params.length}::text[])`); }
    const until = str('filter[targetDate][until]') ?? str('filter[target-date][until]');
    if (until) {
      const d = parseTargetDate(until) ?? (Number.isNaN(new Date(until).getTime()) ? null : new Date(until));
      if (!d) throw badRequest('filter[targetDate][until] must be a date (yyyy-MM-dd) or an RFC 3339 date-time');
      params.push(/^\d{4}-\d{2}-\d{2}$/.test(until) ? new Date(`${until}T23:59:59.999Z`) : d);
      conds.push(`target_date <= $${params.length}`);
    }
    const where = conds.join(' AND ');
    const total = (await this.db.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM patient_history_jobs WHERE ${where}`, params)).rows[0]!.n;
    const rows = (await this.db.query<JobRow>(`SELECT * FROM patient_history_jobs WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`, params)).rows;
    const providers = await loadProviders(this.db, rows.map((r) => r.id));
    return { data: rows.map((r) => jobJson(r, providers.get(r.id) ?? [])), total };
  }

  /** Cancels a job that has not started (scheduled or queued); 409 once a network has been contacted. */
  async cancel(ctx: AccessContext, id: string): Promise<void> {
    requirePermission(ctx, 'patient-history:manage');
    await this.db.transaction(async (tx) => {
      const j = (await tx.query<JobRow>('SELECT * FROM patient_history_jobs WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!j || !ctx.readBuilderIds.includes(j.builder_id)) throw notFound('Job not found');
      if (j.status !== 'initialize') throw new HttpError(409, 'conflict', `The job has already started (status ${j.status}) and can no longer be cancelled`);
      await tx.query("DELETE FROM queue_jobs WHERE group_key = $1 AND status = 'pending'", [id]);
      await tx.query('DELETE FROM patient_history_jobs WHERE id = $1', [id]);
    });
  }
}
