// Role limits on every FHIR interaction, checked against a statement of the rules written here independently of
// src/access/roles.ts: Builder Admin may do everything (except writing AuditEvents); Care Team User reads
// everything and creates/updates only the eight listed types (no deletes); Permissionless may do nothing.
// Denied requests answer 403 with an OperationOutcome and change nothing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';

const CARE_TEAM_WRITABLE = new Set(['Patient', 'CarePlan', 'CareTeam', 'Goal', 'Task', 'Communication', 'Appointment', 'QuestionnaireResponse']);
type Role = 'Builder Admin' | 'Care Team User' | 'Permissionless';
type Kind = 'read' | 'write' | 'delete';

function expectedAllowed(role: Role, kind: Kind, type: string): boolean {
  if (role === 'Builder Admin') return true;
  if (role === 'Permissionless') return false;
  if (kind === 'read') return true;
  if (kind === 'delete') return false;
  return CARE_TEAM_WRITABLE.has(type);
}

// Minimal valid resources: the eight Care Team types and a few it may not write.
function sample(type: string, patientId: string): Record<string, unknown> {
  const subject = { reference: `Patient/${patientId}` };
  switch (type) {
    case 'Patient': return { resourceType: type, name: [{ family: 'Roles' }] };
    case 'CarePlan': return { resourceType: type, status: 'active', intent: 'plan', subject };
    case 'CareTeam': return { resourceType: type, subject };
    case 'Goal': return { resourceType: type, lifecycleStatus: 'active', description: { text: 'walk' }, subject };
    case 'Task': return { resourceType: type, status: 'requested', intent: 'order', for: subject };
    case 'Communication': return { resourceType: type, status: 'completed', subject };
    case 'Appointment': return { resourceType: type, status: 'booked', participant: [{ actor: subject, status: 'accepted' }] };
    case 'QuestionnaireResponse': return { resourceType: type, status: 'completed', subject };
    case 'Observation': return { resourceType: type, status: 'final', code: { text: 'weight' }, subject };
    case 'Condition': return { resourceType: type, subject, code: { text: 'asthma' } };
    case 'MedicationRequest': return { resourceType: type, status: 'active', intent: 'order', subject, medicationCodeableConcept: { text: 'aspirin' } };
    case 'Practitioner': return { resourceType: type, name: [{ family: 'Doc' }] };
    default: throw new Error(type);
  }
}
const TYPES = [...CARE_TEAM_WRITABLE, 'Observation', 'Practitioner'];

