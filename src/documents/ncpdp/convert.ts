// NCPDP SCRIPT (2017071, with 10.6 and later 20xx spellings) → FHIR R4.
//
// RxHistoryResponse: one MedicationRequest + one MedicationDispense per MedicationDispensed (fill),
// prescriber → Practitioner, pharmacy → Organization, the patient → Patient, Surescripts-style
// notification labels on both. NewRx / RxRenewal* / RxChange* / CancelRx* → MedicationRequest whose
// status and intent follow the transaction and its response. Element lookups accept the 2017071 shape
// and the 10.6 shape (e.g. ProductCode/Code + Qualifier vs ProductCode + ProductCodeQualifier,
// BusinessName vs StoreName, HumanPatient vs bare Patient, Sig/SigText vs Directions).
import { child, children, parseXml, textContent, type XmlElement } from '../xml/index.ts';
import { failedConversion, type ConversionResult, type FhirResource } from '../types.ts';
import { ResourceCollector, type EmitOptions } from '../hl7v2/emit.ts';

export interface NcpdpConvertOptions extends EmitOptions {
  /** Patient reference to use when the message names no patient (responses), e.g. "Patient/123". */
  patientReference?: string;
  /**
   * "Now" for labels that depend on it (PMARefillNotPickedUp: a refill more than 5 days overdue).
   * Without it those labels are not computed, keeping the conversion a pure function of its input.
   */
  asOf?: string;
  /** Maximum XML size in bytes (default 5 MB). */
  maxBytes?: number;
}

export interface NcpdpMessageInfo {
  version?: string;
  transaction?: string;
  messageId?: string;
  relatesToMessageId?: string;
  sentTime?: string;
  /** Approved / ApprovedWithChanges / Denied / Replace / Validated … for response transactions. */
  response?: string;
  responseReason?: string;
}

export interface NcpdpConversionResult extends ConversionResult {
  message: NcpdpMessageInfo;
}

type Json = Record<string, unknown>;

export const NCPDP_PROVIDER_ID = 'http://terminology.hl7.org/NamingSystem/NCPDPProviderIdentificationNumber';
const NPI = 'http://hl7.org/fhir/sid/us-npi';
const DEA = 'urn:oid:2.16.840.1.113883.4.814';
const NDC = 'http://hl7.org/fhir/sid/ndc';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const NCI_THESAURUS = 'http://ncithesaurus-stage.nci.nih.gov';
export const SURESCRIPTS_NOTIFICATION = 'http://surescripts.net/fhir/CodeSystem/patient-notification-types';
export const SURESCRIPTS_NOTIFICATION_TIME = 'http://surescripts.net/fhir/CodeSystem/notification-generated-time';

/** DEA schedule NCI codes (notes §6) and the schedule they name. */
export const DEA_SCHEDULES: Record<string, string> = {
  C48672: 'Schedule I', C48675: 'Schedule II', C48676: 'Schedule III', C48677: 'Schedule IV', C48679: 'Schedule V', C38046: 'Unspecified',
};
/** Schedules written as roman numerals or 1–5 in older feeds → NCI code. */
const DEA_BY_NAME: Record<string, string> = {
  I: 'C48672', '1': 'C48672', CI: 'C48672', II: 'C48675', '2': 'C48675', CII: 'C48675', III: 'C48676', '3': 'C48676', CIII: 'C48676',
  IV: 'C48677', '4': 'C48677', CIV: 'C48677', V: 'C48679', '5': 'C48679', CV: 'C48679',
};

/** NCPDP quantity unit of measure (NCI codes) → display, for the common ones. */
const QUANTITY_UNITS: Record<string, string> = {
  C48542: 'Tablet', C48480: 'Capsule', C28254: 'mL', C48155: 'g', C48473: 'Ampule', C48477: 'Bottle', C48491: 'Cream', C48494: 'Drop',
  C48500: 'Each', C48501: 'Inhalation', C48521: 'Packet', C48524: 'Patch', C48529: 'Pint', C48534: 'Pouch', C48537: 'Kit', C48538: 'Tube',
  C48539: 'Suppository', C48548: 'Vial', C48549: 'Syringe', C62412: 'Blister', C62417: 'Gram', C64933: 'Each', C38046: 'Unspecified', C48672: 'Schedule I',
};

const RESPONSE_CHOICES = new Set(['Approved', 'ApprovedWithChanges', 'Denied', 'DeniedNewPrescriptionToFollow', 'Replace', 'Validated']);

const TRANSACTIONS = new Set([
  'RxHistoryResponse', 'NewRx', 'RxRenewalRequest', 'RxRenewalResponse', 'RxChangeRequest', 'RxChangeResponse', 'CancelRx', 'CancelRxResponse',
  'Status', 'Error', 'Verify', 'RxHistoryRequest', 'NewRxRequest', 'NewRxResponseDenied', 'RxFill', 'RxFillIndicatorChange',
]);

