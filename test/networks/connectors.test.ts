import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startSimulator, type Simulator } from '../../src/networks/sim/server.ts';
import { DEFAULT_CORPORA } from '../../src/networks/sim/cli.ts';
import { httpEhrConnector, httpPharmacyConnector, ConnectorError, type PatientDemographics } from '../../src/networks/connectors/index.ts';

describe('HTTP connectors against the simulator', { skip: existsSync(DEFAULT_CORPORA) ? false : 'shared corpora not found' }, () => {
  let sim: Simulator;
  before(async () => { sim = await startSimulator({ corporaDir: DEFAULT_CORPORA, people: 20, seed: 11 }); });
  after(async () => { await sim.close(); });

  const demo = (p: Simulator['people'][number]): PatientDemographics => ({ ...p.demographics });

  test('discover, list and retrieve', async () => {
    const person = sim.people.find((p) => p.networks.includes('carequality'))!;
    const c = httpEhrConnector({ service: 'carequality', baseUrl: sim.urls.carequality });
    const found = await c.discover(demo(person));
    assert.ok(found);
    assert.equal(found.identifier?.value, person.id);
    const docs = await c.listDocuments(found);
    assert.equal(docs.length, 3);
    const d = await c.retrieve(docs[0]!);
    assert.equal(d.found, true);
  });

  test('fatal and non-fatal failures are classified', async () => {
    const person = sim.people.find((p) => p.networks.includes('commonwell'))!;
    const c = httpEhrConnector({ service: 'commonwell', baseUrl: sim.urls.commonwell, timeoutMs: 300 });
    await sim.setFaults('commonwell', { outage: 'refused' });
    await assert.rejects(c.discover(demo(person)), (e: unknown) => e instanceof ConnectorError && e.kind === 'unreachable');
    await sim.setFaults('commonwell', { outage: '503' });
    await assert.rejects(c.discover(demo(person)), (e: unknown) => e instanceof ConnectorError && e.kind === 'unreachable');
    await sim.setFaults('commonwell', { timeout: true });
    await assert.rejects(c.discover(demo(person)), (e: unknown) => e instanceof ConnectorError && e.kind === 'unreachable');
    await sim.setFaults('commonwell', null);
    sim.setPersonFaults(person.id, 'commonwell', { rejectDemographics: true });
    await assert.rejects(c.discover(demo(person)), (e: unknown) => e instanceof ConnectorError && e.kind === 'rejected');
    sim.setPersonFaults(person.id, 'commonwell', { ambiguous: true });
    assert.equal(await c.discover(demo(person)), null, 'an ambiguous answer is no match, never a guess');
    sim.setPersonFaults(person.id, 'commonwell', { notFoundDocuments: 'all' });
    const found = (await c.discover(demo(person)))!;
    const docs = await c.listDocuments(found);
    const r = await c.retrieve(docs[0]!);
    assert.equal(r.found, false);
    sim.setPersonFaults(person.id, 'commonwell', null);
    assert.equal(await c.discover({ ...demo(person), family: 'Zzyzx', given: 'Nobody', birthDate: '1902-02-02' }), null);
  });

  test('pharmacy history', async () => {
    const person = sim.people.find((p) => p.networks.includes('surescripts'))!;
    const c = httpPharmacyConnector({ service: 'surescripts', baseUrl: sim.urls.surescripts });
    const h = await c.medicationHistory(demo(person), '1013085661', 'msg-1');
    assert.equal(h.found, true);
    const none = await c.medicationHistory({ ...demo(person), family: 'Zzyzx', given: 'Nobody' }, '1013085661', 'msg-2');
    assert.equal(none.found, false);
  });
});
