// The universal patient index on the write path. A store write interceptor (inside the write's transaction):
// - a Patient is normalised, candidates are found by blocking keys across the whole platform, scored with the
//   Fellegi–Sunter engine; a match takes the candidate's UPID, otherwise a new one (possible matches are held
//   for review); the UPID is written as Patient.identifier https://zusapi.com/fhir/identifier/universal-id;
// - every other resource that points at a Patient gets that Patient's UPID as the extension of the same URL.
// UPIDs are platform-set: client-supplied values are replaced (or removed when no Patient is referenced).
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import type { AccessContext } from '../access/context.ts';
import { roleByName } from '../access/roles.ts';
import type { FhirResource, FhirStore, WriteInterceptor } from '../fhir/store/index.ts';
import { HttpError, notFound } from '../platform/errors.ts';
import { blockingKeys, compare, compileModel, defaultMatchModel, keyBlockCap, normalizeRecord, type CompiledModel, type NormalizedPerson, type PersonInput } from './engine/index.ts';

export const UPID_URL = 'https://zusapi.com/fhir/identifier/universal-id';
const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
/** Most candidates scored per Patient write: those sharing the most blocking keys first. */
const MAX_CANDIDATES = 50;
/** A person (UPID) with more Patients than this is never merged automatically (a human decides). */
const MAX_MERGE_MEMBERS = 50;

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
export function patientIdOf(r: FhirResource): string | null {
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
  reason: 'new' | 'match' | 'kept' | 'merge';
  score: number | null;
  possible: { patientId: string; score: number }[];
  /** UPIDs absorbed into `upid` because this Patient bridged them (their resources were re-stamped). */
  merged: string[];
}

/** Network identity confirmed by a patient-history discovery (notes §5: network records get extra weight). */
export interface NetworkIdentity {
  network: string;
  networkPersonId: string;
  /** the network's own match score for our Patient (0..1) */
  score: number | null;
  patientId: string;
  builderId: string;
  demographics: PersonInput;
}

export interface NetworkLinkResult {
  /** other Patients the network called the same person, and what the UPI did about each */
  others: { patientId: string; action: 'linked' | 'possible' | 'same'; score: number }[];
}

interface PersonRow { patient_id: string; builder_id: string; upid: string; record: PersonInput; manual: boolean }

/** The platform writing for a builder (re-stamping that builder's resources with a new UPID). */
function platformContext(builderId: string): AccessContext {
  return {
    principal: { kind: 'client', id: 'system:upi', builderId, role: roleByName('Builder Admin')!, isPlatformAdmin: false },
    readBuilderIds: [builderId],
    writeBuilderId: builderId,
    accountHeader: null,
  };
}

const pairKey = (a: string, b: string) => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);

export class UpiService {
  /** The engine's model, compiled for the current population (thresholds rise with log2 of the index size). */
  model: CompiledModel;
  /** The one write path, for re-stamping resources when UPIDs are linked, merged or unmerged. */
  store: FhirStore | null;
  #population = 0;
  #modelCheckedAt = -Infinity;
  // Per transaction: Patient id → UPID, so a bundle of one patient's resources looks it up once.
  readonly #txCache = new WeakMap<Queryable, Map<string, string | null>>();
  // Per transaction: Patients whose UPID was just set by a link/merge/unmerge: their re-stamp write keeps it.
  readonly #pinned = new WeakMap<Queryable, Set<string>>();
  // Blocking keys seen above the block cap (they only grow): left out of lookups and locks. Bounded.
  readonly #oversized = new Set<string>();

  constructor(readonly clock: Clock, model: CompiledModel = compileModel(defaultMatchModel()), store: FhirStore | null = null) {
    this.model = model;
    this.store = store;
  }