const text = (el: XmlElement | undefined): string | undefined => {
  if (el === undefined) return undefined;
  const t = textContent(el).trim();
  return t === '' ? undefined : t;
};

/** First element found along any of the given paths (each a list of local names). */
function first(el: XmlElement | undefined, ...paths: string[][]): XmlElement | undefined {
  for (const p of paths) {
    let cur: XmlElement | undefined = el;
    for (const name of p) {
      cur = child(cur, name);
      if (cur === undefined) break;
    }
    if (cur !== undefined) return cur;
  }
  return undefined;
}

const val = (el: XmlElement | undefined, ...paths: string[][]): string | undefined => text(first(el, ...paths));

/** NCPDP date: <Date>, <DateTime>, or the text itself; CCYY-MM-DD, CCYYMMDD or xsd:dateTime. */
function dateOf(el: XmlElement | undefined): { date: string; dateTime: string } | undefined {
  if (el === undefined) return undefined;
  const raw = val(el, ['Date'], ['DateTime']) ?? (el.children.every((c) => c.type === 'text') ? text(el) : undefined);
  if (raw === undefined) return undefined;
  let m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(raw);
  if (m !== null) return validDate(m[1]!, m[2]!, m[3]!, undefined);
  m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$/.exec(raw);
  if (m !== null) {
    const zone = m[8];
    const time = `${m[4]}:${m[5]}:${m[6] ?? '00'}${m[7] ?? ''}`;
    return validDate(m[1]!, m[2]!, m[3]!, zone !== undefined ? `T${time}${zone}` : undefined);
  }
  return undefined;
}

function validDate(y: string, mo: string, d: string, timePart: string | undefined): { date: string; dateTime: string } | undefined {
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || y === '0000') return undefined;
  const check = new Date(Date.UTC(Number(y), month - 1, day));
  if (check.getUTCDate() !== day) return undefined;
  const date = `${y}-${mo}-${d}`;
  return { date, dateTime: timePart !== undefined ? `${date}${timePart}` : date };
}

function decimal(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (!/^[+-]?(\d{1,15}(\.\d{1,10})?|\.\d{1,10})$/.test(t)) return undefined;
  return Number(t);
}

function nonNegInt(s: string | undefined): number | undefined {
  const n = decimal(s);
  return n !== undefined && Number.isInteger(n) && n >= 0 ? n : undefined;
}

// ---------------------------------------------------------------- parties

function personName(el: XmlElement | undefined): Json | undefined {
  const n = child(el, 'Name');
  if (n === undefined) return undefined;
  const family = val(n, ['LastName']);
  const given = [val(n, ['FirstName']), val(n, ['MiddleName'])].filter((x) => x !== undefined);
  const prefix = val(n, ['Prefix']);
  const suffix = val(n, ['Suffix']);
  if (family === undefined && given.length === 0) return undefined;
  const name: Json = {};
  if (family !== undefined) name.family = family;
  if (given.length > 0) name.given = given;
  if (prefix !== undefined) name.prefix = [prefix];
  if (suffix !== undefined) name.suffix = [suffix];
  return name;
}

function addressOf(el: XmlElement | undefined): Json | undefined {
  const a = child(el, 'Address');
  if (a === undefined) return undefined;
  const line = [val(a, ['AddressLine1']), val(a, ['AddressLine2'])].filter((x) => x !== undefined);
  const out: Json = {};
  if (line.length > 0) out.line = line;
  const city = val(a, ['City']);
  const state = val(a, ['StateProvince'], ['State']);
  const postal = val(a, ['PostalCode'], ['ZipCode']);
  const country = val(a, ['CountryCode'], ['Country']);
  if (city !== undefined) out.city = city;
  if (state !== undefined) out.state = state;
  if (postal !== undefined) out.postalCode = postal;
  if (country !== undefined) out.country = country;
  return Object.keys(out).length > 0 ? out : undefined;
}

