// The dispatcher's cursor never steps over an outbox number whose transaction may still commit, and does step
// over numbers of rolled-back transactions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../../src/db/testing.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { Queue } from '../../src/queue/index.ts';
import { Dispatcher, HookStore, type DeliveryPayload } from '../../src/hooks/index.ts';
import { loadKeyRing } from '../../src/access/keys.ts';
import type { Database, Queryable } from '../../src/db/types.ts';
import { writeResources } from './helpers.ts';

let db: Database;
const clock = new FakeClock();
let queue: Queue<DeliveryPayload>;
let dispatcher: Dispatcher;
const builder = randomUUID();

before(async () => {
  db = await createTestDatabase();
  const keys = await loadKeyRing(db, undefined);
  const store = new HookStore(db, clock, keys, { allowHttp: true, allowPrivateTargets: true });
  await store.create(builder, { webhookUrl: 'https://8.8.8.8/x', filter: '.resourceType == "Observation"', auth: { type: 'basic', username: 'u', password: 'p' } });
  queue = new Queue<DeliveryPayload>(db, clock, 'hooks.delivery', { maxFailures: 5, retryDelayMs: 1_800_000 });
  dispatcher = new Dispatcher(db, clock, queue, { dispatchBatch: 100, filterMaxSteps: 100_000 });
});
after(async () => {
  await db.close();
});

const obs = () => ({ resourceType: 'Observation', builderId: builder, content: { status: 'final' } });
const cursor = async () => Number((await db.query<{ last_seq: number }>("SELECT last_seq FROM hook_dispatch_cursor WHERE name = 'hooks'")).rows[0]?.last_seq ?? 0);
const delivered = async () => (await queue.list({ limit: 1000, offset: 0 })).total;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('events are dispatched once, in order, and a re-run creates nothing', async () => {
  await writeResources(db, [obs(), obs(), obs()]);
  const r = await dispatcher.dispatchOnce();
  assert.equal(r.events, 3);
  assert.equal(r.deliveries, 3);
  assert.equal((await dispatcher.dispatchOnce()).events, 0);
  assert.equal(await delivered(), 3);
});

test('a rolled-back write leaves a gap that is skipped once no transaction can fill it', async () => {
  const before = await cursor();
  await assert.rejects(db.transaction(async (tx) => {
    await tx.query(`INSERT INTO outbox (event) VALUES ('{"action":"create","resourceType":"Observation","id":"ghost","versionId":"1","builderId":"${builder}"}'::jsonb)`);
    throw new Error('rollback');
  }));
  await writeResources(db, [obs()]);
  const first = await dispatcher.dispatchOnce();
  assert.equal(first.waitingOnGap, true, 'stops at the gap first');
  assert.equal(await cursor(), before);
  await sleep(300);
  const second = await dispatcher.dispatchOnce();
  assert.equal(second.events, 1);
  assert.equal(await cursor(), before + 2);
  assert.equal(await delivered(), 4);
});

test('an uncommitted write holds the cursor until it commits (PostgreSQL: concurrent transactions)', { skip: process.env.DATABASE_URL ? false : 'PGlite runs one transaction at a time' }, async () => {
  const before = await cursor();
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let inserted!: () => void;
  const didInsert = new Promise<void>((r) => (inserted = r));
  const slow = db.transaction(async (tx: Queryable) => {
    await tx.query(`INSERT INTO outbox (event) VALUES ('{"action":"create","resourceType":"Observation","id":"slow","versionId":"1","builderId":"${builder}"}'::jsonb)`);
    inserted();
    await held;
  });
  await didInsert;
  await writeResources(db, [obs()]); // commits a higher number first
  for (let i = 0; i < 3; i++) {
    const r = await dispatcher.dispatchOnce();
    assert.equal(r.events, 0);
    assert.equal(r.waitingOnGap, true);
    await sleep(150);
  }
  assert.equal(await cursor(), before, 'never steps over a number that may still commit');
  release();
  await slow;
  const r = await dispatcher.dispatchOnce();
  assert.equal(r.events, 2);
  assert.equal(r.deliveries, 2, 'the slow event was not lost');
  assert.equal(await cursor(), before + 2);
});