describe('role limits on every FHIR interaction', () => {
  let tp: TestPlatform;
  let admin: TestBuilder;
  const as: Partial<Record<Role, TestBuilder>> = {};
  let patientId: string;
  const seeds = new Map<string, Record<string, unknown> & { id: string }>();

  const send = (b: TestBuilder, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    b.fetch(`/fhir/${path}`, { method, headers: { ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}), ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  const writesOf = async () => (await tp.db.query<{ n: number }>('SELECT (SELECT count(*) FROM resource_versions) + (SELECT count(*) FROM outbox) AS n')).rows[0]!.n;

  before(async () => {
    tp = await startTestPlatform();
    admin = await tp.createBuilder();
    for (const role of ['Builder Admin', 'Care Team User', 'Permissionless'] as Role[]) as[role] = await tp.createClient(admin.builderId, role);
    const p = await send(admin, 'POST', 'Patient', sample('Patient', 'x'));
    patientId = ((await p.json()) as { id: string }).id;
    for (const type of TYPES) {
      const r = await send(admin, 'POST', type, sample(type, patientId));
      assert.equal(r.status, 201, `${type}: ${await r.clone().text()}`);
      seeds.set(type, (await r.json()) as Record<string, unknown> & { id: string });
    }
  });
  after(async () => { await tp.close(); });

  interface Interaction { name: string; kind: Kind; run(b: TestBuilder, type: string): Promise<Response> }
  const interactions: Interaction[] = [
    { name: 'read', kind: 'read', run: (b, t) => send(b, 'GET', `${t}/${seeds.get(t)!.id}`) },
    { name: 'vread', kind: 'read', run: (b, t) => send(b, 'GET', `${t}/${seeds.get(t)!.id}/_history/1`) },
    { name: 'search', kind: 'read', run: (b, t) => send(b, 'GET', `${t}?_id=${seeds.get(t)!.id}`) },
    { name: 'search (POST _search)', kind: 'read', run: (b, t) => b.fetch(`/fhir/${t}/_search`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `_id=${seeds.get(t)!.id}` }) },
    { name: 'instance history', kind: 'read', run: (b, t) => send(b, 'GET', `${t}/${seeds.get(t)!.id}/_history`) },
    { name: 'type history', kind: 'read', run: (b, t) => send(b, 'GET', `${t}/_history`) },
    { name: 'create', kind: 'write', run: (b, t) => send(b, 'POST', t, sample(t, patientId)) },
    { name: 'conditional create', kind: 'write', run: (b, t) => send(b, 'POST', t, sample(t, patientId), { 'if-none-exist': '_id=does-not-exist' }) },
    { name: 'update', kind: 'write', run: (b, t) => send(b, 'PUT', `${t}/${seeds.get(t)!.id}`, { ...sample(t, patientId), id: seeds.get(t)!.id }) },
    { name: 'conditional update', kind: 'write', run: (b, t) => send(b, 'PUT', `${t}?_id=${seeds.get(t)!.id}`, { ...sample(t, patientId), id: seeds.get(t)!.id }) },
    { name: 'patch', kind: 'write', run: (b, t) => b.fetch(`/fhir/${t}/${seeds.get(t)!.id}`, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'add', path: '/language', value: 'en' }]) }) },
    { name: 'conditional patch', kind: 'write', run: (b, t) => b.fetch(`/fhir/${t}?_id=${seeds.get(t)!.id}`, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'add', path: '/language', value: 'de' }]) }) },
    { name: 'transaction create', kind: 'write', run: (b, t) => send(b, 'POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 'urn:uuid:0d4d2b8e-1c61-4b38-9c51-2f1f4a0b7a11', resource: sample(t, patientId), request: { method: 'POST', url: t } }] }) },
  ];
  const deletes: Interaction[] = [
    { name: 'conditional delete', kind: 'delete', run: (b, t) => send(b, 'DELETE', `${t}?_id=${seeds.get(t)!.id}`) },
    { name: 'delete', kind: 'delete', run: (b, t) => send(b, 'DELETE', `${t}/${seeds.get(t)!.id}`) },
  ];

  async function check(role: Role, i: Interaction, type: string) {
    const b = as[role]!;
    const before = await writesOf();
    const r = await i.run(b, type);
    const label = `${role} ${i.name} ${type}`;
    if (expectedAllowed(role, i.kind, type)) {
      assert.ok(r.status >= 200 && r.status < 300, `${label}: expected success, got ${r.status} ${await r.text()}`);
    } else {
      assert.equal(r.status, 403, `${label}: expected 403, got ${r.status} ${await r.clone().text()}`);
      const oo = (await r.json()) as { resourceType: string; issue: { code: string }[] };
      assert.equal(oo.resourceType, 'OperationOutcome', label);
      assert.equal(oo.issue[0]!.code, 'forbidden', label);
      assert.equal(await writesOf(), before, `${label}: nothing written`);
    }
  }

  for (const role of ['Permissionless', 'Care Team User', 'Builder Admin'] as Role[]) {
    test(`${role}: read, vread, search, history, create, conditional create, update, conditional update, patch, conditional patch, transaction`, async () => {
      for (const type of TYPES) for (const i of interactions) await check(role, i, type);
    });
  }

  test('deletes (instance and conditional): only Builder Admin', async () => {
    for (const role of ['Permissionless', 'Care Team User'] as Role[]) for (const type of TYPES) for (const i of deletes) await check(role, i, type);
    for (const type of TYPES) await check('Builder Admin', deletes[1]!, type);
  });

  test('system history and batch: a Permissionless principal gets nothing', async () => {
    const h = await send(as.Permissionless!, 'GET', '_history');
    if (h.status === 200) assert.equal(((await h.json()) as { entry?: unknown[] }).entry?.length ?? 0, 0);
    else assert.equal(h.status, 403);
    const before = await writesOf();
    const batch = await send(as.Permissionless!, 'POST', '', { resourceType: 'Bundle', type: 'batch', entry: [{ resource: sample('Patient', patientId), request: { method: 'POST', url: 'Patient' } }, { request: { method: 'GET', url: `Patient/${patientId}` } }] });
    if (batch.status === 200) {
      const out = (await batch.json()) as { entry: { response: { status: string } }[] };
      for (const e of out.entry) assert.match(e.response.status, /^403/);
    } else assert.equal(batch.status, 403);
    assert.equal(await writesOf(), before);
  });
});