function telecomOf(el: XmlElement | undefined): Json[] {
  const out: Json[] = [];
  const comm = child(el, 'CommunicationNumbers');
  if (comm !== undefined) {
    const phone = (name: string, system: string, use?: string): void => {
      for (const p of children(comm, name)) {
        const v = val(p, ['Number']) ?? text(p);
        if (v === undefined) continue;
        const ext = val(p, ['Extension']);
        const cp: Json = { system, value: ext !== undefined ? `${v} ext. ${ext}` : v };
        if (use !== undefined) cp.use = use;
        out.push(cp);
      }
    };
    phone('PrimaryTelephone', 'phone', 'work');
    phone('HomeTelephone', 'phone', 'home');
    phone('WorkTelephone', 'phone', 'work');
    phone('Beeper', 'pager');
    phone('Fax', 'fax');
    phone('CellularTelephone', 'phone', 'mobile');
    phone('OtherTelephone', 'phone');
    for (const e of children(comm, 'ElectronicMail')) {
      const v = text(e);
      if (v !== undefined) out.push({ system: 'email', value: v });
    }
  }
  // 10.6: <CommunicationNumbers><Communication><Number/><Qualifier>TE|FX|EM</Qualifier></Communication>
  for (const c of children(comm, 'Communication')) {
    const v = val(c, ['Number']);
    const q = val(c, ['Qualifier']);
    if (v === undefined) continue;
    out.push({ system: q === 'FX' ? 'fax' : q === 'EM' ? 'email' : q === 'BN' ? 'pager' : 'phone', value: v });
  }
  return out;
}

const GENDER: Record<string, string> = { M: 'male', F: 'female', U: 'unknown', O: 'other' };

function patient(ctx: Ctx, body: XmlElement): void {
  const p = child(body, 'Patient');
  if (p === undefined) return;
  const h = child(p, 'HumanPatient') ?? child(p, 'NonHumanPatient') ?? p;
  const ids: Json[] = [];
  const ident = child(h, 'Identification');
  const idSystems: [string, string, string][] = [
    ['MedicalRecordIdentificationNumberEHR', 'MR', 'urn:id:ncpdp:MedicalRecordIdentificationNumberEHR'],
    ['MedicareNumber', 'MC', 'http://hl7.org/fhir/sid/us-mbi'], ['MedicaidNumber', 'MA', 'urn:id:ncpdp:MedicaidNumber'],
    ['SocialSecurity', 'SS', 'http://hl7.org/fhir/sid/us-ssn'], ['PatientAccountNumber', 'AN', 'urn:id:ncpdp:PatientAccountNumber'],
    ['REMSHealthcareProviderEnrollmentID', 'RI', 'urn:id:ncpdp:REMS'], ['MutuallyDefined', 'RI', 'urn:id:ncpdp:MutuallyDefined'],
  ];
  for (const [name, type, system] of idSystems) {
    const v = val(ident, [name]);
    if (v !== undefined) ids.push({ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: type }] }, system, value: v });
  }
  const name = personName(h);
  const birth = dateOf(child(h, 'DateOfBirth'));
  const gender = GENDER[(val(h, ['Gender']) ?? '').toUpperCase()];
  if (ids.length === 0 && name === undefined && birth === undefined) return;
  const r: FhirResource = {
    resourceType: 'Patient', identifier: ids, name: name !== undefined ? [name] : undefined, gender, birthDate: birth?.date,
    address: [addressOf(h)], telecom: telecomOf(h),
  };
  const key = ids.length > 0 ? `id|${String(ids[0]!.system)}|${String(ids[0]!.value)}` : `demo|${JSON.stringify(name)}|${birth?.date ?? ''}|${gender ?? ''}`;
  ctx.patientRef = ctx.c.add(key, r);
}

function prescriber(ctx: Ctx, el: XmlElement | undefined): string | undefined {
  const pr = child(el, 'Prescriber');
  if (pr === undefined) return undefined;
  const h = child(pr, 'NonVeterinarian') ?? child(pr, 'Veterinarian') ?? pr;
  const ident = child(h, 'Identification');
  const ids: Json[] = [];
  const npi = val(ident, ['NPI']);
  if (npi !== undefined) ids.push({ system: NPI, value: npi });
  const dea = val(ident, ['DEANumber']);
  if (dea !== undefined) ids.push({ system: DEA, value: dea });
  const license = val(ident, ['StateLicenseNumber']);
  if (license !== undefined) ids.push({ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MD' }] }, value: license });
  const name = personName(h);
  if (ids.length === 0 && name === undefined) return undefined;
  const key = ids.length > 0 ? `id|${String(ids[0]!.system ?? '')}|${String(ids[0]!.value)}` : `name|${JSON.stringify(name)}`;
  const r: FhirResource = { resourceType: 'Practitioner', identifier: ids, name: name !== undefined ? [name] : undefined, address: [addressOf(h)], telecom: telecomOf(h) };
  const specialty = val(h, ['Specialty']);
  if (specialty !== undefined) r.qualification = [{ code: { coding: [{ system: 'http://nucc.org/provider-taxonomy', code: specialty }] } }];
  return ctx.c.add(key, r);
}

function pharmacy(ctx: Ctx, el: XmlElement | undefined): string | undefined {
  const ph = child(el, 'Pharmacy');
  if (ph === undefined) return undefined;
  const ident = child(ph, 'Identification');
  const ids: Json[] = [];
  const ncpdp = val(ident, ['NCPDPID']);
  if (ncpdp !== undefined) ids.push({ system: NCPDP_PROVIDER_ID, value: ncpdp });
  const npi = val(ident, ['NPI']);
  if (npi !== undefined) ids.push({ system: NPI, value: npi });
  const name = val(ph, ['BusinessName'], ['StoreName']);
  if (ids.length === 0 && name === undefined) return undefined;
  const key = ids.length > 0 ? `id|${String(ids[0]!.system)}|${String(ids[0]!.value)}` : `name|${name}`;
  return ctx.c.add(key, {
    resourceType: 'Organization', active: true, identifier: ids, name,
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }], text: 'Pharmacy' }],
    address: [addressOf(ph)], telecom: telecomOf(ph),
  });
}

