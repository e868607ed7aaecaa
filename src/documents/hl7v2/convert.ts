// HL7 v2 message → FHIR R4 resources. One pass over the segments in order, keeping the current
// patient, visit, order and observation as context, so ADT (A01…A62), ORU^R01 and other message types
// made of the same segments all convert without a per-message-structure table. The trigger event
// only decides the Encounter status.
import type { ConversionResult, FhirResource } from '../types.ts';
import { ResourceCollector, type EmitOptions } from './emit.ts';
import * as dt from './datatypes.ts';
import type { Hl7Field, Hl7Message, Hl7Segment } from './parser.ts';

// tsx runs these modules as CommonJS, where every use of an imported binding goes through two property
// getters; the data-type helpers are called hundreds of times per message, so they are read once here.
const {
  address, clean, cleanCode, codeableConcept, codeSystemUri, contactPoint, fhirZone, hdSystem, humanName, identifierFromCx, namespaceUri, num, parseTs,
  practitionerParts, table, tableConcept, tzOf,
} = dt;

export interface Hl7ConvertOptions extends EmitOptions {
  /** Zone for time stamps that carry none and whose MSH-7 carries none either (e.g. "-05:00"). */
  defaultTimezone?: string;
}

type Json = Record<string, unknown>;

const V2 = 'http://terminology.hl7.org/CodeSystem/v2-';
// Whole system strings, not `${V2}0203` per use: a template builds a new (cons) string every time.
const V2_0002 = `${V2}0002`;
const V2_0004 = `${V2}0004`;
const V2_0009 = `${V2}0009`;
const V2_0052 = `${V2}0052`;
const V2_0063 = `${V2}0063`;
const V2_0078 = `${V2}0078`;
const V2_0099 = `${V2}0099`;
const V2_0112 = `${V2}0112`;
const V2_0114 = `${V2}0114`;
const V2_0131 = `${V2}0131`;
const V2_0203 = `${V2}0203`;
const V2_0443 = `${V2}0443`;
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const UCUM = 'http://unitsofmeasure.org';

/** Encounter status implied by the trigger event; undefined → derived from the visit's dates. */
const EVENT_STATUS: Record<string, string> = table({
  A01: 'in-progress', A02: 'in-progress', A03: 'finished', A04: 'in-progress', A05: 'planned', A06: 'in-progress',
  A07: 'in-progress', A09: 'in-progress', A10: 'in-progress', A11: 'cancelled', A12: 'in-progress', A13: 'in-progress',
  A14: 'planned', A15: 'in-progress', A16: 'in-progress', A21: 'onleave', A22: 'in-progress', A23: 'entered-in-error',
  A25: 'in-progress', A26: 'in-progress', A27: 'cancelled', A32: 'in-progress', A33: 'in-progress', A38: 'cancelled',
});

/** PV1-2 patient class (table 0004) → v3-ActCode encounter class. */
const PATIENT_CLASS: Record<string, [string, string]> = table({
  I: ['IMP', 'inpatient encounter'], E: ['EMER', 'emergency'], O: ['AMB', 'ambulatory'], P: ['PRENC', 'pre-admission'],
  R: ['AMB', 'ambulatory'], B: ['IMP', 'inpatient encounter'], C: ['AMB', 'ambulatory'],
});

const OBS_STATUS: Record<string, string> = table({
  F: 'final', P: 'preliminary', C: 'corrected', R: 'preliminary', S: 'preliminary', I: 'registered', O: 'registered',
  X: 'cancelled', D: 'entered-in-error', W: 'entered-in-error', U: 'final', A: 'amended', N: 'unknown',
});

const REPORT_STATUS: Record<string, string> = table({
  F: 'final', P: 'preliminary', C: 'corrected', A: 'partial', R: 'partial', S: 'partial', I: 'registered', O: 'registered',
  X: 'cancelled', Y: 'unknown', Z: 'unknown', M: 'partial', N: 'unknown',
});

const INTERPRETATION_CODES = new Set(['L', 'H', 'LL', 'HH', 'N', 'A', 'AA', '<', '>', 'U', 'D', 'B', 'W', 'S', 'R', 'I', 'NEG', 'POS', 'IND', 'DET', 'ND', 'HU', 'LU', 'MS', 'VS', 'NR', 'E', 'EX', 'HX', 'LX', 'IE', 'CAR', 'Carrier']);

const DIAGNOSIS_USE: Record<string, [string, string]> = table({ A: ['AD', 'Admission diagnosis'], F: ['DD', 'Discharge diagnosis'], W: ['CC', 'Chief complaint'] });
const DIAGNOSIS_TYPE_TEXT: Record<string, string> = table({ A: 'Admitting', F: 'Discharge', W: 'Working' });

const ALLERGY_CATEGORY: Record<string, string> = table({ DA: 'medication', DRUG: 'medication', FA: 'food', FOOD: 'food', EA: 'environment', AA: 'environment', PA: 'environment', LA: 'environment', MA: 'environment' });
const ALLERGY_SEVERITY: Record<string, string> = table({ SV: 'severe', MO: 'moderate', MI: 'mild' });

const SUBSCRIBER_RELATIONSHIP: Record<string, string> = table({
  SEL: 'self', SPO: 'spouse', DOM: 'common', CHD: 'child', PAR: 'parent', FTH: 'parent', MTH: 'parent', OTH: 'other', EME: 'other', EMC: 'other', INJ: 'injured',
});

/** Common non-UCUM spellings seen in lab feeds → UCUM code. */
const UNIT_TO_UCUM: Record<string, string> = table({
  'mg/dl': 'mg/dL', 'g/dl': 'g/dL', 'beats/min': '/min', bpm: '/min', '/min': '/min', mmhg: 'mm[Hg]', 'mm hg': 'mm[Hg]', lb: '[lb_av]', lbs: '[lb_av]',
  in: '[in_i]', inch: '[in_i]', degf: '[degF]', '°f': '[degF]', degc: 'Cel', '°c': 'Cel', 'k/ul': '10*3/uL', 'x10e3/ul': '10*3/uL', 'thou/ul': '10*3/uL',
  'm/ul': '10*6/uL', 'x10e6/ul': '10*6/uL', 'mil/ul': '10*6/uL', 'meq/l': 'meq/L', 'iu/l': '[IU]/L', 'u/l': 'U/L', 'ng/ml': 'ng/mL', 'pg/ml': 'pg/mL',
  'mmol/l': 'mmol/L', 'umol/l': 'umol/L', 'mg/l': 'mg/L', 'g/l': 'g/L', '%': '%', fl: 'fL', pg: 'pg', kg: 'kg', g: 'g', cm: 'cm', m: 'm', mm: 'mm', s: 's',
  sec: 's', min: 'min', h: 'h', hr: 'h', d: 'd', day: 'd', days: 'd', wk: 'wk', wks: 'wk', mo: 'mo', a: 'a', yr: 'a', years: 'a', 'ml/min/1.73m2': 'mL/min/{1.73_m2}',
  'ml/min/{1.73_m2}': 'mL/min/{1.73_m2}', 'kg/m2': 'kg/m2', miu_ml: 'm[IU]/mL', 'miu/ml': 'm[IU]/mL', 'uiu/ml': 'u[IU]/mL', 'mcg/dl': 'ug/dL', 'ug/dl': 'ug/dL',
  ml: 'mL', l: 'L', 'cel': 'Cel', '[degf]': '[degF]', 'mm[hg]': 'mm[Hg]',
});

interface Context {
  msg: Hl7Message;
  c: ResourceCollector;
  tz: string | undefined;
  event: string | undefined;
  controlId: string;
  patientRef?: string;
  patientKey?: string;
  /** Account from PID-18 (patient account number), referenced by the visit. */
  accountRef?: string;
  encounterRef?: string;
  /** Current order (ORC/OBR) and report being filled. */
  order?: { placer?: string; filler?: string; orderingProvider?: string };
  reportRef?: string;
  observationRef?: string;
  /** Where the last segment put us, for NTE and ROL. */
  last: 'patient' | 'visit' | 'report' | 'observation' | 'other';
  counter: number;
  /** References built per raw field, one map per kind of builder (see memo()), made on first use. */
  memos: (Map<string, string | undefined> | undefined)[];
  /** Facility Locations built, by path and universal id (their content depends on both). */
  facilities: Map<string, string> | undefined;
}

/** Converts one parsed message. Never throws for content; unexpected problems become issues. */
export function convertMessage(msg: Hl7Message, options: Hl7ConvertOptions = {}): ConversionResult {
  const ctx = newContext(msg, options);
  const c = ctx.c;
  for (const w of msg.warnings) c.warn(w, 'structure');
  const type = `${msg.messageCode ?? ''}^${msg.triggerEvent ?? ''}`;
  for (const seg of msg.segments) {
    try {
      convertSegment(ctx, seg);
    } catch (e) {
      // A bug or an unforeseen shape in one segment must not lose the rest of the message.
      c.error(`${seg.name} segment at line ${seg.line} not converted: ${(e as Error).message}`);
    }
  }
  if (ctx.patientRef === undefined && !msg.segment('OBR')) c.info(`${type}: no patient or result segments to convert`);
  return c.result();
}

/**
 * The message's (first) Patient alone — PID and the segments that add to its demographics (GT1 self-guarantor
 * names/addresses, IN2 and DB1 identifiers, PD1, MRG, PDA) — for routing a message by its demographics before
 * the full conversion (push feeds), without converting every segment twice.
 */
