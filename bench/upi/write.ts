// bench:upi write mode — a Patient write with matching against an index of 1,000,000 patients on PostgreSQL.
//
//   npm run bench:upi -- --only write [--index 1000000 --writes 2000 --seed 42]
//   (BENCH_UPI_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/tessera_bench_upi; the database is
//   created if missing, and the index is loaded once and reused by later runs.)
//
// The index (upi_persons + upi_blocks: what every Patient write is matched against) is loaded by bulk SQL from
// the seeded synthetic generator: normalised and blocked in Node, inserted in batches with unnest(), the
// block-key primary key built after the load. Then Patients are created one at a time through the platform's
// FhirStore (the one write path: validation, the UPI interceptor, resource rows, index rows, events), half of
// them corrupted re-registrations of indexed persons and half new persons, and each write is timed.
import { cpus, loadavg } from 'node:os';
import { ensureDatabase } from '../database.ts';
import { createPlatform } from '../../src/server/platform.ts';
import { openPostgres } from '../../src/db/postgres.ts';
import { roleByName } from '../../src/access/roles.ts';
import type { AccessContext } from '../../src/access/context.ts';
import type { FhirResource } from '../../src/fhir/store/index.ts';
import { blockingKeys, normalizeRecord, type PersonInput } from '../../src/upi/engine/index.ts';
import { generatePeople } from './generate.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** A FHIR Patient from the generator's person record. */
export function patientFrom(p: PersonInput): FhirResource {
  const telecom = [p.phone ? { system: 'phone', value: p.phone } : null, p.email ? { system: 'email', value: p.email } : null].filter(Boolean);
  const ids = [p.ssn ? { system: 'http://hl7.org/fhir/sid/us-ssn', value: p.ssn } : null,
    p.mrn ? { system: p.mrnSystem ?? 'urn:bench:mrn', value: p.mrn, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } } : null].filter(Boolean);
  const g = (p.sex ?? '').toLowerCase();
  const sex = g === 'male' || g === 'm' ? 'male' : g === 'female' || g === 'f' ? 'female' : undefined;
  const birth = p.birthDate && /^\d{8}$/.test(p.birthDate) ? `${p.birthDate.slice(0, 4)}-${p.birthDate.slice(4, 6)}-${p.birthDate.slice(6)}` : p.birthDate;
  return {
    resourceType: 'Patient',
    ...(p.given || p.family ? { name: [{ use: 'official', ...(p.family ? { family: p.family } : {}), ...(p.given ? { given: p.given.split(' ').filter(Boolean) } : {}) }] } : {}),
    ...(sex ? { gender: sex } : {}),
    // FHIR refuses impossible dates (the generator's day/month swaps past the 12th): a client could not send them.
    ...(birth && /^\d{4}-\d{2}-\d{2}$/.test(birth) && !Number.isNaN(Date.parse(`${birth}T00:00:00Z`)) && new Date(`${birth}T00:00:00Z`).toISOString().startsWith(birth) ? { birthDate: birth } : {}),
    ...(p.line || p.city || p.postalCode ? { address: [{ use: 'home', ...(p.line ? { line: [p.line] } : {}), ...(p.city ? { city: p.city } : {}), ...(p.state ? { state: p.state } : {}), ...(p.postalCode ? { postalCode: p.postalCode } : {}) }] } : {}),
    ...(telecom.length ? { telecom } : {}),
    ...(ids.length ? { identifier: ids } : {}),
  };
}

