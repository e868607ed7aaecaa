// A published FHIR client library (fhir-kit-client) against the running server: what third-party code will do.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'fhir-kit-client';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

let tp: TestPlatform;
let client: InstanceType<typeof Client>;
type Json = Record<string, any>;

before(async () => {
  tp = await startTestPlatform();
  const builder = await tp.createBuilder('Kit');
  client = new Client({ baseUrl: `${tp.url}/fhir`, bearerToken: builder.token });
});
after(async () => tp.close());

test('fhir-kit-client: metadata, create, read, update, search, paging via next link, transaction, patch, delete', async () => {
  const cs = (await client.capabilityStatement()) as Json;
  assert.equal(cs.fhirVersion, '4.0.1');

  const created = (await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Kitson', given: ['Ada'] }], birthDate: '1960-02-02' } })) as Json;
  assert.ok(created.id);
  const read = (await client.read({ resourceType: 'Patient', id: created.id })) as Json;
  assert.equal(read.name[0].family, 'Kitson');
  const updated = (await client.update({ resourceType: 'Patient', id: created.id, body: { ...read, resourceType: 'Patient', gender: 'female' } })) as Json;
  assert.equal(updated.meta.versionId, '2');
  const v1 = (await client.vread({ resourceType: 'Patient', id: created.id, version: '1' })) as Json;
  assert.equal(v1.gender, undefined);

  const tx = (await client.transaction({
    body: {
      resourceType: 'Bundle', type: 'transaction',
      entry: Array.from({ length: 5 }, (_, i) => ({
        fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${i}`,
        resource: { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: `Patient/${created.id}` }, valueQuantity: { value: 60 + i } },
        request: { method: 'POST', url: 'Observation' },
      })),
    },
  })) as Json;
  assert.equal(tx.type, 'transaction-response');
  assert.equal(tx.entry.length, 5);

  let page = (await client.search({ resourceType: 'Observation', searchParams: { patient: created.id, _count: 2, _sort: 'value-quantity' } })) as Json;
  const values: number[] = [];
  for (;;) {
    values.push(...page.entry.map((e: Json) => e.resource.valueQuantity.value));
    const next = await client.nextPage({ bundle: page as never });
    if (!next) break;
    page = next as Json;
  }
  assert.deepEqual(values, [60, 61, 62, 63, 64]);

  const patched = (await client.patch({ resourceType: 'Patient', id: created.id, jsonPatch: [{ op: 'add', path: '/active', value: true }] })) as Json;
  assert.equal(patched.active, true);
  const hist = (await client.history({ resourceType: 'Patient', id: created.id })) as Json;
  assert.equal(hist.entry.length, 3);
  await client.delete({ resourceType: 'Patient', id: created.id });
  await assert.rejects(client.read({ resourceType: 'Patient', id: created.id }), (e: { response?: { status: number } }) => e.response?.status === 410);
});
