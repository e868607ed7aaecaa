// Enrollment through the running workers: the refresh worker starts the initial history, the history worker
// pulls it from the network simulator, and the job says why it ran.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startTestPlatform } from '../helpers/platform.ts';
import { startSimulator } from '../../src/networks/sim/server.ts';
import { DEFAULT_CORPORA } from '../../src/networks/sim/cli.ts';
import { startWorkers, stopWorkers } from '../../src/server/workers.ts';

test('priority enrollment → initial history pulled by the workers', { skip: existsSync(DEFAULT_CORPORA) ? false : 'shared corpora not found' }, async () => {
  const sim = await startSimulator({ corporaDir: DEFAULT_CORPORA, people: 10, seed: 5, documentsPerPerson: 1 });
  const tp = await startTestPlatform({ domain: { history: { networkUrls: { ...sim.urls, quest: sim.labUrl }, pollMs: 20, requestTimeoutMs: 10_000 }, subscriptions: { pollMs: 20 } } });
  const workers = await startWorkers(tp.platform.services, tp.platform.domain);
  try {
    const b = await tp.createBuilder();
    const person = sim.people.find((p) => p.networks.includes('commonwell' as never) && p.networks.includes('surescripts' as never)) ?? sim.people[0]!;
    const d = person.demographics;
    const r = await b.fetch('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient', name: [{ use: 'official', family: d.family, given: [d.given] }], gender: d.gender, birthDate: d.birthDate, address: [{ line: [d.line], city: d.city, state: d.state, postalCode: d.postalCode }] }) });
    const pid = ((await r.json()) as { id: string }).id;
    const e = await b.fetch('/zap-data-subscriptions/enrollment-statuses', { method: 'POST', body: JSON.stringify({ data: { attributes: { priority: true, provider: { npi: '1013085661', name: 'Sample Practitioner', role: '309343006' } }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } }, package: { data: { type: 'zap-data-subscriptions/package', id: 'monitoring' } } } } }) });
    assert.equal(e.status, 201);
    let job: any;
    for (let i = 0; i < 600; i++) {
      const list = (await (await b.fetch(`/patient-history/jobs?filter[patient-id]=${pid}`)).json()) as any;
      job = list.data[0];
      if (job && (job.attributes.status === 'done' || job.attributes.status === 'error')) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(job, 'the refresh worker started the initial history');
    assert.equal(job.attributes.reason, 'enrollment');
    assert.equal(job.attributes.requestConsent, true);
    assert.equal(job.attributes.status, 'done', JSON.stringify(job.attributes.providers));
    // monitoring: initialProviders commonwell (CommonWell + Carequality) and surescripts, plus the lab history (quest is subscribed)
    assert.deepEqual(job.attributes.providers.map((p: any) => p.service).sort(), ['carequality', 'commonwell', 'quest', 'surescripts']);
    const refreshes = (await (await b.fetch(`/zap-data-subscriptions/refreshes?filter[patient-id]=${pid}`)).json()) as any;
    const initial = refreshes.data.find((x: any) => x.attributes.reason === 'enrollment');
    assert.equal(initial.attributes.status, 'started');
    assert.equal(initial.relationships.job.data.id, job.id);
  } finally {
    await stopWorkers(workers);
    await tp.close();
    await sim.close();
  }
});
