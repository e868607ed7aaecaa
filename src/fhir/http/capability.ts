// The CapabilityStatement lists exactly what this server does: every R4 type, its interactions, and the search
// parameters the store can evaluate (special and expression-less ones, and composites over `%resource`, are left out).
import { listResourceTypes, listSearchParams } from '../definitions/index.ts';
import { sharingCapability } from '../everything/capability.ts';
import { isSearchable } from '../search/parse.ts';

let cached: Record<string, unknown> | null = null;

export function capabilityStatement(fhirBase: string, now: Date): Record<string, unknown> {
  if (!cached) cached = build();
  return { ...cached, date: now.toISOString(), implementation: { description: 'Tessera FHIR R4 server', url: fhirBase } };
}

function build(): Record<string, unknown> {
  const resource = listResourceTypes().map((type) => {
    const params = listSearchParams(type).filter((p) => isSearchable(type, p));
    const refs = params.filter((p) => p.type === 'reference' && !p.code.startsWith('_'));
    return {
      type,
      interaction: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'].map((code) => ({ code })),
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'not-supported',
      conditionalUpdate: true,
      conditionalDelete: 'single',
      referencePolicy: ['literal', 'local'],
      searchInclude: ['*', ...refs.map((p) => `${type}:${p.code}`)],
      searchRevInclude: [] as string[],
      searchParam: params.map((p) => ({ name: p.code, definition: p.url, type: p.type, ...(p.description ? { documentation: p.description.slice(0, 500) } : {}) })),
    };
  });
  // rev-includes: every reference parameter of every type that can point at this type
  const byTarget = new Map<string, string[]>();
  for (const r of resource) {
    for (const p of listSearchParams(r.type)) {
      if (p.type !== 'reference' || p.code.startsWith('_')) continue;
      for (const t of p.target ?? []) {
        const list = byTarget.get(t) ?? [];
        list.push(`${r.type}:${p.code}`);
        byTarget.set(t, list);
      }
    }
  }
  for (const r of resource) r.searchRevInclude = byTarget.get(r.type) ?? [];
  const sharing = sharingCapability();
  for (const r of resource) if (r.type === 'Patient') Object.assign(r, { operation: sharing.patientOperations });
  return {
    extension: sharing.extension,
    resourceType: 'CapabilityStatement',
    status: 'active',
    kind: 'instance',
    software: { name: 'Tessera', version: '0.1.0' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    rest: [{
      mode: 'server',
      security: { cors: false, description: 'OAuth2 client credentials (POST /oauth/token); send Authorization: Bearer <token>.' },
      resource,
      interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
      searchParam: [
        { name: '_count', type: 'number' }, { name: '_sort', type: 'string' }, { name: '_total', type: 'token' },
        { name: '_summary', type: 'token' }, { name: '_elements', type: 'string' }, { name: '_include', type: 'string' },
        { name: '_revinclude', type: 'string' }, { name: '_has', type: 'special', documentation: '_has:Type:reference:parameter (reverse chaining, nested up to 3 levels)' },
        ...sharing.searchParams,
      ],
      documentation: sharing.documentation,
    }],
  };
}
