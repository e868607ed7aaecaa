// The universal patient index on the write path. A store write interceptor (inside the write's transaction):
// - a Patient is normalised, candidates are found by blocking keys across the whole platform, scored with the
//   Fellegi–Sunter engine; a match takes the candidate's UPID, otherwise a new one (possible matches are held
//   for review); the UPID is written as Patient.identifier https://zusapi.com/fhir/identifier/universal-id;
// - every other resource that points at a Patient gets that Patient's UPID as the extension of the same URL.
// UPIDs are platform-set: client-supplied values are replaced (or removed when no Patient is referenced).
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import type { AccessContext } from '../access/context.ts';
import type { FhirResource, WriteInterceptor } from '../fhir/store/index.ts';
import { blockingKeys, compare, compileModel, defaultMatchModel, normalizeRecord, type CompiledModel, type PersonInput } from './engine/index.ts';

export const UPID_URL = 'https://zusapi.com/fhir/identifier/universal-id';
const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
/** Most candidates scored per Patient write; blocks are small, this only guards against degenerate keys. */
const MAX_CANDIDATES = 200;

/** Demographics the engine compares, read from a FHIR Patient. */
export function personFromPatient(p: FhirResource): PersonInput {
  const names = (p.name as any[] | undefined) ?? [];
  const name = names.find((n) => n?.use === 'official') ?? names.find((n) => n?.use !== 'old' && n?.use !== 'nickname') ?? names[0];
  const addrs = (p.address as any[] | undefined) ?? [];
  const addr = addrs.find((a) => a?.use === 'home') ?? addrs.find((a) => a?.use !== 'old') ?? addrs[0];
  const telecom = (p.telecom as any[] | undefined) ?? [];
  const ids = (p.identifier as any[] | undefined) ?? [];
  const mrn = ids.find((i) => i?.type?.coding?.some((c: any) => c?.code === 'MR'));
  return {
    given: name?.given?.join(' ') ?? undefined,
    family: name?.family ?? undefined,
    birthDate: typeof p.birthDate === 'string' ? p.birthDate : undefined,
    sex: typeof p.gender === 'string' ? p.gender : undefined,
    line: addr?.line?.join(' ') ?? undefined,
    city: addr?.city ?? undefined,
    state: addr?.state ?? undefined,
    postalCode: addr?.postalCode ?? undefined,
    phone: telecom.find((t) => t?.system === 'phone')?.value ?? undefined,
    email: telecom.find((t) => t?.system === 'email')?.value ?? undefined,
    ssn: ids.find((i) => i?.system === SSN_SYSTEM)?.value ?? undefined,
    mrn: mrn?.value ?? undefined,
    mrnSystem: mrn?.system ?? undefined,
    multipleBirth: (p.multipleBirthInteger as number | undefined) ?? (p.multipleBirthBoolean as boolean | undefined),
  };
}

/** The Patient a resource belongs to, from its usual patient-pointing elements. */
function patientIdOf(r: FhirResource): string | null {
  for (const key of ['subject', 'patient', 'beneficiary', 'individual']) {
    const ref = (r[key] as { reference?: string } | undefined)?.reference;
    if (typeof ref === 'string' && ref.startsWith('Patient/')) return ref.slice('Patient/'.length).split('/')[0] ?? null;
  }
  return null;
}

function setPatientUpid(p: FhirResource, upid: string): void {
  const ids = ((p.identifier as any[] | undefined) ?? []).filter((i) => i?.system !== UPID_URL);
  ids.push({ system: UPID_URL, value: upid });
  p.identifier = ids;
}

function setResourceUpid(r: FhirResource, upid: string | null): void {
  const ext = ((r.extension as any[] | undefined) ?? []).filter((e) => e?.url !== UPID_URL);
  if (upid) ext.push({ url: UPID_URL, valueString: upid });
  if (ext.length) r.extension = ext;
  else delete r.extension;
}

export interface UpiDecision {
  upid: string;
  reason: 'new' | 'match' | 'kept';
  score: number | null;
  possible: { patientId: string; score: number }[];
}

export class UpiService {
  /** The engine's model, compiled for the current population (thresholds rise with log2 of the index size). */
  model: CompiledModel;
  #population = 0;
  #modelCheckedAt = -Infinity;
  // Per transaction: Patient id → UPID, so a bundle of one patient's resources looks it up once.
  readonly #txCache = new WeakMap<Queryable, Map<string, string | null>>();

  constructor(readonly clock: Clock, model: CompiledModel = compileModel(defaultMatchModel())) {
    this.model = model;
  }

