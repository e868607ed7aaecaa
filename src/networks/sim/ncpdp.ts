// NCPDP SCRIPT 2017071 medication history for simulated people: RxHistoryRequest parsing and
// RxHistoryResponse generation (a real XML writer over a reproducible fill history).
import { parseXml, type XmlElement } from '../../documents/xml/index.ts';
import { pick, prng, type Demographics } from './people.ts';

const NS = 'http://www.ncpdp.org/schema/SCRIPT';
const VERSION_ATTRS = 'DatatypesVersion="2017071" TransportVersion="2017071" TransactionDomain="SCRIPT" TransactionVersion="2017071" StructuresVersion="2017071" ECLVersion="2017071"';

interface Drug { description: string; ndc: string; rxnorm: string; dea?: string; days: number; qty: number; sig: string }
// Real NDC / RxNorm pairs of common drugs; DEA schedules as NCI codes (C48675 = CII, C48677 = CIV).
const DRUGS: Drug[] = [
  { description: 'Lisinopril 10 MG Oral Tablet', ndc: '00185010201', rxnorm: '314076', days: 90, qty: 90, sig: 'Take 1 tablet by mouth once daily.' },
  { description: 'Metformin Hydrochloride 500 MG Oral Tablet', ndc: '00093104801', rxnorm: '861007', days: 30, qty: 60, sig: 'Take 1 tablet by mouth twice daily with meals.' },
  { description: 'Atorvastatin 20 MG Oral Tablet', ndc: '00378201577', rxnorm: '617310', days: 30, qty: 30, sig: 'Take 1 tablet by mouth at bedtime.' },
  { description: 'Amlodipine 5 MG Oral Tablet', ndc: '00093716798', rxnorm: '197361', days: 30, qty: 30, sig: 'Take 1 tablet by mouth daily.' },
  { description: 'Levothyroxine Sodium 0.05 MG Oral Tablet', ndc: '00378180001', rxnorm: '966222', days: 30, qty: 30, sig: 'Take 1 tablet by mouth every morning on an empty stomach.' },
  { description: 'Oxycodone Hydrochloride 5 MG Oral Tablet', ndc: '00406055262', rxnorm: '1049621', dea: 'C48675', days: 5, qty: 20, sig: 'Take 1 tablet by mouth every 6 hours as needed for pain.' },
  { description: 'Alprazolam 0.5 MG Oral Tablet', ndc: '00781107701', rxnorm: '308048', dea: 'C48677', days: 30, qty: 60, sig: 'Take 1 tablet by mouth twice daily as needed for anxiety.' },
  { description: 'Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler', ndc: '00173068220', rxnorm: '745679', days: 30, qty: 1, sig: 'Inhale 2 puffs every 4 to 6 hours as needed.' },
  { description: 'Sertraline 50 MG Oral Tablet', ndc: '16729000101', rxnorm: '312941', days: 30, qty: 30, sig: 'Take 1 tablet by mouth daily.' },
  { description: 'Omeprazole 20 MG Delayed Release Oral Capsule', ndc: '62175013643', rxnorm: '198053', days: 30, qty: 30, sig: 'Take 1 capsule by mouth daily before breakfast.' },
];
const PHARMACIES = [
  { ncpdp: '0512345', npi: '1184783453', name: 'Corner Drug Pharmacy' },
  { ncpdp: '3312875', npi: '1558367895', name: 'Main Street Pharmacy' },
  { ncpdp: '1478520', npi: '1669475298', name: 'Riverside Apothecary' },
];
const PRESCRIBERS = [
  { npi: '1013085661', first: 'Testfirstname', last: 'Testlastname' },
  { npi: '1245319599', first: 'Avery', last: 'Examplemd' },
  { npi: '1376609297', first: 'Jordan', last: 'Samplecare' },
];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const el = (name: string, inner: string) => `<${name}>${inner}</${name}>`;
const txt = (name: string, value: string | number) => `<${name}>${esc(String(value))}</${name}>`;

export interface Fill { drug: Drug; pharmacy: (typeof PHARMACIES)[number]; prescriber: (typeof PRESCRIBERS)[number]; written: string; filled: string; fillNumber: number; refillsAuthorized: number }

