// The hooks configuration API: validation (jq parse errors with positions), SSRF refusal at save time and at
// connect time, access control, updates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHooksHarness, startReceiver, writeResource, type HooksHarness, type Receiver } from './helpers.ts';
import { refusedRange, checkUrl } from '../../src/hooks/index.ts';

let h: HooksHarness;
let rx: Receiver;

before(async () => {
  h = await startHooksHarness();
  rx = await startReceiver();
});
after(async () => {
  await h.close();
  await rx.close();
});

const basic = { type: 'basic', username: 'u', password: 'secret-pw' };

test('address ranges: only public unicast is a valid target', () => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1',
    '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '192.0.2.1', '198.18.0.1']) {
    assert.notEqual(refusedRange(a), null, a);
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(refusedRange(a), null, a);
  assert.throws(() => checkUrl('http://example.com/x', { allowHttp: false, allowPrivateTargets: false }), /https/);
  assert.throws(() => checkUrl('https://user:pw@example.com/x', { allowHttp: false, allowPrivateTargets: false }), /credentials/);
  assert.throws(() => checkUrl('https://[::1]:8443/x', { allowHttp: false, allowPrivateTargets: false }), /loopback/);
  assert.equal(checkUrl('https://example.com/x', { allowHttp: false, allowPrivateTargets: false }).hostname, 'example.com');
});

test('invalid jq is refused with the parse error and its position; required fields are checked', async () => {
  const r = await h.createHook({ webhookUrl: `${rx.url}/x`, filter: '.resourceType == "Encounter" and (.status', auth: basic });
  assert.equal(r.status, 400);
  const err = r.body.errors[0];
  assert.equal(err.source.pointer, '/data/attributes/filter');
  assert.match(err.title, /line 1, column \d+, position \d+/);
  for (const [attrs, pointer] of [
    [{ filter: '.', auth: basic }, '/data/attributes/webhookUrl'],
    [{ webhookUrl: `${rx.url}/x`, auth: basic }, '/data/attributes/filter'],
    [{ webhookUrl: `${rx.url}/x`, filter: '.' }, '/data/attributes/auth'],
    [{ webhookUrl: `${rx.url}/x`, filter: '.', auth: { type: 'digest' } }, '/data/attributes/auth/type'],
    [{ webhookUrl: `${rx.url}/x`, filter: '.', auth: { type: 'basic', username: 'u' } }, '/data/attributes/auth/password'],
    [{ webhookUrl: `${rx.url}/x`, filter: '.', auth: { type: 'oauth', clientId: 'c', clientSecret: 's' } }, '/data/attributes/auth/tokenUrl'],
    [{ webhookUrl: 'not a url', filter: '.', auth: basic }, '/data/attributes/webhookUrl'],
  ] as const) {
    const bad = await h.createHook(attrs);
    assert.equal(bad.status, 400, JSON.stringify(attrs));
    assert.equal(bad.body.errors[0].source.pointer, pointer, JSON.stringify(bad.body));
  }
});

test('SSRF: private, loopback, link-local and non-https targets are refused unless allowed', async () => {
  h.config.allowPrivateTargets = false;
  h.config.allowHttp = false;
  try {
    for (const url of ['https://127.0.0.1/hook', 'https://localhost/hook', 'https://169.254.169.254/latest', 'https://[::1]/hook',
      'https://10.0.0.8/hook', 'https://100.64.1.1/hook', 'https://[fd00::1]/hook', `${rx.url}/hook`]) {
      const r = await h.createHook({ webhookUrl: url, filter: '.', auth: basic });
      assert.equal(r.status, 400, url);
      assert.equal(r.body.errors[0].source.pointer, '/data/attributes/webhookUrl');
    }
    const token = await h.createHook({ webhookUrl: 'https://8.8.8.8/hook', filter: '.', auth: { type: 'oauth', clientId: 'c', clientSecret: 's', tokenUrl: 'https://192.168.0.10/token' } });
    assert.equal(token.status, 400);
    assert.equal(token.body.errors[0].source.pointer, '/data/attributes/auth/tokenUrl');
    const ok = await h.createHook({ webhookUrl: 'https://8.8.8.8/hook', filter: '.', auth: basic });
    assert.equal(ok.status, 201, 'a public address is accepted');
    await h.admin.fetch(`/hooks/${ok.body.data.id}`, { method: 'DELETE' });
  } finally {
    h.config.allowPrivateTargets = true;
    h.config.allowHttp = true;
  }
});