// ---------------------------------------------------------------- medication

interface Drug {
  concept: Json;
  ndc?: string;
  schedule: string;
}

function drugOf(med: XmlElement): Drug | undefined {
  const coded = child(med, 'DrugCoded');
  const codings: Json[] = [];
  let ndc: string | undefined;
  for (const pc of children(coded, 'ProductCode')) {
    const code = val(pc, ['Code']) ?? (pc.children.every((c) => c.type === 'text') ? text(pc) : undefined);
    const q = val(pc, ['Qualifier']) ?? pc.attrs.Qualifier ?? val(coded, ['ProductCodeQualifier']) ?? 'ND';
    if (code === undefined) continue;
    if (q === 'ND' || q === 'NDC') {
      ndc = code;
      codings.push({ system: NDC, code });
    } else if (q === 'UP') codings.push({ system: 'urn:oid:2.16.840.1.113883.6.40', code });
  }
  for (const db of children(coded, 'DrugDBCode')) {
    const code = val(db, ['Code']) ?? (db.children.every((c) => c.type === 'text') ? text(db) : undefined);
    const q = (val(db, ['Qualifier']) ?? db.attrs.Qualifier ?? val(coded, ['DrugDBCodeQualifier']) ?? '').toUpperCase();
    if (code === undefined) continue;
    // RxNorm term types (SCD, SBD, GPCK, BPCK, …) and the generic RXNORM qualifier.
    if (['RXNORM', 'SCD', 'SBD', 'GPK', 'BPK', 'GPCK', 'BPCK', 'SCDC', 'SBDC', 'SBDG', 'SCDG', 'SCDF', 'SBDF', 'IN', 'PIN', 'MIN'].includes(q)) codings.push({ system: RXNORM, code });
    else if (q === 'SCT' || q === 'SNOMED') codings.push({ system: 'http://snomed.info/sct', code });
  }
  const description = val(med, ['DrugDescription']);
  if (codings.length === 0 && description === undefined) return undefined;
  const concept: Json = {};
  if (codings.length > 0) {
    if (description !== undefined) (codings[0] as Json).display = description;
    concept.coding = codings;
  }
  if (description !== undefined) concept.text = description;
  const deaEl = child(coded, 'DEASchedule') ?? child(med, 'DEASchedule');
  const deaRaw = (val(deaEl, ['Code']) ?? text(deaEl))?.toUpperCase();
  const schedule = deaRaw === undefined ? 'C38046' : DEA_SCHEDULES[deaRaw] !== undefined ? deaRaw : DEA_BY_NAME[deaRaw] ?? 'C38046';
  return ndc !== undefined ? { concept, ndc, schedule } : { concept, schedule };
}

function quantityOf(med: XmlElement): Json | undefined {
  const q = child(med, 'Quantity');
  const value = decimal(val(q, ['Value']));
  if (value === undefined) return undefined;
  const unitCode = val(q, ['QuantityUnitOfMeasure', 'Code'], ['PotencyUnitCode']) ?? (child(q, 'QuantityUnitOfMeasure')?.children.every((c) => c.type === 'text') ? text(child(q, 'QuantityUnitOfMeasure')) : undefined);
  const out: Json = { value };
  if (unitCode !== undefined) {
    if (/^C\d+$/.test(unitCode)) {
      out.system = NCI_THESAURUS;
      out.code = unitCode;
      const display = QUANTITY_UNITS[unitCode];
      if (display !== undefined) out.unit = display;
    } else out.unit = unitCode;
  }
  return out;
}

function refillsOf(med: XmlElement): number | undefined {
  return nonNegInt(val(med, ['NumberOfRefills'], ['Refills', 'Value'], ['Refills', 'Quantity']));
}

function sigOf(med: XmlElement): string | undefined {
  return val(med, ['Sig', 'SigText'], ['Directions'], ['Sig', 'Text']);
}

