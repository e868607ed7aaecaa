export { FhirStore, fhirStoreFor, assertValid, assertResourceType } from './store.ts';
export type { WriteInterceptor, WriteOp, WriteOutcome, WriteOptions, StoredVersion, ReadRow, HistoryEntry, HistoryQuery, StoreServices, FhirResource } from './store.ts';
export { OWNER_TAG_SYSTEM, SOURCE_TAG_SYSTEM, LENS_TAG_SYSTEM, CREATED_AT_URL, UPID_SYSTEM, upidOf } from './meta.ts';
export { applyJsonPatch } from './patch.ts';
