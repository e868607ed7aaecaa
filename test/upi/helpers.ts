// Shared by the UPI tests: reading the UPID off a Patient (identifier) or a patient-scoped resource (extension),
// and creating a resource as a builder (201 expected).
import assert from 'node:assert/strict';
import { UPID_SYSTEM } from '../../src/fhir/store/meta.ts';
import type { TestBuilder } from '../helpers/platform.ts';

export const UPID = UPID_SYSTEM;
export const upidOfPatient = (p: any) => p.identifier?.find((i: any) => i.system === UPID)?.value as string | undefined;
export const upidOfResource = (r: any) => r.extension?.find((e: any) => e.url === UPID)?.valueString as string | undefined;

export async function createResource(who: TestBuilder, body: unknown): Promise<any> {
  const r = await who.fetch(`/fhir/${(body as any).resourceType}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 201, await r.clone().text());
  return r.json();
}