/** A reproducible 12-month fill history for one person, relative to `asOf` (YYYY-MM-DD). */
export function fillHistory(seed: number, asOf: string, count: number): Fill[] {
  const rnd = prng(seed);
  const base = new Date(`${asOf}T00:00:00Z`).getTime();
  const fills: Fill[] = [];
  const drugs = Array.from({ length: Math.max(1, Math.ceil(count / 3)) }, () => pick(rnd, DRUGS));
  for (let i = 0; i < count; i++) {
    const drug = drugs[i % drugs.length]!;
    const fillNumber = Math.floor(i / drugs.length);
    const filledMs = base - Math.floor(rnd() * 330 + 5) * 86_400_000;
    const writtenMs = filledMs - Math.floor(rnd() * 20) * 86_400_000;
    fills.push({
      drug,
      pharmacy: pick(rnd, PHARMACIES),
      prescriber: pick(rnd, PRESCRIBERS),
      written: new Date(writtenMs).toISOString().slice(0, 10),
      filled: new Date(filledMs).toISOString().slice(0, 10),
      fillNumber,
      refillsAuthorized: 3,
    });
  }
  return fills.sort((a, b) => a.filled.localeCompare(b.filled));
}

function patientXml(d: Demographics): string {
  return el('Patient', el('HumanPatient',
    el('Name', txt('LastName', d.family) + txt('FirstName', d.given)) +
    txt('Gender', d.gender === 'female' ? 'F' : 'M') +
    el('DateOfBirth', txt('Date', d.birthDate)) +
    el('Address', txt('AddressLine1', d.line) + txt('City', d.city) + txt('StateProvince', d.state) + txt('PostalCode', d.postalCode) + txt('CountryCode', 'US')) +
    (d.phone ? el('CommunicationNumbers', el('PrimaryTelephone', txt('Number', d.phone))) : '')));
}

function dispensedXml(f: Fill): string {
  return el('MedicationDispensed',
    txt('DrugDescription', f.drug.description) +
    el('DrugCoded',
      el('ProductCode', txt('Code', f.drug.ndc) + txt('Qualifier', 'ND')) +
      el('DrugDBCode', txt('Code', f.drug.rxnorm) + txt('Qualifier', 'SCD')) +
      (f.drug.dea ? el('DEASchedule', txt('Code', f.drug.dea)) : '')) +
    el('Quantity', txt('Value', f.drug.qty) + txt('CodeListQualifier', '38') + el('QuantityUnitOfMeasure', txt('Code', 'C48542'))) +
    txt('DaysSupply', f.drug.days) +
    el('WrittenDate', txt('Date', f.written)) +
    el('LastFillDate', txt('Date', f.filled)) +
    txt('Substitutions', '0') +
    txt('NumberOfRefills', f.refillsAuthorized) +
    el('Sig', txt('SigText', f.drug.sig)) +
    el('Pharmacy', el('Identification', txt('NCPDPID', f.pharmacy.ncpdp) + txt('NPI', f.pharmacy.npi)) + txt('BusinessName', f.pharmacy.name)) +
    el('Prescriber', el('NonVeterinarian', el('Identification', txt('NPI', f.prescriber.npi)) + el('Name', txt('LastName', f.prescriber.last) + txt('FirstName', f.prescriber.first)))) +
    el('HistorySource', el('Source', txt('SourceQualifier', 'P2')) + txt('FillNumber', f.fillNumber + 1)));
}

export function rxHistoryResponse(opts: { messageId: string; relatesTo: string; sentTime: string; patient: Demographics; fills: Fill[] }): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Message xmlns="${NS}" ${VERSION_ATTRS}>` +
    el('Header', `<To Qualifier="P">TESSERA</To><From Qualifier="ZZZ">SURESCRIPTS</From>` + txt('MessageID', opts.messageId) + txt('RelatesToMessageID', opts.relatesTo) + txt('SentTime', opts.sentTime)) +
    el('Body', el('RxHistoryResponse', el('Response', '<Approved/>') + patientXml(opts.patient) + opts.fills.map(dispensedXml).join(''))) +
    '</Message>';
}

/** "Patient not found" answer: an RxHistoryResponse with a Denied response and reason code. */
export function rxHistoryDenied(opts: { messageId: string; relatesTo: string; sentTime: string; reason: string; code: string }): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Message xmlns="${NS}" ${VERSION_ATTRS}>` +
    el('Header', `<To Qualifier="P">TESSERA</To><From Qualifier="ZZZ">SURESCRIPTS</From>` + txt('MessageID', opts.messageId) + txt('RelatesToMessageID', opts.relatesTo) + txt('SentTime', opts.sentTime)) +
    el('Body', el('RxHistoryResponse', el('Response', el('Denied', txt('ReasonCode', opts.code) + txt('DenialReason', opts.reason))))) +
    '</Message>';
}

