// Crash after ACK across real processes: `tessera serve` with the MLLP listener (processing off) acknowledges an
// ADT admit and is killed with SIGKILL at once; a second process (processing on) finds the message in the inbox
// and turns it into the enrolled patient's Encounter.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, E2E_ADMIN, e2eDatabase, freePort, startPlatformProcess, startSimulatorProcess } from '../helpers/processes.ts';
import { ALICE, MllpClient, adt, msa, patientResource } from './helpers.ts';

const PRACTITIONER = { npi: '1013085661', name: 'Testfirstname Testlastname', role: '309343006' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('feeds: crash after ACK (separate processes)', () => {
  let db: Awaited<ReturnType<typeof e2eDatabase>>;
  let platform: Awaited<ReturnType<typeof startPlatformProcess>> | null = null;

  before(async () => {
    db = await e2eDatabase();
  });
  after(async () => {
    await platform?.kill('SIGKILL');
    await db.cleanup();
  });

  test('a message acknowledged just before SIGKILL is processed by the next process', async () => {
    const port = await freePort();
    const mllpPort = await freePort();
    platform = await startPlatformProcess(port, { ...db.env, TESSERA_MLLP_PORT: String(mllpPort), TESSERA_MLLP_HOST: '127.0.0.1', TESSERA_FEEDS_PROCESSING: 'off' });
    const admin = await Client.login(platform.url, E2E_ADMIN.id, E2E_ADMIN.secret);
    const b = await admin.req('POST', '/auth/builders', { data: { type: 'auth/builders', attributes: { name: 'Feeds crash clinic' } } });
    assert.equal(b.status, 201);
    const roles = await admin.req('GET', '/auth/roles?filter[name]=Builder%20Admin');
    const c = await admin.req('POST', '/auth/app-clients', { data: { type: 'auth/app-clients', attributes: { type: 'machine_to_machine', name: 'feeds' }, relationships: { 'auth/roles': { data: { type: 'auth/roles', id: roles.body.data.id } }, 'auth/builders': { data: { type: 'auth/builders', id: b.body.data.id } } } } });
    const creds = { id: c.body.data.attributes.clientId as string, secret: c.body.data.attributes.clientSecret as string };
    let me = await Client.login(platform.url, creds.id, creds.secret);
    const p = await me.req('POST', '/fhir/Patient', patientResource(ALICE), { 'content-type': 'application/fhir+json' });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    const pid = p.body.id as string;
    const e = await me.req('POST', '/zap-data-subscriptions/enrollment-statuses', { data: { attributes: { practitioner: PRACTITIONER }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } }, package: { data: { type: 'zap-data-subscriptions/package', id: 'monitoring' } } } } }, { 'content-type': 'application/vnd.api+json' });
    assert.equal(e.status, 201, JSON.stringify(e.body));

    const client = await MllpClient.connect(mllpPort);
    client.send(adt({ controlId: 'CRASH-1', event: 'A01', person: ALICE, visit: 'VC-1' }));
    const [ack] = await client.waitAcks(1);
    await platform.kill('SIGKILL');
    client.close();
    assert.equal(msa(ack!).code, 'AA');

    const mllpPort2 = await freePort();
    platform = await startPlatformProcess(port, { ...db.env, TESSERA_FEEDS_POLL_MS: '50', TESSERA_MLLP_PORT: String(mllpPort2), TESSERA_MLLP_HOST: '127.0.0.1' });
    me = await Client.login(platform.url, creds.id, creds.secret);
    let found: any[] = [];
    for (let i = 0; i < 200 && found.length === 0; i++) {
      const r = await me.req('GET', `/fhir/Encounter?patient=Patient/${pid}`);
      found = r.body.entry ?? [];
      if (!found.length) await sleep(100);
    }
    assert.equal(found.length, 1, platform.output().slice(-2000));
    assert.equal(found[0].resource.status, 'in-progress');
    assert.ok(found[0].resource.meta.tag.some((t: any) => t.code === 'bamboohealth'));

    // The simulator as its own process, pushing to this platform's MLLP port (CLI flags): a person nobody enrolled
    // is acknowledged, then dropped and counted.
    const sim = await startSimulatorProcess(['--people', '5', '--push-mllp', `127.0.0.1:${mllpPort2}`]);
    try {
      const pushed = (await (await fetch(`${sim.admin}/admin/push`, { method: 'POST', body: JSON.stringify({ network: 'collective', personId: 'p-000001', event: 'A04' }) })).json()) as any;
      assert.deepEqual([pushed.transport, pushed.ack], ['mllp', 'AA'], JSON.stringify(pushed));
      const adminClient = await Client.login(platform.url, E2E_ADMIN.id, E2E_ADMIN.secret);
      let dropped = 0;
      for (let i = 0; i < 100 && dropped === 0; i++) {
        const stats = await adminClient.req('GET', '/feeds/stats');
        dropped = stats.body.data.filter((d: any) => d.attributes.network === 'collective' && d.attributes.status === 'dropped').reduce((n: number, d: any) => n + Number(d.attributes.count), 0);
        if (!dropped) await sleep(100);
      }
      assert.equal(dropped, 1);
    } finally {
      await sim.kill();
    }
  });
});
