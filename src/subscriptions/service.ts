// ZAP Data Subscriptions (spec/001, notes §3): packages, one enrollment per builder Patient, and the triggers of
// the intelligent refresh. Triggers are recorded as rows of the durable schedule (subscription_refreshes) inside
// the transaction of the write that caused them (a store write interceptor); the refresh engine (engine.ts)
// turns due rows into patient-history jobs.
import type { Database, Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { newId } from '../platform/ids.ts';
import { HttpError, badRequest, conflict, forbidden, notFound, unprocessable, type ErrorDetail } from '../platform/errors.ts';
import type { AccessContext } from '../access/context.ts';
import { requirePermission } from '../access/context.ts';
import type { FhirResource, FhirStore, WriteInterceptor } from '../fhir/store/index.ts';
import type { HistoryService } from '../history/service.ts';
import { systemContext } from '../history/runner.ts';
import { isValidNpi } from '../history/rules.ts';
import { readData, relationshipId } from '../server/jsonapi.ts';
import type { SubscriptionsConfig } from './config.ts';
import {
  ADT_SOURCES, appointmentDue, appointmentIsUpcoming, appointmentPatientId, expectedRefill, isDischarge, packageMetaProblems, patientRefId,
  recurringGroups, recurringKey, sourceTagOf, validationIssues, watchesPharmacy, type PackageMeta, type ValidationIssue,
} from './rules.ts';

export const PACKAGE_TYPE = 'zap-data-subscriptions/package';
export const ENROLLMENT_TYPE = 'zap-data-subscriptions/enrollment-status';
/** data.type of the medplum bot's requests (notes §3) */
const BOT_ENROLLMENT_TYPE = 'patient-data-subscriptions/enrollment-status';

export interface PackageRow {
  id: string;
  name: string;
  description: string;
  meta: PackageMeta;
  created_at: Date;
}

export interface Practitioner {
  npi: string;
  name?: string;
  role?: string;
}

export interface EnrollmentRow {
  builder_id: string;
  patient_id: string;
  package_id: string;
  status: 'pending' | 'active' | 'inactive';
  practitioner: Practitioner;
  practitioner_id: string | null;
  priority: boolean;
  validation_issues: ValidationIssue[];
  created_at: Date;
  updated_at: Date;
}

export interface RefreshRow {
  id: string;
  builder_id: string;
  patient_id: string;
  reason_key: string;
  kind: string;
  providers: string[];
  due_at: Date;
  priority: boolean;
  status: 'pending' | 'started' | 'cancelled' | 'skipped';
  job_id: string | null;
  detail: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

const iso = (d: Date) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
const err = (message: string, path: string, code = 'invalid'): ErrorDetail => ({ code, message, path });

export function packageJson(p: PackageRow) {
  return { type: PACKAGE_TYPE, id: p.id, attributes: { name: p.name, description: p.description, meta: p.meta } };
}

export function enrollmentJson(e: EnrollmentRow) {
  return {
    type: ENROLLMENT_TYPE,
    id: `${e.patient_id}:${e.package_id}`,
    attributes: {
      createdAt: iso(e.created_at),
      updatedAt: iso(e.updated_at),
      practitioner: e.practitioner,
      status: e.status,
      priority: e.priority,
      ...(e.validation_issues.length ? { validationIssues: e.validation_issues } : {}),
    },
    relationships: {
      patient: { data: { type: 'fhir/Patient', id: e.patient_id } },
      package: { data: { type: PACKAGE_TYPE, id: e.package_id } },
    },
  };
}

export function refreshJson(r: RefreshRow) {
  return {
    type: 'zap-data-subscriptions/refresh',
    id: r.id,
    attributes: {
      reason: r.reason_key, kind: r.kind, providers: r.providers, dueAt: iso(r.due_at), priority: r.priority, status: r.status,
      detail: r.detail, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at),
    },
    relationships: {
      patient: { data: { type: 'fhir/Patient', id: r.patient_id } },
      ...(r.job_id ? { job: { data: { type: 'patient-history/jobs', id: r.job_id } } } : {}),
    },
  };
}

/** The initial pull: the package's initialProviders, plus the lab network's history when labs are subscribed. */
export function initialProviders(meta: PackageMeta): string[] {
  const out = [...(meta.initialProviders ?? [])];
  if ((meta.subscriptionProviders ?? []).includes('quest') && !out.includes('quest')) out.push('quest');
  return out;
}

/** Validates and stores a package given as a JSON:API document (`POST /zap-data-subscriptions/packages`, CLI). */
export async function insertPackage(db: Queryable, clock: Clock, body: unknown): Promise<PackageRow> {
  const d = readData(body, PACKAGE_TYPE);
  const problems: ErrorDetail[] = [];
  const id = d.id ?? newId();
  if (typeof id !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(id)) problems.push(err('id must be 1–64 letters, digits, "-" or "."', '/data/id'));
  const name = d.attributes.name;
  if (typeof name !== 'string' || !name.trim()) problems.push(err('attributes.name is required', '/data/attributes/name', 'required'));
  const description = d.attributes.description ?? '';
  if (typeof description !== 'string') problems.push(err('attributes.description must be a string', '/data/attributes/description'));
  for (const p of packageMetaProblems(d.attributes.meta)) problems.push(err(p, '/data/attributes/meta'));
  if (problems.length) throw unprocessable(problems.map((p) => p.message).join('; '), problems);
  const r = await db.query<PackageRow>(
    'INSERT INTO subscription_packages (id, name, description, meta, created_at) VALUES ($1,$2,$3,$4::jsonb,$5) ON CONFLICT (id) DO NOTHING RETURNING *',
    [id, String(name).trim(), description, JSON.stringify(d.attributes.meta), clock.now()],
  );
  if (!r.rows[0]) throw conflict(`Package ${id} already exists`);
  return r.rows[0];
}

export class SubscriptionService {
  /** producers in this process wake the refresh worker (set by the worker) */
  onScheduled: () => void = () => {};
  logger: Logger | null = null;

  constructor(readonly db: Database, readonly clock: Clock, readonly store: FhirStore, readonly history: HistoryService, readonly cfg: SubscriptionsConfig) {}

  // ------------------------------------------------------------------ packages

  async listPackages(): Promise<PackageRow[]> {
    return (await this.db.query<PackageRow>('SELECT * FROM subscription_packages ORDER BY created_at, id')).rows;
  }

  /** Packages are never changed once created (there is no update or delete), so they are cached by id. */
  readonly #packages = new Map<string, PackageRow>();

  async getPackage(id: string, q: Queryable = this.db): Promise<PackageRow | null> {
    const cached = this.#packages.get(id);
    if (cached) return cached;
    const row = (await q.query<PackageRow>('SELECT * FROM subscription_packages WHERE id = $1', [id])).rows[0] ?? null;
    if (row && this.#packages.size < 10_000) this.#packages.set(id, row);
    return row;
  }

  /** Adds an operator-defined package (platform admin only). */
  async addPackage(ctx: AccessContext | null, body: unknown): Promise<PackageRow> {
    if (ctx && !ctx.principal.isPlatformAdmin) throw forbidden('Only the platform admin may add packages');
    return insertPackage(this.db, this.clock, body);
  }

  // ------------------------------------------------------------------ enrollments

  private builderOf(ctx: AccessContext): string {
    const b = ctx.writeBuilderId ?? ctx.principal.builderId;
    if (!b) throw forbidden('This client acts for no builder');
    return b;
  }

  private readPractitioner(attrs: Record<string, unknown>, problems: ErrorDetail[], required: boolean): Practitioner | undefined {
    const key = attrs.practitioner !== undefined ? 'practitioner' : attrs.provider !== undefined ? 'provider' : null;
    if (!key) {
      if (required) problems.push(err('attributes.practitioner (or provider) with npi, name and role is required', '/data/attributes/practitioner', 'required'));
      return undefined;
    }
    const p = attrs[key] as Record<string, unknown>;
    const path = `/data/attributes/${key}`;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      problems.push(err(`attributes.${key} must be an object with npi, name and role`, path));
      return undefined;
    }
    if (typeof p.npi !== 'string' || !isValidNpi(p.npi)) problems.push(err(`NPI '${String(p.npi ?? '')}' is not a valid individual NPI (10 digits with a valid check digit)`, `${path}/npi`));
    if (p.name !== undefined && typeof p.name !== 'string') problems.push(err(`attributes.${key}.name must be a string`, `${path}/name`));
    if (p.role !== undefined && typeof p.role !== 'string') problems.push(err(`attributes.${key}.role must be a string`, `${path}/role`));
    return { npi: String(p.npi), ...(typeof p.name === 'string' ? { name: p.name } : {}), ...(typeof p.role === 'string' ? { role: p.role } : {}) };
  }

  private readEnrollmentData(body: unknown) {
    const d = readData(body);
    if (d.type !== undefined && d.type !== ENROLLMENT_TYPE && d.type !== BOT_ENROLLMENT_TYPE) {
      throw badRequest(`data.type must be '${ENROLLMENT_TYPE}'`, [err(`data.type must be '${ENROLLMENT_TYPE}'`, '/data/type', 'value')]);
    }
    return d;
  }

  /** The builder's own Patient (not a UPID, not another builder's, not one seen through a grant). */
  private async ownPatient(builderId: string, patientId: string): Promise<FhirResource> {
    const notOurs = () => unprocessable(`Patient/${patientId} is not builder's patient`, [err(`Patient/${patientId} is not builder's patient`, '/data/relationships/patient/data/id', 'not-found')]);
    const ctx = systemContext(builderId, 'subscriptions');
    const p = await this.store.read(ctx, 'Patient', patientId).catch((e) => {
      if (e instanceof HttpError && (e.status === 404 || e.status === 410)) throw notOurs();
      throw e;
    });
    const owner = (((p.resource?.meta as any)?.tag ?? []) as any[]).find((t) => t.system === 'https://zusapi.com/accesscontrol/owner')?.code;
    if (owner !== `builder/${builderId}`) throw notOurs();
    return p.resource!;
  }

  async enroll(ctx: AccessContext, body: unknown): Promise<EnrollmentRow> {
    requirePermission(ctx, 'subscriptions:manage');
    const builderId = this.builderOf(ctx);
    const d = this.readEnrollmentData(body);
    const problems: ErrorDetail[] = [];
    const practitioner = this.readPractitioner(d.attributes, problems, true);
    const priority = d.attributes.priority ?? false;
    if (typeof priority !== 'boolean') problems.push(err('attributes.priority must be a boolean', '/data/attributes/priority'));
    if (d.attributes.status !== undefined && d.attributes.status !== 'active') problems.push(err("attributes.status may only be 'active' when enrolling", '/data/attributes/status'));
    const patientId = relationshipId(d.relationships, 'patient');
    if (!patientId) problems.push(err('relationships.patient is required', '/data/relationships/patient', 'required'));
    const packageId = relationshipId(d.relationships, 'package') ?? (d.relationships.package === undefined ? this.cfg.defaultPackageId : undefined);
    if (!packageId) problems.push(err('relationships.package must name a package', '/data/relationships/package', 'required'));
    if (problems.length) throw unprocessable(problems.map((p) => p.message).join('; '), problems);
    const pkg = await this.getPackage(packageId!);
    if (!pkg) throw unprocessable(`Package ${packageId} not found`, [err(`Package ${packageId} not found`, '/data/relationships/package/data/id', 'not-found')]);
    const patient = await this.ownPatient(builderId, patientId!);
    const practitionerId = await this.history.findOrCreatePractitioner(systemContext(builderId, 'subscriptions'), practitioner!);
    const now = this.clock.now();
    const row = await this.db.transaction(async (tx) => {
      // The Patient as of this transaction (it may have been fixed since it was read above).
      const current = (await tx.query<{ content: FhirResource | null }>("SELECT content FROM resources WHERE type = 'Patient' AND id = $1 AND NOT deleted", [patientId])).rows[0]?.content ?? patient;
      const issues = validationIssues(current);
      const status = issues.length ? 'pending' : 'active';
      // A fresh enrollment, or the re-enrollment of an unenrolled (inactive) patient; otherwise 409.
      const r = await tx.query<EnrollmentRow>(
        `INSERT INTO subscription_enrollments (builder_id, patient_id, package_id, status, practitioner, practitioner_id, priority, validation_issues, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7,$8::jsonb,$9,$9)
         ON CONFLICT (builder_id, patient_id) DO UPDATE SET package_id = EXCLUDED.package_id, status = EXCLUDED.status, practitioner = EXCLUDED.practitioner,
           practitioner_id = EXCLUDED.practitioner_id, priority = EXCLUDED.priority, validation_issues = EXCLUDED.validation_issues, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
         WHERE subscription_enrollments.status = 'inactive'
         RETURNING *`,
        [builderId, patientId, pkg.id, status, JSON.stringify(practitioner), practitionerId, priority, JSON.stringify(issues), now],
      );
      const e = r.rows[0];
      if (!e) {
        const cur = (await tx.query<EnrollmentRow>('SELECT * FROM subscription_enrollments WHERE builder_id = $1 AND patient_id = $2', [builderId, patientId])).rows[0];
        throw new HttpError(409, 'conflict', `Patient/${patientId} is already enrolled in package ${cur?.package_id ?? '?'} (a patient may be enrolled in one package at a time; unenroll first)`);
      }
      if (e.status === 'active') await this.scheduleActivation(tx, e, pkg.meta);
      return e;
    });
    this.onScheduled();
    return row;
  }

  private parseKey(key: string): { patientId: string; packageId: string } {
    const i = key.indexOf(':');
    if (i <= 0 || i === key.length - 1) throw notFound('Enrollment status not found (the id is {patientId}:{packageId})');
    return { patientId: key.slice(0, i), packageId: key.slice(i + 1) };
  }

  private async loadEnrollment(q: Queryable, builderId: string, key: string, lock = false): Promise<EnrollmentRow> {
    const { patientId, packageId } = this.parseKey(key);
    const e = (await q.query<EnrollmentRow>(`SELECT * FROM subscription_enrollments WHERE builder_id = $1 AND patient_id = $2 AND package_id = $3${lock ? ' FOR UPDATE' : ''}`, [builderId, patientId, packageId])).rows[0];
    if (!e) throw notFound(`No enrollment of Patient/${patientId} in package ${packageId}`);
    return e;
  }

  async getEnrollment(ctx: AccessContext, key: string): Promise<EnrollmentRow> {
    return this.loadEnrollment(this.db, this.builderOf(ctx), key);
  }

  async listEnrollments(ctx: AccessContext, q: Record<string, unknown>, limit: number, offset: number): Promise<{ rows: EnrollmentRow[]; total: number }> {
    const builderId = this.builderOf(ctx);
    const conds = ['builder_id = $1'];
    const params: unknown[] = [builderId];
    const str = (k: string) => (typeof q[k] === 'string' && q[k] !== '' ? (q[k] as string) : undefined);
    const pid = str('filter[patient-id]');
    if (pid) { params.push(pid.split(',')); conds.push(`patient_id = ANY($${params.length}::text[])`); }
    const status = str('filter[status]');
    if (status) { params.push(status.split(',')); conds.push(`status = ANY($${params.length}::text[])`); }
    const pkg = str('filter[package-id]');
    if (pkg) { params.push(pkg); conds.push(`package_id = $${params.length}`); }
    const where = conds.join(' AND ');
    const total = (await this.db.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM subscription_enrollments WHERE ${where}`, params)).rows[0]!.n;
    const rows = (await this.db.query<EnrollmentRow>(`SELECT * FROM subscription_enrollments WHERE ${where} ORDER BY created_at DESC, patient_id LIMIT ${limit} OFFSET ${offset}`, params)).rows;
    return { rows, total };
  }

  /** PATCH: status active|inactive, practitioner (or provider), priority. */
  async patchEnrollment(ctx: AccessContext, key: string, body: unknown): Promise<EnrollmentRow> {
    requirePermission(ctx, 'subscriptions:manage');
    const builderId = this.builderOf(ctx);
    const d = this.readEnrollmentData(body);
    if (d.id !== undefined && d.id !== key) throw conflict(`data.id '${String(d.id)}' does not match the URL id '${key}'`);
    const problems: ErrorDetail[] = [];
    const practitioner = this.readPractitioner(d.attributes, problems, false);
    const status = d.attributes.status;
    if (status !== undefined && status !== 'active' && status !== 'inactive') problems.push(err("attributes.status must be 'active' or 'inactive' ('pending' is set by the platform)", '/data/attributes/status'));
    if (d.attributes.priority !== undefined && typeof d.attributes.priority !== 'boolean') problems.push(err('attributes.priority must be a boolean', '/data/attributes/priority'));
    if (problems.length) throw unprocessable(problems.map((p) => p.message).join('; '), problems);
    const current = await this.loadEnrollment(this.db, builderId, key);
    const practitionerId = practitioner ? await this.history.findOrCreatePractitioner(systemContext(builderId, 'subscriptions'), practitioner) : null;
    // Reactivation re-checks the demographics.
    const reactivating = status === 'active' && current.status === 'inactive';
    const issues = reactivating ? validationIssues(await this.ownPatient(builderId, current.patient_id)) : null;
    const now = this.clock.now();
    const row = await this.db.transaction(async (tx) => {
      const e = await this.loadEnrollment(tx, builderId, key, true);
      let next: EnrollmentRow['status'] = e.status;
      if (status === 'inactive') next = 'inactive';
      else if (status === 'active' && e.status === 'inactive') next = issues!.length ? 'pending' : 'active';
      const r = (await tx.query<EnrollmentRow>(
        `UPDATE subscription_enrollments SET status = $3, practitioner = COALESCE($4::jsonb, practitioner), practitioner_id = COALESCE($5, practitioner_id),
           priority = COALESCE($6, priority), validation_issues = COALESCE($7::jsonb, validation_issues), updated_at = $8
         WHERE builder_id = $1 AND patient_id = $2 RETURNING *`,
        [builderId, e.patient_id, next, practitioner ? JSON.stringify(practitioner) : null, practitionerId, d.attributes.priority ?? null, issues ? JSON.stringify(issues) : null, now],
      )).rows[0]!;
      if (next === 'inactive' && e.status !== 'inactive') await this.cancelPending(tx, builderId, e.patient_id);
      if (next === 'active' && e.status !== 'active') await this.scheduleActivation(tx, r, (await this.getPackage(r.package_id, tx))!.meta);
      return r;
    });
    this.onScheduled();
    return row;
  }

  /** DELETE: hard delete of the enrollment and its refresh schedule (history jobs already started remain). */
  async deleteEnrollment(ctx: AccessContext, key: string): Promise<void> {
    requirePermission(ctx, 'subscriptions:manage');
    const builderId = this.builderOf(ctx);
    await this.db.transaction(async (tx) => {
      const e = await this.loadEnrollment(tx, builderId, key, true);
      await tx.query('DELETE FROM subscription_refreshes WHERE builder_id = $1 AND patient_id = $2', [builderId, e.patient_id]);
      await tx.query('DELETE FROM subscription_enrollments WHERE builder_id = $1 AND patient_id = $2', [builderId, e.patient_id]);
    });
  }

  async listRefreshes(ctx: AccessContext, q: Record<string, unknown>, limit: number, offset: number): Promise<{ rows: RefreshRow[]; total: number }> {
    const builderId = this.builderOf(ctx);
    const conds = ['builder_id = $1'];
    const params: unknown[] = [builderId];
    const str = (k: string) => (typeof q[k] === 'string' && q[k] !== '' ? (q[k] as string) : undefined);
    const pid = str('filter[patient-id]');
    if (pid) { params.push(pid); conds.push(`patient_id = $${params.length}`); }
    const status = str('filter[status]');
    if (status) { params.push(status.split(',')); conds.push(`status = ANY($${params.length}::text[])`); }
    const where = conds.join(' AND ');
    const total = (await this.db.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM subscription_refreshes WHERE ${where}`, params)).rows[0]!.n;
    const rows = (await this.db.query<RefreshRow>(`SELECT * FROM subscription_refreshes WHERE ${where} ORDER BY due_at, reason_key LIMIT ${limit} OFFSET ${offset}`, params)).rows;
    return { rows, total };
  }

  // ------------------------------------------------------------------ the schedule

  /** Inserts a schedule row unless the reason was already recorded; returns whether it was new. */
  async schedule(tx: Queryable, e: { builder_id: string; patient_id: string }, r: { key: string; kind: string; providers: string[]; dueAt: Date; priority?: boolean; detail?: Record<string, unknown> }): Promise<boolean> {
    const now = this.clock.now();
    const res = await tx.query(
      `INSERT INTO subscription_refreshes (id, builder_id, patient_id, reason_key, kind, providers, due_at, priority, status, detail, created_at, updated_at)
       VALUES ($1,$2,$3,$4,$5,$6::text[],$7,$8,'pending',$9::jsonb,$10,$10) ON CONFLICT (builder_id, patient_id, reason_key) DO NOTHING`,
      [newId(), e.builder_id, e.patient_id, r.key, r.kind, r.providers, r.dueAt, r.priority ?? false, JSON.stringify(r.detail ?? {}), now],
    );
    return res.rowCount > 0;
  }

  /** Next number of a numbered series (recurring:<n>, pharmacy-backstop:<n>), or null when one is pending. */
  private async nextInSeries(tx: Queryable, builderId: string, patientId: string, prefix: string): Promise<number | null> {
    const rows = (await tx.query<{ reason_key: string; status: string }>(
      'SELECT reason_key, status FROM subscription_refreshes WHERE builder_id = $1 AND patient_id = $2 AND starts_with(reason_key, $3)',
      [builderId, patientId, `${prefix}:`],
    )).rows;
    if (rows.some((r) => r.status === 'pending')) return null;
    return rows.reduce((m, r) => Math.max(m, Number(r.reason_key.slice(prefix.length + 1)) || 0), 0) + 1;
  }

  async scheduleRecurring(tx: Queryable, e: { builder_id: string; patient_id: string }, meta: PackageMeta, from: Date, onlyGroup?: number): Promise<void> {
    const groups = recurringGroups(meta);
    for (let i = 0; i < groups.length; i++) {
      if (onlyGroup !== undefined && onlyGroup !== i) continue;
      const g = groups[i]!;
      const prefix = recurringKey(i, g.intervalDays, 0).replace(/:0$/, '');
      const n = await this.nextInSeries(tx, e.builder_id, e.patient_id, prefix);
      if (n === null) continue;
      await this.schedule(tx, e, { key: recurringKey(i, g.intervalDays, n), kind: 'recurring', providers: g.providers, dueAt: new Date(from.getTime() + g.intervalDays * 86_400_000), detail: { intervalDays: g.intervalDays, group: i } });
    }
  }

  /** The pharmacy backstop: moves the pending one to `from` + 36 days, or starts the next of the series. */
  async resetPharmacyBackstop(tx: Queryable, e: { builder_id: string; patient_id: string }, from: Date): Promise<void> {
    const due = new Date(from.getTime() + this.cfg.pharmacyBackstopMs);
    const moved = await tx.query(
      "UPDATE subscription_refreshes SET due_at = $3, updated_at = $4 WHERE builder_id = $1 AND patient_id = $2 AND status = 'pending' AND starts_with(reason_key, 'pharmacy-backstop:')",
      [e.builder_id, e.patient_id, due, this.clock.now()],
    );
    if (moved.rowCount > 0) return;
    const n = await this.nextInSeries(tx, e.builder_id, e.patient_id, 'pharmacy-backstop');
    if (n !== null) await this.schedule(tx, e, { key: `pharmacy-backstop:${n}`, kind: 'pharmacy-backstop', providers: ['surescripts'], dueAt: due });
  }

  /** An enrollment became active: the initial history, the recurring series and the pharmacy backstop. */
  async scheduleActivation(tx: Queryable, e: EnrollmentRow, meta: PackageMeta): Promise<void> {
    const now = this.clock.now();
    let dueAt = new Date(now.getTime() + this.cfg.initialDelayMs);
    if (e.priority) dueAt = await this.prioritySlot(tx, e.builder_id, now);
    await this.schedule(tx, e, { key: 'enrollment', kind: 'enrollment', providers: initialProviders(meta), dueAt, priority: e.priority });
    await this.scheduleRecurring(tx, e, meta, now);
    if (watchesPharmacy(meta)) {
      const n = await this.nextInSeries(tx, e.builder_id, e.patient_id, 'pharmacy-backstop');
      if (n !== null) await this.schedule(tx, e, { key: `pharmacy-backstop:${n}`, kind: 'pharmacy-backstop', providers: ['surescripts'], dueAt: new Date(now.getTime() + this.cfg.pharmacyBackstopMs) });
    }
    await this.existingAppointments(tx, e, meta);
  }

  /**
   * Priority initial refreshes run at once, at most `priorityPerWindow` per builder in any `priorityWindowMs`
   * (notes: 10 per minute): beyond that, the next free slot. Serialized per builder with an advisory lock.
   */
  private async prioritySlot(tx: Queryable, builderId: string, now: Date): Promise<Date> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`subscriptions-priority:${builderId}`]);
    const r = (await tx.query<{ due_at: Date }>(
      'SELECT due_at FROM subscription_refreshes WHERE builder_id = $1 AND priority ORDER BY due_at DESC LIMIT 1 OFFSET $2',
      [builderId, this.cfg.priorityPerWindow - 1],
    )).rows[0];
    if (!r) return now;
    return new Date(Math.max(now.getTime(), new Date(r.due_at).getTime() + this.cfg.priorityWindowMs));
  }

  /** Unenrolling: pending refreshes are cancelled (removed); the ones that ran stay as the record. */
  async cancelPending(tx: Queryable, builderId: string, patientId: string): Promise<void> {
    await tx.query("DELETE FROM subscription_refreshes WHERE builder_id = $1 AND patient_id = $2 AND status = 'pending'", [builderId, patientId]);
  }

  /** The writer's own enrollment of the patient (a resource another builder writes never triggers this builder's refreshes). */
  private async enrollmentFor(tx: Queryable, builderId: string | null, patientId: string, status: string): Promise<EnrollmentRow | undefined> {
    if (!builderId) return undefined;
    // One lookup per patient per write transaction (an import writes many resources of one patient at once).
    let cache = this.#txEnrollments.get(tx);
    if (!cache) {
      cache = new Map();
      if (tx !== this.db) this.#txEnrollments.set(tx, cache); // never across transactions
    }
    const key = `${builderId}|${patientId}|${status}`;
    if (cache.has(key)) return cache.get(key);
    if (status === 'active' && !(await this.maybeActive(tx, builderId, patientId))) return undefined;
    const row = (await tx.query<EnrollmentRow>('SELECT * FROM subscription_enrollments WHERE builder_id = $1 AND patient_id = $2 AND status = $3', [builderId, patientId, status])).rows[0];
    cache.set(key, row);
    return row;
  }

  readonly #txEnrollments = new WeakMap<Queryable, Map<string, EnrollmentRow | undefined>>();

  /**
   * Bulk writes of a subscribing builder: after a few per-patient lookups in one transaction, the ids of the
   * builder's active enrollees are loaded once (when there are at most 5,000) and answer the rest in memory.
   * false = certainly not actively enrolled; true = maybe (look it up).
   */
  private async maybeActive(tx: Queryable, builderId: string, patientId: string): Promise<boolean> {
    if (tx === this.db) return true;
    let m = this.#txActiveSets.get(tx);
    if (!m) this.#txActiveSets.set(tx, (m = new Map()));
    let st = m.get(builderId);
    if (!st) m.set(builderId, (st = { lookups: 0, ids: null, tried: false }));
    if (st.ids) return st.ids.has(patientId);
    if (++st.lookups >= 8 && !st.tried) {
      st.tried = true;
      const r = await tx.query<{ patient_id: string }>("SELECT patient_id FROM subscription_enrollments WHERE builder_id = $1 AND status = 'active' LIMIT 5001", [builderId]);
      if (r.rows.length <= 5000) {
        st.ids = new Set(r.rows.map((x) => x.patient_id));
        return st.ids.has(patientId);
      }
    }
    return true;
  }

  readonly #txActiveSets = new WeakMap<Queryable, Map<string, { lookups: number; ids: Set<string> | null; tried: boolean }>>();

  // ------------------------------------------------------------------ triggers (inside the write's transaction)

  readonly interceptor: WriteInterceptor = async (tx, ctx, resource, _previous) => {
    const type = resource.resourceType;
    if (type !== 'Patient' && type !== 'Appointment' && type !== 'Encounter' && type !== 'MedicationDispense') return;
    const builderId = ctx.writeBuilderId;
    if (!builderId) return;
    // Most writes concern builders with nothing enrolled: one question per transaction settles that.
    const gate = await this.gate(tx, builderId);
    switch (type) {
      case 'Patient': return gate.pending ? this.onPatient(tx, builderId, resource) : undefined;
      case 'Appointment': return gate.active ? this.onAppointment(tx, builderId, resource) : undefined;
      case 'Encounter': return gate.active ? this.onEncounter(tx, builderId, resource) : undefined;
      default: return gate.active ? this.onDispense(tx, builderId, resource) : undefined;
    }
  };

  readonly #txGates = new WeakMap<Queryable, Map<string, { pending: boolean; active: boolean }>>();

  private async gate(tx: Queryable, builderId: string): Promise<{ pending: boolean; active: boolean }> {
    let gates = this.#txGates.get(tx);
    if (!gates) {
      gates = new Map();
      if (tx !== this.db) this.#txGates.set(tx, gates); // never across transactions
    }
    const known = gates.get(builderId);
    if (known) return known;
    const r = (await tx.query<{ pending: boolean; active: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM subscription_enrollments WHERE builder_id = $1 AND status = 'pending') AS pending,
              EXISTS (SELECT 1 FROM subscription_enrollments WHERE builder_id = $1 AND status = 'active') AS active`,
      [builderId],
    )).rows[0]!;
    const g = { pending: r.pending, active: r.active };
    gates.set(builderId, g);
    return g;
  }

  /** A pending enrollment becomes active as soon as its Patient has the required demographics. */
  private async onPatient(tx: Queryable, builderId: string | null, patient: FhirResource): Promise<void> {
    if (!builderId) return;
    const e = (await tx.query<EnrollmentRow>("SELECT * FROM subscription_enrollments WHERE builder_id = $1 AND patient_id = $2 AND status = 'pending' FOR UPDATE", [builderId, String(patient.id)])).rows[0];
    if (!e) return;
    const issues = validationIssues(patient);
    const now = this.clock.now();
    if (issues.length) {
      await tx.query('UPDATE subscription_enrollments SET validation_issues = $3::jsonb, updated_at = $4 WHERE builder_id = $1 AND patient_id = $2', [e.builder_id, e.patient_id, JSON.stringify(issues), now]);
      return;
    }
    const r = (await tx.query<EnrollmentRow>(
      "UPDATE subscription_enrollments SET status = 'active', validation_issues = '[]'::jsonb, updated_at = $3 WHERE builder_id = $1 AND patient_id = $2 RETURNING *",
      [e.builder_id, e.patient_id, now],
    )).rows[0]!;
    this.#txEnrollments.delete(tx);
    const g = this.#txGates.get(tx)?.get(e.builder_id);
    if (g) g.active = true;
    this.#txActiveSets.get(tx)?.get(e.builder_id)?.ids?.add(e.patient_id);
    await this.scheduleActivation(tx, r, (await this.getPackage(r.package_id, tx))!.meta);
    this.onScheduled();
  }

  /** A first-party Appointment for an active enrollee: one refresh before it; moved when rescheduled, removed when cancelled. */
  private async onAppointment(tx: Queryable, builderId: string | null, a: FhirResource): Promise<void> {
    if (sourceTagOf(a) || !builderId) return;
    const pid = appointmentPatientId(a);
    if (!pid || !(await this.maybeActive(tx, builderId, pid))) return;
    // The enrollment and this appointment's schedule row in one round trip (this runs on the write path).
    const found = (await tx.query<EnrollmentRow & { r_id: string | null }>(
      `SELECT e.*, r.id AS r_id FROM subscription_enrollments e
         LEFT JOIN subscription_refreshes r ON r.builder_id = e.builder_id AND r.patient_id = e.patient_id AND r.reason_key = $3
        WHERE e.builder_id = $1 AND e.patient_id = $2 AND e.status = 'active'`,
      [builderId, pid, `appointment:${String(a.id)}`],
    )).rows[0];
    if (!found) return;
    await this.appointmentTrigger(tx, found, a, (await this.getPackage(found.package_id, tx))!.meta, found.r_id === null);
    this.onScheduled();
  }

  private async appointmentTrigger(tx: Queryable, e: EnrollmentRow, a: FhirResource, meta: PackageMeta, knownNew = false): Promise<void> {
    const key = `appointment:${String(a.id)}`;
    const now = this.clock.now();
    const start = typeof a.start === 'string' ? new Date(a.start) : null;
    const due = start && !Number.isNaN(start.getTime()) && appointmentIsUpcoming(a) ? appointmentDue(start, now, this.cfg) : null;
    const detail = due ? { appointmentStart: start!.toISOString(), writtenAt: now.toISOString() } : null;
    if (knownNew) {
      if (due) await this.schedule(tx, e, { key, kind: 'appointment', providers: meta.freshmakerProviders ?? [], dueAt: due, detail: detail! });
      return;
    }
    const existing = (await tx.query<RefreshRow>('SELECT * FROM subscription_refreshes WHERE builder_id = $1 AND patient_id = $2 AND reason_key = $3 FOR UPDATE', [e.builder_id, e.patient_id, key])).rows[0];
    if (!due) {
      if (existing?.status === 'pending') await tx.query("UPDATE subscription_refreshes SET status = 'cancelled', detail = detail || $2::jsonb, updated_at = $3 WHERE id = $1", [existing.id, JSON.stringify({ note: 'appointment cancelled, removed or started' }), now]);
      return;
    }
    if (!existing) {
      await this.schedule(tx, e, { key, kind: 'appointment', providers: meta.freshmakerProviders ?? [], dueAt: due, detail: detail! });
    } else if (existing.status === 'cancelled' || (existing.status === 'pending' && existing.detail.appointmentStart !== detail!.appointmentStart)) {
      // Rescheduled or re-booked: the rule applies again from now. (Once started, the reason has been served.)
      await tx.query("UPDATE subscription_refreshes SET status = 'pending', due_at = $2, detail = $3::jsonb, updated_at = $4 WHERE id = $1", [existing.id, due, JSON.stringify(detail), now]);
    }
  }

  /** Appointments booked before the enrollment became active count as written at activation. */
  private async existingAppointments(tx: Queryable, e: EnrollmentRow, meta: PackageMeta): Promise<void> {
    const ctx = systemContext(e.builder_id, 'subscriptions');
    const found = await this.store.search(ctx, 'Appointment', [['patient', `Patient/${e.patient_id}`], ['date', `ge${this.clock.now().toISOString()}`], ['_count', '100']], { tx });
    for (const m of found.result.matches) {
      const a = m.content as FhirResource;
      if (!sourceTagOf(a) && appointmentPatientId(a) === e.patient_id) await this.appointmentTrigger(tx, e, a, meta);
    }
  }

  /** An ADT discharge (bamboohealth / collective-medical Encounter finished or with period.end): two refreshes. */
  private async onEncounter(tx: Queryable, builderId: string | null, enc: FhirResource): Promise<void> {
    const src = sourceTagOf(enc);
    if (!src || !ADT_SOURCES.includes(src) || !isDischarge(enc)) return;
    const pid = patientRefId(enc.subject);
    if (!pid) return;
    const e = await this.enrollmentFor(tx, builderId, pid, 'active');
    if (!e) return;
    const now = this.clock.now();
    const meta = (await this.getPackage(e.package_id, tx))!.meta;
    const providers = meta.freshmakerProviders ?? [];
    const detail = { encounter: String(enc.id), source: src, notifiedAt: now.toISOString(), ...((enc.period as any)?.end ? { dischargedAt: (enc.period as any).end } : {}) };
    await this.schedule(tx, e, { key: `discharge-24h:${String(enc.id)}`, kind: 'discharge-24h', providers, dueAt: new Date(now.getTime() + this.cfg.dischargeFirstMs), detail });
    await this.schedule(tx, e, { key: `discharge-week:${String(enc.id)}`, kind: 'discharge-week', providers, dueAt: new Date(now.getTime() + this.cfg.dischargeSecondMs), detail });
    this.onScheduled();
  }

  /** A dispense with days supply: a pharmacy refresh ~5 days after the expected refill. */
  private async onDispense(tx: Queryable, builderId: string | null, d: FhirResource): Promise<void> {
    const expected = expectedRefill(d);
    if (!expected) return;
    const now = this.clock.now();
    const due = new Date(expected.getTime() + this.cfg.refillCheckMs);
    if (due.getTime() <= now.getTime()) return;
    const pid = patientRefId(d.subject);
    if (!pid) return;
    const e = await this.enrollmentFor(tx, builderId, pid, 'active');
    if (!e) return;
    const meta = (await this.getPackage(e.package_id, tx))!.meta;
    if (!watchesPharmacy(meta)) return;
    const key = `refill:${String(d.id)}`;
    const detail = { dispense: String(d.id), expectedRefill: expected.toISOString() };
    const existing = (await tx.query<RefreshRow>('SELECT * FROM subscription_refreshes WHERE builder_id = $1 AND patient_id = $2 AND reason_key = $3', [e.builder_id, e.patient_id, key])).rows[0];
    if (existing) {
      if (existing.status === 'pending' && new Date(existing.due_at).getTime() !== due.getTime()) {
        await tx.query('UPDATE subscription_refreshes SET due_at = $2, detail = $3::jsonb, updated_at = $4 WHERE id = $1', [existing.id, due, JSON.stringify(detail), now]);
      }
      return;
    }
    // Several medications due about together: one pharmacy refresh covers them.
    const near = await tx.query(
      "SELECT 1 FROM subscription_refreshes WHERE builder_id = $1 AND patient_id = $2 AND kind = 'refill' AND status = 'pending' AND due_at BETWEEN $3 AND $4 LIMIT 1",
      [e.builder_id, e.patient_id, new Date(due.getTime() - this.cfg.refillCoalesceMs), new Date(due.getTime() + this.cfg.refillCoalesceMs)],
    );
    if (near.rows.length > 0) return;
    await this.schedule(tx, e, { key, kind: 'refill', providers: ['surescripts'], dueAt: due, detail });
    this.onScheduled();
  }
}