  /** Recompiles the model when the index has grown or shrunk notably (checked at most every 10 minutes). */
  async #refreshModel(tx: Queryable): Promise<void> {
    const now = this.clock.nowMs();
    if (now - this.#modelCheckedAt < 10 * 60_000) return;
    this.#modelCheckedAt = now;
    const n = (await tx.query<{ n: number }>('SELECT count(*)::int8 AS n FROM upi_persons')).rows[0]!.n;
    if (this.#population === 0 || n > this.#population * 1.5 || n < this.#population / 1.5) {
      this.#population = Math.max(n, 1);
      // Thresholds rise with the index size, but never fall below the reference population's: a small
      // platform must not link on weaker evidence (precision first).
      const reference = this.model.model.thresholds.referencePopulation ?? 10_000;
      this.model = compileModel(this.model.model, Math.max(this.#population, reference));
    }
  }

  readonly interceptor: WriteInterceptor = async (tx, ctx: AccessContext, resource, _previous) => {
    if (resource.resourceType === 'Patient') {
      const d = await this.indexPatient(tx, String(resource.id), resource, ctx.writeBuilderId ?? '');
      setPatientUpid(resource, d.upid);
      return;
    }
    const pid = patientIdOf(resource);
    setResourceUpid(resource, pid ? await this.upidOf(tx, pid) : null);
  };

  async upidOf(tx: Queryable, patientId: string): Promise<string | null> {
    let cache = this.#txCache.get(tx);
    if (!cache) this.#txCache.set(tx, (cache = new Map()));
    if (cache.has(patientId)) return cache.get(patientId)!;
    const r = await tx.query<{ upid: string }>('SELECT upid FROM upi_persons WHERE patient_id = $1', [patientId]);
    const upid = r.rows[0]?.upid ?? null;
    cache.set(patientId, upid);
    return upid;
  }

  /** A confirmed link: the Patient keeps `upid` from now on, whatever its demographics (manual links win). */
  async link(tx: Queryable, patientId: string, upid: string, reason: string): Promise<void> {
    const old = (await tx.query<{ upid: string }>('SELECT upid FROM upi_persons WHERE patient_id = $1', [patientId])).rows[0];
    await tx.query('UPDATE upi_persons SET upid = $2, manual = true, updated_at = $3 WHERE patient_id = $1', [patientId, upid, this.clock.now()]);
    await tx.query('INSERT INTO upi_assignments (patient_id, old_upid, new_upid, reason, score, at) VALUES ($1, $2, $3, $4, NULL, $5)', [patientId, old?.upid ?? null, upid, reason, this.clock.now()]);
    this.#txCache.get(tx)?.set(patientId, upid);
  }

  /** Matches a Patient against every Patient on the platform and records its UPID (inside the write's tx). */
  async indexPatient(tx: Queryable, patientId: string, patient: FhirResource, builderId: string): Promise<UpiDecision> {
    await this.#refreshModel(tx);
    const record = personFromPatient(patient);
    const norm = normalizeRecord(record);
    const keys = [...new Set(blockingKeys(norm))];
    // Two writes of the same person at once must not both mint a UPID: serialise on the blocking keys.
    for (const k of [...keys].sort()) await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`upi:${k}`]);
    const existing = (await tx.query<{ upid: string; manual: boolean }>('SELECT upid, manual FROM upi_persons WHERE patient_id = $1', [patientId])).rows[0];
    const candidates = keys.length === 0 ? [] : (await tx.query<{ patient_id: string; upid: string; record: PersonInput }>(
      `SELECT p.patient_id, p.upid, p.record FROM upi_persons p
        WHERE p.patient_id IN (SELECT b.patient_id FROM upi_blocks b WHERE b.block_key = ANY($1::text[]) AND b.patient_id <> $2)
          AND NOT EXISTS (SELECT 1 FROM upi_possible_matches m WHERE m.status = 'rejected'
                           AND LEAST(m.patient_id, m.candidate_id) = LEAST(p.patient_id, $2) AND GREATEST(m.patient_id, m.candidate_id) = GREATEST(p.patient_id, $2))
        LIMIT ${MAX_CANDIDATES}`,
      [keys, patientId],
    )).rows;
    let best: { upid: string; score: number } | null = null;
    const possible: { patientId: string; score: number }[] = [];
    for (const c of candidates) {
      const r = compare(this.model, norm, normalizeRecord(c.record));
      if (r.outcome === 'match' && (!best || r.score > best.score)) best = { upid: c.upid, score: r.score };
      else if (r.outcome === 'possible') possible.push({ patientId: c.patient_id, score: r.score });
    }
    const decision: UpiDecision = existing?.manual
      ? { upid: existing.upid, reason: 'kept', score: null, possible: [] }
      : best
      ? { upid: best.upid, reason: 'match', score: best.score, possible }
      : existing
        ? { upid: existing.upid, reason: 'kept', score: null, possible }
        : { upid: randomUUID(), reason: 'new', score: null, possible };
    const now = this.clock.now();
    await tx.query(
      `INSERT INTO upi_persons (patient_id, builder_id, upid, record, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5)
       ON CONFLICT (patient_id) DO UPDATE SET upid = EXCLUDED.upid, record = EXCLUDED.record, updated_at = EXCLUDED.updated_at`,
      [patientId, builderId, decision.upid, JSON.stringify(record), now],
    );
    await tx.query('DELETE FROM upi_blocks WHERE patient_id = $1', [patientId]);
    if (keys.length) await tx.query('INSERT INTO upi_blocks (block_key, patient_id) SELECT k, $2 FROM unnest($1::text[]) AS k ON CONFLICT DO NOTHING', [keys, patientId]);
    if (!existing || existing.upid !== decision.upid) {
      await tx.query('INSERT INTO upi_assignments (patient_id, old_upid, new_upid, reason, score, at) VALUES ($1, $2, $3, $4, $5, $6)', [patientId, existing?.upid ?? null, decision.upid, decision.reason, decision.score, now]);
    }
    for (const p of possible) {
      await tx.query(
        `INSERT INTO upi_possible_matches (id, patient_id, candidate_id, score, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (LEAST(patient_id, candidate_id), GREATEST(patient_id, candidate_id)) DO NOTHING`,
        [randomUUID(), patientId, p.patientId, p.score, now],
      );
    }
    this.#txCache.get(tx)?.set(patientId, decision.upid);
    return decision;
  }
}