/** An NCPDP Error message (e.g. a malformed request). */
export function ncpdpError(opts: { messageId: string; relatesTo: string; sentTime: string; code: string; description: string }): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Message xmlns="${NS}" ${VERSION_ATTRS}>` +
    el('Header', `<To Qualifier="P">TESSERA</To><From Qualifier="ZZZ">SURESCRIPTS</From>` + txt('MessageID', opts.messageId) + txt('RelatesToMessageID', opts.relatesTo) + txt('SentTime', opts.sentTime)) +
    el('Body', el('Error', txt('Code', opts.code) + txt('Description', opts.description))) + '</Message>';
}

/** Builds the RxHistoryRequest a connector sends (used by the connector and by tests). */
export function rxHistoryRequest(opts: { messageId: string; sentTime: string; patient: Partial<Demographics>; prescriberNpi: string; consent: boolean }): string {
  const p = opts.patient;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Message xmlns="${NS}" ${VERSION_ATTRS}>` +
    el('Header', `<To Qualifier="ZZZ">SURESCRIPTS</To><From Qualifier="P">TESSERA</From>` + txt('MessageID', opts.messageId) + txt('SentTime', opts.sentTime)) +
    el('Body', el('RxHistoryRequest',
      el('Patient', el('HumanPatient',
        el('Name', txt('LastName', p.family ?? '') + txt('FirstName', p.given ?? '')) +
        txt('Gender', p.gender === 'female' ? 'F' : p.gender === 'male' ? 'M' : 'U') +
        el('DateOfBirth', txt('Date', p.birthDate ?? '')) +
        el('Address', txt('AddressLine1', p.line ?? '') + txt('City', p.city ?? '') + txt('StateProvince', p.state ?? '') + txt('PostalCode', p.postalCode ?? '') + txt('CountryCode', 'US')))) +
      el('Prescriber', el('NonVeterinarian', el('Identification', txt('NPI', opts.prescriberNpi)))) +
      el('MedicationHistoryRequest', txt('Consent', opts.consent ? 'Y' : 'N')))) +
    '</Message>';
}

const child = (e: XmlElement | undefined, name: string): XmlElement | undefined =>
  e?.children.find((c): c is XmlElement => c.type === 'element' && c.local === name);
const text = (e: XmlElement | undefined): string =>
  (e?.children ?? []).map((c) => (c.type === 'text' ? c.text : '')).join('').trim();
const path = (e: XmlElement | undefined, ...names: string[]) => names.reduce<XmlElement | undefined>((acc, n) => child(acc, n), e);

export interface ParsedRxHistoryRequest {
  messageId: string;
  patient: Partial<Demographics>;
  consent: boolean;
}

/** Reads an RxHistoryRequest; returns an error string when it is not one. */
export function parseRxHistoryRequest(xml: string): ParsedRxHistoryRequest | { error: string } {
  const r = parseXml(xml, { maxBytes: 1_000_000 });
  if (!r.ok) return { error: `malformed XML: ${r.error.message}` };
  const req = path(r.root, 'Body', 'RxHistoryRequest');
  if (r.root.local !== 'Message' || !req) return { error: 'not an RxHistoryRequest message' };
  const hp = path(req, 'Patient', 'HumanPatient');
  const g = text(child(hp, 'Gender'));
  return {
    messageId: text(path(r.root, 'Header', 'MessageID')),
    consent: text(path(req, 'MedicationHistoryRequest', 'Consent')) === 'Y',
    patient: {
      family: text(path(hp, 'Name', 'LastName')) || undefined,
      given: text(path(hp, 'Name', 'FirstName')) || undefined,
      gender: g === 'F' ? 'female' : g === 'M' ? 'male' : undefined,
      birthDate: text(path(hp, 'DateOfBirth', 'Date')) || undefined,
      line: text(path(hp, 'Address', 'AddressLine1')) || undefined,
      city: text(path(hp, 'Address', 'City')) || undefined,
      state: text(path(hp, 'Address', 'StateProvince')) || undefined,
      postalCode: text(path(hp, 'Address', 'PostalCode')) || undefined,
    },
  };
}