export function patientOfMessage(msg: Hl7Message, options: Hl7ConvertOptions = {}): FhirResource | undefined {
  const ctx = newContext(msg, options);
  for (const seg of msg.segments) {
    if (seg.name === 'PID' && ctx.patientRef !== undefined) break; // the next patient's segments
    if (!PATIENT_SEGMENTS.has(seg.name)) continue;
    try {
      convertSegment(ctx, seg);
    } catch {
      // as in convertMessage: one bad segment does not lose the rest
    }
  }
  return ctx.patientRef === undefined ? undefined : ctx.c.result().bundle.entry.find((e) => e.resource.resourceType === 'Patient')?.resource;
}

const PATIENT_SEGMENTS = new Set(['PID', 'PD1', 'MRG', 'IN2', 'DB1', 'GT1', 'PDA']);

/**
 * The longest string a builder can write from a message of n characters: values are substrings of it
 * (unescaping never lengthens them), joined with at most two characters per HL7 separator, with constant
 * prefixes (≤ 64 characters); the two expansions are XML escaping of the visit text (`&` → `&amp;`, 5×) and
 * percent-encoding of namespace ids (a character above U+07FF → 9). Used to skip the 1 MiB size check.
 */
function maxStringLength(n: number): number {
  return 9 * n + 64;
}

function newContext(msg: Hl7Message, options: Hl7ConvertOptions): Context {
  const controlId = msg.controlId ?? `${msg.msh.raw(7)}|${msg.msh.raw(3)}`;
  return {
    msg, c: new ResourceCollector(options, maxStringLength(msg.textLength)), tz: tzOf(msg.msh.get(7)) ?? fhirZone(options.defaultTimezone), event: msg.triggerEvent, controlId, last: 'other', counter: 0,
    memos: [undefined, undefined, undefined, undefined], facilities: undefined,
  };
}

type SegmentHandler = (ctx: Context, seg: Hl7Segment) => void;

// Segment id → handler; a Map lookup rather than a string switch (segment ids are sliced, not interned
// strings, so each switch case would compare characters). Filled below, once the handlers are defined.
const HANDLERS = new Map<string, SegmentHandler>();

function convertSegment(ctx: Context, seg: Hl7Segment): void {
  const handler = HANDLERS.get(seg.name);
  if (handler !== undefined) handler(ctx, seg);
}

// ---------------------------------------------------------------- shared pieces

function dateTime(ctx: Context, v: string | undefined): string | undefined {
  return parseTs(v, ctx.tz)?.dateTime;
}

function reps(seg: Hl7Segment, n: number): Hl7Field[] {
  return seg.reps(n);
}

/** Period from two sanitised dateTimes, with only the bounds that exist; undefined without either. */
function period(start: string | undefined, end: string | undefined): Json | undefined {
  if (start === undefined) return end === undefined ? undefined : { end };
  return end === undefined ? { start } : { start, end };
}

/** positiveInt / integer ranges: R4 integers are 32-bit. */
const MAX_INT = 2147483647;

/**
 * The reference a builder made for the same raw field earlier in this message (a practitioner, place or
 * organization named in several fields): building it again would only merge identical content.
 */
const PRACTITIONERS = 0;
const ORGANIZATIONS_XON = 1;
const ORGANIZATIONS_HD = 2;
const LOCATIONS = 3;

function memo(ctx: Context, kind: number, f: Hl7Field | undefined, build: (ctx: Context, f: Hl7Field) => string | undefined): string | undefined {
  if (f === undefined) return undefined;
  const built = ctx.memos[kind] ??= new Map();
  // Keyed by the raw field itself (a map per kind of builder): no key string to make, flatten and hash.
  const k = f.raw;
  const known = built.get(k);
  if (known !== undefined || built.has(k)) return known;
  // `build` is a module function taking its arguments (a closure would be allocated on every call, hit or miss).
  const ref = build(ctx, f);
  built.set(k, ref);
  return ref;
}

/** XCN → Practitioner reference (deduplicated by identifier, else by name). */
function practitioner(ctx: Context, f: Hl7Field | undefined): string | undefined {
  return memo(ctx, PRACTITIONERS, f, buildPractitioner);
}

function buildPractitioner(ctx: Context, f: Hl7Field | undefined): string | undefined {
  const p = practitionerParts(f);
  if (p === undefined) return undefined;
  // Valid and compact by construction (see ResourceCollector.add): id placeholder first, no empty members.
  const r: FhirResource = { resourceType: 'Practitioner', id: '' };
  if (p.identifier !== undefined) r.identifier = [p.identifier];
  if (p.name !== undefined) r.name = [p.name];
  return ctx.c.add(p.key, r, 'compact');
}

/** XON (organization name^…^id in component 10, assigning authority in 6) or HD → Organization. */
function organizationFromXon(ctx: Context, f: Hl7Field | undefined, extra?: { address?: (Json | undefined)[] }): string | undefined {
  return extra === undefined ? memo(ctx, ORGANIZATIONS_XON, f, buildPlainOrganizationFromXon) : buildOrganizationFromXon(ctx, f, extra);
}

function buildPlainOrganizationFromXon(ctx: Context, f: Hl7Field): string | undefined {
  return buildOrganizationFromXon(ctx, f, NO_EXTRA);
}

const NO_EXTRA: { address?: (Json | undefined)[] } = {};

function buildOrganizationFromXon(ctx: Context, f: Hl7Field | undefined, extra: { address?: (Json | undefined)[] }): string | undefined {
  if (f === undefined || f.isEmpty()) return undefined;
  const name = clean(f.get(1));
  const idValue = clean(f.get(10)) ?? clean(f.get(3));
  const aa = f.subcomponents(6);
  const identifier: Json[] = [];
  if (idValue !== undefined) {
    const sys = hdSystem(aa[0], aa[1], aa[2]);
    identifier.push(sys !== undefined ? { system: sys, value: idValue } : { value: idValue });
  }
  if (name === undefined && identifier.length === 0) return undefined;
  const key = identifier.length > 0 ? `id|${JSON.stringify(identifier[0])}` : `name|${name}`;
  const r: FhirResource = { resourceType: 'Organization', id: '' };
  if (identifier.length > 0) r.identifier = identifier;
  if (name !== undefined) r.name = name;
  r.active = true;
  const addresses = (extra.address as (Json | undefined)[] | undefined)?.filter((a) => a !== undefined);
  if (addresses !== undefined && addresses.length > 0) r.address = addresses;
  return ctx.c.add(key, r, 'compact');
}

function organizationFromHd(ctx: Context, f: Hl7Field | undefined): string | undefined {
  return memo(ctx, ORGANIZATIONS_HD, f, buildOrganizationFromHd);
}

function buildOrganizationFromHd(ctx: Context, f: Hl7Field | undefined): string | undefined {
  if (f === undefined || f.isEmpty()) return undefined;
  const ns = clean(f.get(1));
  const uid = clean(f.get(2));
  const sys = hdSystem(undefined, uid, f.get(3));
  const identifier = uid !== undefined && sys !== undefined ? [{ system: 'urn:ietf:rfc:3986', value: sys }] : [];
  if (ns === undefined && identifier.length === 0) return undefined;
  const r: FhirResource = { resourceType: 'Organization', id: '' };
  if (identifier.length > 0) r.identifier = identifier;
  r.name = ns ?? uid;
  r.active = true;
  return ctx.c.add(`hd|${ns ?? ''}|${uid ?? ''}`, r, 'compact');
}

const PHYSICAL_TYPE: Record<string, [string, string]> = table({
  facility: ['si', 'Site'], building: ['bu', 'Building'], floor: ['lvl', 'Level'], pointOfCare: ['wa', 'Ward'], room: ['ro', 'Room'], bed: ['bd', 'Bed'],
});

const LEVELS = ['facility', 'building', 'floor', 'pointOfCare', 'room', 'bed'] as const;
const LEVEL_STEP = LEVELS.map((l) => `|${l}=`);

/** PL → Location hierarchy (facility > building > floor > point of care > room > bed); returns the most specific. */
function location(ctx: Context, f: Hl7Field | undefined): string | undefined {
  return memo(ctx, LOCATIONS, f, buildLocation);
}