export async function writeBench(): Promise<void> {
  const INDEX = arg('index', 1_000_000);
  const WRITES = arg('writes', 2000);
  const SEED = arg('seed', 42);
  const url = process.env.BENCH_UPI_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/tessera_bench_upi';
  await ensureDatabase(url);

  const db = await openPostgres({ url, max: 4 });
  const platform = await createPlatform({ db, config: { port: 0, host: '127.0.0.1', logLevel: 'warn' } });
  const store = platform.domain.store;

  // Index + queries from one generator run: queries are records held out of the index (re-registrations of
  // indexed persons, corrupted) and persons not in the index at all.
  console.log(`generating ${INDEX} + ${WRITES} synthetic person records (seed ${SEED}) …`);
  // The index never depends on --writes (so runs with other write counts reuse it): 1,000 records are always held
  // out of it, and the first writes/2 of them are written.
  const HELD = 1000;
  const data = generatePeople({ records: INDEX + 4 * HELD, seed: SEED, duplicateRate: 0.35 });
  const perPerson = new Map<string, number>();
  for (let i = 0; i < INDEX; i++) perPerson.set(data.truth[i]!, (perPerson.get(data.truth[i]!) ?? 0) + 1);
  const heldOut = new Set<number>();
  for (let i = INDEX - 1; i >= 0 && heldOut.size < HELD; i -= 37) if (perPerson.get(data.truth[i]!)! >= 2) heldOut.add(i);
  const queries = [...heldOut].slice(0, Math.floor(WRITES / 2)).map((i) => ({ input: data.records[i]!, known: true, truth: data.truth[i]! }))
    .concat(data.records.map((input, i) => ({ input, known: false, truth: data.truth[i]! })).slice(INDEX).filter((q) => !perPerson.has(q.truth)).slice(0, WRITES - Math.floor(WRITES / 2)));

  const have = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM upi_persons WHERE patient_id LIKE 'bench-%'")).rows[0]!.n);
  // The index must have been built with today's blocking rules: check the first record's keys.
  const first = [...Array(INDEX).keys()].find((i) => !heldOut.has(i))!;
  const expectKeys = [...new Set(blockingKeys(normalizeRecord(data.records[first]!)))];
  const haveKeys = have ? Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM upi_blocks WHERE patient_id = $1', [`bench-${first}`])).rows[0]!.n) : 0;
  if (have !== INDEX - heldOut.size || haveKeys !== expectKeys.length) {
    console.log(`loading the index (${INDEX - heldOut.size} patients; found ${have}) …`);
    const t0 = performance.now();
    await db.exec('TRUNCATE upi_persons, upi_blocks, upi_possible_matches, upi_assignments, upi_network_identities');
    await db.exec("DELETE FROM resources WHERE type = 'Patient'");
    await db.exec('ALTER TABLE upi_blocks DROP CONSTRAINT IF EXISTS upi_blocks_pkey; DROP INDEX IF EXISTS upi_blocks_patient_idx');
    const BATCH = 5000;
    const builder = 'bench-index';
    const now = new Date();
    let personIds: string[] = [];
    let upids: string[] = [];
    let records: string[] = [];
    let blockKeys: string[] = [];
    let blockIds: string[] = [];
    const flush = async () => {
      if (personIds.length === 0) return;
      await db.query(
        `INSERT INTO upi_persons (patient_id, builder_id, upid, record, updated_at)
         SELECT p, $4, u, r::jsonb, $5 FROM unnest($1::text[], $2::text[], $3::text[]) AS t(p, u, r)`,
        [personIds, upids, records, builder, now],
      );
      await db.query('INSERT INTO upi_blocks (block_key, patient_id) SELECT * FROM unnest($1::text[], $2::text[])', [blockKeys, blockIds]);
      personIds = []; upids = []; records = []; blockKeys = []; blockIds = [];
    };
    const upidOfPerson = new Map<string, string>();
    let loaded = 0;
    for (let i = 0; i < INDEX; i++) {
      if (heldOut.has(i)) continue;
      const id = `bench-${i}`;
      const person = data.truth[i]!;
      let upid = upidOfPerson.get(person);
      if (!upid) upidOfPerson.set(person, (upid = crypto.randomUUID()));
      personIds.push(id);
      upids.push(upid);
      records.push(JSON.stringify(data.records[i]));
      for (const k of new Set(blockingKeys(normalizeRecord(data.records[i]!)))) {
        blockKeys.push(k);
        blockIds.push(id);
      }
      if (personIds.length >= BATCH) await flush();
      if (++loaded % 100_000 === 0) console.log(`  ${loaded} loaded (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
    await flush();
    console.log(`  rows inserted in ${((performance.now() - t0) / 1000).toFixed(0)} s; building indexes …`);
    await db.exec('ALTER TABLE upi_blocks ADD CONSTRAINT upi_blocks_pkey PRIMARY KEY (block_key, patient_id)');
    await db.exec('CREATE INDEX upi_blocks_patient_idx ON upi_blocks (patient_id)');
    // VACUUM sets the visibility map: block lookups become index-only scans (autovacuum does this in production).
    await db.exec('VACUUM (ANALYZE) upi_persons');
    await db.exec('VACUUM (ANALYZE) upi_blocks');
    console.log(`index loaded in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  const blocks = (await db.query<{ n: string; big: string }>(`SELECT sum(n)::int8 AS n, count(*) FILTER (WHERE n >= $1)::int8 AS big FROM (SELECT count(*) AS n FROM upi_blocks GROUP BY block_key) s`, [1000])).rows[0]!;
  console.log(`index: ${INDEX - heldOut.size} patients, ${blocks.n} block rows, ${blocks.big} block keys at or over the cap (1,000)`);

  let builderId = (await db.query<{ id: string }>("SELECT id FROM builders WHERE name = 'bench-upi' LIMIT 1")).rows[0]?.id;
  builderId ??= (await platform.access.createBuilder('bench-upi')).id;
  const ctx: AccessContext = {
    principal: { kind: 'client', id: 'bench:upi', builderId, role: roleByName('Builder Admin')!, isPlatformAdmin: false },
    readBuilderIds: [builderId],
    writeBuilderId: builderId,
    accountHeader: null,
  };
  // Warm-up (connections, plans, caches), then the measured writes one at a time.
  const warm = generatePeople({ records: 50, seed: SEED + 1000 }).records;
  for (const w of warm) await store.create(ctx, patientFrom({ ...w, family: `Warmup${w.family ?? ''}`, ssn: undefined, phone: undefined, email: undefined }));
  // The store's own cost for a resource without matching (same path, no UPI lookup): the baseline.
  const baseline: number[] = [];
  for (let i = 0; i < 200; i++) {
    const s = process.hrtime.bigint();
    await store.create(ctx, { resourceType: 'Basic', code: { text: 'bench baseline' } });
    baseline.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  baseline.sort((a, b) => a - b);
  console.log(`baseline: a Basic resource through the same store: p50 ${baseline[100]!.toFixed(1)} ms, p99 ${baseline[198]!.toFixed(1)} ms`);
  // Time spent inside the UPI's Patient matching (SQL + scoring), to separate it from the store's own cost.
  const upi = platform.domain.upi;
  const upiTimes: number[] = [];
  const indexPatient = upi.indexPatient.bind(upi);
  upi.indexPatient = async (...args: Parameters<typeof indexPatient>) => {
    const s = process.hrtime.bigint();
    try {
      return await indexPatient(...args);
    } finally {
      upiTimes.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  };
  const load0 = loadavg()[0]!;
  const times: number[] = [];
  let matched = 0;
  let matchedKnown = 0;
  let newWithEarlier = 0;
  let matchedNewWithEarlier = 0;
  const written = new Set<string>();
  const upidBefore = new Map<string, string>();
  const t0 = performance.now();
  for (const q of queries) {
    const s = process.hrtime.bigint();
    const out = await store.create(ctx, patientFrom(q.input));
    const res = out.resource!;
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
    const upid = ((res.identifier as { system?: string; value?: string }[]) ?? []).find((i) => i.system === 'https://zusapi.com/fhir/identifier/universal-id')?.value ?? '';
    upidBefore.set(String(res.id), upid);
    const reason = (await db.query<{ reason: string }>('SELECT reason FROM upi_assignments WHERE patient_id = $1 ORDER BY seq DESC LIMIT 1', [res.id])).rows[0]?.reason;
    const earlier = !q.known && written.has(q.truth);
    if (earlier) newWithEarlier++;
    written.add(q.truth);
    if (reason === 'match' || reason === 'merge') {
      matched++;
      if (q.known) matchedKnown++;
      if (earlier) matchedNewWithEarlier++;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  const p = (x: number) => times[Math.min(times.length - 1, Math.floor(times.length * x))]!.toFixed(1);
  const known = queries.filter((q) => q.known).length;
  upiTimes.sort((a, b) => a - b);
  const u = (x: number) => upiTimes[Math.min(upiTimes.length - 1, Math.floor(upiTimes.length * x))]!.toFixed(1);
  console.log(`  of which UPI matching (UpiService.indexPatient: locks, candidate query, scoring, index write): p50 ${u(0.5)} ms, p90 ${u(0.9)} ms, p99 ${u(0.99)} ms`);
  console.log(`Patient create through FhirStore + UPI against ${INDEX - heldOut.size} indexed patients (PostgreSQL, ${cpus().length} cores, load ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}): ` +
    `${queries.length} writes in ${seconds.toFixed(1)} s; p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, p99 ${p(0.99)} ms, max ${times[times.length - 1]!.toFixed(1)} ms`);
  const firstNew = queries.length - known - newWithEarlier;
  console.log(`  matched an existing person: ${matchedKnown}/${known} re-registrations of indexed persons; ` +
    `${matchedNewWithEarlier}/${newWithEarlier} second records of persons first written in this run; ${matched - matchedKnown - matchedNewWithEarlier}/${firstNew} first records of new persons (wrong links)`);
  // Leave the index as loaded: remove this run's writes.
  const ids = [...upidBefore.keys()];
  await db.query('DELETE FROM upi_blocks WHERE patient_id IN (SELECT patient_id FROM upi_persons WHERE builder_id = $1)', [builderId]);
  await db.query('DELETE FROM upi_persons WHERE builder_id = $1', [builderId]);
  await db.query("DELETE FROM resources WHERE builder_id = $1", [builderId]);
  await db.query("DELETE FROM upi_possible_matches WHERE patient_id = ANY($1::text[]) OR candidate_id = ANY($1::text[])", [ids]);
  await platform.close();
  await db.close();
}
