// End to end: FHIR writes over HTTP → outbox → dispatcher → signed deliveries to a real local receiver.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHooksHarness, startReceiver, startTokenServer, verifySignature, jsonApi, type HooksHarness, type Receiver, type TokenServer } from './helpers.ts';
import { UPID_SYSTEM } from '../../src/fhir/store/index.ts';

let h: HooksHarness;
let rx: Receiver;
let tokens: TokenServer;
const MIN = 60_000;
const OAUTH = { clientId: 'zushooks-client', clientSecret: 'zushooks-secret-123' };

before(async () => {
  h = await startHooksHarness();
  rx = await startReceiver();
  tokens = await startTokenServer(OAUTH);
});
after(async () => {
  await h.close();
  await rx.close();
  await tokens.close();
});

const encounter = (status: string, upid: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Encounter',
  status,
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER', display: 'emergency' },
  extension: [{ url: UPID_SYSTEM, valueString: upid }],
  ...extra,
});

let patients = 0;
/** A Patient of the harness builder; the platform assigns its UPID (clients cannot set one). */
async function newPatient(): Promise<{ upid: string; subject: { reference: string } }> {
  const p = await fhirWrite('POST', 'Patient', { resourceType: 'Patient', name: [{ family: `Hookpatient${++patients}`, given: ['Grace'] }], birthDate: `19${50 + patients}-01-0${(patients % 9) + 1}` });
  return { upid: p.identifier.find((i: { system: string }) => i.system === UPID_SYSTEM).value, subject: { reference: `Patient/${p.id}` } };
}