  /** Recompiles the model when the index has grown or shrunk notably (checked at most every 10 minutes). */
  async #refreshModel(tx: Queryable): Promise<void> {
    const now = this.clock.nowMs();
    if (now - this.#modelCheckedAt < 10 * 60_000) return;
    this.#modelCheckedAt = now;
    // The planner's estimate is enough to scale thresholds, and costs nothing on a large index.
    const est = (await tx.query<{ n: number }>("SELECT GREATEST(reltuples, 0)::int8 AS n FROM pg_class WHERE relname = 'upi_persons'")).rows[0]?.n ?? 0;
    const n = est > 100_000 ? est : (await tx.query<{ n: number }>('SELECT count(*)::int8 AS n FROM upi_persons')).rows[0]!.n;
    if (this.#population === 0 || n > this.#population * 1.5 || n < this.#population / 1.5) {
      this.#population = Math.max(Number(n), 1);
      // Thresholds rise with the index size, but never fall below the reference population's: a small
      // platform must not link on weaker evidence (precision first).
      const reference = this.model.model.thresholds.referencePopulation ?? 10_000;
      this.model = compileModel(this.model.model, Math.max(this.#population, reference));
    }
  }

  readonly interceptor: WriteInterceptor = async (tx, ctx: AccessContext, resource, _previous) => {
    if (resource.resourceType === 'Patient') {
      const id = String(resource.id);
      if (this.#pinned.get(tx)?.has(id)) {
        const upid = await this.upidOf(tx, id);
        if (upid) {
          setPatientUpid(resource, upid);
          return;
        }
      }
      const d = await this.indexPatient(tx, id, resource, ctx.writeBuilderId ?? '');
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

  #remember(tx: Queryable, patientId: string, upid: string): void {
    let cache = this.#txCache.get(tx);
    if (!cache) this.#txCache.set(tx, (cache = new Map()));
    cache.set(patientId, upid);
    let pinned = this.#pinned.get(tx);
    if (!pinned) this.#pinned.set(tx, (pinned = new Set()));
    pinned.add(patientId);
  }

  /**
   * Moves Patients to `upid` (versioned in upi_assignments). `manual`: a human (or a network identity) decided,
   * so later demographic updates do not change it. Does not re-stamp: callers run restamp afterwards.
   */
  async #assign(tx: Queryable, patientIds: string[], upid: string, reason: string, opts: { manual?: boolean; actor?: string; score?: number | null; detail?: unknown } = {}): Promise<void> {
    if (patientIds.length === 0) return;
    const now = this.clock.now();
    await tx.query(
      `WITH old AS (SELECT patient_id, upid FROM upi_persons WHERE patient_id = ANY($1::text[]) FOR UPDATE),
            upd AS (UPDATE upi_persons p SET upid = $2, manual = CASE WHEN $3::boolean THEN true ELSE p.manual END, updated_at = $4
                      FROM old WHERE p.patient_id = old.patient_id)
       INSERT INTO upi_assignments (patient_id, old_upid, new_upid, reason, score, at, actor, detail)
       SELECT old.patient_id, old.upid, $2, $5, $6, $4, $7, $8::jsonb FROM old WHERE old.upid IS DISTINCT FROM $2 OR $3::boolean`,
      [patientIds, upid, opts.manual === true, now, reason, opts.score ?? null, opts.actor ?? 'system', opts.detail === undefined ? null : JSON.stringify(opts.detail)],
    );
    for (const id of patientIds) this.#remember(tx, id, upid);
  }

  /**
   * Re-stamps, through the store (new versions, index rows, webhook events), every live resource that carries
   * `oldUpid` — or only the Patients in `only` and the resources pointing at them — except Patients in `skip`
   * (the one being written right now). The UPI interceptor writes the new UPID.
   */
  async restamp(tx: Queryable, oldUpid: string, only: Set<string> | null, skip: Set<string> = new Set()): Promise<number> {
    const store = this.store;
    if (!store) throw new Error('UpiService.store is not set: cannot re-stamp resources');
    const rows = (await tx.query<{ type: string; id: string; builder_id: string; content: FhirResource }>(
      'SELECT type, id, builder_id, content FROM resources WHERE upid = $1 AND NOT deleted ORDER BY (type = \'Patient\') DESC, type, id',
      [oldUpid],
    )).rows;
    let n = 0;
    for (const row of rows) {
      const pid = row.type === 'Patient' ? row.id : patientIdOf(row.content);
      if (!pid || skip.has(pid) && row.type === 'Patient') continue;
      if (only && !only.has(pid)) continue;
      await store.update(platformContext(row.builder_id), row.type, row.id, row.content, { tx, platform: true });
      n++;
    }
    return n;
  }

  /** A confirmed link: the Patient takes `upid` from now on, whatever its demographics (manual links win). */
  async link(tx: Queryable, patientId: string, upid: string, reason: string, actor?: string): Promise<void> {
    await this.#assign(tx, [patientId], upid, reason, { manual: true, actor });
  }

  /** Links a Patient to another Patient's person and re-stamps everything of the Patient's old UPID it owned. */
  async linkAndRestamp(tx: Queryable, patientId: string, upid: string, reason: string, actor?: string): Promise<void> {
    const old = await this.upidOf(tx, patientId);
    if (old === upid) return;
    const oldMembers = old ? await this.#members(tx, old) : [];
    if (old && oldMembers.length > 1) {
      // The Patient was one of several records of its person: move only it (and its resources).
      await this.link(tx, patientId, upid, reason, actor);
      await this.restamp(tx, old, new Set([patientId]));
    } else {
      await this.link(tx, patientId, upid, reason, actor);
      if (old) await this.restamp(tx, old, null);
    }
  }

  async #members(tx: Queryable, upid: string): Promise<PersonRow[]> {
    return (await tx.query<PersonRow>('SELECT patient_id, builder_id, upid, record, manual FROM upi_persons WHERE upid = $1', [upid])).rows;
  }

  /**
   * Merges person `absorb` into person `keep`: every Patient of `absorb` takes `keep` (versioned) and every
   * resource stamped with `absorb` is re-stamped. `skip`: Patients being written in this transaction.
   */
  async merge(tx: Queryable, keep: string, absorb: string, reason: string, opts: { actor?: string; score?: number | null; detail?: unknown; skip?: Set<string> } = {}): Promise<string[]> {
    if (keep === absorb) return [];
    const moved = (await this.#members(tx, absorb)).map((m) => m.patient_id);
    await this.#assign(tx, moved, keep, reason, { actor: opts.actor, score: opts.score, detail: { absorbed: absorb, ...(opts.detail as object | undefined) } });
    await this.restamp(tx, absorb, null, opts.skip);
    return moved;
  }

  /**
   * Whether persons `a` (plus an incoming record) and `b` may be merged automatically: small enough, nobody in
   * `b` linked by hand, no pair across them rejected by a human, no pair across them in conflict.
   */
  async #mergeable(tx: Queryable, a: PersonRow[], b: PersonRow[], incoming: { id: string; norm: NormalizedPerson } | null): Promise<boolean> {
    if (a.length + b.length > MAX_MERGE_MEMBERS || b.some((m) => m.manual)) return false;
    const left = a.map((m) => ({ id: m.patient_id, norm: normalizeRecord(m.record) }));
    if (incoming) left.push(incoming);
    const right = b.map((m) => ({ id: m.patient_id, norm: normalizeRecord(m.record) }));
    const rejected = await this.#rejectedPairs(tx, left.map((x) => x.id), right.map((x) => x.id));
    for (const x of left) {
      for (const y of right) {
        if (rejected.has(pairKey(x.id, y.id))) return false;
        if (compare(this.model, x.norm, y.norm).cannotLink) return false;
      }
    }
    return true;
  }

  async #rejectedPairs(tx: Queryable, left: string[], right: string[]): Promise<Set<string>> {
    const all = [...left, ...right];
    const rows = (await tx.query<{ patient_id: string; candidate_id: string }>(
      `SELECT patient_id, candidate_id FROM upi_possible_matches
        WHERE status = 'rejected' AND patient_id = ANY($1::text[]) AND candidate_id = ANY($1::text[])`,
      [all],
    )).rows;
    return new Set(rows.map((r) => pairKey(r.patient_id, r.candidate_id)));
  }

