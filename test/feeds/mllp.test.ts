// MLLP ingest over a real TCP socket: framing (merged and split chunks, a slow byte-by-byte sender, bytes
// outside frames, a broken frame, an oversize message), ACK codes (AA stored, AR rejected, AE storage
// down), duplicates acknowledged once stored once, idle timeout, and messages surviving a crash after the ACK.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase } from '../../src/db/testing.ts';
import type { Database } from '../../src/db/types.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { loadFeedsConfig, type FeedsConfig } from '../../src/feeds/config.ts';
import { InboxWriter, claimMessages, finishMessage, purgeProcessed } from '../../src/feeds/inbox.ts';
import { FeedIngest } from '../../src/feeds/ingest.ts';
import { MllpFramer, startMllpServer, frame, type MllpServer } from '../../src/feeds/mllp.ts';
import { ALICE, BOB, MllpClient, adt, msa, oru } from './helpers.ts';

const logger = createLogger('silent');

describe('MLLP framer', () => {
  const msgs = (evs: ReturnType<MllpFramer['push']>) => evs.filter((e) => e.type === 'message').map((e) => (e as { data: Buffer }).data.toString());

  test('several messages in one chunk, one message over many chunks, split end block', () => {
    const f = new MllpFramer(1000);
    assert.deepEqual(msgs(f.push(Buffer.concat([frame('MSH|a'), frame('MSH|b'), frame('MSH|c')]))), ['MSH|a', 'MSH|b', 'MSH|c']);
    const b = frame('MSH|split');
    const out: string[] = [];
    for (let i = 0; i < b.length; i++) out.push(...msgs(f.push(b.subarray(i, i + 1))));
    assert.deepEqual(out, ['MSH|split']);
    // end block split between 0x1C and 0x0D, and a 0x1C not followed by 0x0D kept as data
    assert.deepEqual(msgs(f.push(Buffer.from('\x0bMSH|x\x1c'))), []);
    assert.deepEqual(msgs(f.push(Buffer.from('\x0d'))), ['MSH|x']);
    assert.deepEqual(msgs(f.push(Buffer.from('\x0bMSH|y\x1cz\x1c\x0d'))), ['MSH|y\x1cz']);
  });

  test('bytes outside frames are counted and ignored; a broken frame is dropped', () => {
    const f = new MllpFramer(1000);
    const evs = f.push(Buffer.from('junk\r\n\x0bMSH|partial\x0bMSH|ok\x1c\x0d'));
    assert.deepEqual(evs.map((e) => e.type), ['garbage', 'broken', 'message']);
    assert.equal(msgs(evs)[0], 'MSH|ok');
    // whitespace between frames is not garbage
    assert.deepEqual(f.push(Buffer.from('\r\n')), []);
  });

  test('oversize messages are reported once and skipped to their end', () => {
    const f = new MllpFramer(10);
    const evs = f.push(Buffer.from('\x0bMSH|0123456789abcdef'));
    assert.deepEqual(evs.map((e) => e.type), ['oversize']);
    assert.deepEqual(f.push(Buffer.from('more bytes\x1c\x0d\x0bMSH|ok\x1c\x0d')).map((e) => e.type), ['message']);
  });
});

