// OID → FHIR code system URI (HL7 terminology "OID registry" and the C-CDA on FHIR mapping).
// An unknown OID stays `urn:oid:<oid>`, which is a valid FHIR system URI.

export const OID_TO_SYSTEM: Readonly<Record<string, string>> = {
  '2.16.840.1.113883.6.1': 'http://loinc.org',
  '2.16.840.1.113883.6.96': 'http://snomed.info/sct',
  '2.16.840.1.113883.6.88': 'http://www.nlm.nih.gov/research/umls/rxnorm',
  '2.16.840.1.113883.6.69': 'http://hl7.org/fhir/sid/ndc',
  '2.16.840.1.113883.6.103': 'http://hl7.org/fhir/sid/icd-9-cm',
  '2.16.840.1.113883.6.104': 'http://hl7.org/fhir/sid/icd-9-cm',
  '2.16.840.1.113883.6.90': 'http://hl7.org/fhir/sid/icd-10-cm',
  '2.16.840.1.113883.6.3': 'http://hl7.org/fhir/sid/icd-10',
  '2.16.840.1.113883.6.4': 'http://www.cms.gov/Medicare/Coding/ICD10',
  '2.16.840.1.113883.6.12': 'http://www.ama-assn.org/go/cpt',
  '2.16.840.1.113883.6.285': 'urn:oid:2.16.840.1.113883.6.285', // HCPCS level II has no canonical FHIR URI
  '2.16.840.1.113883.6.14': 'urn:oid:2.16.840.1.113883.6.14', // HCPCS (CMS)
  '2.16.840.1.113883.12.292': 'http://hl7.org/fhir/sid/cvx',
  '2.16.840.1.113883.6.59': 'http://hl7.org/fhir/sid/cvx',
  '2.16.840.1.113883.12.227': 'http://hl7.org/fhir/sid/mvx',
  '2.16.840.1.113883.6.101': 'http://nucc.org/provider-taxonomy',
  '2.16.840.1.113883.11.19465': 'http://nucc.org/provider-taxonomy',
  '2.16.840.1.113883.6.8': 'http://unitsofmeasure.org',
  '2.16.840.1.113883.6.238': 'urn:oid:2.16.840.1.113883.6.238', // CDC Race & Ethnicity (US Core uses the OID URI)
  '2.16.840.1.113883.6.13': 'http://ada.org/cdt',
  '2.16.840.1.113883.6.26': 'urn:oid:2.16.840.1.113883.6.26', // MEDCIN
  '2.16.840.1.113883.4.9': 'http://fdasis.nlm.nih.gov', // UNII
  '2.16.840.1.113883.6.345': 'http://va.gov/terminology/medrt',
  '2.16.840.1.113883.3.26.1.1': 'http://ncimeta.nci.nih.gov',
  '2.16.840.1.113883.3.26.1.5': 'http://ncimeta.nci.nih.gov', // NDF-RT legacy
  '2.16.840.1.113883.6.86': 'http://www.nlm.nih.gov/research/umls',
  '2.16.840.1.113883.6.301.3': 'https://www.nubc.org/CodeSystem/RevenueCodes',
  '2.16.840.1.113883.3.88.12.80.2': 'http://hl7.org/fhir/sid/ndc',
  '2.16.840.1.113883.3.221.5': 'https://nahdo.org/sopt', // Source of Payment Typology
  '2.16.840.1.113883.4.642.3.1': 'http://terminology.hl7.org/CodeSystem/condition-category',
  '1.0.639.1': 'urn:ietf:bcp:47',
  '2.16.840.1.113883.6.121': 'urn:ietf:bcp:47',
  '1.0.3166.1.2.2': 'urn:iso:std:iso:3166',
  '2.16.840.1.113883.6.256': 'http://www.radlex.org',
  '2.16.840.1.113883.6.24': 'urn:iso:std:iso:11073:10101',
  '2.16.840.1.113883.6.73': 'http://www.whocc.no/atc',
  '2.16.840.1.113883.3.3719': 'http://www.fda.gov/Safety/MedWatch/ucm', // not normative
  // HL7 v3 code systems
  '2.16.840.1.113883.5.1': 'http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender',
  '2.16.840.1.113883.5.2': 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus',
  '2.16.840.1.113883.5.4': 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  '2.16.840.1.113883.5.6': 'http://terminology.hl7.org/CodeSystem/v3-ActClass',
  '2.16.840.1.113883.5.7': 'http://terminology.hl7.org/CodeSystem/v3-ActPriority',
  '2.16.840.1.113883.5.8': 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  '2.16.840.1.113883.5.14': 'http://terminology.hl7.org/CodeSystem/v3-ActStatus',
  '2.16.840.1.113883.5.25': 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality',
  '2.16.840.1.113883.5.43': 'http://terminology.hl7.org/CodeSystem/v3-EntityNamePartQualifier',
  '2.16.840.1.113883.5.45': 'http://terminology.hl7.org/CodeSystem/v3-EntityNameUse',
  '2.16.840.1.113883.5.60': 'http://terminology.hl7.org/CodeSystem/v3-LanguageAbilityMode',
  '2.16.840.1.113883.5.61': 'http://terminology.hl7.org/CodeSystem/v3-LanguageAbilityProficiency',
  '2.16.840.1.113883.5.83': 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
  '2.16.840.1.113883.5.88': 'http://terminology.hl7.org/CodeSystem/v3-ParticipationFunction',
  '2.16.840.1.113883.5.90': 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  '2.16.840.1.113883.5.104': 'http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration',
  '2.16.840.1.113883.5.110': 'http://terminology.hl7.org/CodeSystem/v3-RoleClass',
  '2.16.840.1.113883.5.111': 'http://terminology.hl7.org/CodeSystem/v3-RoleCode',
  '2.16.840.1.113883.5.112': 'http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration',
  '2.16.840.1.113883.5.1001': 'http://terminology.hl7.org/CodeSystem/v3-ActMood',
  '2.16.840.1.113883.5.1002': 'http://terminology.hl7.org/CodeSystem/v3-ActRelationshipType',
  '2.16.840.1.113883.5.1008': 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor',
  '2.16.840.1.113883.5.1063': 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  '2.16.840.1.113883.5.1076': 'http://terminology.hl7.org/CodeSystem/v3-ReligiousAffiliation',
  '2.16.840.1.113883.5.1119': 'http://terminology.hl7.org/CodeSystem/v3-AddressUse',
  '2.16.840.1.113883.5.139': 'http://terminology.hl7.org/CodeSystem/v3-TimingEvent',
  '2.16.840.1.113883.5.79': 'http://terminology.hl7.org/CodeSystem/v3-MediaType',
  '2.16.840.1.113883.5.85': 'http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm',
  '2.16.840.1.113883.5.129': 'http://terminology.hl7.org/CodeSystem/v3-SpecimenType',
  '2.16.840.1.113883.5.50': 'http://terminology.hl7.org/CodeSystem/v3-Ethnicity',
  '2.16.840.1.113883.5.5': 'http://terminology.hl7.org/CodeSystem/v3-Race',
  '2.16.840.1.113883.5.1052': 'http://terminology.hl7.org/CodeSystem/v3-ActSite',
  '2.16.840.1.113883.5.1060': 'http://terminology.hl7.org/CodeSystem/v3-EntityCode',
  '2.16.840.1.113883.5.1064': 'http://terminology.hl7.org/CodeSystem/v3-EntityClass',
  '2.16.840.1.113883.1.11.19563': 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', // Personal relationship value set used as system
  '2.16.840.1.113883.12.112': 'http://terminology.hl7.org/CodeSystem/discharge-disposition',
  '2.16.840.1.113883.12.4': 'http://terminology.hl7.org/CodeSystem/v2-0004',
  '2.16.840.1.113883.12.63': 'http://terminology.hl7.org/CodeSystem/v2-0063',
  '2.16.840.1.113883.12.203': 'http://terminology.hl7.org/CodeSystem/v2-0203',
  '2.16.840.1.113883.12.443': 'http://terminology.hl7.org/CodeSystem/v2-0443',
  '2.16.840.1.113883.18.2': 'http://terminology.hl7.org/CodeSystem/v2-0001',
  '2.16.840.1.113883.6.255.1336': 'http://terminology.hl7.org/CodeSystem/v3-TribalEntityUS',
  '2.16.840.1.113883.12.72': 'http://terminology.hl7.org/CodeSystem/v2-0072',
  '2.16.840.1.113883.6.244': 'http://terminology.hl7.org/CodeSystem/v3-AmericanIndianAlaskaNativeLanguages',
  '2.16.840.1.113883.3.88.12.3221.8.9': 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
};