function dosageOf(med: XmlElement): Json[] | undefined {
  const sig = sigOf(med);
  if (sig === undefined) return undefined;
  const d: Json = { text: sig };
  const instr = first(med, ['Sig', 'Instruction']);
  const route = first(instr, ['RouteOfAdministration']);
  const routeCode = val(route, ['Code']);
  const routeText = val(route, ['Text']);
  if (routeCode !== undefined || routeText !== undefined) {
    const q = (val(route, ['Qualifier']) ?? '').toUpperCase();
    d.route = routeCode !== undefined ? { coding: [{ system: q === 'SNOMED' || q === '' ? 'http://snomed.info/sct' : NCI_THESAURUS, code: routeCode }], text: routeText } : { text: routeText };
  }
  const dose = first(instr, ['DoseAdministration', 'Dose']);
  const doseQty = decimal(val(dose, ['DoseQuantity']));
  if (doseQty !== undefined) {
    const unitCode = val(dose, ['DoseUnitOfMeasure', 'Code']);
    const unitText = val(dose, ['DoseUnitOfMeasure', 'Text']);
    const qty: Json = { value: doseQty };
    if (unitText !== undefined) qty.unit = unitText;
    if (unitCode !== undefined && /^C\d+$/.test(unitCode)) {
      qty.system = NCI_THESAURUS;
      qty.code = unitCode;
    }
    d.doseAndRate = [{ doseQuantity: qty }];
  }
  const timing = val(instr, ['AdministrationTiming', 'Text']);
  if (timing !== undefined) d.timing = { code: { text: timing } };
  return [d];
}

function identifiersOf(med: XmlElement, header: XmlElement | undefined, txn: XmlElement): Json[] {
  const ids: Json[] = [];
  const add = (value: string | undefined, name: string): void => {
    if (value !== undefined && !ids.some((x) => x.value === value && x.system === `urn:id:ncpdp:${name}`)) ids.push({ system: `urn:id:ncpdp:${name}`, value });
  };
  add(val(med, ['PrescriberOrderNumber']) ?? val(header, ['PrescriberOrderNumber']), 'PrescriberOrderNumber');
  add(val(med, ['RxReferenceNumber']) ?? val(header, ['RxReferenceNumber']) ?? val(txn, ['RxReferenceNumber']), 'RxReferenceNumber');
  add(val(med, ['PharmacyRxNumber']), 'PharmacyRxNumber');
  return ids;
}

// ---------------------------------------------------------------- conversion

interface Ctx {
  c: ResourceCollector;
  patientRef?: string;
  info: NcpdpMessageInfo;
}

function categoryOf(schedule: string): Json[] {
  return [{ coding: [{ system: NCI_THESAURUS, code: schedule, display: DEA_SCHEDULES[schedule] }], text: `DEA ${DEA_SCHEDULES[schedule]}` }];
}

function notificationExtensions(labels: string[], sentTime: string | undefined): Json[] {
  const out: Json[] = labels.map((l) => ({ url: SURESCRIPTS_NOTIFICATION, valueString: l }));
  if (labels.length > 0 && sentTime !== undefined && /T\d{2}:\d{2}:\d{2}/.test(sentTime)) out.push({ url: SURESCRIPTS_NOTIFICATION_TIME, valueInstant: sentTime });
  return out;
}

interface Fill {
  med: XmlElement;
  drug: Drug;
  fillDate?: { date: string; dateTime: string };
  written?: { date: string; dateTime: string };
  fillNumber?: number;
  prescriberRef?: string;
  prescriberNpi?: string;
  pharmacyRef?: string;
}

