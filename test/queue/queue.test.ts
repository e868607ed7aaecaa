import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase } from '../../src/db/testing.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { Queue, QueueRunner } from '../../src/queue/index.ts';
import type { Database } from '../../src/db/types.ts';

let db: Database;
const clock = new FakeClock('2026-03-01T00:00:00Z');
const MIN = 60_000;

before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.close();
});

test('enqueue is transactional and deduplicated', async () => {
  const q = new Queue<{ n: number }>(db, clock, 'q-tx', { maxFailures: 3, retryDelayMs: MIN });
  await assert.rejects(db.transaction(async (tx) => {
    await q.enqueue(tx, [{ payload: { n: 1 }, dedupeKey: 'a' }]);
    throw new Error('rollback');
  }));
  assert.equal((await q.list({ limit: 10, offset: 0 })).total, 0);
  const first = await db.transaction((tx) => q.enqueue(tx, [{ payload: { n: 1 }, dedupeKey: 'a' }, { payload: { n: 2 }, dedupeKey: 'b' }]));
  const again = await db.transaction((tx) => q.enqueue(tx, [{ payload: { n: 1 }, dedupeKey: 'a' }]));
  assert.equal(first.length, 2);
  assert.equal(again.length, 0);
});

test('claims respect run-at and leases; a second claimer skips what is claimed', async () => {
  const q = new Queue<{ n: number }>(db, clock, 'q-claim', { maxFailures: 3, retryDelayMs: MIN });
  await q.enqueue(db, [{ payload: { n: 1 } }, { payload: { n: 2 }, runAt: new Date(clock.nowMs() + 10 * MIN) }]);
  const a = await q.claim(10, 5 * MIN);
  assert.deepEqual(a.map((j) => j.payload.n), [1]);
  assert.equal((await q.claim(10, 5 * MIN)).length, 0, 'leased job is not claimable');
  clock.advance(6 * MIN); // the lease of job 1 ran out (its claimer "died")
  assert.deepEqual((await q.claim(10, 5 * MIN)).map((j) => j.payload.n), [1]);
  clock.advance(5 * MIN);
  const both = await q.claim(10, 5 * MIN);
  assert.deepEqual(both.map((j) => j.payload.n).sort(), [1, 2]);
  const one = both.find((j) => j.payload.n === 1)!;
  assert.equal(one.attempts, 3);
});

test('failures retry after the delay, then go dead; redrive brings them back; purge removes old ones', async () => {
  const q = new Queue<{ n: number }>(db, clock, 'q-retry', { maxFailures: 3, retryDelayMs: 30 * MIN });
  await q.enqueue(db, [{ payload: { n: 1 }, groupKey: 'g1' }]);
  for (let i = 1; i <= 3; i++) {
    const [job] = await q.claim(1, MIN);
    assert.ok(job, `attempt ${i} claimable`);
    const status = await q.finish(job, { ok: false, code: 500, error: 'boom', latencyMs: 3, startedAt: clock.now() });
    assert.equal(status, i < 3 ? 'pending' : 'dead');
    assert.equal((await q.claim(1, MIN)).length, 0, 'not due before the retry delay');
    clock.advance(30 * MIN);
  }
  const dead = await q.list({ status: 'dead', limit: 10, offset: 0 });
  assert.equal(dead.total, 1);
  const attempts = await q.attempts([dead.jobs[0]!.id]);
  assert.deepEqual(attempts.get(dead.jobs[0]!.id)!.map((a) => [a.attempt, a.ok, a.code]), [[1, false, 500], [2, false, 500], [3, false, 500]]);
  assert.equal(await q.redrive({ groupKey: 'g1' }), 1);
  const [job] = await q.claim(1, MIN);
  assert.equal(await q.finish(job!, { ok: true, code: 200, latencyMs: 5, startedAt: clock.now() }), 'done');
  const stats = await q.stats('g1');
  assert.equal(stats.done, 1);
  assert.equal(stats.failedAttempts, 3);
  assert.equal(await q.purgeFinished(new Date(clock.nowMs() - 1)), 0);
  assert.equal(await q.purgeFinished(new Date(clock.nowMs() + 1)), 1);
});

test('a stale outcome (lease expired, job re-claimed) changes nothing', async () => {
  const q = new Queue<{ n: number }>(db, clock, 'q-stale', { maxFailures: 1, retryDelayMs: MIN });
  await q.enqueue(db, [{ payload: { n: 1 } }]);
  const [first] = await q.claim(1, MIN);
  clock.advance(2 * MIN);
  const [second] = await q.claim(1, MIN);
  assert.equal(await q.finish(first!, { ok: false, error: 'late', startedAt: clock.now() }), 'stale');
  assert.equal(await q.finish(second!, { ok: true, startedAt: clock.now() }), 'done');
});

test('paused groups are not claimed until resumed; the runner drains with bounded concurrency', async () => {
  const q = new Queue<{ n: number }>(db, clock, 'q-run', { maxFailures: 2, retryDelayMs: MIN });
  await q.pauseGroup('slow');
  await q.enqueue(db, Array.from({ length: 20 }, (_, n) => ({ payload: { n }, groupKey: n % 2 ? 'slow' : 'fast' })));
  let inFlight = 0, peak = 0;
  const seen: number[] = [];
  const runner = new QueueRunner<{ n: number }>({
    queue: q, concurrency: 4, leaseMs: MIN, pollMs: 10,
    async handle(job) {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      seen.push(job.payload.n);
      if (job.payload.n === 4) throw new Error('handler threw');
      return { ok: true, code: 200 };
    },
  });
  assert.equal(await runner.drain(), 10);
  assert.ok(seen.every((n) => n % 2 === 0));
  assert.ok(peak <= 4);
  await q.resumeGroup('slow');
  runner.start();
  for (let i = 0; i < 200 && seen.length < 20; i++) await new Promise((r) => setTimeout(r, 10));
  await runner.stop();
  assert.equal(seen.length, 20);
  const failed = await q.list({ status: 'pending', limit: 10, offset: 0 });
  assert.equal(failed.total, 1);
  assert.equal(failed.jobs[0]!.lastError, 'handler threw');
});
