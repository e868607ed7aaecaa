// Public surface of the FHIR capability.
export { FhirStore, fhirStoreFor, assertValid, applyJsonPatch, OWNER_TAG_SYSTEM, SOURCE_TAG_SYSTEM, LENS_TAG_SYSTEM, CREATED_AT_URL, UPID_SYSTEM, upidOf } from './store/index.ts';
export type { WriteInterceptor, WriteOp, WriteOutcome, WriteOptions, StoredVersion, HistoryEntry, HistoryQuery, FhirResource } from './store/index.ts';
export { processBundle } from './bundle/index.ts';
export { registerFhirRoutes } from './http/index.ts';
export { renderSearchBundle } from './search/render.ts';