function convertHistory(ctx: Ctx, txn: XmlElement, header: XmlElement | undefined, options: NcpdpConvertOptions): void {
  const fills: Fill[] = [];
  for (const med of children(txn, 'MedicationDispensed')) {
    const drug = drugOf(med);
    if (drug === undefined) {
      ctx.c.warn('MedicationDispensed without drug code or description skipped', 'required');
      continue;
    }
    const fill: Fill = { med, drug };
    const fd = dateOf(child(med, 'LastFillDate')) ?? dateOf(child(med, 'FillDate')) ?? dateOf(child(med, 'DeliveredOnDate'));
    if (fd !== undefined) fill.fillDate = fd;
    const wd = dateOf(child(med, 'WrittenDate'));
    if (wd !== undefined) fill.written = wd;
    const fn = nonNegInt(val(med, ['HistorySource', 'FillNumber'], ['FillNumber']));
    if (fn !== undefined) fill.fillNumber = fn;
    const pr = prescriber(ctx, med) ?? prescriber(ctx, txn);
    if (pr !== undefined) fill.prescriberRef = pr;
    const npi = val(med, ['Prescriber', 'NonVeterinarian', 'Identification', 'NPI'], ['Prescriber', 'Identification', 'NPI']);
    if (npi !== undefined) fill.prescriberNpi = npi;
    const ph = pharmacy(ctx, med);
    if (ph !== undefined) fill.pharmacyRef = ph;
    fills.push(fill);
  }
  // Labels need the history in time order (first time a prescriber appears, last fill of an Rx).
  const ordered = [...fills].sort((a, b) => (a.fillDate?.date ?? '').localeCompare(b.fillDate?.date ?? ''));
  const seenPrescribers = new Set<string>();
  const lastFillOfRx = new Map<string, Fill>();
  const labels = new Map<Fill, string[]>();
  for (const f of ordered) {
    const l: string[] = [];
    if (f.fillNumber === undefined || f.fillNumber <= 1) l.push('PMANewRx');
    else l.push('PMARefill');
    const prescriberKey = f.prescriberNpi ?? f.prescriberRef;
    if (prescriberKey !== undefined && !seenPrescribers.has(prescriberKey)) {
      if (seenPrescribers.size > 0) l.push('PMANewPrescriber');
      seenPrescribers.add(prescriberKey);
    }
    if (['C48672', 'C48675', 'C48676', 'C48677', 'C48679'].includes(f.drug.schedule)) l.push('PMAControlledSubstance');
    const remaining = remainingRefills(f);
    if (remaining !== undefined && remaining <= 0) l.push('PMANoRefillsRemaining');
    labels.set(f, l);
    lastFillOfRx.set(rxKey(f), f);
  }
  if (options.asOf !== undefined) {
    const now = Date.parse(options.asOf);
    for (const f of lastFillOfRx.values()) {
      const days = nonNegInt(val(f.med, ['DaysSupply']));
      const remaining = remainingRefills(f);
      if (f.fillDate === undefined || days === undefined || !Number.isFinite(now) || (remaining !== undefined && remaining <= 0)) continue;
      const due = Date.parse(`${f.fillDate.date}T00:00:00Z`) + days * 86_400_000;
      if (now > due + 5 * 86_400_000) labels.get(f)!.push('PMARefillNotPickedUp');
    }
  }
  for (const f of fills) emitFill(ctx, f, labels.get(f) ?? [], header, txn);
}

function rxKey(f: Fill): string {
  const rxNumber = val(f.med, ['PharmacyRxNumber'], ['RxReferenceNumber'], ['PrescriberOrderNumber']);
  return `${f.pharmacyRef ?? ''}|${rxNumber ?? `${f.drug.ndc ?? JSON.stringify(f.drug.concept)}|${f.written?.date ?? ''}|${f.prescriberRef ?? ''}`}`;
}

function remainingRefills(f: Fill): number | undefined {
  const explicit = nonNegInt(val(f.med, ['RefillsRemaining'], ['HistorySource', 'RefillsRemaining']));
  if (explicit !== undefined) return explicit;
  const authorized = refillsOf(f.med);
  if (authorized === undefined || f.fillNumber === undefined) return undefined;
  // Fill 1 is the original; refills used = fill number − 1.
  return authorized - Math.max(0, f.fillNumber - 1);
}

function emitFill(ctx: Ctx, f: Fill, labels: string[], header: XmlElement | undefined, txn: XmlElement): void {
  if (ctx.patientRef === undefined) {
    ctx.c.warn('MedicationDispensed not converted: the message names no patient and no patientReference was given', 'required');
    return;
  }
  const med = f.med;
  const ext = notificationExtensions(labels, ctx.info.sentTime);
  const quantity = quantityOf(med);
  const days = nonNegInt(val(med, ['DaysSupply']));
  const refills = refillsOf(med);
  const sig = dosageOf(med);
  const subs = val(med, ['Substitutions']);
  const note = val(med, ['Note']);
  const key = `${rxKey(f)}|fill|${f.fillNumber ?? ''}|${f.fillDate?.date ?? ''}`;
  const dispenseRequest: Json = {
    quantity, numberOfRepeatsAllowed: refills,
    expectedSupplyDuration: days !== undefined ? { value: days, unit: 'days', system: 'http://unitsofmeasure.org', code: 'd' } : undefined,
    performer: f.pharmacyRef !== undefined ? { reference: f.pharmacyRef } : undefined,
  };
  const requestRef = ctx.c.add(key, {
    resourceType: 'MedicationRequest', extension: ext, identifier: identifiersOf(med, header, txn),
    status: 'completed', intent: 'order', category: categoryOf(f.drug.schedule),
    medicationCodeableConcept: f.drug.concept, subject: { reference: ctx.patientRef },
    authoredOn: f.written?.dateTime, requester: f.prescriberRef !== undefined ? { reference: f.prescriberRef } : undefined,
    performer: f.pharmacyRef !== undefined ? { reference: f.pharmacyRef } : undefined,
    dosageInstruction: sig, dispenseRequest,
    substitution: subs === '1' ? { allowedBoolean: false } : subs === '0' ? { allowedBoolean: true } : undefined,
    note: note !== undefined ? [{ text: note }] : undefined,
  });
  const first = f.fillNumber === undefined || f.fillNumber <= 1;
  ctx.c.add(key, {
    resourceType: 'MedicationDispense', extension: ext, identifier: identifiersOf(med, header, txn).filter((i) => i.system === 'urn:id:ncpdp:PharmacyRxNumber'),
    status: 'completed', category: { coding: [{ system: 'http://terminology.hl7.org/fhir/CodeSystem/medicationdispense-category', code: 'community' }] },
    medicationCodeableConcept: f.drug.concept, subject: { reference: ctx.patientRef },
    performer: f.pharmacyRef !== undefined ? [{ actor: { reference: f.pharmacyRef } }] : undefined,
    authorizingPrescription: [{ reference: requestRef }],
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: first ? 'FF' : 'RF', display: first ? 'First Fill' : 'Refill' }] },
    quantity, daysSupply: days !== undefined ? { value: days, unit: 'days', system: 'http://unitsofmeasure.org', code: 'd' } : undefined,
    whenHandedOver: f.fillDate?.dateTime, dosageInstruction: sig,
    note: note !== undefined ? [{ text: note }] : undefined,
  });
}