async function fhirWrite(method: 'POST' | 'PUT' | 'DELETE', path: string, resource?: unknown): Promise<any> {
  const r = await h.admin.fetch(`/fhir/${path}`, {
    method,
    ...(resource ? { body: JSON.stringify(resource), headers: { 'content-type': 'application/fhir+json' } } : {}),
  });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${await r.clone().text()}`);
  return r.status === 204 ? null : r.json().catch(() => null);
}

/** Requests that reached the receiver at a given path. */
const at = (path: string) => rx.requests.filter((r) => r.path === path);

test('basic-auth hook: only matching writes arrive, with the basic payload, Basic auth and a valid signature', async () => {
  const created = await h.createHook({
    webhookUrl: `${rx.url}/basic`,
    filter: '.resourceType == "Encounter" and .status == "finished"',
    auth: { type: 'basic', username: 'hookuser', password: 'hook-pass-1' },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const secret: string = created.body.data.attributes.signingSecret;
  assert.match(secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);

  const { upid, subject } = await newPatient();
  const match = await fhirWrite('POST', 'Encounter', encounter('finished', upid, { subject }));
  await fhirWrite('POST', 'Encounter', encounter('in-progress', upid, { subject }));
  await fhirWrite('POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Martin' }] });
  await h.worker.runOnce();

  const got = at('/basic');
  assert.equal(got.length, 1);
  const msg = got[0]!;
  assert.equal(msg.headers.authorization, `Basic ${Buffer.from('hookuser:hook-pass-1').toString('base64')}`);
  assert.deepEqual(Object.keys(msg.json).sort(), ['message_id', 'operationType', 'ownerId', 'resource', 'resourceId', 'resourceIncluded', 'source', 'time', 'upid'].sort());
  assert.equal(msg.json.source, 'com.zushealth.zushooks');
  assert.equal(msg.json.resourceId, `Encounter/${match.id}`);
  assert.equal(msg.json.ownerId, `builder/${h.admin.builderId}`);
  assert.equal(msg.json.upid, upid);
  assert.equal(msg.json.operationType, 'UPSERT');
  assert.equal(msg.json.resourceIncluded, false);
  assert.deepEqual(msg.json.resource, { UPID: upid });
  assert.match(msg.json.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(msg.headers['webhook-id'], msg.json.message_id);
  assert.deepEqual(verifySignature(secret, msg, h.tp.clock), msg.json);
  assert.throws(() => verifySignature(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, msg, h.tp.clock), /signature/i);

  // Deletes of a matching resource arrive as DELETE (the filter sees the last content).
  await fhirWrite('DELETE', `Encounter/${match.id}`);
  await h.worker.runOnce();
  assert.equal(at('/basic').length, 2);
  assert.equal(at('/basic')[1]!.json.operationType, 'DELETE');
  assert.deepEqual(at('/basic')[1]!.json.resource, { UPID: upid });

  // Secrets are never returned.
  const got2 = await h.json(`/hooks/${created.body.data.id}`);
  assert.equal(JSON.stringify(got2).includes('hook-pass-1'), false);
  assert.equal(got2.data.attributes.signingSecret, undefined);
  const row = await h.tp.db.query<Record<string, string>>('SELECT * FROM hooks WHERE id = $1', [created.body.data.id]);
  assert.equal(JSON.stringify(row.rows[0]).includes('hook-pass-1'), false, 'password sealed at rest');
  await h.admin.fetch(`/hooks/${created.body.data.id}`, { method: 'DELETE' });
});

test('OAuth hook: full resource, token cached, refreshed on 401; 1 MB boundary', async () => {
  // The receiver accepts only tokens the token server issued and has not revoked.
  rx.respond = (r) => (r.path !== '/oauth' ? 200 : tokens.valid.has(String(r.headers.authorization).replace(/^Bearer /, '')) ? 200 : 401);
  const created = await h.createHook({
    webhookUrl: `${rx.url}/oauth`,
    filter: '.resourceType == "Encounter"',
    auth: { type: 'oauth', ...OAUTH, tokenUrl: `${tokens.url}/token`, audience: 'https://receiver.example/hooks' },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const hookId = created.body.data.id;
  assert.deepEqual(created.body.data.attributes.auth, { type: 'oauth', clientId: OAUTH.clientId, tokenUrl: `${tokens.url}/token`, audience: 'https://receiver.example/hooks' });
  const secret = created.body.data.attributes.signingSecret;

  const { upid, subject } = await newPatient();
  const first = await fhirWrite('POST', 'Encounter', encounter('finished', upid, { subject }));
  await fhirWrite('POST', 'Encounter', encounter('planned', upid, { subject }));
  await h.worker.runOnce();
  assert.equal(at('/oauth').length, 2);
  assert.equal(tokens.requests.length, 1, 'one token for both deliveries');
  assert.deepEqual(tokens.requests[0], { grant_type: 'client_credentials', client_id: OAUTH.clientId, client_secret: OAUTH.clientSecret, audience: 'https://receiver.example/hooks' });
  const msg = at('/oauth').find((r) => r.json.resourceId === `Encounter/${first.id}`)!;
  assert.equal(msg.json.resourceIncluded, true);
  const stored = await h.json(`/fhir/Encounter/${first.id}`);
  assert.deepEqual(msg.json.resource, stored);
  assert.deepEqual(verifySignature(secret, msg, h.tp.clock), msg.json);

  // The receiver stops accepting the cached token: one 401, a fresh token, then 2xx, all in one attempt.
  tokens.valid.clear();
  await fhirWrite('POST', 'Encounter', encounter('finished', upid));
  await h.worker.runOnce();
  assert.equal(tokens.requests.length, 2);
  const last = at('/oauth').slice(-2);
  assert.equal(last[0]!.json.message_id, last[1]!.json.message_id, 'same message retried with the new token');
  const deliveries = await h.json(`/hooks/${hookId}/deliveries?filter[status]=delivered`);
  assert.equal(deliveries.meta.total, 3);

  // Size boundary: a resource whose JSON is 1,048,575 bytes is included, 1,048,576 is not.
  const LIMIT = 1024 * 1024;
  const padded = (n: number) => encounter('finished', upid, { id: first.id, subject, text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(n)}</div>` } });
  await fhirWrite('PUT', `Encounter/${first.id}`, padded(1000));
  await h.worker.runOnce();
  const probe = await h.json(`/fhir/Encounter/${first.id}`);
  const base = Buffer.byteLength(JSON.stringify(probe)) - 1000;
  for (const size of [LIMIT - 1, LIMIT]) {
    await fhirWrite('PUT', `Encounter/${first.id}`, padded(size - base));
    const v = await h.json(`/fhir/Encounter/${first.id}`);
    assert.equal(Buffer.byteLength(JSON.stringify(v)), size, 'stored JSON has the intended size');
    rx.requests.length = 0;
    await h.worker.runOnce();
    const big = at('/oauth');
    assert.equal(big.length, 1);
    assert.equal(big[0]!.json.resourceIncluded, size < LIMIT, `size ${size}`);
    if (size < LIMIT) assert.deepEqual(big[0]!.json.resource, v);
    else assert.equal(big[0]!.json.resource, null);
    assert.equal(big[0]!.json.upid, upid);
    assert.deepEqual(verifySignature(secret, big[0]!, h.tp.clock), big[0]!.json);
  }
  await h.admin.fetch(`/hooks/${hookId}`, { method: 'DELETE' });
  rx.respond = () => 200;
});