describe('MLLP listener with the inbox', () => {
  let db: Database;
  let server: MllpServer;
  let cfg: FeedsConfig;
  let ingest: FeedIngest;
  const clock = new FakeClock(new Date('2026-11-20T09:00:00Z'));

  before(async () => {
    db = await createTestDatabase();
    cfg = { ...loadFeedsConfig({}), maxMessageBytes: 4096, idleTimeoutMs: 60_000 };
    ingest = new FeedIngest(cfg, new InboxWriter(db, clock), clock, logger);
    server = await startMllpServer({
      host: '127.0.0.1', port: 0, maxMessageBytes: cfg.maxMessageBytes, idleTimeoutMs: cfg.idleTimeoutMs, maxConnections: 50, logger,
      handler: {
        message: async (text, peer) => (await ingest.acceptHl7(text, { transport: 'mllp', peerIp: peer.address })).ack,
        oversize: (head, limit) => ingest.oversize(head, limit).ack,
      },
    });
  });
  after(async () => {
    await server.close();
    await db.close();
  });

  const inboxCount = async (controlId: string) => (await db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM feed_inbox WHERE control_id = $1', [controlId])).rows[0]!.n;

  test('AA after the message is stored; ACK echoes the control id; ADT and ORU from their networks', async () => {
    const c = await MllpClient.connect(server.port);
    c.send(adt({ controlId: 'T1-A01', event: 'A01', person: ALICE }));
    c.send(oru({ controlId: 'T1-ORU', person: BOB }));
    const acks = await c.waitAcks(2);
    assert.deepEqual(acks.map((a) => [msa(a).code, msa(a).controlId]), [['AA', 'T1-A01'], ['AA', 'T1-ORU']]);
    assert.match(acks[0]!, /^MSH\|\^~\\&\|TESSERA\|TESSERA\|BAMBOO\|BAMBOO-HIE\|/);
    assert.equal(await inboxCount('T1-A01'), 1);
    const row = (await db.query<{ network: string; message_type: string; body: string; status: string }>("SELECT network, message_type, body, status FROM feed_inbox WHERE control_id = 'T1-ORU'")).rows[0]!;
    assert.deepEqual([row.network, row.message_type, row.status], ['quest', 'ORU^R01', 'pending']);
    assert.equal(row.body, oru({ controlId: 'T1-ORU', person: BOB }));
    c.close();
  });

  test('AR: unknown sender, message type not sent by that network, no control id, no MSH', async () => {
    const c = await MllpClient.connect(server.port);
    c.send(adt({ controlId: 'T2-1', event: 'A01', person: ALICE, app: 'STRANGER' }));
    c.send(adt({ controlId: 'T2-2', event: 'A01', person: ALICE, app: 'QUEST' }));
    c.send(adt({ controlId: 'T2-3', event: 'A17', person: ALICE }));
    c.send(adt({ controlId: '', event: 'A01', person: ALICE }));
    c.send('PID|1||123');
    const acks = await c.waitAcks(5);
    assert.deepEqual(acks.map((a) => msa(a).code), ['AR', 'AR', 'AR', 'AR', 'AR']);
    assert.match(msa(acks[0]!).text, /Unknown sender/);
    assert.match(msa(acks[1]!).text, /ADT A01 is not accepted from quest/);
    assert.equal(msa(acks[2]!).controlId, 'T2-3');
    assert.equal((await db.query("SELECT 1 FROM feed_inbox WHERE control_id LIKE 'T2-%'")).rows.length, 0);
    c.close();
  });

  test('a re-sent control id is acknowledged again and stored once', async () => {
    const c = await MllpClient.connect(server.port);
    const m = adt({ controlId: 'T3-DUP', event: 'A01', person: ALICE });
    c.send(m);
    c.send(m);
    await c.waitAcks(2);
    c.send(m);
    const acks = await c.waitAcks(3);
    assert.deepEqual(acks.map((a) => msa(a).code), ['AA', 'AA', 'AA']);
    assert.equal(await inboxCount('T3-DUP'), 1);
    c.close();
  });

  test('a slow sender byte by byte, merged frames in one write, garbage and a broken frame between', async () => {
    const c = await MllpClient.connect(server.port);
    const slow = frame(adt({ controlId: 'T4-SLOW', event: 'A04', person: BOB, patientClass: 'E' }));
    for (let i = 0; i < slow.length; i += 7) {
      c.write(slow.subarray(i, i + 7));
      await new Promise((r) => setTimeout(r, 1));
    }
    await c.waitAcks(1);
    c.write(Buffer.concat([
      Buffer.from('noise before a frame'),
      Buffer.from('\x0b' + adt({ controlId: 'T4-BROKEN', event: 'A01', person: BOB }).slice(0, 60)),
      frame(adt({ controlId: 'T4-M1', event: 'A08', person: BOB })),
      frame(adt({ controlId: 'T4-M2', event: 'A03', person: BOB })),
    ]));
    const acks = await c.waitAcks(3);
    assert.deepEqual(acks.map((a) => [msa(a).code, msa(a).controlId]), [['AA', 'T4-SLOW'], ['AA', 'T4-M1'], ['AA', 'T4-M2']]);
    assert.equal(await inboxCount('T4-BROKEN'), 0);
    assert.ok(server.stats.broken >= 1);
    assert.ok(server.stats.garbageBytes > 0);
    c.close();
  });

  test('a message over the size limit is rejected (AR) at once; the connection goes on', async () => {
    const c = await MllpClient.connect(server.port);
    const big = adt({ controlId: 'T5-BIG', event: 'A01', person: ALICE }) + '\rNTE|1||' + 'x'.repeat(10_000);
    c.write(frame(big));
    c.send(adt({ controlId: 'T5-AFTER', event: 'A01', person: ALICE }));
    const acks = await c.waitAcks(2);
    assert.deepEqual(acks.map((a) => [msa(a).code, msa(a).controlId]), [['AR', 'T5-BIG'], ['AA', 'T5-AFTER']]);
    assert.match(msa(acks[0]!).text, /larger than 4096 bytes/);
    assert.equal(await inboxCount('T5-BIG'), 0);
    c.close();
  });

  test('many concurrent connections: every message acknowledged in order, stored in few commits', async () => {
    const writer = ingest.inbox;
    const before = writer.commits;
    const clients = await Promise.all(Array.from({ length: 8 }, () => MllpClient.connect(server.port)));
    clients.forEach((c, i) => { for (let k = 0; k < 25; k++) c.send(adt({ controlId: `T6-${i}-${k}`, event: 'A08', person: ALICE })); });
    const all = await Promise.all(clients.map((c) => c.waitAcks(25)));
    all.forEach((acks, i) => assert.deepEqual(acks.map((a) => msa(a).controlId), Array.from({ length: 25 }, (_, k) => `T6-${i}-${k}`)));
    assert.ok(all.flat().every((a) => msa(a).code === 'AA'));
    assert.equal((await db.query<{ n: number }>("SELECT count(*)::int8 AS n FROM feed_inbox WHERE control_id LIKE 'T6-%'")).rows[0]!.n, 200);
    assert.ok(writer.commits - before < 200, `group commit: ${writer.commits - before} commits for 200 messages`);
    clients.forEach((c) => c.close());
  });

  test('AE when the message cannot be stored; nothing half-stored', async () => {
    const broken = new FeedIngest(cfg, new InboxWriter({ ...db, query: async () => { throw new Error('connection refused'); } } as unknown as Database, clock), clock, logger);
    const r = await broken.acceptHl7(adt({ controlId: 'T7-AE', event: 'A01', person: ALICE }), { transport: 'mllp', peerIp: '127.0.0.1' });
    assert.equal(r.code, 'AE');
    assert.equal(msa(r.ack).controlId, 'T7-AE');
    assert.equal(await inboxCount('T7-AE'), 0);
  });

  test('a source-address allowlist refuses other peers', async () => {
    const strict = new FeedIngest({ ...cfg, senders: [{ network: 'bamboo', sendingApplications: ['BAMBOO'], sendingFacilities: [], allowIps: ['10.1.2.3'] }] }, new InboxWriter(db, clock), clock, logger);
    assert.equal((await strict.acceptHl7(adt({ controlId: 'T8-IP', event: 'A01', person: ALICE }), { transport: 'mllp', peerIp: '::ffff:127.0.0.1' })).code, 'AR');
    assert.equal((await strict.acceptHl7(adt({ controlId: 'T8-IP', event: 'A01', person: ALICE }), { transport: 'mllp', peerIp: '::ffff:10.1.2.3' })).code, 'AA');
  });

  test('an idle connection is closed', async () => {
    const quick = await startMllpServer({
      host: '127.0.0.1', port: 0, maxMessageBytes: 4096, idleTimeoutMs: 150, maxConnections: 5, logger,
      handler: { message: async () => 'MSH|^~\\&|ACK', oversize: () => '' },
    });
    const c = await MllpClient.connect(quick.port);
    assert.equal(await c.waitClosed(5_000), true);
    assert.equal(quick.stats.idleClosed, 1);
    await quick.close();
  });

  test('the default senders (no TESSERA_FEED_SENDERS) are accepted from loopback only', async () => {
    const msg = adt({ controlId: 'T9-LOOPBACK', event: 'A01', person: ALICE });
    assert.equal((await ingest.acceptHl7(msg, { transport: 'mllp', peerIp: '10.9.8.7' })).code, 'AR');
    assert.equal((await ingest.acceptHl7(msg, { transport: 'mllp', peerIp: '::ffff:127.0.0.1' })).code, 'AA');
  });

  test('processed rows are purged after the retention; failed and pending rows stay', async () => {
    await ingest.acceptHl7(adt({ controlId: 'T10-DONE', event: 'A01', person: ALICE }), { transport: 'mllp', peerIp: '127.0.0.1' });
    await ingest.acceptHl7(adt({ controlId: 'T10-FAILED', event: 'A01', person: ALICE }), { transport: 'mllp', peerIp: '127.0.0.1' });
    const id = async (c: string) => (await db.query<{ id: number }>('SELECT id FROM feed_inbox WHERE control_id = $1', [c])).rows[0]!.id;
    await finishMessage(db, await id('T10-DONE'), clock.now(), { status: 'done', result: {} });
    await finishMessage(db, await id('T10-FAILED'), clock.now(), { status: 'failed', reason: 'x' });
    assert.equal(await purgeProcessed(db, new Date(clock.nowMs() - 1000)), 0);
    assert.ok((await purgeProcessed(db, new Date(clock.nowMs() + 1000))) >= 1);
    assert.equal(await inboxCount('T10-DONE'), 0);
    assert.equal(await inboxCount('T10-FAILED'), 1);
    assert.ok(await inboxCount('T3-DUP') === 1, 'pending rows stay');
  });

  test('crash after the ACK: the stored message is still there for a worker to claim', async () => {
    const c = await MllpClient.connect(server.port);
    c.send(adt({ controlId: 'T9-CRASH', event: 'A01', person: ALICE }));
    assert.equal(msa((await c.waitAcks(1))[0]!).code, 'AA');
    c.close();
    // The "process" (listener and its writer) goes away; the row was committed before the ACK went out.
    const claimed = await claimMessages(db, clock.now(), 60_000, 1000);
    assert.ok(claimed.some((r) => r.control_id === 'T9-CRASH'));
    // A claimed row whose worker died comes back after the lease.
    clock.advance(120_000);
    const again = await claimMessages(db, clock.now(), 60_000, 1000);
    assert.ok(again.some((r) => r.control_id === 'T9-CRASH' && r.attempts === 2));
  });
});