function buildLocation(ctx: Context, f: Hl7Field | undefined): string | undefined {
  if (f === undefined || f.isEmpty()) return undefined;
  // Names in LEVELS order (one array, not a tuple per level).
  const names = [clean(f.get(4, 1)) ?? clean(f.get(4, 2)), clean(f.get(7)), clean(f.get(8)), clean(f.get(1, 1)), clean(f.get(2, 1)), clean(f.get(3, 1))];
  let parent: string | undefined;
  // The id of each place hashes its path (the steps from the facility down), which extends its parent's:
  // hashed incrementally, without building the path.
  let hash = ctx.c.startId('Location');
  const description = clean(f.get(9));
  let last: string | undefined;
  for (let i = 0; i < LEVELS.length; i++) {
    const name = names[i];
    if (name === undefined) continue;
    const level = LEVELS[i]!;
    // The step `|level=name` hashed in two parts: no joined string to build and flatten for the hash.
    hash = ctx.c.extendId(ctx.c.extendId(hash, LEVEL_STEP[i]!), name);
    // Another field of this message may name the same place: the same path, so the same id and content (a
    // facility's content also depends on its universal id). Built once, as add() would only merge identical content.
    const id = ctx.c.idOf(hash);
    // (The facility is the first level, so its path is its step.)
    const seen = level === 'facility' ? `${LEVEL_STEP[i]!}${name}|${f.get(4, 2) ?? ''}|${f.get(4, 3) ?? ''}` : undefined;
    const known = seen !== undefined ? ctx.facilities?.get(seen) : ctx.c.refOf(id);
    if (known !== undefined) {
      parent = known;
      last = known;
      continue;
    }
    const type = PHYSICAL_TYPE[level]!;
    const r: FhirResource = {
      resourceType: 'Location', id: '', status: 'active', name, mode: 'instance',
      physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: type[0], display: type[1] }] },
    };
    if (level === 'facility') {
      const uid = clean(f.get(4, 2));
      const sys = hdSystem(undefined, uid, f.get(4, 3));
      if (uid !== undefined && sys !== undefined) r.identifier = [{ system: 'urn:ietf:rfc:3986', value: sys }];
    }
    if (parent !== undefined) r.partOf = { reference: parent };
    parent = ctx.c.addWithId(id, r, 'compact');
    if (seen !== undefined) (ctx.facilities ??= new Map()).set(seen, parent);
    last = parent;
  }
  if (last !== undefined && description !== undefined) {
    const r = ctx.c.get(last);
    if (r !== undefined && r.description === undefined) r.description = description;
  }
  return last;
}

// ---------------------------------------------------------------- patient

const GENDER: Record<string, string> = table({ M: 'male', F: 'female', O: 'other', U: 'unknown', A: 'other', N: 'unknown', X: 'other' });
const MARITAL = new Set(['A', 'D', 'I', 'L', 'M', 'P', 'S', 'T', 'U', 'W', 'C', 'N', 'G', 'E', 'R', 'O', 'B']);
const OMB_RACE = new Set(['1002-5', '2028-9', '2054-5', '2076-8', '2106-3', '2131-1']);
const OMB_ETHNICITY = new Set(['2135-2', '2186-5']);

function patientIdentifiers(seg: Hl7Segment): Json[] {
  const ids: Json[] = [];
  for (const f of reps(seg, 3)) {
    const id = identifierFromCx(f);
    if (id !== undefined) ids.push(id);
  }
  for (const f of reps(seg, 2)) {
    const id = identifierFromCx(f);
    if (id !== undefined && !ids.some((x) => x.value === id.value && x.system === id.system)) ids.push(id);
  }
  for (const f of reps(seg, 4)) {
    const id = identifierFromCx(f);
    if (id !== undefined) ids.push(id);
  }
  const acct = identifierFromCx(seg.field(18), seg.get(18, 5) ?? 'AN');
  if (acct !== undefined) ids.push(acct);
  const ssn = clean(seg.get(19));
  if (ssn !== undefined && !ids.some((x) => x.system === 'http://hl7.org/fhir/sid/us-ssn' && x.value === ssn)) {
    ids.push({ type: { coding: [{ system: V2_0203, code: 'SS' }] }, system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn });
  }
  const dl = clean(seg.get(20, 1));
  if (dl !== undefined) {
    const state = clean(seg.get(20, 2));
    const id: Json = { type: { coding: [{ system: V2_0203, code: 'DL' }] }, value: dl };
    if (state !== undefined) id.system = namespaceUri(`DL-${state}`);
    ids.push(id);
  }
  return ids;
}

/** Natural key for a patient: its first identifier, else demographics, else the message. */
function patientKey(ctx: Context, ids: Json[], seg: Hl7Segment): string {
  let first: Json | undefined;
  for (const x of ids) if (x.type === undefined || typeCode(x) === 'MR') { first = x; break; }
  first ??= ids[0];
  if (first !== undefined) return `id|${String(first.system ?? '')}|${String(first.value)}`;
  return `msg|${ctx.controlId}|${seg.raw(5)}|${seg.raw(7)}`;
}

/**
 * The code of an identifier's type as the builders write it (one coding); what `JSON.stringify(type)` holding
 * `"MR"` tested before (every other string in the type is a system URI).
 */
function typeCode(id: Json): unknown {
  return ((id.type as Json).coding as Json[])[0]!.code;
}

function patient(ctx: Context, seg: Hl7Segment): void {
  const ids = patientIdentifiers(seg);
  const key = patientKey(ctx, ids, seg);
  const names: Json[] = [];
  pushNames(names, reps(seg, 5), undefined);
  pushNames(names, reps(seg, 9), 'anonymous');
  const birth = parseTs(seg.get(7), ctx.tz);
  // Valid by construction (see ResourceCollector.add): every value below comes from a sanitiser or a table.
  const r: FhirResource = { resourceType: 'Patient', id: '', identifier: ids, active: true, name: names };
  const gender = GENDER[(seg.get(8) ?? '').toUpperCase()];
  if (gender !== undefined) r.gender = gender;
  if (birth !== undefined) r.birthDate = birth.date;
  if (birth?.dateTime.includes('T')) r.extension = [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: birth.dateTime }];
  const addresses: Json[] = [];
  pushAddresses(addresses, reps(seg, 11));
  const county = clean(seg.get(12));
  if (county !== undefined && addresses.length > 0 && addresses[0]!.district === undefined) addresses[0]!.district = county;
  r.address = addresses;
  const telecom: Json[] = [];
  pushTelecoms(telecom, reps(seg, 13), 'home');
  pushTelecoms(telecom, reps(seg, 14), 'work');
  pushTelecoms(telecom, reps(seg, 40), undefined);
  r.telecom = telecom;
  const lang = codeableConcept(seg.field(15), 'urn:ietf:bcp:47');
  if (lang !== undefined) r.communication = [{ language: lang, preferred: true }];
  const marital = cleanCode(seg.get(16));
  if (marital !== undefined) {
    const sys = MARITAL.has(marital) ? 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus' : V2_0002;
    const display = clean(seg.get(16, 2));
    r.maritalStatus = { coding: [display !== undefined ? { system: sys, code: marital, display } : { system: sys, code: marital }] };
  }
  const ext: Json[] = (r.extension as Json[] | undefined) ?? [];
  const race = usCoreCategory(reps(seg, 10), 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race', OMB_RACE);
  if (race !== undefined) ext.push(race);
  const ethnicity = usCoreCategory(reps(seg, 22), 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity', OMB_ETHNICITY);
  if (ethnicity !== undefined) ext.push(ethnicity);
  const mothersMaiden = humanName(seg.field(6));
  if (mothersMaiden?.family !== undefined) ext.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: mothersMaiden.family });
  const birthPlace = clean(seg.get(23));
  if (birthPlace !== undefined) ext.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueAddress: { text: birthPlace } });
  r.extension = ext;
  const multiple = seg.get(24);
  const order = num(seg.get(25));
  if (order !== undefined && Number.isInteger(order) && order > 0 && order <= MAX_INT) r.multipleBirthInteger = order;
  else if (multiple === 'Y' || multiple === 'N') r.multipleBirthBoolean = multiple === 'Y';
  const deathTime = parseTs(seg.get(29), ctx.tz);
  if (deathTime !== undefined) r.deceasedDateTime = deathTime.dateTime;
  else if (seg.get(30) === 'Y' || seg.get(30) === 'N') r.deceasedBoolean = seg.get(30) === 'Y';
  ctx.patientKey = key;
  ctx.patientRef = ctx.c.add(key, r, true);
  // PID-21 mother's identifier: the mother as a RelatedPerson (newborn registrations).
  const motherIds = mapDefined(reps(seg, 21), (f) => identifierFromCx(f));
  if (motherIds.length > 0) {
    ctx.c.add(`${key}|mother|${seg.raw(21)}`, {
      resourceType: 'RelatedPerson', id: '', active: true, patient: { reference: ctx.patientRef }, identifier: motherIds,
      relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'MTH', display: 'mother' }] }],
      name: mothersMaiden !== undefined ? [{ ...mothersMaiden, use: 'maiden' }] : undefined,
    }, true);
  }
  ctx.accountRef = undefined;
  const account = identifierFromCx(seg.field(18), seg.get(18, 5) ?? 'AN');
  if (account !== undefined) {
    // Valid and compact by construction (identifierFromCx sanitises every value).
    ctx.accountRef = ctx.c.add(`acct|${String(account.system ?? '')}|${String(account.value)}`, {
      resourceType: 'Account', id: '', identifier: [account], status: 'active', subject: [{ reference: ctx.patientRef }],
    }, 'compact');
  }
  ctx.encounterRef = undefined;
  ctx.reportRef = undefined;
  ctx.observationRef = undefined;
  ctx.last = 'patient';
}

/** PID-10 / PID-22 → US Core race / ethnicity extension (OMB codes as ombCategory, others detailed). */
function usCoreCategory(fields: Hl7Field[], url: string, omb: Set<string>): Json | undefined {
  const parts: Json[] = [];
  const texts: string[] = [];
  for (const f of fields) {
    const code = cleanCode(f.get(1));
    const display = clean(f.get(2));
    if (code !== undefined) {
      const cdc = omb.has(code) || /^\d{4}-\d$/.test(code);
      if (cdc) {
        const coding: Json = { system: 'urn:oid:2.16.840.1.113883.6.238', code };
        if (display !== undefined) coding.display = display;
        parts.push({ url: omb.has(code) ? 'ombCategory' : 'detailed', valueCoding: coding });
      }
    }
    const t = display ?? code;
    if (t !== undefined) texts.push(t);
  }
  if (texts.length === 0) return undefined;
  parts.push({ url: 'text', valueString: texts.join(', ') });
  return { url, extension: parts };
}