/** Identifier systems with a canonical FHIR URI. */
export const OID_TO_IDENTIFIER_SYSTEM: Readonly<Record<string, string>> = {
  '2.16.840.1.113883.4.6': 'http://hl7.org/fhir/sid/us-npi',
  '2.16.840.1.113883.4.1': 'http://hl7.org/fhir/sid/us-ssn',
  '2.16.840.1.113883.4.4': 'urn:oid:2.16.840.1.113883.4.4', // US EIN/TIN
  '2.16.840.1.113883.4.3': 'http://hl7.org/fhir/sid/us-medicare',
  '2.16.840.1.113883.4.572': 'http://hl7.org/fhir/sid/us-medicare',
  '2.16.840.1.113883.4.927': 'http://hl7.org/fhir/sid/us-mbi',
  '2.16.840.1.113883.3.6.2.3': 'urn:oid:2.16.840.1.113883.3.6.2.3',
  '2.16.840.1.113883.5.1000': 'urn:oid:2.16.840.1.113883.5.1000',
  '2.16.840.1.113883.3.3719': 'https://www.fda.gov/udi',
};

const OID_RE = /^[0-2](\.(0|[1-9][0-9]*))+$/;
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

// Documents repeat the same few OIDs thousands of times: remember the answers (bounded).
const systemMemo = new Map<string, string | undefined>();
const identifierMemo = new Map<string, string | undefined>();

