// Platform-owned parts of a stored resource: meta.versionId / lastUpdated, the created-at extension, the owner
// tag, and the columns the sharing policy reads (upid, restricted, source).
import { forbidden } from '../../platform/errors.ts';

export const OWNER_TAG_SYSTEM = 'https://zusapi.com/accesscontrol/owner';
export const SOURCE_TAG_SYSTEM = 'https://zusapi.com/thirdparty/source';
export const LENS_TAG_SYSTEM = 'https://zusapi.com/lens';
export const CREATED_AT_URL = 'https://zusapi.com/created-at';
export const UPID_SYSTEM = 'https://zusapi.com/fhir/identifier/universal-id';
export const CONFIDENTIALITY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';

export type FhirResource = { resourceType: string; id?: string; meta?: Meta; [k: string]: unknown };
interface Coding { system?: string; code?: string; display?: string; [k: string]: unknown }
interface Meta {
  versionId?: string;
  lastUpdated?: string;
  tag?: Coding[];
  security?: Coding[];
  extension?: { url: string; [k: string]: unknown }[];
  [k: string]: unknown;
}

const platformOnlyTags = new Set([SOURCE_TAG_SYSTEM, LENS_TAG_SYSTEM]);

function hasPlatformOnlyTag(resource: FhirResource | null | undefined): boolean {
  return (resource?.meta?.tag ?? []).some((t) => typeof t?.system === 'string' && platformOnlyTags.has(t.system));
}

/**
 * Third-party (connector) and Lens resources are written only by the platform: a client writing one, or
 * changing one, gets 403 (notes §2).
 */
export function assertClientMayWrite(incoming: FhirResource | null, previous: FhirResource | null, platform: boolean): void {
  if (platform) return;
  if (hasPlatformOnlyTag(incoming) || hasPlatformOnlyTag(previous)) {
    throw forbidden('Third-party and Lens resources are managed by the platform and cannot be written by clients');
  }
}

export interface StampInput {
  builderId: string;
  versionId: number;
  lastUpdated: Date;
  createdAt: Date;
  builderName?: string | null;
}

/** Sets the platform-owned meta fields; the client's owner tag (if any) is replaced, never kept. */
export function stampMeta(resource: FhirResource, s: StampInput): FhirResource {
  const meta: Meta = { ...(resource.meta ?? {}) };
  meta.versionId = String(s.versionId);
  meta.lastUpdated = s.lastUpdated.toISOString();
  const ext = (Array.isArray(meta.extension) ? meta.extension : []).filter((e) => e?.url !== CREATED_AT_URL);
  ext.push({ url: CREATED_AT_URL, valueInstant: s.createdAt.toISOString() });
  meta.extension = ext;
  const tags = (Array.isArray(meta.tag) ? meta.tag : []).filter((t) => t?.system !== OWNER_TAG_SYSTEM);
  tags.push({ system: OWNER_TAG_SYSTEM, code: `builder/${s.builderId}`, ...(s.builderName ? { display: s.builderName } : {}) });
  meta.tag = tags;
  return { ...resource, meta };
}

/** The created-at instant a previous version carries (kept across versions). */
export function createdAtOf(resource: FhirResource | null | undefined): Date | null {
  const e = resource?.meta?.extension?.find((x) => x?.url === CREATED_AT_URL);
  const v = e?.valueInstant;
  if (typeof v !== 'string') return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** UPID: the universal-id extension, or for Patient the identifier with that system. */
export function upidOf(resource: FhirResource): string | null {
  if (resource.resourceType === 'Patient' && Array.isArray(resource.identifier)) {
    for (const i of resource.identifier as { system?: string; value?: string }[]) {
      if (i?.system === UPID_SYSTEM && typeof i.value === 'string') return i.value;
    }
  }
  if (Array.isArray(resource.extension)) {
    for (const e of resource.extension as { url?: string; valueString?: string }[]) {
      if (e?.url === UPID_SYSTEM && typeof e.valueString === 'string') return e.valueString;
    }
  }
  return null;
}

export function isRestricted(resource: FhirResource): boolean {
  return (resource.meta?.security ?? []).some((s) => s?.system === CONFIDENTIALITY_SYSTEM && (s.code === 'R' || s.code === 'V'));
}

export function sourceOf(resource: FhirResource): string | null {
  const t = (resource.meta?.tag ?? []).find((x) => x?.system === SOURCE_TAG_SYSTEM);
  return typeof t?.code === 'string' ? t.code : null;
}

export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