  /** Records pairs as rejected (never linked automatically again), whatever their earlier state. */
  async reject(tx: Queryable, pairs: [string, string, number][]): Promise<void> {
    if (pairs.length === 0) return;
    const now = this.clock.now();
    await tx.query(
      `INSERT INTO upi_possible_matches (id, patient_id, candidate_id, score, status, created_at, decided_at)
       SELECT gen_random_uuid()::text, a, b, s, 'rejected', $4, $4 FROM unnest($1::text[], $2::text[], $3::float8[]) AS t(a, b, s)
       ON CONFLICT (LEAST(patient_id, candidate_id), GREATEST(patient_id, candidate_id)) DO UPDATE SET status = 'rejected', decided_at = EXCLUDED.decided_at`,
      [pairs.map((p) => p[0]), pairs.map((p) => p[1]), pairs.map((p) => p[2]), now],
    );
  }

  /**
   * Unmerge: detaches a Patient from its person to a new UPID (a manual decision, so matching keeps it there),
   * records every pair with the person's other Patients as rejected, and re-stamps the Patient and its resources.
   */
  async unmerge(tx: Queryable, patientId: string, actor: string): Promise<{ oldUpid: string; newUpid: string; others: string[] }> {
    const row = (await tx.query<PersonRow>('SELECT patient_id, builder_id, upid, record, manual FROM upi_persons WHERE patient_id = $1 FOR UPDATE', [patientId])).rows[0];
    if (!row) throw notFound('This Patient is not in the universal patient index');
    const others = (await this.#members(tx, row.upid)).filter((m) => m.patient_id !== patientId);
    if (others.length === 0) throw new HttpError(409, 'conflict', 'This Patient is the only record of its person: there is nothing to unmerge');
    const newUpid = randomUUID();
    const norm = normalizeRecord(row.record);
    await this.reject(tx, others.map((o) => [patientId, o.patient_id, compare(this.model, norm, normalizeRecord(o.record)).score]));
    await this.#assign(tx, [patientId], newUpid, 'unmerge', { manual: true, actor, detail: { from: row.upid, separatedFrom: others.map((o) => o.patient_id) } });
    await this.restamp(tx, row.upid, new Set([patientId]));
    return { oldUpid: row.upid, newUpid, others: others.map((o) => o.patient_id) };
  }

  /** Matches a Patient against every Patient on the platform and records its UPID (inside the write's tx). */
  async indexPatient(tx: Queryable, patientId: string, patient: FhirResource, builderId: string): Promise<UpiDecision> {
    await this.#refreshModel(tx);
    const record = personFromPatient(patient);
    const norm = normalizeRecord(record);
    const keys = [...new Set(blockingKeys(norm))].sort();
    const live = keys.filter((k) => !this.#oversized.has(k));
    // Two writes of the same person at once must not both mint a UPID: serialise on the blocking keys (one round trip).
    if (live.length) await tx.query('SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY 1) s', [live.map((k) => `upi:${k}`)]);
    const cap = this.model.model.maxBlockSize;
    // One round trip: this Patient's current row, the keys over the cap, and the candidates sharing the most keys.
    const found = (await tx.query<{ existing: { upid: string; manual: boolean } | null; oversized: string[] | null; candidates: { patient_id: string; upid: string; record: PersonInput; manual: boolean }[] | null }>(
      `WITH blk AS (
         SELECT k.key, k.cap, b.ids FROM unnest($1::text[], $3::int[]) AS k(key, cap)
         CROSS JOIN LATERAL (SELECT array_agg(s.patient_id) AS ids FROM (SELECT patient_id FROM upi_blocks WHERE block_key = k.key LIMIT k.cap + 1) s) b
       ), hits AS (
         SELECT c.patient_id, count(*) AS n FROM blk CROSS JOIN LATERAL unnest(blk.ids) AS c(patient_id)
          WHERE cardinality(blk.ids) <= blk.cap AND c.patient_id <> $2
          GROUP BY c.patient_id ORDER BY count(*) DESC, c.patient_id LIMIT $4
       )
       SELECT (SELECT json_build_object('upid', upid, 'manual', manual) FROM upi_persons WHERE patient_id = $2) AS existing,
              (SELECT array_agg(key) FROM blk WHERE cardinality(blk.ids) > blk.cap) AS oversized,
              (SELECT json_agg(json_build_object('patient_id', p.patient_id, 'upid', p.upid, 'record', p.record, 'manual', p.manual))
                 FROM hits h JOIN upi_persons p ON p.patient_id = h.patient_id
                WHERE NOT EXISTS (SELECT 1 FROM upi_possible_matches m WHERE m.status = 'rejected'
                        AND LEAST(m.patient_id, m.candidate_id) = LEAST(p.patient_id, $2) AND GREATEST(m.patient_id, m.candidate_id) = GREATEST(p.patient_id, $2))) AS candidates`,
      [live, patientId, live.map((k) => keyBlockCap(k, cap)), MAX_CANDIDATES],
    )).rows[0]!;
    for (const k of found.oversized ?? []) {
      if (this.#oversized.size > 200_000) this.#oversized.clear();
      this.#oversized.add(k);
    }
    const existing = found.existing;
    // Best match score per UPID; possible matches kept for review.
    const byUpid = new Map<string, number>();
    const possible: { patientId: string; score: number }[] = [];
    for (const c of found.candidates ?? []) {
      const r = compare(this.model, norm, normalizeRecord(c.record));
      if (r.outcome === 'match') byUpid.set(c.upid, Math.max(byUpid.get(c.upid) ?? -Infinity, r.score));
      else if (r.outcome === 'possible') possible.push({ patientId: c.patient_id, score: r.score });
    }
    const ranked = [...byUpid.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    let decision: UpiDecision;
    const pendingMerges: string[] = [];
    let movedFrom: string | null = null;
    if (existing?.manual) decision = { upid: existing.upid, reason: 'kept', score: null, possible: [], merged: [] };
    else if (ranked.length === 0) decision = existing ? { upid: existing.upid, reason: 'kept', score: null, possible, merged: [] } : { upid: randomUUID(), reason: 'new', score: null, possible, merged: [] };
    else {
      const [keep, score] = ranked[0]!;
      decision = { upid: keep, reason: 'match', score, possible, merged: [] };
      // Other persons this record also matches (it bridges them), and its own earlier person on an update.
      const others = ranked.slice(1).map(([u]) => u);
      if (existing && existing.upid !== keep && !others.includes(existing.upid)) others.push(existing.upid);
      if (others.length) {
        const keepMembers = await this.#members(tx, keep);
        for (const other of others) {
          const members = (await this.#members(tx, other)).filter((m) => m.patient_id !== patientId);
          if (other === existing?.upid && members.length === 0) {
            movedFrom = other; // this Patient was its person's only record: it simply moves
            continue;
          }
          if (await this.#mergeable(tx, keepMembers, members, { id: patientId, norm })) {
            pendingMerges.push(other);
            keepMembers.push(...members);
          } else if (other === existing?.upid) {
            // Its own person cannot join: the Patient stays where it is; the match waits for a human.
            decision = { upid: existing.upid, reason: 'kept', score: null, possible, merged: [] };
            pendingMerges.length = 0;
            for (const c of found.candidates ?? []) if (c.upid === keep) possible.push({ patientId: c.patient_id, score });
            break;
          } else {
            for (const c of found.candidates ?? []) if (c.upid === other) possible.push({ patientId: c.patient_id, score: byUpid.get(other)! });
          }
        }
      }
    }
    const now = this.clock.now();
    const changed = !existing || existing.upid !== decision.upid;
    // One round trip: the person row, its blocking keys, the assignment and the possible matches.
    await tx.query(
      `WITH p AS (
         INSERT INTO upi_persons (patient_id, builder_id, upid, record, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5)
         ON CONFLICT (patient_id) DO UPDATE SET upid = EXCLUDED.upid, record = EXCLUDED.record, updated_at = EXCLUDED.updated_at
         RETURNING 1
       ), d AS (
         DELETE FROM upi_blocks WHERE patient_id = $1 AND NOT (block_key = ANY($6::text[]))
       ), k AS (
         INSERT INTO upi_blocks (block_key, patient_id) SELECT k, $1 FROM unnest($6::text[]) AS k ON CONFLICT DO NOTHING
       ), a AS (
         INSERT INTO upi_assignments (patient_id, old_upid, new_upid, reason, score, at, actor)
         SELECT $1, $7, $3, $8, $9, $5, 'matching' WHERE $10::boolean
       ), m AS (
         INSERT INTO upi_possible_matches (id, patient_id, candidate_id, score, created_at)
         SELECT gen_random_uuid()::text, $1, c, s, $5 FROM unnest($11::text[], $12::float8[]) AS t(c, s)
         ON CONFLICT (LEAST(patient_id, candidate_id), GREATEST(patient_id, candidate_id)) DO NOTHING
       )
       SELECT count(*) FROM p`,
      [patientId, builderId, decision.upid, JSON.stringify(record), now, keys, existing?.upid ?? null, decision.reason, decision.score, changed,
        decision.possible.map((p) => p.patientId), decision.possible.map((p) => p.score)],
    );
    this.#remember(tx, patientId, decision.upid);
    // Persons this record bridged are merged into its person, and their resources re-stamped.
    for (const absorbed of pendingMerges) {
      await this.merge(tx, decision.upid, absorbed, 'merge', { actor: 'matching', score: decision.score, detail: { bridgedBy: patientId }, skip: new Set([patientId]) });
      decision.merged.push(absorbed);
    }
    if (decision.merged.length) decision.reason = 'merge';
    // A Patient that moved to another person: its resources follow.
    if (movedFrom) await this.restamp(tx, movedFrom, null, new Set([patientId]));
    return decision;
  }

  /**
   * A network confirmed that `id.patientId` is the network's person `id.networkPersonId`. Other Patients the same
   * network called the same person are linked to it — the network's identity counts as extra evidence (the model's
   * `networkIdentity.weight` bits on top of the demographic score) — unless a rule forbids it (twins, different
   * SSN, household …), a human rejected the pair, or either side was linked by hand: then the pair is held as a
   * possible match for a human.
   */
  async recordNetworkIdentity(tx: Queryable, id: NetworkIdentity): Promise<NetworkLinkResult> {
    const now = this.clock.now();
    await tx.query(
      `INSERT INTO upi_network_identities (network, network_person_id, patient_id, builder_id, score, demographics, first_seen_at, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $7)
       ON CONFLICT (network, network_person_id, patient_id) DO UPDATE SET score = EXCLUDED.score, demographics = EXCLUDED.demographics, last_seen_at = EXCLUDED.last_seen_at`,
      [id.network, id.networkPersonId, id.patientId, id.builderId, id.score, JSON.stringify(id.demographics), now],
    );
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`upi-network:${id.network}:${id.networkPersonId}`]);
    const cfg = { weight: 10, minScore: 0.8, ...this.model.model.networkIdentity };
    const result: NetworkLinkResult = { others: [] };
    if (id.score !== null && id.score < cfg.minScore) return result;
    const self = (await tx.query<PersonRow>('SELECT patient_id, builder_id, upid, record, manual FROM upi_persons WHERE patient_id = $1', [id.patientId])).rows[0];
    if (!self) return result;
    const others = (await tx.query<PersonRow & { score: number | null }>(
      `SELECT p.patient_id, p.builder_id, p.upid, p.record, p.manual, n.score FROM upi_network_identities n
         JOIN upi_persons p ON p.patient_id = n.patient_id
        WHERE n.network = $1 AND n.network_person_id = $2 AND n.patient_id <> $3`,
      [id.network, id.networkPersonId, id.patientId],
    )).rows;
    const selfNorm = normalizeRecord(self.record);
    for (const o of others) {
      const r = compare(this.model, selfNorm, normalizeRecord(o.record));
      const current = await this.upidOf(tx, id.patientId);
      const otherUpid = await this.upidOf(tx, o.patient_id);
      if (current === otherUpid) {
        result.others.push({ patientId: o.patient_id, action: 'same', score: r.score });
        continue;
      }
      const boosted = r.score + cfg.weight;
      const confident = (o.score === null || o.score >= cfg.minScore) && !r.cannotLink && boosted >= this.model.thresholds.match;
      if (confident && current && otherUpid) {
        const keepRows = await this.#members(tx, otherUpid);
        const absorbRows = await this.#members(tx, current);
        // The person with more records (else the older UPID string order) survives: fewer re-stamps.
        const [keep, absorb, keepM, absorbM] = keepRows.length >= absorbRows.length ? [otherUpid, current, keepRows, absorbRows] : [current, otherUpid, absorbRows, keepRows];
        if (await this.#mergeable(tx, keepM, absorbM, null)) {
          await this.merge(tx, keep, absorb, 'network', { actor: `network:${id.network}`, score: boosted, detail: { network: id.network, networkPersonId: id.networkPersonId } });
          result.others.push({ patientId: o.patient_id, action: 'linked', score: boosted });
          continue;
        }
      }
      {
        // The network says same person but the UPI will not link on its own: a human decides.
        await tx.query(
          `INSERT INTO upi_possible_matches (id, patient_id, candidate_id, score, created_at) VALUES (gen_random_uuid()::text, $1, $2, $3, $4)
           ON CONFLICT (LEAST(patient_id, candidate_id), GREATEST(patient_id, candidate_id)) DO NOTHING`,
          [id.patientId, o.patient_id, boosted, now],
        );
        result.others.push({ patientId: o.patient_id, action: 'possible', score: boosted });
      }
    }
    return result;
  }

  /**
   * What a patient-history job calls after a network's discovery matched a person (in its own transaction).
   * The network's person is identified by its identifier (system|value) when it gives one, else by its id.
   */
  async recordDiscovery(db: Database, network: string, person: { networkPatientId: string; score: number; identifier?: { system: string; value: string } }, patientId: string, builderId: string, demographics: PersonInput): Promise<NetworkLinkResult> {
    const networkPersonId = person.identifier ? `${person.identifier.system}|${person.identifier.value}` : person.networkPatientId;
    return db.transaction((tx) => this.recordNetworkIdentity(tx, { network, networkPersonId, score: Number.isFinite(person.score) ? person.score : null, patientId, builderId, demographics }));
  }
}