/** Status and intent of the MedicationRequest a prescribing transaction describes. */
function requestStatus(txnName: string, response: string | undefined): { status: string; intent: string } {
  switch (txnName) {
    case 'NewRx': return { status: 'active', intent: 'order' };
    case 'RxRenewalRequest': case 'RxChangeRequest': return { status: 'active', intent: 'proposal' };
    case 'CancelRx': return { status: 'cancelled', intent: 'order' };
    case 'CancelRxResponse': return response === 'Denied' ? { status: 'active', intent: 'order' } : { status: 'cancelled', intent: 'order' };
    case 'RxRenewalResponse': case 'RxChangeResponse':
      if (response === 'Denied' || response === 'DeniedNewPrescriptionToFollow') return { status: 'cancelled', intent: 'proposal' };
      return response === undefined || response === 'Ambiguous' ? { status: 'unknown', intent: 'proposal' } : { status: 'active', intent: 'order' };
    default: return { status: 'unknown', intent: 'order' };
  }
}

function convertPrescription(ctx: Ctx, txn: XmlElement, header: XmlElement | undefined): void {
  const respChoice = children(child(txn, 'Response')).find((e) => e.local === ctx.info.response);
  // A response may carry the changed medication inside ApprovedWithChanges / Replace.
  const meds = [
    ...children(respChoice, 'MedicationPrescribed'), ...children(txn, 'MedicationPrescribed'), ...children(txn, 'MedicationResponse'),
  ];
  const pharm = pharmacy(ctx, txn);
  const presc = prescriber(ctx, txn);
  if (meds.length === 0) {
    ctx.c.info(`${txn.local}${ctx.info.response !== undefined ? ` (${ctx.info.response})` : ''} carries no medication; nothing to convert`);
    return;
  }
  const { status, intent } = requestStatus(txn.local, ctx.info.response);
  for (const [i, med] of meds.entries()) {
    const drug = drugOf(med);
    if (drug === undefined) {
      ctx.c.warn(`${txn.local}: medication without code or description skipped`, 'required');
      continue;
    }
    if (ctx.patientRef === undefined) {
      ctx.c.warn(`${txn.local}: MedicationRequest not converted, the message names no patient and no patientReference was given`, 'required');
      continue;
    }
    const days = nonNegInt(val(med, ['DaysSupply']));
    const written = dateOf(child(med, 'WrittenDate'));
    const note = [val(med, ['Note']), val(respChoice, ['Note']), ctx.info.responseReason].filter((x) => x !== undefined);
    const subs = val(med, ['Substitutions']);
    const ids = identifiersOf(med, header, txn);
    const reqRef = val(txn, ['RequestReferenceNumber']);
    if (reqRef !== undefined) ids.push({ system: 'urn:id:ncpdp:RequestReferenceNumber', value: reqRef });
    const key = `${txn.local}|${ctx.info.messageId ?? ''}|${ids.map((x) => x.value).join('|')}|${i}`;
    ctx.c.add(key, {
      resourceType: 'MedicationRequest', identifier: ids, status, intent,
      statusReason: status === 'cancelled' && ctx.info.responseReason !== undefined ? { text: ctx.info.responseReason } : undefined,
      category: categoryOf(drug.schedule), medicationCodeableConcept: drug.concept, subject: { reference: ctx.patientRef },
      authoredOn: written?.dateTime ?? ctx.info.sentTime,
      requester: (prescriber(ctx, med) ?? presc) !== undefined ? { reference: prescriber(ctx, med) ?? presc } : undefined,
      performer: pharm !== undefined ? { reference: pharm } : undefined,
      dosageInstruction: dosageOf(med),
      dispenseRequest: {
        quantity: quantityOf(med), numberOfRepeatsAllowed: refillsOf(med),
        expectedSupplyDuration: days !== undefined ? { value: days, unit: 'days', system: 'http://unitsofmeasure.org', code: 'd' } : undefined,
        performer: pharm !== undefined ? { reference: pharm } : undefined,
      },
      substitution: subs === '1' ? { allowedBoolean: false } : subs === '0' ? { allowedBoolean: true } : undefined,
      note: note.map((t) => ({ text: t })),
    });
  }
}