function patientAdditional(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const p = ctx.c.get(ctx.patientRef);
  if (p === undefined) return;
  const gps: Json[] = [];
  for (const f of reps(seg, 4)) {
    const ref = practitioner(ctx, f);
    if (ref !== undefined) gps.push({ reference: ref });
  }
  for (const f of reps(seg, 3)) {
    const ref = organizationFromXon(ctx, f);
    if (ref !== undefined) gps.push({ reference: ref });
  }
  if (gps.length > 0) p.generalPractitioner = [...((p.generalPractitioner as Json[] | undefined) ?? []), ...gps];
}

function merge(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const ids = mapDefined(reps(seg, 1), (f) => identifierFromCx(f));
  const acct = identifierFromCx(seg.field(3), 'AN');
  if (ids.length === 0 && acct === undefined) return;
  const first = ids[0] ?? acct!;
  const key = `id|${String(first.system ?? '')}|${String(first.value)}`;
  if (key === ctx.patientKey) return;
  const names = mapDefined(reps(seg, 7), (f) => humanName(f));
  const oldRef = ctx.c.add(key, {
    resourceType: 'Patient', id: '', identifier: ids.length > 0 ? ids : [acct], active: false, name: names,
    link: [{ other: { reference: ctx.patientRef }, type: 'replaced-by' }],
  }, true);
  const survivor = ctx.c.get(ctx.patientRef);
  if (survivor !== undefined) survivor.link = [...((survivor.link as Json[] | undefined) ?? []), { other: { reference: oldRef }, type: 'replaces' }];
  // The same merge as a Linkage, for consumers that follow Linkage rather than Patient.link.
  ctx.c.add(`merge|${ctx.patientKey}|${key}`, {
    resourceType: 'Linkage', id: '', active: true,
    item: [{ type: 'source', resource: { reference: ctx.patientRef } }, { type: 'historical', resource: { reference: oldRef } }],
  }, true);
}

function nextOfKin(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const names: Json[] = [];
  pushNames(names, reps(seg, 2), undefined);
  const orgName = clean(seg.get(13));
  const relationship = [codeableConcept(seg.field(3), V2_0063), codeableConcept(seg.field(7), V2_0131)].filter((x) => x !== undefined);
  if (names.length === 0 && orgName === undefined && relationship.length === 0) return;
  const telecom: Json[] = [];
  pushTelecoms(telecom, reps(seg, 5), 'home');
  pushTelecoms(telecom, reps(seg, 6), 'work');
  pushTelecoms(telecom, reps(seg, 31), undefined);
  const addresses: Json[] = [];
  pushAddresses(addresses, reps(seg, 4));
  const r: FhirResource = {
    resourceType: 'RelatedPerson', id: '', active: true, patient: { reference: ctx.patientRef }, relationship, name: names,
    telecom, address: addresses,
  };
  const gender = GENDER[(seg.get(15) ?? '').toUpperCase()];
  if (gender !== undefined) r.gender = gender;
  const birth = parseTs(seg.get(16), ctx.tz);
  if (birth !== undefined) r.birthDate = birth.date;
  const nkPeriod = period(parseTs(seg.get(8), ctx.tz)?.dateTime, parseTs(seg.get(9), ctx.tz)?.dateTime);
  if (nkPeriod !== undefined) r.period = nkPeriod;
  const lang = codeableConcept(seg.field(20), 'urn:ietf:bcp:47');
  if (lang !== undefined) r.communication = [{ language: lang }];
  if (names.length === 0 && orgName !== undefined) r.name = [{ text: orgName }];
  const id = identifierFromCx(seg.field(12)) ?? identifierFromCx(seg.field(33));
  if (id !== undefined) r.identifier = [id];
  const key = `${ctx.patientKey}|nk1|${seg.raw(1) || ''}|${seg.raw(2)}|${seg.raw(3)}`;
  ctx.c.add(key, r, true);
}

// ---------------------------------------------------------------- visit

function encounterStatus(ctx: Context, seg: Hl7Segment): string {
  const byEvent = ctx.event !== undefined ? EVENT_STATUS[ctx.event] : undefined;
  if (byEvent !== undefined) return byEvent;
  if (clean(seg.get(45)) !== undefined) return 'finished';
  if (clean(seg.get(44)) !== undefined) return 'in-progress';
  return 'unknown';
}

function addParticipants(ctx: Context, seg: Hl7Segment, participants: Json[], n: number, code: string, display: string): void {
  for (const f of reps(seg, n)) {
    const ref = practitioner(ctx, f);
    if (ref !== undefined) participants.push({ type: [{ coding: [{ system: PARTICIPATION, code, display }] }], individual: { reference: ref } });
  }
}

function addEncounterLocation(ctx: Context, seg: Hl7Segment, locations: Json[], n: number, locStatus: string): void {
  const ref = location(ctx, seg.field(n));
  if (ref === undefined) return;
  for (const l of locations) if ((l.location as Json).reference === ref) return;
  locations.push({ location: { reference: ref }, status: locStatus });
}