test('failures retry every 30 minutes with one message_id, go dead after 5, and are delivered after a redrive', async () => {
  let failing = true;
  rx.respond = (r) => (r.path === '/flaky' && failing ? 503 : 200);
  const created = await h.createHook({ webhookUrl: `${rx.url}/flaky`, filter: '.status == "cancelled"', auth: { type: 'basic', username: 'u', password: 'p' } });
  const hookId = created.body.data.id;
  const secret = created.body.data.attributes.signingSecret;
  rx.requests.length = 0;
  await fhirWrite('POST', 'Encounter', encounter('cancelled', 'u-retry'));

  await h.worker.runOnce();
  assert.equal(at('/flaky').length, 1);
  for (let failure = 2; failure <= 5; failure++) {
    h.tp.clock.advance(29 * MIN);
    await h.worker.runOnce();
    assert.equal(at('/flaky').length, failure - 1, 'not retried before 30 minutes');
    h.tp.clock.advance(1 * MIN);
    await h.worker.runOnce();
    assert.equal(at('/flaky').length, failure);
  }
  h.tp.clock.advance(30 * MIN);
  await h.worker.runOnce();
  assert.equal(at('/flaky').length, 5, 'no sixth attempt: dead-lettered');
  const ids = new Set(at('/flaky').map((r) => r.json.message_id));
  assert.equal(ids.size, 1, 'message_id stable across retries');
  for (const r of at('/flaky')) verifySignature(secret, r, h.tp.clock);

  const dead = await h.json(`/hooks/dead-letters?filter[hookId]=${hookId}`);
  assert.equal(dead.meta.total, 1);
  const letter = dead.data[0];
  assert.equal(letter.attributes.status, 'dead');
  assert.deepEqual(letter.attributes.attempts.map((a: any) => [a.ok, a.statusCode]), Array(5).fill([false, 503]));
  assert.equal(letter.attributes.messageId, [...ids][0]);

  failing = false;
  const redrive = await h.admin.fetch(`/hooks/dead-letters/${letter.id}/redrive`, { method: 'POST' });
  assert.equal(redrive.status, 200);
  assert.equal(((await redrive.json()) as any).meta.redriven, 1);
  await h.worker.runOnce();
  assert.equal(at('/flaky').length, 6);
  assert.equal(at('/flaky')[5]!.json.message_id, [...ids][0]);

  const list = await h.json(`/hooks/${hookId}/deliveries`);
  assert.equal(list.data[0].attributes.status, 'delivered');
  assert.deepEqual(list.data[0].attributes.attempts.map((a: any) => a.statusCode), [503, 503, 503, 503, 503, 200]);
  const metrics = (await h.json(`/hooks/${hookId}/metrics`)).data.attributes;
  assert.equal(metrics.delivered, 1);
  assert.equal(metrics.dead, 0);
  assert.equal(metrics.failedAttempts, 5);
  assert.equal(typeof metrics.latencyMs.p50, 'number');
  assert.equal(typeof metrics.latencyMs.p99, 'number');

  // Redrive by time range and for a whole hook.
  failing = true;
  await fhirWrite('POST', 'Encounter', encounter('cancelled', 'u-retry-2'));
  for (let i = 0; i < 5; i++) {
    await h.worker.runOnce();
    h.tp.clock.advance(30 * MIN);
  }
  assert.equal((await h.json(`/hooks/dead-letters?filter[hookId]=${hookId}`)).meta.total, 1);
  const none = await h.json('/hooks/dead-letters/redrive', jsonApi({ from: '2000-01-01T00:00:00Z', to: '2000-01-02T00:00:00Z' }));
  assert.equal(none.meta.redriven, 0);
  const from = new Date(h.tp.clock.nowMs() - 24 * 60 * MIN).toISOString();
  const byRange = await h.json('/hooks/dead-letters/redrive', jsonApi({ from, to: h.tp.clock.now().toISOString() }));
  assert.equal(byRange.meta.redriven, 1);
  failing = false;
  await h.worker.runOnce();
  assert.equal((await h.json(`/hooks/${hookId}/metrics`)).data.attributes.delivered, 2);
  await h.admin.fetch(`/hooks/${hookId}`, { method: 'DELETE' });
  rx.respond = () => 200;
});