function memo(m: Map<string, string | undefined>, key: string, f: (k: string) => string | undefined): string | undefined {
  if (m.has(key)) return m.get(key);
  const v = f(key);
  if (m.size < 10_000) m.set(key, v);
  return v;
}

/** A FHIR system URI for a code system OID (or for a code system given as a name or URI). */
export function codeSystemUri(codeSystem: string | undefined): string | undefined {
  if (codeSystem === undefined || codeSystem === '') return undefined;
  return memo(systemMemo, codeSystem, computeSystemUri);
}

function computeSystemUri(codeSystem: string): string | undefined {
  const known = OID_TO_SYSTEM[codeSystem];
  if (known !== undefined) return known;
  if (OID_RE.test(codeSystem)) return `urn:oid:${codeSystem}`;
  if (UUID_RE.test(codeSystem)) return `urn:uuid:${codeSystem.toLowerCase()}`;
  if (/^[a-z][a-z0-9+.-]*:\S+$/i.test(codeSystem)) return codeSystem;
  return undefined;
}

/** A FHIR identifier system URI for an II root. */
export function identifierSystemUri(root: string | undefined): string | undefined {
  if (root === undefined || root === '') return undefined;
  return memo(identifierMemo, root, computeIdentifierSystemUri);
}

function computeIdentifierSystemUri(root: string): string | undefined {
  const known = OID_TO_IDENTIFIER_SYSTEM[root];
  if (known !== undefined) return known;
  if (OID_RE.test(root)) return `urn:oid:${root}`;
  if (UUID_RE.test(root)) return `urn:uuid:${root.toLowerCase()}`;
  if (/^[a-z][a-z0-9+.-]*:\S+$/i.test(root)) return root;
  return undefined;
}

export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';
export const V3_ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const V3_NULL_FLAVOR = 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor';
export const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition';

// Some senders give only codeSystemName. Names are normalised (case, spaces, dashes) before lookup.
const NAME_TO_SYSTEM: Readonly<Record<string, string>> = {
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct', snomedct: 'http://snomed.info/sct', sct: 'http://snomed.info/sct',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  ndc: 'http://hl7.org/fhir/sid/ndc',
  cpt: 'http://www.ama-assn.org/go/cpt', cpt4: 'http://www.ama-assn.org/go/cpt',
  icd10cm: 'http://hl7.org/fhir/sid/icd-10-cm', icd9cm: 'http://hl7.org/fhir/sid/icd-9-cm',
  cvx: 'http://hl7.org/fhir/sid/cvx', ucum: 'http://unitsofmeasure.org',
};

/** A FHIR system URI for a well-known code system name (`codeSystemName="SNOMED CT"`), else undefined. */
export function codeSystemByName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  return NAME_TO_SYSTEM[name.toLowerCase().replace(/[\s_.-]/g, '')];
}