function visit(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const visitNumber = identifierFromCx(seg.field(19), 'VN');
  const classCode = cleanCode(seg.get(2));
  const hasContent = visitNumber !== undefined || clean(seg.get(44)) !== undefined || !(seg.field(3)?.isEmpty() ?? true) || seg.field(7) !== undefined || (classCode !== undefined && classCode !== 'N');
  if (!hasContent) return;
  const status = encounterStatus(ctx, seg);
  const mapped = classCode !== undefined ? PATIENT_CLASS[classCode.toUpperCase()] : undefined;
  const cls = mapped !== undefined
    ? { system: ACT_CODE, code: mapped[0], display: mapped[1] }
    : classCode !== undefined ? { system: V2_0004, code: classCode } : { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' };
  const identifiers: Json[] = [];
  if (visitNumber !== undefined) {
    visitNumber.type = { coding: [{ system: V2_0203, code: 'VN', display: 'Visit number' }] };
    identifiers.push(visitNumber);
  }
  const alt = identifierFromCx(seg.field(50));
  if (alt !== undefined) identifiers.push(alt);
  const start = dateTime(ctx, seg.get(44));
  // A13 cancels the discharge: a discharge time still present in PV1-45 is no longer the visit's end.
  const end = ctx.event === 'A13' ? undefined : dateTime(ctx, seg.get(45));
  // (Helpers are module functions, not closures: tsx's keepNames wraps every named closure per call.)
  const participants: Json[] = [];
  addParticipants(ctx, seg, participants, 7, 'ATND', 'attender');
  addParticipants(ctx, seg, participants, 8, 'REF', 'referrer');
  addParticipants(ctx, seg, participants, 9, 'CON', 'consultant');
  addParticipants(ctx, seg, participants, 17, 'ADM', 'admitter');
  const locations: Json[] = [];
  const finished = status === 'finished' || status === 'cancelled' || status === 'entered-in-error';
  addEncounterLocation(ctx, seg, locations, 3, finished ? 'completed' : status === 'planned' ? 'planned' : 'active');
  addEncounterLocation(ctx, seg, locations, 11, finished ? 'completed' : 'active');
  addEncounterLocation(ctx, seg, locations, 42, 'planned');
  addEncounterLocation(ctx, seg, locations, 6, 'completed');
  addEncounterLocation(ctx, seg, locations, 43, 'completed');
  const hospitalization: Json = {};
  const preAdmit = identifierFromCx(seg.field(5));
  if (preAdmit !== undefined) hospitalization.preAdmissionIdentifier = preAdmit;
  const admitSource = tableConcept(seg.get(14), '0023');
  if (admitSource !== undefined) hospitalization.admitSource = admitSource;
  const readmit = tableConcept(seg.get(13), '0092');
  if (readmit !== undefined) hospitalization.reAdmission = readmit;
  const diet = codeableConcept(seg.field(38), V2_0114);
  if (diet !== undefined) hospitalization.dietPreference = [diet];
  const special = mapDefined(reps(seg, 15), (f) => codeableConcept(f, V2_0009));
  if (special.length > 0) hospitalization.specialArrangement = special;
  const disposition = codeableConcept(seg.field(36), V2_0112);
  if (disposition !== undefined) hospitalization.dischargeDisposition = disposition;
  const dest = location(ctx, seg.field(37));
  if (dest !== undefined) hospitalization.destination = { reference: dest };
  const r: FhirResource = {
    resourceType: 'Encounter', id: '', identifier: identifiers, status, class: cls,
    type: [tableConcept(seg.get(4), '0007'), tableConcept(seg.get(18), '0018')].filter((x) => x !== undefined),
    serviceType: tableConcept(seg.get(10), '0069'),
    subject: { reference: ctx.patientRef }, participant: participants,
    period: period(start, end),
    hospitalization, location: locations,
    serviceProvider: organizationRef(organizationFromHd(ctx, ctx.msg.msh.field(4))),
  };
  const vip = codeableConcept(seg.field(16), V2_0099);
  if (vip !== undefined) r.priority = vip;
  const episode = identifierFromCx(seg.field(54));
  if (episode !== undefined) {
    const eoc: FhirResource = {
      resourceType: 'EpisodeOfCare', id: '', identifier: [episode], status: status === 'finished' ? 'finished' : status === 'cancelled' ? 'cancelled' : status === 'planned' ? 'planned' : 'active',
      patient: { reference: ctx.patientRef },
    };
    if (r.serviceProvider !== undefined) eoc.managingOrganization = r.serviceProvider;
    r.episodeOfCare = [{ reference: ctx.c.add(`eoc|${String(episode.system ?? '')}|${String(episode.value)}`, eoc, true) }];
  }
  if (ctx.accountRef !== undefined) r.account = [{ reference: ctx.accountRef }];
  const key = visitNumber !== undefined ? `vn|${String(visitNumber.system ?? '')}|${String(visitNumber.value)}` : `msg|${ctx.controlId}|${ctx.patientKey}|pv1|${++ctx.counter}`;
  ctx.encounterRef = ctx.c.add(key, r, true);
  ctx.last = 'visit';
}

function organizationRef(ref: string | undefined): Json | undefined {
  return ref === undefined ? undefined : { reference: ref };
}

function visitAdditional(ctx: Context, seg: Hl7Segment): void {
  if (ctx.encounterRef === undefined) return;
  const e = ctx.c.get(ctx.encounterRef);
  if (e === undefined) return;
  const reason = codeableConcept(seg.field(3));
  if (reason !== undefined) e.reasonCode = [reason];
  const pending = location(ctx, seg.field(1));
  if (pending !== undefined) e.location = [...((e.location as Json[] | undefined) ?? []), { location: { reference: pending }, status: 'planned' }];
  const text = clean(seg.get(12));
  if (text !== undefined) e.text = { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${escapeXml(text)}</div>` };
  const priority = tableConcept(seg.get(25), '0217');
  if (priority !== undefined && e.priority === undefined) e.priority = priority;
  const expectedDischarge = parseTs(seg.get(9), ctx.tz)?.dateTime;
  if (expectedDischarge !== undefined && e.status === 'planned' && (e.period as Json | undefined)?.end === undefined) {
    // Pre-admissions: keep the expected dates as the planned period.
    const expectedAdmit = parseTs(seg.get(8), ctx.tz)?.dateTime;
    e.period = { ...(e.period as Json | undefined), ...(expectedAdmit !== undefined ? { start: expectedAdmit } : {}), end: expectedDischarge };
  }
}

/**
 * `JSON.stringify(a) === JSON.stringify(b)` without building the strings: the same members in the same order
 * (undefined members skipped, as JSON does), the same values.
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i] ?? null, b[i] ?? null)) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = definedKeys(a as Json);
  const kb = definedKeys(b as Json);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i] || !sameJson((a as Json)[ka[i]!], (b as Json)[kb[i]!])) return false;
  }
  return true;
}

function definedKeys(o: Json): string[] {
  const out: string[] = [];
  for (const k in o) if (o[k] !== undefined) out.push(k);
  return out;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function diagnosis(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const code = codeableConcept(seg.field(3)) ?? (clean(seg.get(4)) !== undefined ? { text: clean(seg.get(4)) } : undefined);
  if (code === undefined) return;
  if (code.text === undefined && clean(seg.get(4)) !== undefined) code.text = clean(seg.get(4));
  // DG1-2 (coding method, deprecated) names the system when DG1-3 does not.
  const coding = code.coding as Json[] | undefined;
  if (coding !== undefined && coding[0] !== undefined && coding[0].system === undefined) {
    const method = seg.get(2);
    const sys = codeSystemUri(method);
    if (sys !== undefined) coding[0].system = sys;
  }
  const typeCode = cleanCode(seg.get(6))?.toUpperCase();
  const recorded = dateTime(ctx, seg.get(5)) ?? dateTime(ctx, seg.get(19));
  const r: FhirResource = {
    resourceType: 'Condition', id: '',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
    code, subject: { reference: ctx.patientRef },
    encounter: ctx.encounterRef !== undefined ? { reference: ctx.encounterRef } : undefined,
    recordedDate: recorded,
    asserter: organizationRef(practitioner(ctx, seg.field(16))),
  };
  if (typeCode === 'F' && ctx.event === 'A03') r.clinicalStatus = undefined;
  const identifier = clean(seg.get(20, 1));
  if (identifier !== undefined) r.identifier = [{ value: identifier }];
  const key = `${ctx.patientKey}|dg1|${identifier ?? `${seg.raw(3)}|${seg.raw(5)}|${seg.raw(6)}`}`;
  const ref = ctx.c.add(key, r, true);
  if (ctx.encounterRef !== undefined) {
    const e = ctx.c.get(ctx.encounterRef);
    if (e !== undefined) {
      const d: Json = { condition: { reference: ref } };
      const use = typeCode !== undefined ? DIAGNOSIS_USE[typeCode] : undefined;
      if (use !== undefined) d.use = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/diagnosis-role', code: use[0], display: use[1] }], text: DIAGNOSIS_TYPE_TEXT[typeCode!] };
      else if (typeCode !== undefined) d.use = { coding: [{ system: V2_0052, code: typeCode }] };
      const rank = num(seg.get(15));
      if (rank !== undefined && Number.isInteger(rank) && rank >= 1 && rank <= MAX_INT) d.rank = rank;
      const list = (e.diagnosis as Json[] | undefined) ?? [];
      if (!list.some((x) => (x.condition as Json).reference === ref)) list.push(d);
      e.diagnosis = list;
    }
  }
}

function allergy(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const code = codeableConcept(seg.field(3));
  if (code === undefined) return;
  const typeCode = (seg.get(2, 1) ?? '').toUpperCase();
  const category = ALLERGY_CATEGORY[typeCode];
  const severityCode = (seg.get(4, 1) ?? '').toUpperCase();
  const manifestations = mapDefined(reps(seg, 5), manifestationText);
  const reaction: Json = {};
  if (manifestations.length > 0) reaction.manifestation = manifestations;
  if (ALLERGY_SEVERITY[severityCode] !== undefined && manifestations.length > 0) reaction.severity = ALLERGY_SEVERITY[severityCode];
  const r: FhirResource = {
    resourceType: 'AllergyIntolerance', id: '',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
    // Table 0127: MC is a miscellaneous contraindication (an intolerance); the other types are allergies.
    type: typeCode === 'MC' ? 'intolerance' : ALLERGY_CATEGORY[typeCode] !== undefined ? 'allergy' : undefined,
    category: category !== undefined ? [category] : undefined,
    criticality: severityCode === 'SV' ? 'high' : severityCode === 'MI' || severityCode === 'MO' ? 'low' : undefined,
    code, patient: { reference: ctx.patientRef },
    encounter: ctx.encounterRef !== undefined ? { reference: ctx.encounterRef } : undefined,
    onsetDateTime: dateTime(ctx, seg.get(6)),
    reaction: manifestations.length > 0 ? [reaction] : undefined,
  };
  ctx.c.add(`${ctx.patientKey}|al1|${seg.raw(3)}`, r, true);
}

function coverage(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const companyIds = mapDefined(reps(seg, 3), (f) => identifierFromCx(f));
  const companyName = clean(seg.get(4));
  let payor: string | undefined;
  if (companyIds.length > 0 || companyName !== undefined) {
    const key = companyIds.length > 0 ? `payer|${String(companyIds[0]!.system ?? '')}|${String(companyIds[0]!.value)}` : `payer|name|${companyName}`;
    payor = ctx.c.add(key, {
      resourceType: 'Organization', id: '', active: true, identifier: companyIds, name: companyName,
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'ins', display: 'Insurance Company' }] }],
      address: mapDefined(reps(seg, 5), (f) => address(f)),
      telecom: mapDefined(reps(seg, 7), (f) => contactPoint(f, 'work')),
    }, true);
  }
  const relCode = (seg.get(17) ?? '').toUpperCase();
  const relationship = SUBSCRIBER_RELATIONSHIP[relCode];
  let subscriber: string | undefined = relCode === 'SEL' ? ctx.patientRef : undefined;
  if (relCode !== 'SEL') {
    const names = mapDefined(reps(seg, 16), (f) => humanName(f));
    if (names.length > 0) {
      const r: FhirResource = {
        resourceType: 'RelatedPerson', id: '', active: true, patient: { reference: ctx.patientRef }, name: names,
        relationship: tableConceptList(relCode, '0063'),
        birthDate: parseTs(seg.get(18), ctx.tz)?.date,
        address: mapDefined(reps(seg, 19), (f) => address(f)),
      };
      const g = GENDER[(seg.get(43) ?? '').toUpperCase()];
      if (g !== undefined) r.gender = g;
      subscriber = ctx.c.add(`${ctx.patientKey}|insured|${seg.raw(16)}|${seg.raw(18)}`, r, true);
    }
  }
  const policy = clean(seg.get(36));
  const insuredId = identifierFromCx(seg.field(49));
  const classes: Json[] = [];
  const group = clean(seg.get(8));
  if (group !== undefined) classes.push(coverageClass('group', group, clean(seg.get(9))));
  const plan = clean(seg.get(2, 1));
  if (plan !== undefined) classes.push(coverageClass('plan', plan, clean(seg.get(2, 2))));
  const start = parseTs(seg.get(12), ctx.tz)?.dateTime;
  const end = parseTs(seg.get(13), ctx.tz)?.dateTime;
  const identifiers: Json[] = [];
  if (policy !== undefined) identifiers.push({ type: { coding: [{ system: V2_0203, code: 'MB', display: 'Member Number' }] }, value: policy });
  const r: FhirResource = {
    resourceType: 'Coverage', id: '', status: 'active', identifier: identifiers,
    type: tableConcept(seg.get(15), '0086', clean(seg.get(15, 2))),
    subscriber: subscriber !== undefined ? { reference: subscriber } : undefined,
    subscriberId: clean(insuredId?.value as string | undefined) ?? policy,
    beneficiary: { reference: ctx.patientRef },
    relationship: relationship !== undefined ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship', code: relationship }] } : undefined,
    period: period(start, end),
    payor: [{ reference: payor ?? ctx.patientRef }],
    class: classes,
    order: undefined,
  };
  const order = num(seg.get(1));
  if (order !== undefined && Number.isInteger(order) && order >= 1 && order <= MAX_INT) r.order = order;
  ctx.c.add(`${ctx.patientKey}|in1|${policy ?? ''}|${seg.raw(3)}|${seg.raw(1)}|${group ?? ''}`, r, true);
}

function procedure(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const code = codeableConcept(seg.field(3)) ?? (clean(seg.get(4)) !== undefined ? { text: clean(seg.get(4)) } : undefined);
  if (code === undefined) return;
  const performers: Json[] = [];
  const add = (n: number, fn: string): void => {
    for (const f of reps(seg, n)) {
      const ref = practitioner(ctx, f);
      if (ref !== undefined) performers.push({ function: { text: fn }, actor: { reference: ref } });
    }
  };
  add(8, 'anesthesiologist');
  add(11, 'surgeon');
  add(12, 'procedure practitioner');
  const identifier = clean(seg.get(19, 1));
  const r: FhirResource = {
    resourceType: 'Procedure', id: '', status: 'completed', code, subject: { reference: ctx.patientRef },
    identifier: identifier !== undefined ? [{ value: identifier }] : undefined,
    encounter: ctx.encounterRef !== undefined ? { reference: ctx.encounterRef } : undefined,
    performedDateTime: dateTime(ctx, seg.get(5)),
    performer: performers,
    category: tableConcept(seg.get(6), '0230'),
    reasonCode: codeableConcept(seg.field(15)) !== undefined ? [codeableConcept(seg.field(15))] : undefined,
  };
  ctx.c.add(`${ctx.patientKey}|pr1|${identifier ?? `${seg.raw(3)}|${seg.raw(5)}`}`, r, true);
}

function role(ctx: Context, seg: Hl7Segment): void {
  const roleCode = codeableConcept(seg.field(3), V2_0443);
  for (const f of reps(seg, 4)) {
    const ref = practitioner(ctx, f);
    if (ref === undefined) continue;
    const code = seg.get(3);
    // The role itself (what, when, where, for which organization) as a PractitionerRole.
    const start = dateTime(ctx, seg.get(5));
    const end = dateTime(ctx, seg.get(6));
    const org = organizationFromXon(ctx, seg.field(14));
    const loc = location(ctx, seg.field(13));
    const specialty = codeableConcept(seg.field(9));
    ctx.c.add(`rol|${ref}|${seg.raw(3)}|${seg.raw(5)}|${seg.raw(14)}`, {
      resourceType: 'PractitionerRole', id: '', active: end === undefined ? true : undefined,
      practitioner: { reference: ref }, code: roleCode !== undefined ? [roleCode] : undefined,
      period: period(start, end),
      specialty: specialty !== undefined ? [specialty] : undefined,
      organization: org !== undefined ? { reference: org } : undefined,
      location: loc !== undefined ? [{ reference: loc }] : undefined,
      telecom: mapDefined(reps(seg, 12), (t) => contactPoint(t, 'work')),
    }, true);
    if (ctx.last === 'patient' && ctx.patientRef !== undefined && (code === 'PP' || code === 'PCP' || code === 'FHCP')) {
      const p = ctx.c.get(ctx.patientRef);
      const list = (p?.generalPractitioner as Json[] | undefined) ?? [];
      if (p !== undefined && !list.some((x) => x.reference === ref)) p.generalPractitioner = [...list, { reference: ref }];
    } else if (ctx.last === 'visit' && ctx.encounterRef !== undefined) {
      const e = ctx.c.get(ctx.encounterRef);
      if (e !== undefined) e.participant = [...((e.participant as Json[] | undefined) ?? []), roleCode !== undefined ? { type: [roleCode], individual: { reference: ref } } : { individual: { reference: ref } }];
    }
  }
}

// ---------------------------------------------------------------- orders and results

function commonOrder(ctx: Context, seg: Hl7Segment): void {
  ctx.order = { placer: clean(seg.get(2)), filler: clean(seg.get(3)), orderingProvider: practitioner(ctx, seg.field(12)) };
  ctx.reportRef = undefined;
  ctx.observationRef = undefined;
}

function observationRequest(ctx: Context, seg: Hl7Segment): void {
  ctx.observationRef = undefined;
  const code = codeableConcept(seg.field(4));
  if (code === undefined || ctx.patientRef === undefined) {
    ctx.reportRef = undefined;
    if (code === undefined) ctx.c.warn(`OBR at line ${seg.line} has no universal service identifier (OBR-4); its results are kept without a report`, 'required');
    return;
  }
  const placer = clean(seg.get(2)) ?? ctx.order?.placer;
  const filler = clean(seg.get(3)) ?? ctx.order?.filler;
  const identifiers: Json[] = [];
  if (placer !== undefined) identifiers.push(orderIdentifier('PLAC', placer, hdSystem(seg.get(2, 2), seg.get(2, 3), seg.get(2, 4))));
  if (filler !== undefined) identifiers.push(orderIdentifier('FILL', filler, hdSystem(seg.get(3, 2), seg.get(3, 3), seg.get(3, 4))));
  const status = REPORT_STATUS[(seg.get(25) ?? '').toUpperCase()] ?? 'unknown';
  const interpreters = reps(seg, 32).map((f) => {
    const ref = interpreter(ctx, f);
    return ref === undefined ? undefined : { reference: ref };
  }).filter((x) => x !== undefined);
  // The performing lab is the sending facility (MSH-4) in lab feeds.
  const lab = organizationFromHd(ctx, ctx.msg.msh.field(4));
  const performer: Json[] = lab !== undefined ? [{ reference: lab }] : [];
  const ordering = practitioner(ctx, seg.field(16)) ?? ctx.order?.orderingProvider;
  const issued = parseTs(seg.get(22), ctx.tz)?.instant;
  const effective = dateTime(ctx, seg.get(7));
  const effectiveEnd = dateTime(ctx, seg.get(8));
  const category = tableConcept(seg.get(24), '0074');
  const r: FhirResource = {
    resourceType: 'DiagnosticReport', id: '', identifier: identifiers, status,
    category: category !== undefined ? [category] : undefined, code,
    subject: { reference: ctx.patientRef },
    encounter: ctx.encounterRef !== undefined ? { reference: ctx.encounterRef } : undefined,
    issued, performer, resultsInterpreter: interpreters, result: [],
  };
  if (effective !== undefined && effectiveEnd !== undefined && effectiveEnd !== effective) r.effectivePeriod = { start: effective, end: effectiveEnd };
  else if (effective !== undefined) r.effectiveDateTime = effective;
  // R4 has no orderer on DiagnosticReport; when no interpreter is named the ordering clinician is the
  // accountable one, so it stands in as resultsInterpreter.
  if (ordering !== undefined && interpreters.length === 0) r.resultsInterpreter = [{ reference: ordering }];
  const key = filler !== undefined || placer !== undefined ? `obr|${filler ?? ''}|${placer ?? ''}|${seg.raw(4)}` : `msg|${ctx.controlId}|obr|${seg.raw(1)}|${++ctx.counter}`;
  ctx.reportRef = ctx.c.add(key, r, true);
  ctx.last = 'report';
}

/** OBR-32 is NDL: its first component is a CNN spread over subcomponents (id&family&given&middle&suffix&prefix&degree). */
function interpreter(ctx: Context, f: Hl7Field): string | undefined {
  const [id, family, given, middle, suffix, prefix] = f.subcomponents(1).map((x) => clean(x));
  if (id === undefined && family === undefined) return undefined;
  const name: Json = {};
  if (family !== undefined) name.family = family;
  const givens = [given, middle].filter((x) => x !== undefined);
  if (givens.length > 0) name.given = givens;
  if (prefix !== undefined) name.prefix = [prefix];
  if (suffix !== undefined) name.suffix = [suffix];
  const r: FhirResource = { resourceType: 'Practitioner', id: '' };
  if (id !== undefined) r.identifier = [{ value: id }];
  if (family !== undefined || givens.length > 0) r.name = [name];
  return ctx.c.add(id !== undefined ? `id||${id}` : `name|${JSON.stringify([name])}`, r, true);
}

function observationValue(ctx: Context, seg: Hl7Segment, r: FhirResource): void {
  const type = (seg.get(2) ?? '').toUpperCase();
  const values = reps(seg, 5);
  if (values.length === 0) return;
  const first = values[0]!;
  const unit = unitOf(seg.field(6));
  switch (type) {
    case 'NM': {
      const n = num(first.get(1));
      if (n !== undefined) {
        r.valueQuantity = { value: n, ...unit };
        return;
      }
      break;
    }
    case 'SN': {
      const v = structuredNumeric(first, unit);
      if (v !== undefined) {
        Object.assign(r, v);
        return;
      }
      break;
    }
    case 'CE': case 'CWE': case 'CNE': case 'CF': {
      const cc = codeableConcept(first);
      if (cc !== undefined) {
        r.valueCodeableConcept = cc;
        return;
      }
      break;
    }
    case 'DT': case 'TS': case 'DTM': {
      const d = dateTime(ctx, first.get(1));
      if (d !== undefined) {
        r.valueDateTime = d;
        return;
      }
      break;
    }
    case 'CQ': {
      const n = num(first.get(1));
      if (n !== undefined) {
        const u = clean(first.get(2, 1));
        r.valueQuantity = u !== undefined ? { value: n, unit: u } : { value: n };
        return;
      }
      break;
    }
    case 'ED': case 'RP': case 'AD': case 'XAD':
      return;
    default:
      break;
  }
  const text = mapDefined(values, fieldText).join('\n');
  if (text.trim() !== '') r.valueString = text;
}

function unitOf(f: Hl7Field | undefined): Json {
  if (f === undefined) return {};
  const code = clean(f.get(1));
  const text = clean(f.get(2)) ?? code;
  const sys = (f.get(3) ?? '').toUpperCase();
  if (code === undefined) return text !== undefined ? { unit: text } : {};
  // A clean value is never empty, so cleanCode (a FHIR code: single inner spaces) is defined too.
  if (sys === 'UCUM' || sys === 'ANS+' || sys === 'ISO+') return { unit: text, system: UCUM, code: cleanCode(code)! };
  const ucum = UNIT_TO_UCUM[code.toLowerCase()];
  if (ucum !== undefined) return { unit: text, system: UCUM, code: ucum };
  return { unit: text };
}

const COMPARATORS = new Set(['<', '<=', '>=', '>']);

function structuredNumeric(f: Hl7Field, unit: Json): Json | undefined {
  const comparator = clean(f.get(1));
  const n1 = num(f.get(2));
  const sep = clean(f.get(3));
  const n2 = num(f.get(4));
  if (n1 === undefined) return undefined;
  if (sep === undefined && n2 === undefined) {
    if (comparator === undefined || comparator === '=') return { valueQuantity: { value: n1, ...unit } };
    if (COMPARATORS.has(comparator)) return { valueQuantity: { value: n1, comparator, ...unit } };
    return undefined;
  }
  if (n2 === undefined) return undefined;
  if (sep === '-') return { valueRange: { low: { value: n1, ...unit }, high: { value: n2, ...unit } } };
  if (sep === ':' || sep === '/') return { valueRatio: { numerator: { value: n1 }, denominator: { value: n2 } } };
  return undefined;
}

function referenceRange(text: string | undefined, unit: Json): Json | undefined {
  const t = clean(text);
  if (t === undefined) return undefined;
  const q = (v: number): Json => ({ value: v, ...unit });
  const rangeText = { text: t };
  if (t.startsWith('<') || t.startsWith('>')) {
    const orEq = t[1] === '=';
    const n = num(t.slice(orEq ? 2 : 1));
    if (n === undefined) return rangeText;
    return t[0] === '<' ? { high: q(n), text: t } : { low: q(n), text: t };
  }
  // "low-high", allowing a sign on the low bound.
  const dash = t.indexOf('-', 1);
  if (dash !== -1) {
    const lo = num(t.slice(0, dash));
    const hi = num(t.slice(dash + 1));
    if (lo !== undefined && hi !== undefined) return { low: q(lo), high: q(hi), text: t };
  }
  return rangeText;
}

function observation(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const code = codeableConcept(seg.field(3));
  if (code === undefined) {
    ctx.c.warn(`OBX at line ${seg.line} has no observation identifier (OBX-3); skipped`, 'required');
    return;
  }
  const statusCode = (seg.get(11) ?? '').toUpperCase();
  const report = ctx.reportRef !== undefined ? ctx.c.get(ctx.reportRef) : undefined;
  const status = OBS_STATUS[statusCode] ?? (report !== undefined ? mapReportToObs(report.status as string) : 'final');
  const r: FhirResource = {
    resourceType: 'Observation', id: '', status, code, subject: { reference: ctx.patientRef },
    encounter: ctx.encounterRef !== undefined ? { reference: ctx.encounterRef } : undefined,
  };
  if (report === undefined) r.category = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: looksVital(code) ? 'vital-signs' : 'exam' }] }];
  else r.category = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory', display: 'Laboratory' }] }];
  observationValue(ctx, seg, r);
  const unit = unitOf(seg.field(6));
  const range = referenceRange(seg.field(7)?.text(), unit);
  if (range !== undefined) r.referenceRange = [range];
  const interp = mapDefined(reps(seg, 8), interpretation);
  if (interp.length > 0) r.interpretation = interp;
  const effective = dateTime(ctx, seg.get(14)) ?? (report?.effectiveDateTime as string | undefined);
  if (effective !== undefined) r.effectiveDateTime = effective;
  const issued = parseTs(seg.get(19), ctx.tz)?.instant ?? (report?.issued as string | undefined);
  if (issued !== undefined) r.issued = issued;
  const performers: Json[] = [];
  for (const f of reps(seg, 16)) {
    const ref = practitioner(ctx, f);
    if (ref !== undefined) performers.push({ reference: ref });
  }
  const org = organizationFromXon(ctx, seg.field(23), { address: seg.field(24) !== undefined ? [address(seg.field(24))] : undefined });
  if (org !== undefined) performers.push({ reference: org });
  if (performers.length > 0) r.performer = performers;
  const method = codeableConcept(seg.field(17));
  if (method !== undefined) r.method = method;
  const site = codeableConcept(seg.field(20));
  if (site !== undefined) r.bodySite = site;
  if (statusCode === 'X' || statusCode === 'D' || statusCode === 'W') {
    delete r.valueQuantity; delete r.valueString; delete r.valueCodeableConcept;
    r.dataAbsentReason = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-performed' }] };
  }
  const base = ctx.reportRef ?? `${ctx.encounterRef ?? ''}|${ctx.patientKey}|${ctx.controlId}`;
  const ref = ctx.c.add(`${base}|obx|${seg.raw(1)}|${seg.raw(3)}|${seg.raw(4)}|${++ctx.counter}`, r, true);
  if (report !== undefined) report.result = [...((report.result as Json[] | undefined) ?? []), { reference: ref }];
  ctx.observationRef = ref;
  ctx.last = 'observation';
}

/** OBX-8 abnormal flag → interpretation (v3 ObservationInterpretation when the code is one of it, else table 0078). */
function interpretation(f: Hl7Field): Json | undefined {
  const c = cleanCode(f.get(1));
  if (c === undefined) return undefined;
  const known = INTERPRETATION_CODES.has(c);
  const coding: Json = { system: known ? INTERPRETATION : V2_0078, code: c };
  const d = clean(f.get(2));
  if (d !== undefined && d !== c) coding.display = d;
  return { coding: [coding] };
}

function mapReportToObs(s: string | undefined): string {
  switch (s) {
    case 'final': case 'preliminary': case 'registered': case 'cancelled': case 'entered-in-error': case 'corrected': case 'amended':
      return s;
    case 'partial': return 'preliminary';
    default: return 'unknown';
  }
}

const VITAL_LOINC = new Set(['8867-4', '8480-6', '8462-4', '8310-5', '9279-1', '2708-6', '59408-5', '29463-7', '8302-2', '39156-5', '85354-9', '8287-5', '9843-4', '8289-1']);
function looksVital(code: Json): boolean {
  const coding = code.coding as Json[] | undefined;
  return coding?.some((c) => c.system === 'http://loinc.org' && VITAL_LOINC.has(String(c.code))) ?? false;
}

function note(ctx: Context, seg: Hl7Segment): void {
  const text = mapDefined(reps(seg, 3), fieldText).join('\n').trim();
  if (text === '') return;
  if (ctx.last === 'observation' && ctx.observationRef !== undefined) {
    const o = ctx.c.get(ctx.observationRef);
    if (o !== undefined) o.note = [...((o.note as Json[] | undefined) ?? []), { text }];
  } else if (ctx.last === 'report' && ctx.reportRef !== undefined) {
    const r = ctx.c.get(ctx.reportRef);
    if (r !== undefined) r.conclusion = r.conclusion !== undefined ? `${String(r.conclusion)}\n${text}` : text;
  }
}


// ---------------------------------------------------------------- more patient-level segments

/** IN2: the patient's program identifiers (Medicare, Medicaid, military, payer member number). */
function insuranceAdditional(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const p = ctx.c.get(ctx.patientRef);
  if (p === undefined) return;
  const ids = (p.identifier as Json[] | undefined) ?? [];
  const add = (value: string | undefined, code: string, system?: string): void => {
    const v = clean(value);
    if (v === undefined || ids.some((i) => i.value === v)) return;
    const id: Json = { type: { coding: [{ system: V2_0203, code }] }, value: v };
    if (system !== undefined) id.system = system;
    ids.push(id);
  };
  add(seg.get(6), 'MC');
  add(seg.get(8), 'MA');
  add(seg.get(10), 'MI');
  // IN2-7: the patient's name as the Medicaid case knows it.
  const caseName = humanName(seg.field(7));
  if (caseName !== undefined) {
    const names = (p.name as Json[] | undefined) ?? [];
    if (!names.some((n) => sameJson(n, caseName))) p.name = [...names, caseName];
  }
  const member = identifierFromCx(seg.field(61), 'MB');
  if (member !== undefined && !ids.some((i) => i.value === member.value)) ids.push(member);
  p.identifier = ids;
}

/** DB1: disabled person identifier (DB1-3) onto the patient when the disabled person is the patient. */
function disability(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const p = ctx.c.get(ctx.patientRef);
  const id = identifierFromCx(seg.field(3));
  if (p === undefined || id === undefined) return;
  const ids = (p.identifier as Json[] | undefined) ?? [];
  if (!ids.some((i) => i.value === id.value && i.system === id.system)) p.identifier = [...ids, id];
}

/** GT1 guarantor → RelatedPerson (a person) linked to the patient. */
function guarantor(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const names = mapDefined(reps(seg, 3), (f) => humanName(f));
  if (names.length === 0) return;
  const rel = cleanCode(seg.get(11));
  if (rel === 'SEL') {
    // The patient is their own guarantor: GT1 adds names, identifiers and addresses to the patient.
    const p = ctx.c.get(ctx.patientRef);
    if (p === undefined) return;
    const merge = (member: string, items: Json[]): void => {
      const list = (p[member] as Json[] | undefined) ?? [];
      for (const it of items) if (!list.some((x) => sameJson(x, it))) list.push(it);
      p[member] = list;
    };
    merge('name', names);
    merge('identifier', mapDefined(reps(seg, 2), (f) => identifierFromCx(f)));
    const ssn = clean(seg.get(12));
    if (ssn !== undefined) merge('identifier', [{ type: { coding: [{ system: V2_0203, code: 'SS' }] }, system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn }]);
    merge('address', mapDefined(reps(seg, 5), (f) => address(f)));
    return;
  }
  const r: FhirResource = {
    resourceType: 'RelatedPerson', id: '', active: true, patient: { reference: ctx.patientRef }, name: names,
    identifier: mapDefined(reps(seg, 2), (f) => identifierFromCx(f)),
    relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'GUAR', display: 'guarantor' }] }, ...(rel !== undefined ? [tableConcept(rel, '0063')] : [])],
    address: mapDefined(reps(seg, 5), (f) => address(f)),
    telecom: guarantorTelecom(seg),
    birthDate: parseTs(seg.get(8), ctx.tz)?.date,
    gender: GENDER[(seg.get(9) ?? '').toUpperCase()],
  };
  ctx.c.add(`${ctx.patientKey}|gt1|${seg.raw(2)}|${seg.raw(3)}`, r, true);
}

const IAM_CATEGORY: Record<string, string> = table({ DA: 'medication', FA: 'food', EA: 'environment', AA: 'environment', PA: 'environment', LA: 'environment', MA: 'environment', MC: 'medication' });

/** IAM (A60 adverse reaction information) → AllergyIntolerance, with its action code respected. */
function allergyIam(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const code = codeableConcept(seg.field(3));
  if (code === undefined) return;
  const typeCode = (seg.get(2) ?? '').toUpperCase();
  const action = (seg.get(6) ?? '').toUpperCase();
  const severityCode = (seg.get(4) ?? '').toUpperCase();
  const manifestations = mapDefined(reps(seg, 5), (f) => codeableConcept(f) ?? (f.text() !== undefined ? { text: f.text() } : undefined));
  const clinical = seg.get(17) === 'I' || action === 'D' ? 'inactive' : 'active';
  const verification = (seg.get(17) ?? '').toUpperCase();
  const r: FhirResource = {
    resourceType: 'AllergyIntolerance', id: '',
    clinicalStatus: action === 'X' ? undefined : { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: clinical }] },
    verificationStatus: action === 'X'
      ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'entered-in-error' }] }
      : verification === 'C' ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }] } : undefined,
    type: typeCode === 'MC' ? 'intolerance' : typeCode !== '' ? 'allergy' : undefined,
    category: IAM_CATEGORY[typeCode] !== undefined ? [IAM_CATEGORY[typeCode]] : undefined,
    criticality: severityCode === 'SV' ? 'high' : severityCode === 'MI' || severityCode === 'MO' ? 'low' : undefined,
    code, patient: { reference: ctx.patientRef },
    onsetDateTime: parseTs(seg.get(11), ctx.tz)?.dateTime,
    recordedDate: parseTs(seg.get(13), ctx.tz)?.dateTime,
    reaction: manifestations.length > 0 ? [reactionOf(manifestations, ALLERGY_SEVERITY[severityCode])] : undefined,
  };
  const id = clean(seg.get(7, 1));
  if (id !== undefined) r.identifier = [{ value: id }];
  const reporter = mapDefined(reps(seg, 14), (f) => humanName(f));
  if (reporter.length > 0) {
    const rel = codeableConcept(seg.field(15), V2_0063);
    r.asserter = { reference: ctx.c.add(`${ctx.patientKey}|reporter|${seg.raw(14)}`, {
      resourceType: 'RelatedPerson', id: '', active: true, patient: { reference: ctx.patientRef }, name: reporter, relationship: rel !== undefined ? [rel] : undefined,
    }, true) };
  }
  ctx.c.add(`${ctx.patientKey}|iam|${id ?? seg.raw(3)}`, r, true);
}

/** PDA: cause of death → Condition; death date/time onto the patient when PID lacks it. */
function deathAndAutopsy(ctx: Context, seg: Hl7Segment): void {
  if (ctx.patientRef === undefined) return;
  const p = ctx.c.get(ctx.patientRef);
  const death = dateTime(ctx, seg.get(4));
  if (p !== undefined && death !== undefined && p.deceasedDateTime === undefined) {
    delete p.deceasedBoolean;
    p.deceasedDateTime = death;
  }
  for (const f of reps(seg, 1)) {
    const code = codeableConcept(f);
    if (code === undefined) continue;
    ctx.c.add(`${ctx.patientKey}|pda|${f.raw}`, {
      resourceType: 'Condition', id: '',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }], text: 'Cause of death' }],
      code, subject: { reference: ctx.patientRef }, onsetDateTime: death,
      asserter: organizationRef(practitioner(ctx, seg.field(5))),
    }, true);
  }
}

// ---------------------------------------------------------------- small compact builders

/**
 * `fields.map(fn).filter(defined)` as one loop: no intermediate array, and no Array builtins inlined at sites where
 * the arrays' element kinds differ (empty vs. not), which deoptimized the callers again and again.
 */
function fieldText(f: Hl7Field): string | undefined {
  return f.text();
}

function manifestationText(f: Hl7Field): Json | undefined {
  const t = f.text()?.trim();
  return t ? { text: t } : undefined;
}

/** GT1-6 home and GT1-7 work phones. */
function guarantorTelecom(seg: Hl7Segment): Json[] {
  const telecom: Json[] = [];
  pushTelecoms(telecom, reps(seg, 6), 'home');
  pushTelecoms(telecom, reps(seg, 7), 'work');
  return telecom;
}

function mapDefined<T>(fields: Hl7Field[], fn: (f: Hl7Field) => T | undefined): T[] {
  const out: T[] = [];
  for (let i = 0; i < fields.length; i++) {
    const v = fn(fields[i]!);
    if (v !== undefined) out.push(v);
  }
  return out;
}

// Repeating-field mappings as loops over the repetitions (no map/filter/spread arrays per field).
function pushNames(out: Json[], fields: Hl7Field[], defaultUse: string | undefined): void {
  for (let i = 0; i < fields.length; i++) {
    const n = humanName(fields[i]);
    if (n === undefined) continue;
    if (defaultUse !== undefined && n.use === undefined) n.use = defaultUse;
    out.push(n);
  }
}

function pushAddresses(out: Json[], fields: Hl7Field[]): void {
  for (let i = 0; i < fields.length; i++) {
    const a = address(fields[i]);
    if (a !== undefined) out.push(a);
  }
}

function pushTelecoms(out: Json[], fields: Hl7Field[], defaultUse: string | undefined): void {
  for (let i = 0; i < fields.length; i++) {
    const t = contactPoint(fields[i], defaultUse);
    if (t !== undefined) out.push(t);
  }
}

function tableConceptList(code: string, table: string): Json[] | undefined {
  const cc = tableConcept(code, table);
  return cc === undefined ? undefined : [cc];
}

function coverageClass(code: string, value: string, name: string | undefined): Json {
  const c: Json = { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-class', code }] }, value };
  if (name !== undefined) c.name = name;
  return c;
}

function orderIdentifier(code: string, value: string, system: string | undefined): Json {
  const id: Json = { type: { coding: [{ system: V2_0203, code }] }, value };
  if (system !== undefined) id.system = system;
  return id;
}

function reactionOf(manifestation: Json[], severity: string | undefined): Json {
  return severity === undefined ? { manifestation } : { manifestation, severity };
}

for (const [name, handler] of [
  ['PID', patient], ['PD1', patientAdditional], ['MRG', merge], ['NK1', nextOfKin], ['PV1', visit], ['PV2', visitAdditional],
  ['DG1', diagnosis], ['AL1', allergy], ['IN1', coverage], ['PR1', procedure], ['ORC', commonOrder], ['OBR', observationRequest],
  ['OBX', observation], ['NTE', note], ['ROL', role], ['IN2', insuranceAdditional], ['GT1', guarantor], ['IAM', allergyIam],
  ['PDA', deathAndAutopsy], ['DB1', disability],
] as [string, SegmentHandler][]) HANDLERS.set(name, handler);