test('timeouts and connection errors are failures; dead letters are purged after 14 days', async () => {
  const saved = h.config.timeoutMs;
  h.config.timeoutMs = 200;
  rx.respond = async (r) => {
    if (r.path === '/slow') await new Promise((res) => setTimeout(res, 1_000));
    return 200;
  };
  const slow = await h.createHook({ webhookUrl: `${rx.url}/slow`, filter: '.status == "onleave"', auth: { type: 'basic', username: 'u', password: 'p' } });
  const refused = await h.createHook({ webhookUrl: 'http://127.0.0.1:9/closed', filter: '.status == "onleave"', auth: { type: 'basic', username: 'u', password: 'p' } });
  await fhirWrite('POST', 'Encounter', encounter('onleave', 'u-timeout'));
  await h.worker.runOnce();
  const slowD = (await h.json(`/hooks/${slow.body.data.id}/deliveries`)).data[0].attributes;
  assert.equal(slowD.attempts[0].error, 'timeout');
  assert.equal(slowD.status, 'pending');
  const refusedD = (await h.json(`/hooks/${refused.body.data.id}/deliveries`)).data[0].attributes;
  assert.match(refusedD.attempts[0].error, /ECONNREFUSED/);
  h.config.timeoutMs = saved;
  rx.respond = () => 200;

  // Let the refused one die, then pass retention.
  for (let i = 0; i < 5; i++) {
    h.tp.clock.advance(30 * MIN);
    await h.worker.runOnce();
  }
  const deadNow = (await h.json(`/hooks/dead-letters?filter[hookId]=${refused.body.data.id}`)).meta.total;
  assert.equal(deadNow, 1);
  h.tp.clock.advance(13 * 24 * 60 * MIN);
  await h.worker.purge();
  assert.equal((await h.json(`/hooks/dead-letters?filter[hookId]=${refused.body.data.id}`)).meta.total, 1, 'kept for 14 days');
  h.tp.clock.advance(1 * 24 * 60 * MIN + MIN);
  await h.worker.purge();
  assert.equal((await h.json(`/hooks/dead-letters?filter[hookId]=${refused.body.data.id}`)).meta.total, 0, 'purged after 14 days');
  await h.admin.fetch(`/hooks/${slow.body.data.id}`, { method: 'DELETE' });
  await h.admin.fetch(`/hooks/${refused.body.data.id}`, { method: 'DELETE' });
});

