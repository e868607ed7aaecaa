// `tessera reindex`: search-index rows rebuilt from stored resources (stale or missing rows come back, nothing
// else changes) and UPI blocking keys re-derived from stored person records. Runs on PGlite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../../src/db/types.ts';
import type { FhirStore } from '../../src/fhir/store/index.ts';
import { reindexResources } from '../../src/fhir/store/reindex.ts';
import { reindexUpiBlocks } from '../../src/upi/reindex.ts';
import { blockingKeys, normalizeRecord } from '../../src/upi/engine/index.ts';
import { ctxFor, createStoreFixture, qs, counts } from './helpers.ts';

let db: Database;
let store: FhirStore;
const A = ctxFor('builder-a');
const B = ctxFor('builder-b');
const ids: Record<string, string> = {};
const LOINC = 'http://loinc.org';

const INDEX_TABLES = ['idx_token', 'idx_string', 'idx_date', 'idx_reference', 'idx_number', 'idx_quantity', 'idx_uri'];

/** Every index row, as sorted JSON lines (comparable before/after). */
async function indexSnapshot(): Promise<string[]> {
  const out: string[] = [];
  for (const t of INDEX_TABLES) {
    const rows = (await db.query<Record<string, unknown>>(`SELECT * FROM ${t}`)).rows;
    for (const r of rows) out.push(`${t} ${JSON.stringify(Object.keys(r).sort().map((k) => [k, r[k] instanceof Date ? (r[k] as Date).toISOString() : String(r[k])]))}`);
  }
  return out.sort();
}

async function find(type: string, query: string): Promise<string[]> {
  return (await store.search(A, type, qs(query))).result.matches.map((m) => m.id).sort();
}

before(async () => {
  ({ db, store } = await createStoreFixture());
  ids.smith = (await store.create(A, { resourceType: 'Patient', name: [{ family: 'Smith', given: ['Ann'] }], birthDate: '1970-01-01' })).id;
  ids.hr = (await store.create(A, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: LOINC, code: '8867-4' }] }, subject: { reference: `Patient/${ids.smith}` }, valueQuantity: { value: 72, system: 'http://unitsofmeasure.org', code: '/min' }, effectiveDateTime: '2026-01-02T10:00:00Z' })).id;
  ids.other = (await store.create(B, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: LOINC, code: '8867-4' }] } })).id;
  ids.gone = (await store.create(A, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: LOINC, code: '1234-5' }] } })).id;
  await store.delete(A, 'Observation', ids.gone);
});
after(async () => { await db.close(); });

describe('reindex', () => {
  test('rebuilds exactly the rows the write path wrote, without new versions or events', async () => {
    const before = await indexSnapshot();
    const countsBefore = await counts(db);
    const seen: number[] = [];
    const p = await reindexResources(db, { batchSize: 2, onProgress: (x) => seen.push(x.resources) });
    assert.equal(p.total, 3); // the deleted Observation is not live
    assert.equal(p.resources, 3);
    assert.deepEqual(seen, [2, 3]);
    assert.deepEqual(await indexSnapshot(), before);
    const countsAfter = await counts(db);
    assert.equal(countsAfter.resource_versions, countsBefore.resource_versions);
    assert.equal(countsAfter.outbox, countsBefore.outbox);
  });

  test('stale or missing index rows of one type come back; other types are not touched', async () => {
    const before = await indexSnapshot();
    await db.query("DELETE FROM idx_token WHERE type = 'Observation'");
    await db.query("DELETE FROM idx_date WHERE type = 'Observation'");
    await db.query("INSERT INTO idx_token (type, id, builder_id, param, system, code) VALUES ('Observation', $1, 'builder-a', 'code', $2, 'stale')", [ids.hr, LOINC]);
    assert.deepEqual(await find('Observation', `code=${LOINC}|8867-4`), []);
    assert.deepEqual(await find('Observation', `code=${LOINC}|stale`), [ids.hr]);
    const patientRows = (await indexSnapshot()).filter((l) => l.includes('"Patient"'));
    const p = await reindexResources(db, { types: ['Observation'] });
    assert.equal(p.resources, 2);
    assert.deepEqual(await find('Observation', `code=${LOINC}|8867-4`), [ids.hr]);
    assert.deepEqual(await find('Observation', `code=${LOINC}|stale`), []);
    assert.deepEqual(await find('Observation', 'date=2026-01-02'), [ids.hr]);
    assert.deepEqual(await find('Observation', `code-value-quantity=${LOINC}|8867-4$72`), [ids.hr]);
    assert.deepEqual(await indexSnapshot(), before);
    assert.deepEqual((await indexSnapshot()).filter((l) => l.includes('"Patient"')), patientRows);
  });

  test('UPI blocking keys are re-derived from the stored person record; UPIDs stay', async () => {
    const record = { given: 'Maria', family: 'Lopez', birthDate: '1980-05-06', sex: 'female', postalCode: '02139' };
    await db.query("INSERT INTO upi_persons (patient_id, builder_id, upid, record, updated_at) VALUES ('p-upi', 'builder-a', 'upid-1', $1::jsonb, now())", [JSON.stringify(record)]);
    await db.query("INSERT INTO upi_blocks (block_key, patient_id) VALUES ('stale-key', 'p-upi')");
    const p = await reindexUpiBlocks(db, { batchSize: 1 });
    assert.equal(p.patients, 1);
    const keys = (await db.query<{ block_key: string }>("SELECT block_key FROM upi_blocks WHERE patient_id = 'p-upi' ORDER BY block_key")).rows.map((r) => r.block_key);
    assert.deepEqual(keys, [...new Set(blockingKeys(normalizeRecord(record)))].sort());
    assert.ok(keys.length > 0);
    assert.equal((await db.query<{ upid: string }>("SELECT upid FROM upi_persons WHERE patient_id = 'p-upi'")).rows[0]!.upid, 'upid-1');
    // Idempotent.
    await reindexUpiBlocks(db);
    assert.deepEqual((await db.query<{ block_key: string }>("SELECT block_key FROM upi_blocks WHERE patient_id = 'p-upi' ORDER BY block_key")).rows.map((r) => r.block_key), keys);
  });
});