/** Converts one NCPDP SCRIPT XML message. Never throws. */
export function convertNcpdp(xml: string, options: NcpdpConvertOptions = {}): NcpdpConversionResult {
  const parsed = parseXml(xml, { maxBytes: options.maxBytes ?? 5 * 1024 * 1024, maxDepth: 64 });
  if (!parsed.ok) {
    const code = parsed.error.code === 'too-large' || parsed.error.code === 'too-deep' ? 'too-costly' : parsed.error.code === 'doctype' ? 'security' : 'structure';
    return { ...failedConversion(code, `NCPDP SCRIPT: ${parsed.error.message} (line ${parsed.error.line})`), message: {} };
  }
  const root = parsed.root;
  if (root.local !== 'Message') return { ...failedConversion('structure', `NCPDP SCRIPT: root element is <${root.name}>, expected <Message>`), message: {} };
  const header = child(root, 'Header');
  const body = child(root, 'Body');
  const info: NcpdpMessageInfo = {};
  const version = root.attrs.version ?? root.attrs.TransactionVersion ?? val(header, ['Version']);
  if (version !== undefined) info.version = version;
  const mid = val(header, ['MessageID']);
  if (mid !== undefined) info.messageId = mid;
  const rel = val(header, ['RelatesToMessageID']);
  if (rel !== undefined) info.relatesToMessageId = rel;
  const sent = dateOf(child(header, 'SentTime'));
  if (sent !== undefined) info.sentTime = sent.dateTime;
  const txns = children(body).filter((e) => TRANSACTIONS.has(e.local) || e.local.startsWith('Rx') || e.local.endsWith('Rx'));
  const txn = txns[0] ?? children(body)[0];
  if (body === undefined || txn === undefined) return { ...failedConversion('structure', 'NCPDP SCRIPT: message has no Body transaction'), message: info };
  info.transaction = txn.local;
  const c = new ResourceCollector(options);
  const choices = children(child(txn, 'Response')).filter((e) => RESPONSE_CHOICES.has(e.local));
  if (choices.length === 1) {
    info.response = choices[0]!.local;
    const reason = val(choices[0], ['DenialReason'], ['ReasonCode']);
    if (reason !== undefined) info.responseReason = reason;
  } else if (choices.length > 1) {
    info.response = 'Ambiguous';
    c.warn(`${txn.local}: Response holds ${choices.map((x) => x.local).join(' and ')}; outcome treated as unknown`, 'business-rule');
  } else if (child(txn, 'Response') !== undefined) {
    c.warn(`${txn.local}: Response carries no recognised outcome (Approved, Denied, …)`, 'business-rule');
  }
  const ctx: Ctx = { c, info };
  if (options.patientReference !== undefined) ctx.patientRef = options.patientReference;
  try {
    // A denied history answer echoes the requested demographics: not a patient record to import.
    if (!(txn.local === 'RxHistoryResponse' && info.response === 'Denied')) patient(ctx, txn);
    switch (txn.local) {
      case 'RxHistoryResponse':
        if (info.response === 'Denied') c.info(`RxHistoryResponse denied${info.responseReason !== undefined ? `: ${info.responseReason}` : ''}`);
        convertHistory(ctx, txn, header, options);
        break;
      case 'NewRx': case 'RxRenewalRequest': case 'RxRenewalResponse': case 'RxChangeRequest': case 'RxChangeResponse': case 'CancelRx': case 'CancelRxResponse':
        convertPrescription(ctx, txn, header);
        break;
      case 'Status': case 'Error': case 'Verify':
        c.info(`${txn.local}${val(txn, ['Code']) !== undefined ? ` ${val(txn, ['Code'])}` : ''}: ${val(txn, ['Description']) ?? 'no description'} (no clinical content)`);
        break;
      default:
        c.warn(`NCPDP SCRIPT transaction ${txn.local} is not converted`, 'not-supported');
    }
  } catch (e) {
    // Never present a partial bundle as complete: an unexpected failure marks the whole result not ok.
    c.error(`NCPDP SCRIPT: conversion stopped early: ${(e as Error).message}`);
    return { ...c.result(), ok: false, message: info };
  }
  return { ...c.result(), message: info };
}