test('SSRF at connect time: a saved hook whose name resolves to loopback is refused on the socket', async () => {
  const port = new URL(rx.url).port;
  const created = await h.createHook({ webhookUrl: `http://localhost:${port}/rebound`, filter: '.resourceType == "Observation"', auth: basic });
  assert.equal(created.status, 201);
  h.config.allowPrivateTargets = false; // the operator tightens the policy (or the name now resolves elsewhere)
  try {
    rx.requests.length = 0;
    await writeResource(h.tp.db, { resourceType: 'Observation', builderId: h.admin.builderId, content: { status: 'final', code: { text: 'x' } } });
    await h.worker.runOnce();
    assert.equal(rx.requests.length, 0);
    const d = await h.json(`/hooks/${created.body.data.id}/deliveries`);
    assert.match(d.data[0].attributes.attempts[0].error, /^refused: .*localhost resolves to (127\.0\.0\.1|::1) \(loopback\)/);
  } finally {
    h.config.allowPrivateTargets = true;
  }
  // Allowed again: the retry goes through.
  h.tp.clock.advance(30 * 60_000);
  await h.worker.runOnce();
  assert.equal(rx.requests.length, 1);
  await h.admin.fetch(`/hooks/${created.body.data.id}`, { method: 'DELETE' });
});

test('Builder Admin only; hooks are per builder; updates keep omitted secrets; inactive hooks get nothing', async () => {
  const careTeam = await h.tp.createClient(h.admin.builderId, 'Care Team User');
  const denied = await h.createHook({ webhookUrl: `${rx.url}/x`, filter: '.', auth: basic }, careTeam);
  assert.equal(denied.status, 403);
  assert.equal((await careTeam.fetch('/hooks')).status, 403);

  const created = await h.createHook({ webhookUrl: `${rx.url}/own`, filter: '.resourceType == "Condition"', auth: basic });
  const id = created.body.data.id;
  assert.equal(created.body.data.type, 'hooks/webhooks');
  const other = await h.tp.createBuilder();
  assert.equal((await other.fetch(`/hooks/${id}`)).status, 404);
  assert.equal(((await (await other.fetch('/hooks')).json()) as any).meta.total, 0);
  assert.equal((await h.json('/hooks')).data.some((x: any) => x.id === id), true);

  const patch = (attributes: Record<string, unknown>) => h.admin.fetch(`/hooks/${id}`, {
    method: 'PATCH', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify({ data: { type: 'hooks/webhooks', id, attributes } }),
  });
  assert.equal((await patch({ filter: '.a | ' })).status, 400);
  const renamed = await patch({ auth: { type: 'basic', username: 'renamed' }, filter: '.resourceType == "Condition" and .clinicalStatus != null' });
  assert.equal(renamed.status, 200);
  const row = (await h.tp.db.query<{ basic_password_sealed: string; version: number }>('SELECT basic_password_sealed, version FROM hooks WHERE id = $1', [id])).rows[0]!;
  assert.equal(h.tp.services.keys.decrypt(row.basic_password_sealed), 'secret-pw', 'password kept when omitted');
  assert.equal(row.version, 2);

  rx.requests.length = 0;
  const write = () => writeResource(h.tp.db, { resourceType: 'Condition', builderId: h.admin.builderId, upid: 'u-cond', content: { clinicalStatus: { text: 'active' }, subject: { reference: 'Patient/p1' } } });
  await write();
  await h.worker.runOnce();
  assert.equal(rx.requests.length, 1);
  assert.equal(rx.requests[0]!.headers.authorization, `Basic ${Buffer.from('renamed:secret-pw').toString('base64')}`);
  assert.equal((await patch({ active: false })).status, 200);
  await write();
  await h.worker.runOnce();
  assert.equal(rx.requests.length, 1, 'inactive hooks are not matched');
  assert.equal((await h.admin.fetch(`/hooks/${id}`, { method: 'DELETE' })).status, 204);
  assert.equal((await h.admin.fetch(`/hooks/${id}`)).status, 404);
});
