// What /fhir/metadata says about sharing: the configured Designated Record Set and the foundational types (as an
// extension and in rest.documentation), the Patient $everything operation and the `firstparty` parameter.
import { designatedRecordSetTypes, FOUNDATIONAL_TYPES } from '../../access/policy.ts';

export const DRS_EXTENSION_URL = 'https://tessera.dev/fhir/StructureDefinition/designated-record-set';
export const FOUNDATIONAL_EXTENSION_URL = 'https://tessera.dev/fhir/StructureDefinition/foundational-resources';

export function sharingCapability() {
  const drs = designatedRecordSetTypes();
  return {
    extension: [
      { url: DRS_EXTENSION_URL, extension: drs.map((t) => ({ url: 'resourceType', valueCode: t })) },
      { url: FOUNDATIONAL_EXTENSION_URL, extension: FOUNDATIONAL_TYPES.map((t) => ({ url: 'resourceType', valueCode: t })) },
    ],
    patientOperations: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything', documentation: 'GET /fhir/Patient/{id}/$everything or /fhir/Patient/$everything?upid=: the person across builders and sources; _type, _since, _count; paged (next link).' }],
    searchParams: [{ name: 'firstparty', type: 'token', documentation: "firstparty=true: only the caller's own data, without other builders' shared data and without third-party (network) data" }],
    documentation:
      `Sharing: a builder with an active Patient for a UPID (treatment relationship) reads other builders' resources of the Designated Record Set for that UPID, except restricted ones (meta.security v3-Confidentiality R or V). ` +
      `Designated Record Set: ${drs.join(', ')}. ` +
      `Foundational resources of another builder (${FOUNDATIONAL_TYPES.join(', ')}) only through a reference from a visible Designated Record Set resource (_include, _revinclude=Provenance:target, $everything). Shared data is read-only.`,
  };
}
