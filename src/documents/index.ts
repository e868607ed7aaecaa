// Document converters: pure text → FHIR R4 collection Bundle functions (no I/O, no database).
export type { ConversionResult, FhirResource, OutcomeIssue, CollectionBundle, ConversionStats } from './types.ts';
export { convertCcda, type CcdaOptions } from './ccda/index.ts';
export { convertNcpdp } from './ncpdp/index.ts';
export { convertHl7v2, convertHl7v2Batch } from './hl7v2/index.ts';
export { convertCommand } from './cli.ts';