test('a runaway filter counts as no match and is reported on the hook; other hooks still deliver', async () => {
  const runaway = await h.createHook({ webhookUrl: `${rx.url}/runaway`, filter: '[repeat(.)] | length > 0', auth: { type: 'basic', username: 'u', password: 'p' } });
  const deep = await h.createHook({ webhookUrl: `${rx.url}/runaway`, filter: 'def f: 1 + f; f > 0', auth: { type: 'basic', username: 'u', password: 'p' } });
  const range = await h.createHook({ webhookUrl: `${rx.url}/runaway`, filter: '[range(1e12)] | length > 5', auth: { type: 'basic', username: 'u', password: 'p' } });
  const fine = await h.createHook({ webhookUrl: `${rx.url}/fine`, filter: '.status == "triaged"', auth: { type: 'basic', username: 'u', password: 'p' } });
  rx.requests.length = 0;
  await fhirWrite('POST', 'Encounter', encounter('triaged', 'u-runaway'));
  await h.worker.runOnce();
  assert.equal(at('/runaway').length, 0);
  assert.equal(at('/fine').length, 1);
  for (const hook of [runaway, deep, range]) {
    const attrs = (await h.json(`/hooks/${hook.body.data.id}`)).data.attributes;
    assert.ok(attrs.filterErrors >= 1, JSON.stringify(attrs));
    assert.match(attrs.lastFilterError, /Encounter\/.+: evaluation stopped/);
    await h.admin.fetch(`/hooks/${hook.body.data.id}`, { method: 'DELETE' });
  }
  await h.admin.fetch(`/hooks/${fine.body.data.id}`, { method: 'DELETE' });
});

test('pause holds deliveries until resume; another builder\'s writes never reach the hook', async () => {
  const created = await h.createHook({ webhookUrl: `${rx.url}/paused`, filter: '.resourceType == "Encounter"', auth: { type: 'basic', username: 'u', password: 'p' } });
  const id = created.body.data.id;
  const paused = await h.json(`/hooks/${id}/pause`, { method: 'POST' });
  assert.equal(paused.data.attributes.paused, true);
  rx.requests.length = 0;
  await fhirWrite('POST', 'Encounter', encounter('arrived', 'u-pause'));
  const other = await h.tp.createBuilder();
  const r = await other.fetch('/fhir/Encounter', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(encounter('arrived', 'u-other')) });
  assert.equal(r.status, 201);
  await h.worker.runOnce();
  assert.equal(at('/paused').length, 0);
  const pending = await h.json(`/hooks/${id}/deliveries?filter[status]=pending`);
  assert.equal(pending.meta.total, 1, 'recorded while paused');
  await h.admin.fetch(`/hooks/${id}/resume`, { method: 'POST' });
  await h.worker.runOnce();
  assert.equal(at('/paused').length, 1);
  assert.equal(at('/paused')[0]!.json.ownerId, `builder/${h.admin.builderId}`);
  await h.admin.fetch(`/hooks/${id}`, { method: 'DELETE' });
});

test('rotating the signing secret: the new secret verifies at once, the old one during the overlap', async () => {
  const created = await h.createHook({ webhookUrl: `${rx.url}/rotate`, filter: '.status == "entered-in-error"', auth: { type: 'basic', username: 'u', password: 'p' } });
  const id = created.body.data.id;
  const oldSecret = created.body.data.attributes.signingSecret;
  const rotated = await h.json(`/hooks/${id}/rotate-secret`, { method: 'POST' });
  const newSecret = rotated.data.attributes.signingSecret;
  assert.notEqual(newSecret, oldSecret);
  rx.requests.length = 0;
  await fhirWrite('POST', 'Encounter', encounter('entered-in-error', 'u-rot'));
  await h.worker.runOnce();
  const [msg] = at('/rotate');
  assert.equal(String(msg!.headers['webhook-signature']).split(' ').length, 2);
  verifySignature(newSecret, msg!, h.tp.clock);
  verifySignature(oldSecret, msg!, h.tp.clock);
  h.tp.clock.advance(25 * 60 * MIN);
  await fhirWrite('POST', 'Encounter', encounter('entered-in-error', 'u-rot'));
  await h.worker.runOnce();
  const later = at('/rotate')[1]!;
  verifySignature(newSecret, later, h.tp.clock);
  assert.throws(() => verifySignature(oldSecret, later, h.tp.clock));
  await h.admin.fetch(`/hooks/${id}`, { method: 'DELETE' });
});
