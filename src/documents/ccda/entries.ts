// Section entries → clinical resources, following the HL7 C-CDA on FHIR mapping where it exists.
// Dispatch is by templateId first; unknown templates fall back to the entry's class and the
// section it sits in, so vendor-specific templates still convert (best effort, never a throw).
import { type XmlElement, child, children, path } from '../xml/index.ts';
import type { FhirResource } from '../types.ts';
import type { ConversionContext } from './context.ts';
import {
  type CodeableConcept, type Json, type TimeValue, clean, codeableConcept, collect, decimal, edText, firstCoding,
  hasNullFlavor, idKey, identifiers, mainTime, period, quantity, setTimeChoice, timeOf, tsToDateTime,
} from './datatypes.ts';
import { LOINC, SNOMED, V3_ACT_CODE } from './codes.ts';
import { assignedParty, authors, location, organization, performers, relatedPerson, xsiType } from './parties.ts';

const T = '2.16.840.1.113883.10.20.22.4.';

/** What a section is about; drives the fallback mapping of unknown entries. */
export type SectionKind =
  | 'allergies' | 'medications' | 'problems' | 'procedures' | 'results' | 'vitals' | 'social' | 'immunizations'
  | 'encounters' | 'plan' | 'goals' | 'healthConcerns' | 'functional' | 'mental' | 'family' | 'advanceDirectives'
  | 'payers' | 'equipment' | 'careTeam' | 'diagnoses' | 'medsAdministered' | 'notes' | 'other';

export interface EntryScope {
  section: SectionKind;
  /** Position path of the entry, for ids when the entry has no <id>. */
  pos: string;
  /** Section title, used as a last-resort label. */
  sectionTitle?: string;
}

// Entries are inspected several times (dispatch, nesting); these per-element caches keep that cheap.
// Stored on the (per-conversion) element objects themselves: cheaper than a WeakMap lookup.
const TEMPLATES = Symbol('templates');
const RELATED = Symbol('related');
type Cached = XmlElement & { [TEMPLATES]?: Set<string>; [RELATED]?: Related[] };

function templates(el: XmlElement): Set<string> {
  let s = (el as Cached)[TEMPLATES];
  if (s === undefined) {
    s = new Set<string>();
    for (const t of el.children) {
      const root = t.type === 'element' && t.local === 'templateId' ? t.attrs.root : undefined;
      if (root === undefined) continue;
      s.add(root);
      // Also the short form under the C-CDA entry arc ("4" for …22.4.4), which hasT looks up.
      if (root.startsWith(T)) s.add(root.slice(T.length));
    }
    (el as Cached)[TEMPLATES] = s;
  }
  return s;
}

/** Has one of these templates: short forms are C-CDA entry templates (…22.4.<n>), long forms full OIDs. */
function hasT(ts: Set<string>, ...ids: string[]): boolean {
  for (const x of ids) if (ts.has(x)) return true;
  return false;
}

/** Deterministic key of an entry: its first id, or its templates + position in the document. */
function entryKey(el: XmlElement, scope: EntryScope): string {
  for (const i of children(el, 'id')) {
    const k = idKey(i);
    if (k !== undefined) return k;
  }
  return `${[...templates(el)].sort().join(',')}@${scope.pos}`;
}

function base(ctx: ConversionContext, type: string, el: XmlElement, scope: EntryScope, suffix = ''): FhirResource {
  const r: FhirResource = { resourceType: type, id: ctx.id(type, entryKey(el, scope) + suffix) };
  const ids = identifiers(el);
  if (ids.length) r.identifier = ids;
  return r;
}

function cc(ctx: ConversionContext, el: XmlElement | undefined): CodeableConcept | undefined {
  return codeableConcept(el, ctx.lookup);
}

function statusOf(el: XmlElement): string | undefined {
  return child(el, 'statusCode')?.attrs.code?.toLowerCase();
}

function negated(el: XmlElement): boolean {
  return el.attrs.negationInd === 'true';
}

function mood(el: XmlElement): string {
  return el.attrs.moodCode ?? 'EVN';
}

function isPlanned(el: XmlElement): boolean {
  const m = mood(el);
  return m !== 'EVN' && m !== 'EVN.CRT';
}

/** Entries nested under entryRelationship / component, with their typeCode. */
interface Related { typeCode: string; inversion: boolean; act: XmlElement }

function related(el: XmlElement): Related[] {
  const hit = (el as Cached)[RELATED];
  if (hit !== undefined) return hit;
  const out: Related[] = [];
  (el as Cached)[RELATED] = out;
  for (const c of el.children) {
    if (c.type !== 'element' || (c.local !== 'entryRelationship' && c.local !== 'component')) continue;
    for (const a of c.children) {
      if (a.type === 'element' && ACT_CLASSES.has(a.local)) out.push({ typeCode: c.attrs.typeCode ?? '', inversion: c.attrs.inversionInd === 'true', act: a });
    }
  }
  return out;
}

const ACT_CLASSES = new Set(['act', 'observation', 'substanceAdministration', 'supply', 'procedure', 'encounter', 'organizer', 'regionOfInterest', 'observationMedia']);

function narrativeText(ctx: ConversionContext, el: XmlElement): string | undefined {
  return edText(child(el, 'text'), ctx.lookup);
}

function note(ctx: ConversionContext, el: XmlElement, target: FhirResource): void {
  const notes: Json[] = [];
  for (const r of related(el)) {
    const ts = templates(r.act);
    if (hasT(ts, '64', '202') || r.act.local === 'act' && child(r.act, 'code')?.attrs.code === '48767-8') {
      const text = narrativeText(ctx, r.act);
      if (text !== undefined) notes.push({ text });
    }
  }
  if (notes.length) target.note = notes;
}

/** An Observation value (value[x]) from a CDA <value>. */
function setValue(ctx: ConversionContext, target: Json, v: XmlElement | undefined, prefix = 'value'): boolean {
  if (v === undefined) return false;
  const t = xsiType(v);
  switch (t) {
    case 'PQ': {
      const q = quantity(v);
      if (q !== undefined) { target[`${prefix}Quantity`] = q; return true; }
      const text = clean(v.attrs.value);
      if (text !== undefined) { target[`${prefix}String`] = `${text}${v.attrs.unit ? ' ' + v.attrs.unit : ''}`; return true; }
      return false;
    }
    case 'IVL_PQ': {
      const low = quantity(child(v, 'low'));
      const high = quantity(child(v, 'high'));
      if (low === undefined && high === undefined) return false;
      const range: Json = {};
      if (low !== undefined) range.low = low;
      if (high !== undefined) range.high = high;
      target[`${prefix}Range`] = range;
      return true;
    }
    case 'INT': {
      const n = decimal(v.attrs.value);
      if (n === undefined || !Number.isInteger(n) || Math.abs(n) > 2147483647) return false;
      target[`${prefix}Integer`] = n;
      return true;
    }
    case 'REAL': case 'MO': {
      const n = decimal(v.attrs.value);
      if (n === undefined) return false;
      target[`${prefix}Quantity`] = { value: n };
      return true;
    }
    case 'BL': {
      if (v.attrs.value !== 'true' && v.attrs.value !== 'false') return false;
      target[`${prefix}Boolean`] = v.attrs.value === 'true';
      return true;
    }
    case 'TS': case 'IVL_TS': {
      const tv = timeOf(v);
      const d = tv.value ?? tv.low;
      if (d === undefined) return false;
      target[`${prefix}DateTime`] = d;
      return true;
    }
    case 'RTO': case 'RTO_PQ_PQ': case 'RTO_INT_INT': {
      const num = quantity(child(v, 'numerator'));
      const den = quantity(child(v, 'denominator'));
      if (num === undefined || den === undefined) return false;
      target[`${prefix}Ratio`] = { numerator: num, denominator: den };
      return true;
    }
    case 'ST': case 'ED': case 'SC': {
      const s = edText(v, ctx.lookup);
      if (s === undefined) return false;
      target[`${prefix}String`] = s;
      return true;
    }
    default: {
      if (v.attrs.code !== undefined || child(v, 'translation') !== undefined || child(v, 'originalText') !== undefined) {
        const c = cc(ctx, v);
        if (c !== undefined) { target[`${prefix}CodeableConcept`] = c; return true; }
        return false;
      }
      if (v.attrs.value !== undefined) {
        const q = quantity(v);
        if (q !== undefined) { target[`${prefix}Quantity`] = q; return true; }
      }
      const s = edText(v, ctx.lookup);
      if (s !== undefined) { target[`${prefix}String`] = s; return true; }
      return false;
    }
  }
}

// ---- Observation-family ----

const OBS_STATUS: Record<string, string> = { completed: 'final', active: 'preliminary', aborted: 'cancelled', cancelled: 'cancelled', nullified: 'entered-in-error', held: 'registered', new: 'registered', suspended: 'preliminary' };
const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

function category(code: string, display: string): Json {
  return { coding: [{ system: OBS_CATEGORY, code, display }] };
}

const CATEGORY_BY_SECTION: Partial<Record<SectionKind, Json>> = {
  results: category('laboratory', 'Laboratory'),
  vitals: category('vital-signs', 'Vital Signs'),
  social: category('social-history', 'Social History'),
  functional: category('survey', 'Survey'),
  mental: category('survey', 'Survey'),
  procedures: category('procedure', 'Procedure'),
};

function observation(ctx: ConversionContext, el: XmlElement, scope: EntryScope, categoryOverride?: Json): string | undefined {
  const ts = templates(el);
  const o = base(ctx, 'Observation', el, scope);
  o.status = OBS_STATUS[statusOf(el) ?? 'completed'] ?? 'final';
  const cat = categoryOverride
    ?? (hasT(ts, '27', '26') ? CATEGORY_BY_SECTION.vitals
      : hasT(ts, '38', '78', '85', '2.16.840.1.113883.10.20.15.3.8') ? CATEGORY_BY_SECTION.social
        : hasT(ts, '2') ? CATEGORY_BY_SECTION.results
          : CATEGORY_BY_SECTION[scope.section]);
  if (cat !== undefined) o.category = [cat];
  let code = cc(ctx, child(el, 'code'));
  // Smoking status: R1.1 coded it "ASSERTION"; FHIR (US Core) expects LOINC 72166-2.
  // The code as sent is kept as a further coding.
  if (hasT(ts, '78') && (code === undefined || child(el, 'code')?.attrs.code === 'ASSERTION')) {
    code = { coding: [{ system: LOINC, code: '72166-2', display: 'Tobacco smoking status' }, ...(code?.coding ?? [])], text: 'Tobacco smoking status' };
  }
  if (code === undefined) {
    const label = narrativeText(ctx, el) ?? scope.sectionTitle;
    if (label === undefined) return undefined;
    code = { text: label };
  }
  o.code = code;
  o.subject = { reference: ctx.patientRef };
  setTimeChoice(o, 'effective', mainTime(el));
  const auth = authors(ctx, el);
  if (o.effectiveDateTime === undefined && o.effectivePeriod === undefined && auth.time !== undefined && hasT(ts, '78')) o.effectiveDateTime = auth.time;
  // issued is an instant: only a full time with its zone qualifies.
  if (auth.time !== undefined && auth.time.length > 10) o.issued = auth.time;
  const perf = [...performers(ctx, el).map((p) => p.actor!), ...auth.refs];
  const obsPerf = [...new Set(perf)].filter((r) => !r.startsWith('Device/'));
  if (obsPerf.length) o.performer = obsPerf.map((r) => ({ reference: r }));
  const values = children(el, 'value');
  if (values.length > 0 && !setValue(ctx, o, values[0])) {
    const nf = values[0].attrs.nullFlavor;
    if (nf !== undefined) o.dataAbsentReason = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: nf === 'ASKU' ? 'asked-unknown' : nf === 'NAV' ? 'temp-unknown' : nf === 'MSK' ? 'masked' : nf === 'NA' ? 'not-applicable' : nf === 'NASK' ? 'not-asked' : 'unknown' }] };
  }
  const interp = collect(children(el, 'interpretationCode').map((i) => cc(ctx, i)));
  if (interp.length) o.interpretation = interp;
  const method = cc(ctx, child(el, 'methodCode'));
  if (method !== undefined) o.method = method;
  const site = cc(ctx, child(el, 'targetSiteCode'));
  if (site !== undefined) o.bodySite = site;
  const ranges: Json[] = [];
  for (const rr of children(el, 'referenceRange')) {
    const orr = child(rr, 'observationRange');
    const v = child(orr, 'value');
    const range: Json = {};
    const low = quantity(child(v, 'low'));
    const high = quantity(child(v, 'high'));
    if (low !== undefined) range.low = low;
    if (high !== undefined) range.high = high;
    const text = edText(child(orr, 'text'), ctx.lookup) ?? (v !== undefined && low === undefined && high === undefined ? edText(v, ctx.lookup) : undefined);
    if (text !== undefined) range.text = text;
    if (Object.keys(range).length) ranges.push(range);
  }
  if (ranges.length) o.referenceRange = ranges;
  // Component observations (e.g. blood pressure) and nested observations become hasMember.
  const members: Json[] = [];
  for (const r of related(el)) {
    if (r.act.local !== 'observation' || r.typeCode === 'SUBJ' && hasT(templates(r.act), '118', '64')) continue;
    const rts = templates(r.act);
    if (hasT(rts, '6', '28', '145', '8', '9', '31', '64')) continue; // status/severity/age/comment observations are not results
    const m = observation(ctx, r.act, { ...scope, pos: `${scope.pos}/${members.length}` }, cat);
    if (m !== undefined) members.push({ reference: m });
  }
  if (members.length) o.hasMember = members;
  note(ctx, el, o);
  return ctx.add(o);
}

/** Result organizer → DiagnosticReport + its Observations. */
function resultOrganizer(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  const dr = base(ctx, 'DiagnosticReport', el, scope);
  const st = statusOf(el);
  dr.status = st === 'active' ? 'partial' : st === 'aborted' || st === 'cancelled' ? 'cancelled' : st === 'nullified' ? 'entered-in-error' : 'final';
  dr.category = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }];
  dr.code = cc(ctx, child(el, 'code')) ?? { text: scope.sectionTitle ?? 'Result' };
  dr.subject = { reference: ctx.patientRef };
  const results: Json[] = [];
  let earliest: string | undefined;
  for (const [i, r] of related(el).entries()) {
    if (r.act.local !== 'observation') continue;
    const o = observation(ctx, r.act, { ...scope, pos: `${scope.pos}/${i}` }, CATEGORY_BY_SECTION.results);
    if (o === undefined) continue;
    results.push({ reference: o });
    const res = ctx.resources.get(o);
    const t = (res?.effectiveDateTime ?? (res?.effectivePeriod as Json | undefined)?.start) as string | undefined;
    if (t !== undefined && (earliest === undefined || t < earliest)) earliest = t;
  }
  const time = mainTime(el);
  setTimeChoice(dr, 'effective', time);
  if (dr.effectiveDateTime === undefined && dr.effectivePeriod === undefined && earliest !== undefined) dr.effectiveDateTime = earliest;
  const perf = [...performers(ctx, el).map((p) => p.actor!), ...authors(ctx, el).refs];
  const drPerf = [...new Set(perf)].filter((r) => !r.startsWith('Device/'));
  if (drPerf.length) dr.performer = drPerf.map((r) => ({ reference: r }));
  if (results.length) dr.result = results;
  return ctx.add(dr);
}

/** Vital signs organizer → panel Observation with hasMember. */
function vitalsOrganizer(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  const members: Json[] = [];
  for (const [i, r] of related(el).entries()) {
    if (r.act.local !== 'observation') continue;
    const o = observation(ctx, r.act, { ...scope, pos: `${scope.pos}/${i}` }, CATEGORY_BY_SECTION.vitals);
    if (o !== undefined) members.push({ reference: o });
  }
  const panel = base(ctx, 'Observation', el, scope);
  panel.status = OBS_STATUS[statusOf(el) ?? 'completed'] ?? 'final';
  panel.category = [CATEGORY_BY_SECTION.vitals];
  const code = cc(ctx, child(el, 'code'));
  panel.code = code?.coding?.some((c) => c.system === LOINC) ? code : { coding: [{ system: LOINC, code: '85353-1', display: 'Vital signs, weight, height, head circumference, oxygen saturation and BMI panel' }, ...(code?.coding ?? [])], text: code?.text ?? 'Vital signs' };
  panel.subject = { reference: ctx.patientRef };
  setTimeChoice(panel, 'effective', mainTime(el));
  if (panel.effectiveDateTime === undefined && panel.effectivePeriod === undefined) {
    const first = members.map((m) => ctx.resources.get(m.reference as string)?.effectiveDateTime as string | undefined).find((x) => x !== undefined);
    if (first !== undefined) panel.effectiveDateTime = first;
  }
  if (members.length) panel.hasMember = members;
  return ctx.add(panel);
}

// ---- Conditions ----

// Codes that say what kind of problem an observation is (SNOMED problem types, LOINC 75xxx, v3 acts),
// as opposed to the problem itself.
const PROBLEM_TYPE_CODES = new Set(['55607006', '404684003', '409586006', '282291009', '64572001', '248536006', '418799008', '373930000', '75326-9', '75325-1', '75321-0', '75318-6', '75315-2', '75323-6', '29308-4', 'ASSERTION', 'CONC', '11450-4']);
const CONDITION_CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const PROBLEM_STATUS: Record<string, string> = { '55561003': 'active', '73425007': 'inactive', '413322009': 'resolved', '246455001': 'recurrence', '263855007': 'relapse', '277022003': 'remission' };

function conditionCategory(kind: 'problem' | 'health-concern' | 'encounter-diagnosis'): Json {
  if (kind === 'health-concern') return { coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/condition-category', code: 'health-concern', display: 'Health Concern' }] };
  return { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: kind === 'problem' ? 'problem-list-item' : 'encounter-diagnosis', display: kind === 'problem' ? 'Problem List Item' : 'Encounter Diagnosis' }] };
}

function problemObservation(ctx: ConversionContext, el: XmlElement, scope: EntryScope, kind: 'problem' | 'health-concern' | 'encounter-diagnosis', concern?: XmlElement): string | undefined {
  const c = base(ctx, 'Condition', el, scope);
  const value = child(el, 'value');
  let code = cc(ctx, value);
  if (code === undefined) {
    // Some senders put the diagnosis in <code> and leave <value> empty.
    const own = child(el, 'code');
    if (own?.attrs.code !== undefined && !PROBLEM_TYPE_CODES.has(own.attrs.code)) code = cc(ctx, own);
  }
  if (code === undefined) {
    const t = narrativeText(ctx, el);
    if (t !== undefined) code = { text: t };
  }
  if (code === undefined) {
    ctx.warn('incomplete', 'Problem observation without a problem code or text: skipped', scope.pos);
    return undefined;
  }
  const cats: Json[] = [conditionCategory(kind)];
  const problemType = cc(ctx, child(el, 'code'));
  if (problemType?.coding?.some((x) => (x.system === SNOMED || x.system === LOINC) && PROBLEM_TYPE_CODES.has(x.code ?? ''))) cats.push(problemType);
  c.category = cats;
  c.code = code;
  c.subject = { reference: ctx.patientRef };
  const t = mainTime(el);
  const concernTime = concern === undefined ? {} : mainTime(concern);
  const onset = t.low ?? t.value;
  if (onset !== undefined) c.onsetDateTime = onset;
  const abated = t.high;
  if (abated !== undefined) c.abatementDateTime = abated;
  let clinical: string | undefined;
  for (const r of related(el)) {
    if (hasT(templates(r.act), '6') || r.act.local === 'observation' && child(r.act, 'code')?.attrs.code === '33999-4') {
      clinical = PROBLEM_STATUS[child(r.act, 'value')?.attrs.code ?? ''];
    }
    if (hasT(templates(r.act), '31') && r.act.local === 'observation') {
      const age = quantity(child(r.act, 'value'));
      if (age !== undefined && c.onsetDateTime === undefined) c.onsetAge = { ...age, system: 'http://unitsofmeasure.org', code: (age.code as string | undefined) ?? 'a' };
    }
    if (hasT(templates(r.act), '8')) {
      const sev = cc(ctx, child(r.act, 'value'));
      if (sev !== undefined) c.severity = sev;
    }
  }
  if (clinical === undefined) {
    const cs = concern === undefined ? statusOf(el) : statusOf(concern);
    if (abated !== undefined || concernTime.high !== undefined && cs === 'completed') clinical = 'resolved';
    else if (cs === 'completed' && kind === 'encounter-diagnosis') clinical = 'active';
    else if (cs === 'completed') clinical = 'inactive';
    else clinical = 'active';
  }
  if (abated !== undefined && (clinical === 'active' || clinical === 'recurrence' || clinical === 'relapse')) clinical = 'resolved';
  c.clinicalStatus = { coding: [{ system: CONDITION_CLINICAL, code: clinical }] };
  c.verificationStatus = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: negated(el) ? 'refuted' : 'confirmed' }] };
  const auth = authors(ctx, el);
  const concernAuth = concern === undefined ? undefined : authors(ctx, concern);
  const recorded = auth.time ?? concernAuth?.time ?? concernTime.low;
  if (recorded !== undefined) c.recordedDate = recorded;
  const recorder = auth.refs.find((r) => r.startsWith('Practitioner/')) ?? concernAuth?.refs.find((r) => r.startsWith('Practitioner/'));
  if (recorder !== undefined) c.recorder = { reference: recorder };
  const site = collect(children(el, 'targetSiteCode').map((s) => cc(ctx, s)));
  if (site.length) c.bodySite = site;
  note(ctx, el, c);
  return ctx.add(c);
}

/** Problem / health concern / diagnosis acts: one Condition per contained problem observation. */
function concernAct(ctx: ConversionContext, el: XmlElement, scope: EntryScope, kind: 'problem' | 'health-concern' | 'encounter-diagnosis'): string[] {
  const out: string[] = [];
  for (const [i, r] of related(el).entries()) {
    const sub = { ...scope, pos: `${scope.pos}/${i}` };
    if (r.act.local === 'observation' && !hasT(templates(r.act), '6', '64', '8', '31')) {
      const rts = templates(r.act);
      // Inside a health concern act other observations (e.g. results) are supporting data, still kept.
      if (kind === 'health-concern' && !hasT(rts, '4', '5') && child(r.act, 'value') === undefined) continue;
      const ref = hasT(rts, '4', '5') || kind !== 'health-concern' || xsiType(child(r.act, 'value')) === 'CD' ? problemObservation(ctx, r.act, sub, kind, el) : observation(ctx, r.act, sub);
      if (ref !== undefined) out.push(ref);
    } else if (r.act.local === 'act' && hasT(templates(r.act), '3', '132')) {
      out.push(...concernAct(ctx, r.act, sub, kind));
    }
  }
  if (out.length === 0 && kind === 'health-concern') {
    // A health concern act with only narrative: the concern itself is the condition.
    const text = narrativeText(ctx, el);
    const code = cc(ctx, child(el, 'code'));
    if (text !== undefined || code?.coding?.some((c) => c.code !== '75310-3')) {
      const c = base(ctx, 'Condition', el, scope);
      c.category = [conditionCategory('health-concern')];
      c.code = code?.coding?.some((x) => x.code !== '75310-3') ? code : { text: text! };
      c.subject = { reference: ctx.patientRef };
      c.clinicalStatus = { coding: [{ system: CONDITION_CLINICAL, code: statusOf(el) === 'completed' ? 'resolved' : 'active' }] };
      out.push(ctx.add(c));
    }
  }
  return out;
}

// ---- Allergies ----

const ALLERGY_TYPE: Record<string, [string | undefined, string | undefined]> = {
  '416098002': ['allergy', 'medication'], '414285001': ['allergy', 'food'], '59037007': ['intolerance', 'medication'],
  '235719002': ['intolerance', 'food'], '419199007': ['allergy', undefined], '418471000': [undefined, 'food'],
  '419511003': [undefined, 'medication'], '418038007': [undefined, undefined], '420134006': [undefined, undefined],
  '426232007': ['allergy', 'environment'], '232347008': ['allergy', 'environment'], '609328004': ['allergy', undefined],
  '782197009': ['intolerance', undefined], '716186003': ['allergy', undefined],
};
// Agent codes that name a whole class rather than a substance (substance, drug, food).
const GENERIC_AGENTS = new Set(['105590001', '410942007', '373873005', '255620007', '762952008']);
const SEVERITY: Record<string, string> = { '24484000': 'severe', '6736007': 'moderate', '255604002': 'mild', '371923003': 'moderate', '371924009': 'severe', '442452003': 'severe', '399166001': 'severe' };
const CRITICALITY: Record<string, string> = { CRITH: 'high', CRITL: 'low', CRITU: 'unable-to-assess' };

function allergyObservation(ctx: ConversionContext, el: XmlElement, scope: EntryScope, concern?: XmlElement): string | undefined {
  const a = base(ctx, 'AllergyIntolerance', el, scope);
  const agent = path(el, 'participant', 'participantRole', 'playingEntity', 'code');
  let code = cc(ctx, agent);
  const valueCode = child(el, 'value')?.attrs.code;
  const agentCode = agent?.attrs.code;
  if (negated(el) && (code === undefined || hasNullFlavor(agent) || GENERIC_AGENTS.has(agentCode ?? ''))) {
    // Negated with no specific substance: "no known (drug/food) allergy".
    const drug = valueCode === '416098002' || valueCode === '419511003' || agentCode === '410942007' || agentCode === '373873005';
    const food = valueCode === '414285001' || agentCode === '255620007';
    code = drug ? { coding: [{ system: SNOMED, code: '409137002', display: 'No known drug allergy' }], text: 'No known drug allergy' }
      : food ? { coding: [{ system: SNOMED, code: '429625007', display: 'No known food allergy' }], text: 'No known food allergy' }
        : { coding: [{ system: SNOMED, code: '716186003', display: 'No known allergy' }], text: 'No known allergy' };
  } else if (code === undefined) {
    const v = cc(ctx, child(el, 'value'));
    const text = narrativeText(ctx, el) ?? edText(path(el, 'participant', 'participantRole', 'playingEntity', 'name'), ctx.lookup);
    code = text !== undefined ? { text } : v?.text !== undefined ? { text: v.text } : undefined;
    if (code === undefined) {
      ctx.warn('incomplete', 'Allergy observation without a substance: skipped', scope.pos);
      return undefined;
    }
  }
  const [type, cat] = ALLERGY_TYPE[valueCode ?? ''] ?? [undefined, undefined];
  let clinical: string | undefined;
  const reactions: Json[] = [];
  for (const r of related(el)) {
    const rts = templates(r.act);
    const v = child(r.act, 'value');
    if (hasT(rts, '28')) {
      const sc = v?.attrs.code;
      clinical = sc === '73425007' ? 'inactive' : sc === '413322009' ? 'resolved' : sc === '55561003' ? 'active' : clinical;
    } else if (hasT(rts, '145')) {
      const crit = CRITICALITY[v?.attrs.code ?? ''];
      if (crit !== undefined) a.criticality = crit;
    } else if (hasT(rts, '8') && r.typeCode === 'SUBJ') {
      const sev = SEVERITY[v?.attrs.code ?? ''];
      if (sev !== undefined) a.__severity = sev;
    } else if (hasT(rts, '9') || r.typeCode === 'MFST') {
      const manifestation = cc(ctx, v);
      if (manifestation === undefined) continue;
      const reaction: Json = { manifestation: [manifestation] };
      const onset = mainTime(r.act);
      if (onset.low ?? onset.value) reaction.onset = onset.low ?? onset.value;
      for (const rr of related(r.act)) {
        if (hasT(templates(rr.act), '8')) {
          const sev = SEVERITY[child(rr.act, 'value')?.attrs.code ?? ''];
          if (sev !== undefined) reaction.severity = sev;
        }
      }
      reactions.push(reaction);
    }
  }
  const overallSeverity = a.__severity as string | undefined;
  delete a.__severity;
  if (overallSeverity !== undefined) for (const r of reactions) r.severity ??= overallSeverity;
  if (clinical === undefined) {
    const t = mainTime(el);
    const cs = concern === undefined ? undefined : statusOf(concern);
    clinical = t.high !== undefined ? 'resolved' : cs === 'completed' || cs === 'suspended' ? 'inactive' : 'active';
  }
  const entered = statusOf(el) === 'nullified';
  if (!entered) a.clinicalStatus = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: clinical }] };
  a.verificationStatus = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: entered ? 'entered-in-error' : negated(el) && !code.coding?.some((c) => c.code === '716186003' || c.code === '409137002' || c.code === '429625007') ? 'refuted' : 'confirmed' }] };
  if (type !== undefined) a.type = type;
  if (cat !== undefined) a.category = [cat];
  a.code = code;
  a.patient = { reference: ctx.patientRef };
  const t = mainTime(el);
  if (t.low ?? t.value) a.onsetDateTime = t.low ?? t.value;
  const auth = authors(ctx, el);
  if (auth.time !== undefined) a.recordedDate = auth.time;
  const recorder = auth.refs.find((r) => r.startsWith('Practitioner/'));
  if (recorder !== undefined) a.recorder = { reference: recorder };
  if (reactions.length) a.reaction = reactions;
  note(ctx, el, a);
  return ctx.add(a);
}

function allergyConcern(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string[] {
  const out: string[] = [];
  for (const [i, r] of related(el).entries()) {
    if (r.act.local !== 'observation') continue;
    const ref = allergyObservation(ctx, r.act, { ...scope, pos: `${scope.pos}/${i}` }, el);
    if (ref !== undefined) out.push(ref);
  }
  return out;
}

// ---- Medications & immunizations ----

/** manufacturedProduct → Medication (merged by product id or code). */
function medication(ctx: ConversionContext, act: XmlElement): { ref?: string; code?: CodeableConcept } {
  const product = path(act, 'consumable', 'manufacturedProduct') ?? path(act, 'product', 'manufacturedProduct') ?? path(act, 'participant', 'participantRole');
  const material = child(product, 'manufacturedMaterial') ?? child(product, 'manufacturedLabeledDrug') ?? child(product, 'playingEntity');
  let code = cc(ctx, child(material, 'code'));
  const name = clean(edText(child(material, 'name'), ctx.lookup));
  if (code === undefined && name !== undefined) code = { text: name };
  if (code === undefined) return {};
  if (code.text === undefined && name !== undefined) code.text = name;
  const m: FhirResource = { resourceType: 'Medication' };
  const key = idKey(child(product, 'id')) ?? JSON.stringify(code.coding ?? code.text);
  m.id = ctx.id('Medication', key);
  const ids = identifiers(product);
  if (ids.length) m.identifier = ids;
  m.code = code;
  const mfr = organization(ctx, child(product, 'manufacturerOrganization'));
  if (mfr !== undefined) m.manufacturer = { reference: mfr };
  const form = cc(ctx, child(material, 'formCode') ?? child(act, 'administrationUnitCode'));
  if (form !== undefined) m.form = form;
  const lot = clean(edText(child(material, 'lotNumberText'), ctx.lookup));
  if (lot !== undefined) m.batch = { lotNumber: lot };
  return { ref: ctx.add(m), code };
}

const UNITS_OF_TIME: Record<string, string> = { s: 's', min: 'min', h: 'h', hr: 'h', d: 'd', wk: 'wk', mo: 'mo', a: 'a' };
const EVENT_TIMING = new Set(['MORN', 'MORN.early', 'MORN.late', 'NOON', 'AFT', 'AFT.early', 'AFT.late', 'EVE', 'EVE.early', 'EVE.late', 'NIGHT', 'PHS', 'HS', 'WAKE', 'C', 'CM', 'CD', 'CV', 'AC', 'ACM', 'ACD', 'ACV', 'PC', 'PCM', 'PCD', 'PCV']);

function dosage(ctx: ConversionContext, el: XmlElement): Json | undefined {
  const d: Json = {};
  const text = narrativeText(ctx, el);
  if (text !== undefined) d.text = text;
  const repeat: Json = {};
  for (const e of children(el, 'effectiveTime')) {
    const t = xsiType(e);
    if (t === 'PIVL_TS') {
      const p = child(e, 'period');
      const v = decimal(p?.attrs.value);
      const unit = UNITS_OF_TIME[p?.attrs.unit ?? ''];
      if (v !== undefined && v > 0 && unit !== undefined) {
        repeat.period = v;
        repeat.periodUnit = unit;
        if (e.attrs.institutionSpecified === 'true') repeat.frequency = 1;
      } else {
        const low = quantity(path(p, 'low'));
        const high = quantity(path(p, 'high'));
        const lu = UNITS_OF_TIME[(low?.unit as string | undefined) ?? ''];
        if (low !== undefined && lu !== undefined) {
          repeat.period = low.value;
          repeat.periodUnit = lu;
          if (high !== undefined && UNITS_OF_TIME[(high.unit as string | undefined) ?? ''] === lu) repeat.periodMax = high.value;
        }
      }
    } else if (t === 'EIVL_TS') {
      const ev = child(e, 'event')?.attrs.code;
      if (ev !== undefined && EVENT_TIMING.has(ev)) repeat.when = [ev];
    }
  }
  if (Object.keys(repeat).length) d.timing = { repeat };
  if (child(el, 'precondition') !== undefined) {
    d.asNeededBoolean = true;
    const crit = cc(ctx, path(el, 'precondition', 'criterion', 'value'));
    if (crit !== undefined) { delete d.asNeededBoolean; d.asNeededCodeableConcept = crit; }
  }
  const site = cc(ctx, child(el, 'approachSiteCode'));
  if (site !== undefined) d.site = site;
  const route = cc(ctx, child(el, 'routeCode'));
  if (route !== undefined) d.route = route;
  const doseEl = child(el, 'doseQuantity');
  const dose = quantity(doseEl) ?? quantity(child(doseEl, 'low')) ?? quantity(child(doseEl, 'center'));
  if (dose !== undefined) {
    if (dose.unit === undefined) {
      const unit = cc(ctx, child(el, 'administrationUnitCode'));
      if (unit?.coding?.[0]?.display) dose.unit = unit.coding[0].display;
    }
    const high = quantity(child(doseEl, 'high'));
    d.doseAndRate = [high !== undefined && child(doseEl, 'low') !== undefined ? { doseRange: { low: dose, high } } : { doseQuantity: dose }];
  }
  const rate = quantity(child(el, 'rateQuantity'));
  if (rate !== undefined) d.doseAndRate = [{ ...((d.doseAndRate as Json[] | undefined)?.[0] ?? {}), rateQuantity: rate }];
  const max = child(el, 'maxDoseQuantity');
  const num = quantity(child(max, 'numerator'));
  const den = quantity(child(max, 'denominator'));
  if (num !== undefined && den !== undefined) d.maxDosePerPeriod = { numerator: num, denominator: den };
  return Object.keys(d).length ? d : undefined;
}

function medicationPeriod(el: XmlElement): TimeValue {
  for (const e of children(el, 'effectiveTime')) {
    const t = xsiType(e);
    if (t === 'PIVL_TS' || t === 'EIVL_TS' || t === 'SXPR_TS') continue;
    return timeOf(e);
  }
  return {};
}

const MED_STATEMENT_STATUS: Record<string, string> = { active: 'active', completed: 'completed', aborted: 'stopped', cancelled: 'not-taken', suspended: 'on-hold', held: 'on-hold', nullified: 'entered-in-error', new: 'intended' };
const MED_REQUEST_STATUS: Record<string, string> = { active: 'active', completed: 'completed', aborted: 'stopped', cancelled: 'cancelled', suspended: 'on-hold', held: 'on-hold', nullified: 'entered-in-error', new: 'draft' };
const INTENT: Record<string, string> = { INT: 'plan', RQO: 'order', PRP: 'proposal', PRMS: 'plan', ARQ: 'order', APT: 'plan' };

function reasons(ctx: ConversionContext, el: XmlElement): Json[] {
  const out: Json[] = [];
  for (const r of related(el)) {
    if (r.typeCode !== 'RSON') continue;
    const c = cc(ctx, child(r.act, 'value')) ?? cc(ctx, child(r.act, 'code'));
    if (c !== undefined) out.push(c);
  }
  return out;
}

function medicationRequest(ctx: ConversionContext, el: XmlElement, scope: EntryScope, med: { ref?: string; code?: CodeableConcept }, supply?: XmlElement, suffix = ''): string | undefined {
  if (med.ref === undefined) return undefined;
  const src = supply ?? el;
  const r = base(ctx, 'MedicationRequest', src, scope, suffix);
  const st = statusOf(src) ?? statusOf(el);
  r.status = MED_REQUEST_STATUS[st ?? 'active'] ?? 'unknown';
  r.intent = INTENT[mood(src)] ?? 'order';
  if (negated(el)) r.doNotPerform = true;
  r.medicationReference = { reference: med.ref };
  r.subject = { reference: ctx.patientRef };
  const auth = authors(ctx, src);
  const authEl = auth.time !== undefined ? auth : authors(ctx, el);
  if (authEl.time !== undefined) r.authoredOn = authEl.time;
  const requester = authEl.refs[0] ?? performers(ctx, src)[0]?.actor;
  if (requester !== undefined && !requester.startsWith('Organization/')) r.requester = { reference: requester };
  const reasonCodes = reasons(ctx, el);
  if (reasonCodes.length) r.reasonCode = reasonCodes;
  const d = dosage(ctx, el);
  if (d !== undefined) r.dosageInstruction = [d];
  const dispense: Json = {};
  const repeat = decimal(child(src, 'repeatNumber')?.attrs.value ?? child(el, 'repeatNumber')?.attrs.value);
  // CDA repeatNumber counts all fills; FHIR counts refills after the first.
  if (repeat !== undefined && Number.isInteger(repeat) && repeat >= 1) dispense.numberOfRepeatsAllowed = repeat - 1;
  const qty = supply === undefined ? undefined : quantity(child(supply, 'quantity'));
  if (qty !== undefined) dispense.quantity = qty;
  const validity = period(supply === undefined ? medicationPeriod(el) : mainTime(supply));
  if (validity !== undefined) dispense.validityPeriod = validity;
  if (Object.keys(dispense).length) r.dispenseRequest = dispense;
  note(ctx, el, r);
  return ctx.add(r);
}

function medicationActivity(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string[] {
  const med = medication(ctx, el);
  if (med.ref === undefined) {
    ctx.warn('incomplete', 'Medication entry without a medication code or name: skipped', scope.pos);
    return [];
  }
  const out: string[] = [];
  if (isPlanned(el)) {
    const r = medicationRequest(ctx, el, scope, med);
    // Outside a medication list a planned medication is only an order; inside one it is also
    // the patient's current medication, which is what a MedicationStatement records.
    if (r === undefined || scope.section !== 'medications' || hasT(templates(el), '42')) {
      return [...(r === undefined ? [] : [r]), ...supplies(ctx, el, scope, med).map((x) => x.ref)];
    }
    out.push(r);
  } else if (scope.section === 'medsAdministered' || scope.section === 'procedures') return collect([medicationAdministration(ctx, el, scope, med)]);
  const s = base(ctx, 'MedicationStatement', el, scope);
  const st = statusOf(el);
  s.status = negated(el) ? 'not-taken' : MED_STATEMENT_STATUS[st ?? 'completed'] ?? 'unknown';
  if (out.length) s.basedOn = [{ reference: out[0] }];
  s.medicationReference = { reference: med.ref };
  s.subject = { reference: ctx.patientRef };
  const t = medicationPeriod(el);
  setTimeChoice(s, 'effective', t);
  const auth = authors(ctx, el);
  if (auth.time !== undefined) s.dateAsserted = auth.time;
  const source = auth.refs.find((r) => r.startsWith('Practitioner/'));
  if (source !== undefined) s.informationSource = { reference: source };
  const reasonCodes = reasons(ctx, el);
  if (reasonCodes.length) s.reasonCode = reasonCodes;
  const d = dosage(ctx, el);
  if (d !== undefined) s.dosage = [d];
  note(ctx, el, s);
  // Supply orders (C-CDA Medication Supply Order) are the prescriptions behind the statement.
  const basedOn: Json[] = [];
  for (const x of supplies(ctx, el, scope, med)) {
    out.push(x.ref);
    if (x.order) basedOn.push({ reference: x.ref });
  }
  if (basedOn.length) s.basedOn = [...((s.basedOn as Json[] | undefined) ?? []), ...basedOn];
  out.unshift(ctx.add(s));
  return out;
}

/** Supply orders (→ MedicationRequest) and dispenses (→ MedicationDispense) nested in a medication activity. */
function supplies(ctx: ConversionContext, el: XmlElement, scope: EntryScope, med: { ref?: string; code?: CodeableConcept }): { ref: string; order: boolean }[] {
  const out: { ref: string; order: boolean }[] = [];
  for (const [i, r] of related(el).entries()) {
    if (r.act.local !== 'supply') continue;
    const sub = { ...scope, pos: `${scope.pos}/${i}` };
    if (hasT(templates(r.act), '18') || !isPlanned(r.act)) {
      const disp = medicationDispense(ctx, r.act, sub, med);
      if (disp !== undefined) out.push({ ref: disp, order: false });
    } else {
      const req = medicationRequest(ctx, el, sub, med, r.act, '#supply');
      if (req !== undefined) out.push({ ref: req, order: true });
    }
  }
  return out;
}

function medicationDispense(ctx: ConversionContext, el: XmlElement, scope: EntryScope, outerMed: { ref?: string }): string | undefined {
  const own = medication(ctx, el);
  const medRef = own.ref ?? outerMed.ref;
  if (medRef === undefined) return undefined;
  const d = base(ctx, 'MedicationDispense', el, scope);
  const st = statusOf(el);
  d.status = st === 'active' ? 'in-progress' : st === 'aborted' ? 'stopped' : st === 'nullified' ? 'entered-in-error' : 'completed';
  d.medicationReference = { reference: medRef };
  d.subject = { reference: ctx.patientRef };
  const qty = quantity(child(el, 'quantity'));
  if (qty !== undefined) d.quantity = qty;
  const t = mainTime(el);
  if (t.value ?? t.low) d.whenHandedOver = t.value ?? t.low;
  const perf = performers(ctx, el);
  if (perf.length) d.performer = perf.map((p) => ({ actor: { reference: p.organization ?? p.actor } }));
  return ctx.add(d);
}

function medicationAdministration(ctx: ConversionContext, el: XmlElement, scope: EntryScope, med: { ref?: string }): string | undefined {
  if (med.ref === undefined) return undefined;
  const a = base(ctx, 'MedicationAdministration', el, scope);
  const st = statusOf(el);
  a.status = negated(el) ? 'not-done' : st === 'active' ? 'in-progress' : st === 'aborted' ? 'stopped' : st === 'nullified' ? 'entered-in-error' : st === 'held' || st === 'suspended' ? 'on-hold' : 'completed';
  a.medicationReference = { reference: med.ref };
  a.subject = { reference: ctx.patientRef };
  const t = medicationPeriod(el);
  setTimeChoice(a, 'effective', t);
  if (a.effectiveDateTime === undefined && a.effectivePeriod === undefined) {
    const auth = authors(ctx, el);
    if (auth.time === undefined) {
      ctx.warn('incomplete', 'Medication administration without a time: skipped', scope.pos);
      return undefined;
    }
    a.effectiveDateTime = auth.time;
  }
  const perf = performers(ctx, el);
  const adminPerf = perf.filter((p) => !p.actor!.startsWith('Organization/'));
  if (adminPerf.length) a.performer = adminPerf.map((p) => ({ actor: { reference: p.actor } }));
  const d = dosage(ctx, el);
  if (d !== undefined) {
    const dd: Json = {};
    if (d.text !== undefined) dd.text = d.text;
    if (d.route !== undefined) dd.route = d.route;
    if (d.site !== undefined) dd.site = d.site;
    const dq = (d.doseAndRate as Json[] | undefined)?.[0]?.doseQuantity;
    if (dq !== undefined) dd.dose = dq;
    if (Object.keys(dd).length) a.dosage = dd;
  }
  return ctx.add(a);
}

function immunization(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  const med = medication(ctx, el);
  if (med.code === undefined) {
    ctx.warn('incomplete', 'Immunization without a vaccine code: skipped', scope.pos);
    return undefined;
  }
  if (isPlanned(el)) return medicationRequest(ctx, el, scope, med);
  const im = base(ctx, 'Immunization', el, scope);
  const st = statusOf(el);
  im.status = negated(el) ? 'not-done' : st === 'nullified' ? 'entered-in-error' : 'completed';
  if (negated(el)) {
    for (const r of related(el)) {
      if (hasT(templates(r.act), '53') || r.typeCode === 'RSON') {
        const reason = cc(ctx, child(r.act, 'code'));
        if (reason !== undefined) im.statusReason = reason;
      }
    }
  }
  im.vaccineCode = med.code;
  im.patient = { reference: ctx.patientRef };
  const t = medicationPeriod(el);
  const when = t.value ?? t.low;
  if (when !== undefined) im.occurrenceDateTime = when;
  else im.occurrenceString = 'unknown';
  im.primarySource = true;
  const product = path(el, 'consumable', 'manufacturedProduct');
  const lot = clean(edText(path(product, 'manufacturedMaterial', 'lotNumberText'), ctx.lookup));
  if (lot !== undefined) im.lotNumber = lot;
  const mfr = organization(ctx, child(product, 'manufacturerOrganization'));
  if (mfr !== undefined) im.manufacturer = { reference: mfr };
  const site = cc(ctx, child(el, 'approachSiteCode'));
  if (site !== undefined) im.site = site;
  const route = cc(ctx, child(el, 'routeCode'));
  if (route !== undefined) im.route = route;
  const dose = quantity(child(el, 'doseQuantity'));
  if (dose !== undefined) im.doseQuantity = dose;
  const perf = performers(ctx, el);
  const imPerf = perf.filter((p) => !p.actor!.startsWith('Device/'));
  if (imPerf.length) im.performer = imPerf.map((p) => ({ function: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0443', code: 'AP', display: 'Administering Provider' }] }, actor: { reference: p.actor } }));
  const reasonCodes = reasons(ctx, el);
  if (reasonCodes.length && !negated(el)) im.reasonCode = reasonCodes;
  const reactions: Json[] = [];
  for (const r of related(el)) {
    if (r.typeCode === 'CAUS' || hasT(templates(r.act), '9')) {
      const rt = mainTime(r.act);
      const obs = observation(ctx, r.act, { ...scope, pos: `${scope.pos}/reaction` });
      const reaction: Json = {};
      if (rt.low ?? rt.value) reaction.date = rt.low ?? rt.value;
      if (obs !== undefined) reaction.detail = { reference: obs };
      if (Object.keys(reaction).length) reactions.push(reaction);
    }
  }
  if (reactions.length) im.reaction = reactions;
  note(ctx, el, im);
  return ctx.add(im);
}

// ---- Procedures, encounters, plans ----

const PROC_STATUS: Record<string, string> = { completed: 'completed', active: 'in-progress', aborted: 'stopped', cancelled: 'not-done', new: 'preparation', held: 'on-hold', suspended: 'on-hold', nullified: 'entered-in-error' };

function productInstanceDevice(ctx: ConversionContext, role: XmlElement | undefined, scope: EntryScope): string | undefined {
  if (role === undefined) return undefined;
  const playing = child(role, 'playingDevice') ?? child(role, 'playingEntity');
  const type = cc(ctx, child(playing, 'code'));
  const name = clean(edText(child(playing, 'manufacturerModelName'), ctx.lookup)) ?? clean(edText(child(playing, 'name'), ctx.lookup));
  const ids = children(role, 'id');
  if (type === undefined && name === undefined && ids.length === 0) return undefined;
  const dev: FhirResource = { resourceType: 'Device' };
  dev.id = ctx.id('Device', idKey(ids[0]) ?? `${JSON.stringify([type, name])}@${scope.pos}`);
  const udi: Json[] = [];
  const other: Json[] = [];
  for (const i of ids) {
    const root = i.attrs.root;
    const ext = clean(i.attrs.extension);
    // FDA UDI issuing agencies: GS1, HIBCC, ICCBBA (and the FDA UDI OID itself).
    if (ext !== undefined && (root === '2.16.840.1.113883.3.3719' || root === '1.3.160' || root === '2.16.840.1.113883.6.18' || root === '2.16.840.1.113883.6.40')) {
      const issuer = root === '1.3.160' ? 'http://hl7.org/fhir/NamingSystem/gs1-di' : root === '2.16.840.1.113883.6.18' ? 'http://hl7.org/fhir/NamingSystem/iccbba-other-di' : root === '2.16.840.1.113883.6.40' ? 'http://hl7.org/fhir/NamingSystem/hibcc-dI' : 'http://hl7.org/fhir/NamingSystem/fda-udi';
      const di = /\(01\)(\d{14})/.exec(ext)?.[1];
      udi.push({ ...(di !== undefined ? { deviceIdentifier: di } : {}), issuer, jurisdiction: 'http://hl7.org/fhir/NamingSystem/fda-udi', carrierHRF: ext });
    } else {
      const idn = identifiers({ ...role, children: [i] } as XmlElement);
      other.push(...idn);
    }
  }
  if (other.length) dev.identifier = other;
  if (udi.length) dev.udiCarrier = udi;
  dev.status = 'active';
  if (type !== undefined) dev.type = type;
  if (name !== undefined) dev.deviceName = [{ name, type: 'model-name' }];
  dev.patient = { reference: ctx.patientRef };
  const mfr = organization(ctx, child(role, 'scopingEntity'));
  if (mfr !== undefined) dev.owner = { reference: mfr };
  else {
    const mname = clean(edText(path(role, 'scopingEntity', 'desc'), ctx.lookup));
    if (mname !== undefined) dev.manufacturer = mname;
  }
  return ctx.add(dev);
}

function procedure(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  if (isPlanned(el)) return serviceRequest(ctx, el, scope);
  const p = base(ctx, 'Procedure', el, scope);
  const st = statusOf(el);
  p.status = negated(el) ? 'not-done' : PROC_STATUS[st ?? 'completed'] ?? 'unknown';
  const code = cc(ctx, child(el, 'code')) ?? (narrativeText(ctx, el) !== undefined ? { text: narrativeText(ctx, el)! } : undefined);
  if (code === undefined) {
    ctx.warn('incomplete', 'Procedure without a code or text: skipped', scope.pos);
    return undefined;
  }
  p.code = code;
  p.subject = { reference: ctx.patientRef };
  setTimeChoice(p, 'performed', mainTime(el));
  const perf = performers(ctx, el);
  if (perf.length) p.performer = perf.map((x) => ({ actor: { reference: x.actor }, ...(x.organization !== undefined && x.actor !== x.organization ? { onBehalfOf: { reference: x.organization } } : {}) }));
  const sites = collect(children(el, 'targetSiteCode').map((s) => cc(ctx, s)));
  if (sites.length) p.bodySite = sites;
  const reasonCodes = reasons(ctx, el);
  if (reasonCodes.length) p.reasonCode = reasonCodes;
  const devices: Json[] = [];
  for (const part of children(el, 'participant')) {
    const tc = part.attrs.typeCode;
    const role = child(part, 'participantRole');
    if (tc === 'LOC') {
      const loc = location(ctx, role);
      if (loc !== undefined) p.location = { reference: loc };
    } else if (tc === 'DEV' || hasT(templates(role ?? part), '37')) {
      const dev = productInstanceDevice(ctx, role, scope);
      if (dev !== undefined) devices.push({ manipulated: { reference: dev } });
    }
  }
  if (devices.length) p.focalDevice = devices;
  const rec = authors(ctx, el).refs.find((r) => r.startsWith('Practitioner/'));
  if (rec !== undefined) p.recorder = { reference: rec };
  note(ctx, el, p);
  // Medications given during the procedure become MedicationAdministrations.
  for (const [i, r] of related(el).entries()) {
    if (r.act.local === 'substanceAdministration') medicationActivity(ctx, r.act, { ...scope, section: 'procedures', pos: `${scope.pos}/${i}` });
  }
  return ctx.add(p);
}

const SR_STATUS: Record<string, string> = { active: 'active', completed: 'completed', aborted: 'revoked', cancelled: 'revoked', new: 'draft', held: 'on-hold', suspended: 'on-hold', nullified: 'entered-in-error' };

function serviceRequest(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  const code = cc(ctx, child(el, 'code')) ?? (narrativeText(ctx, el) !== undefined ? { text: narrativeText(ctx, el)! } : undefined);
  if (code === undefined) {
    ctx.warn('incomplete', 'Planned activity without a code or text: skipped', scope.pos);
    return undefined;
  }
  const s = base(ctx, 'ServiceRequest', el, scope);
  s.status = SR_STATUS[statusOf(el) ?? 'active'] ?? 'unknown';
  s.intent = INTENT[mood(el)] ?? 'plan';
  if (negated(el)) s.doNotPerform = true;
  s.code = code;
  s.subject = { reference: ctx.patientRef };
  setTimeChoice(s, 'occurrence', mainTime(el));
  const auth = authors(ctx, el);
  if (auth.time !== undefined) s.authoredOn = auth.time;
  if (auth.refs[0] !== undefined) s.requester = { reference: auth.refs[0] };
  const perf = performers(ctx, el);
  if (perf.length) s.performer = perf.map((p) => ({ reference: p.actor }));
  const prio = cc(ctx, child(el, 'priorityCode'));
  if (prio?.coding?.[0]?.code !== undefined) {
    const pc = prio.coding[0].code;
    s.priority = pc === 'UR' ? 'urgent' : pc === 'S' || pc === 'EM' ? 'stat' : pc === 'A' ? 'asap' : 'routine';
  }
  const sites = collect(children(el, 'targetSiteCode').map((x) => cc(ctx, x)));
  if (sites.length) s.bodySite = sites;
  const reasonCodes = reasons(ctx, el);
  if (reasonCodes.length) s.reasonCode = reasonCodes;
  note(ctx, el, s);
  return ctx.add(s);
}

const ENC_STATUS: Record<string, string> = { completed: 'finished', active: 'in-progress', aborted: 'cancelled', cancelled: 'cancelled', new: 'planned', held: 'planned', nullified: 'entered-in-error' };
const ACT_CODE_CLASSES = new Set(['AMB', 'EMER', 'FLD', 'HH', 'IMP', 'ACUTE', 'NONAC', 'OBSENC', 'PRENC', 'SS', 'VR']);

/** Encounter.class from the encounter code (ActCode translation when present, else a CPT E/M range). */
export function encounterClass(code: XmlElement | undefined): Json {
  const all = code === undefined ? [] : [code, ...children(code, 'translation')];
  for (const c of all) {
    const v = c.attrs.code;
    if (v !== undefined && ACT_CODE_CLASSES.has(v) && (c.attrs.codeSystem === '2.16.840.1.113883.5.4' || c.attrs.codeSystem === undefined)) {
      return { system: V3_ACT_CODE, code: v, display: firstCoding(c)?.display ?? v };
    }
  }
  const cpt = all.find((c) => c.attrs.codeSystem === '2.16.840.1.113883.6.12')?.attrs.code;
  const n = cpt !== undefined ? Number(cpt) : NaN;
  if (n >= 99281 && n <= 99288) return { system: V3_ACT_CODE, code: 'EMER', display: 'emergency' };
  if (n >= 99217 && n <= 99239 || n >= 99251 && n <= 99255) return { system: V3_ACT_CODE, code: 'IMP', display: 'inpatient encounter' };
  if (n >= 99341 && n <= 99350) return { system: V3_ACT_CODE, code: 'HH', display: 'home health' };
  const text = `${code?.attrs.displayName ?? ''}`.toLowerCase();
  if (/inpatient|hospital|admission/.test(text)) return { system: V3_ACT_CODE, code: 'IMP', display: 'inpatient encounter' };
  if (/emergency/.test(text)) return { system: V3_ACT_CODE, code: 'EMER', display: 'emergency' };
  return { system: V3_ACT_CODE, code: 'AMB', display: 'ambulatory' };
}

function encounter(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  if (isPlanned(el) && mood(el) !== 'APT') return serviceRequest(ctx, el, scope);
  const e = base(ctx, 'Encounter', el, scope);
  const st = statusOf(el);
  const t = mainTime(el);
  e.status = mood(el) === 'APT' ? 'planned' : ENC_STATUS[st ?? ''] ?? (t.high !== undefined || t.value !== undefined ? 'finished' : 'unknown');
  e.class = encounterClass(child(el, 'code'));
  const type = cc(ctx, child(el, 'code'));
  if (type !== undefined) e.type = [type];
  e.subject = { reference: ctx.patientRef };
  const p = period(t);
  if (p !== undefined) e.period = p;
  const participants: Json[] = [];
  for (const perf of performers(ctx, el)) {
    if (perf.actor?.startsWith('Practitioner/')) participants.push({ type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }] }], individual: { reference: perf.actor } });
  }
  if (participants.length) e.participant = participants;
  const locs: Json[] = [];
  for (const part of children(el, 'participant')) {
    if (part.attrs.typeCode !== 'LOC') continue;
    const loc = location(ctx, child(part, 'participantRole'));
    if (loc !== undefined) locs.push({ location: { reference: loc } });
  }
  if (locs.length) e.location = locs;
  const diagnoses: Json[] = [];
  const reasonCodes: Json[] = [];
  for (const [i, r] of related(el).entries()) {
    const rts = templates(r.act);
    const sub = { ...scope, pos: `${scope.pos}/${i}` };
    if (r.act.local === 'act' && (hasT(rts, '80') || child(r.act, 'code')?.attrs.code === '29308-4')) {
      for (const c of concernAct(ctx, r.act, sub, 'encounter-diagnosis')) diagnoses.push({ condition: { reference: c } });
    } else if (r.act.local === 'observation' && (r.typeCode === 'RSON' || hasT(rts, '19'))) {
      const c = cc(ctx, child(r.act, 'value'));
      if (c !== undefined) reasonCodes.push(c);
    } else if (r.act.local === 'observation' && hasT(rts, '4')) {
      const c = problemObservation(ctx, r.act, sub, 'encounter-diagnosis');
      if (c !== undefined) diagnoses.push({ condition: { reference: c } });
    }
  }
  if (diagnoses.length) e.diagnosis = diagnoses;
  if (reasonCodes.length) e.reasonCode = reasonCodes;
  const dispo = cc(ctx, child(el, 'dischargeDispositionCode'));
  if (dispo !== undefined) e.hospitalization = { dischargeDisposition: dispo };
  return ctx.add(e);
}

// ---- Goals, care team, consent, coverage, devices, family history, notes ----

function goal(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  const g = base(ctx, 'Goal', el, scope);
  const st = statusOf(el);
  g.lifecycleStatus = st === 'completed' ? 'completed' : st === 'cancelled' || st === 'aborted' ? 'cancelled' : st === 'nullified' ? 'entered-in-error' : st === 'suspended' || st === 'held' ? 'on-hold' : 'active';
  const code = cc(ctx, child(el, 'code'));
  const value = child(el, 'value');
  const text = narrativeText(ctx, el);
  // When the code names a measurement (e.g. LOINC body weight) the value is the target, not the goal.
  const measurable = value !== undefined && xsiType(value) !== 'CD' && xsiType(value) !== 'ST';
  const description = measurable ? text !== undefined ? { ...code, text } : code : code ?? (value !== undefined ? cc(ctx, value) ?? (edText(value, ctx.lookup) !== undefined ? { text: edText(value, ctx.lookup)! } : undefined) : undefined);
  const desc = description ?? (text !== undefined ? { text } : undefined);
  if (desc === undefined) {
    ctx.warn('incomplete', 'Goal without a description: skipped', scope.pos);
    return undefined;
  }
  g.description = desc;
  g.subject = { reference: ctx.patientRef };
  const t = mainTime(el);
  const start = tsToDateTime(t.low ?? t.value);
  if (start !== undefined) g.startDate = start.slice(0, 10);
  if (measurable && code !== undefined) {
    const target: Json = { measure: code };
    if (!setValue(ctx, target, value, 'detail')) delete target.measure;
    if (target.detailRange !== undefined || target.detailQuantity !== undefined || target.detailString !== undefined || target.detailInteger !== undefined || target.detailBoolean !== undefined || target.detailRatio !== undefined || target.detailCodeableConcept !== undefined) {
      if (t.high !== undefined) target.dueDate = t.high.slice(0, 10);
      delete target.detailDateTime;
      g.target = [target];
    }
  } else if (t.high !== undefined) g.target = [{ dueDate: t.high.slice(0, 10) }];
  const auth = authors(ctx, el);
  const expressedBy = auth.refs.find((r) => /^(Practitioner|PractitionerRole|RelatedPerson|Patient)\//.test(r));
  if (expressedBy !== undefined) g.expressedBy = { reference: expressedBy };
  if (auth.time !== undefined) g.statusDate = auth.time.slice(0, 10);
  note(ctx, el, g);
  return ctx.add(g);
}

function careTeamOrganizer(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  const team = base(ctx, 'CareTeam', el, scope);
  const st = statusOf(el);
  team.status = st === 'completed' ? 'inactive' : st === 'nullified' ? 'entered-in-error' : st === 'suspended' ? 'suspended' : 'active';
  const name = cc(ctx, child(el, 'code'));
  if (name?.text !== undefined) team.name = name.text;
  team.subject = { reference: ctx.patientRef };
  const p = period(mainTime(el));
  if (p !== undefined) team.period = p;
  const members: Json[] = [];
  const addMember = (party: XmlElement | undefined, fn: XmlElement | undefined, when: TimeValue): void => {
    const who = assignedParty(ctx, party);
    if (who.actor === undefined || who.actor.startsWith('Device/')) return;
    const m: Json = { member: { reference: who.actor } };
    const role = cc(ctx, fn) ?? cc(ctx, child(party, 'code'));
    if (role !== undefined) m.role = [role];
    if (who.organization !== undefined && who.organization !== who.actor) m.onBehalfOf = { reference: who.organization };
    const mp = period(when);
    if (mp !== undefined) m.period = mp;
    members.push(m);
  };
  for (const perf of children(el, 'performer')) addMember(child(perf, 'assignedEntity'), child(perf, 'functionCode'), {});
  for (const r of related(el)) {
    for (const perf of children(r.act, 'performer')) addMember(child(perf, 'assignedEntity'), child(perf, 'functionCode') ?? child(r.act, 'code'), mainTime(r.act));
  }
  if (members.length) team.participant = members;
  if (members.length === 0 && team.name === undefined) return undefined;
  return ctx.add(team);
}

function advanceDirective(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  const c = base(ctx, 'Consent', el, scope);
  const st = statusOf(el);
  c.status = st === 'nullified' ? 'entered-in-error' : st === 'aborted' || st === 'cancelled' ? 'inactive' : 'active';
  c.scope = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'adr', display: 'Advanced Care Directive' }] };
  const cats: Json[] = [{ coding: [{ system: LOINC, code: '42348-3', display: 'Advance directives' }] }];
  const code = cc(ctx, child(el, 'code'));
  if (code !== undefined) cats.push(code);
  c.category = cats;
  c.patient = { reference: ctx.patientRef };
  const auth = authors(ctx, el);
  if (auth.time !== undefined) c.dateTime = auth.time;
  const value = cc(ctx, child(el, 'value')) ?? (narrativeText(ctx, el) !== undefined ? { text: narrativeText(ctx, el)! } : undefined);
  c.policyRule = value ?? code ?? { text: 'Advance directive' };
  const t = mainTime(el);
  const p = period(t);
  if (p !== undefined) c.provision = { period: p };
  // The directive document itself (a scanned form, a PDF …) becomes a DocumentReference.
  const doc = path(el, 'reference', 'externalDocument');
  const url = clean(path(doc, 'text', 'reference')?.attrs.value);
  if (doc !== undefined && url !== undefined && !url.startsWith('#')) {
    const d = base(ctx, 'DocumentReference', doc, { ...scope, pos: `${scope.pos}/document` }, '#directive');
    d.status = 'current';
    const type = cc(ctx, child(doc, 'code'));
    d.type = type ?? { coding: [{ system: LOINC, code: '42348-3', display: 'Advance directives' }] };
    d.category = [{ coding: [{ system: LOINC, code: '42348-3', display: 'Advance directives' }] }];
    d.subject = { reference: ctx.patientRef };
    const media = child(doc, 'text')?.attrs.mediaType;
    d.content = [{ attachment: { ...(media !== undefined ? { contentType: media } : {}), url } }];
    c.sourceReference = { reference: ctx.add(d) };
  }
  const verifiers: Json[] = [];
  for (const part of children(el, 'participant')) {
    if (part.attrs.typeCode === 'CST' || part.attrs.typeCode === 'VRF') {
      const role = child(part, 'participantRole');
      const who = relatedPerson(ctx, role!, child(role, 'playingEntity'));
      if (who !== undefined && part.attrs.typeCode === 'VRF') verifiers.push({ verified: true, verifiedWith: { reference: who } });
      else if (who !== undefined) c.performer = [{ reference: who }];
    }
  }
  if (verifiers.length) c.verification = verifiers;
  return ctx.add(c);
}

const SUBSCRIBER_REL: Record<string, string> = { SELF: 'self', FAMDEP: 'child', CHILD: 'child', SPS: 'spouse', SPOUSE: 'spouse', FSTUD: 'child', HANDIC: 'child', INJ: 'injured', SUBSCR: 'self', DEPEN: 'other', PAT: 'self' };

function policyActivity(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  const c = base(ctx, 'Coverage', el, scope);
  const st = statusOf(el);
  c.status = st === 'nullified' ? 'entered-in-error' : st === 'cancelled' || st === 'aborted' ? 'cancelled' : 'active';
  const type = cc(ctx, child(el, 'code'));
  if (type !== undefined) c.type = type;
  let payer: string | undefined;
  for (const perf of children(el, 'performer')) {
    const party = assignedParty(ctx, child(perf, 'assignedEntity'));
    const isPayer = hasT(templates(perf), '87') || child(child(perf, 'assignedEntity'), 'code')?.attrs.code === 'PAYOR' || perf.attrs.typeCode === 'PRF';
    if (isPayer && party.organization !== undefined) { payer = party.organization; break; }
  }
  if (payer === undefined) {
    ctx.warn('incomplete', 'Coverage without a payer organization: skipped', scope.pos);
    return undefined;
  }
  c.payor = [{ reference: payer }];
  c.beneficiary = { reference: ctx.patientRef };
  for (const part of children(el, 'participant')) {
    const role = child(part, 'participantRole');
    if (part.attrs.typeCode === 'COV') {
      const rel = SUBSCRIBER_REL[child(role, 'code')?.attrs.code ?? ''];
      if (rel !== undefined) c.relationship = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship', code: rel }] };
      const p = period(timeOf(child(part, 'time')));
      if (p !== undefined) c.period = p;
    } else if (part.attrs.typeCode === 'HLD') {
      const sid = identifiers(role)[0];
      if (sid?.value !== undefined) c.subscriberId = sid.value;
      if (child(role, 'playingEntity') !== undefined && role !== undefined) {
        const rp = relatedPerson(ctx, role, child(role, 'playingEntity'));
        if (rp !== undefined) c.subscriber = { reference: rp };
      }
    }
  }
  const plan = related(el).find((r) => r.act.local === 'act' && r.typeCode === 'REFR');
  const planName = plan === undefined ? undefined : narrativeText(ctx, plan.act) ?? cc(ctx, child(plan.act, 'code'))?.text;
  if (planName !== undefined) c.class = [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-class', code: 'plan' }] }, value: idKey(child(plan!.act, 'id')) ?? planName, name: planName }];
  return ctx.add(c);
}

function deviceUse(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string[] {
  const role = path(el, 'participant', 'participantRole');
  const dev = productInstanceDevice(ctx, role, scope) ?? (() => {
    const code = cc(ctx, path(el, 'product', 'manufacturedProduct', 'manufacturedMaterial', 'code')) ?? cc(ctx, child(el, 'code'));
    if (code === undefined) return undefined;
    const d: FhirResource = { resourceType: 'Device', id: ctx.id('Device', entryKey(el, scope)), status: 'active', type: code, patient: { reference: ctx.patientRef } };
    return ctx.add(d);
  })();
  if (dev === undefined) {
    ctx.warn('incomplete', 'Medical equipment entry without a device: skipped', scope.pos);
    return [];
  }
  const u = base(ctx, 'DeviceUseStatement', el, scope);
  const st = statusOf(el);
  u.status = st === 'active' ? 'active' : st === 'nullified' ? 'entered-in-error' : st === 'aborted' || st === 'cancelled' ? 'stopped' : st === 'new' || isPlanned(el) ? 'intended' : 'completed';
  u.subject = { reference: ctx.patientRef };
  setTimeChoice(u, 'timing', mainTime(el));
  const auth = authors(ctx, el);
  if (auth.time !== undefined) u.recordedOn = auth.time;
  u.device = { reference: dev };
  const site = cc(ctx, child(el, 'targetSiteCode'));
  if (site !== undefined) u.bodySite = site;
  return [dev, ctx.add(u)];
}

function familyHistory(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  const f = base(ctx, 'FamilyMemberHistory', el, scope);
  f.status = 'completed';
  f.patient = { reference: ctx.patientRef };
  const rel = path(el, 'subject', 'relatedSubject');
  f.relationship = cc(ctx, child(rel, 'code')) ?? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'FAMMEMB', display: 'family member' }] };
  const subj = child(rel, 'subject');
  const name = clean(edText(child(subj, 'name'), ctx.lookup));
  if (name !== undefined) f.name = name;
  const g = child(subj, 'administrativeGenderCode')?.attrs.code;
  if (g !== undefined) f.sex = { coding: [{ system: 'http://hl7.org/fhir/administrative-gender', code: g === 'M' ? 'male' : g === 'F' ? 'female' : g === 'UN' ? 'other' : 'unknown' }] };
  const born = tsToDateTime(child(subj, 'birthTime')?.attrs.value);
  if (born !== undefined) f.bornDate = born.slice(0, 10);
  const deceased = child(subj, 'deceasedInd')?.attrs.value;
  if (deceased === 'true' || deceased === 'false') f.deceasedBoolean = deceased === 'true';
  const conditions: Json[] = [];
  for (const r of related(el)) {
    if (r.act.local !== 'observation') continue;
    const code = cc(ctx, child(r.act, 'value'));
    if (code === undefined) continue;
    const cond: Json = { code };
    for (const rr of related(r.act)) {
      const rts = templates(rr.act);
      if (hasT(rts, '31')) {
        const age = quantity(child(rr.act, 'value'));
        if (age !== undefined) cond.onsetAge = { ...age, system: 'http://unitsofmeasure.org', code: (age.code as string | undefined) ?? 'a' };
      } else if (hasT(rts, '47') || rr.typeCode === 'CAUS') {
        cond.contributedToDeath = true;
        if (f.deceasedBoolean === undefined) f.deceasedBoolean = true;
      }
    }
    const t = mainTime(r.act);
    if (cond.onsetAge === undefined && (t.low ?? t.value)) cond.onsetString = t.low ?? t.value;
    conditions.push(cond);
  }
  if (conditions.length) f.condition = conditions;
  return ctx.add(f);
}

function noteActivity(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string | undefined {
  const text = narrativeText(ctx, el);
  const ref = path(el, 'text', 'reference')?.attrs.value;
  const d = base(ctx, 'DocumentReference', el, scope);
  d.status = statusOf(el) === 'nullified' ? 'entered-in-error' : 'current';
  d.type = cc(ctx, child(el, 'code')) ?? { coding: [{ system: LOINC, code: '34109-9', display: 'Note' }] };
  d.category = [{ coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category', code: 'clinical-note', display: 'Clinical Note' }] }];
  d.subject = { reference: ctx.patientRef };
  const auth = authors(ctx, el);
  if (auth.time !== undefined && auth.time.length > 10) d.date = auth.time;
  if (auth.refs.length) d.author = auth.refs.map((r) => ({ reference: r }));
  const attachment: Json = {};
  const mediaType = child(el, 'text')?.attrs.mediaType;
  if (text !== undefined) {
    attachment.contentType = mediaType !== undefined && mediaType.startsWith('text/') ? mediaType : 'text/plain';
    attachment.data = Buffer.from(text, 'utf8').toString('base64');
  } else if (ref !== undefined && !ref.startsWith('#') && /^[a-z]+:\S+$/i.test(ref)) {
    attachment.url = ref;
  } else {
    ctx.warn('incomplete', 'Note activity without text: skipped', scope.pos);
    return undefined;
  }
  d.content = [{ attachment }];
  const t = mainTime(el);
  const p = period(t);
  if (p !== undefined) d.context = { period: p };
  return ctx.add(d);
}

// ---- Dispatch ----

/** Converts one entry (act/observation/…) and returns the references it produced. */
export function convertEntry(ctx: ConversionContext, el: XmlElement, scope: EntryScope): string[] {
  const ts = templates(el);
  const one = (r: string | undefined): string[] => (r === undefined ? [] : [r]);
  const local = el.local;
  // Specific templates first.
  if (hasT(ts, '30')) return allergyConcern(ctx, el, scope);
  if (hasT(ts, '7')) return one(allergyObservation(ctx, el, scope));
  if (hasT(ts, '132')) return concernAct(ctx, el, scope, 'health-concern');
  if (hasT(ts, '3')) return concernAct(ctx, el, scope, scope.section === 'healthConcerns' ? 'health-concern' : scope.section === 'diagnoses' || scope.section === 'encounters' ? 'encounter-diagnosis' : 'problem');
  if (hasT(ts, '80', '33', '34')) return concernAct(ctx, el, scope, 'encounter-diagnosis');
  if (hasT(ts, '4') && local === 'observation') return one(problemObservation(ctx, el, scope, scope.section === 'healthConcerns' ? 'health-concern' : scope.section === 'diagnoses' ? 'encounter-diagnosis' : 'problem'));
  if (hasT(ts, '1') && local === 'organizer') return one(resultOrganizer(ctx, el, scope));
  if (hasT(ts, '26')) return one(vitalsOrganizer(ctx, el, scope));
  if (hasT(ts, '52')) return one(immunization(ctx, el, scope));
  if (hasT(ts, '16', '42')) return medicationActivity(ctx, el, scope);
  if (hasT(ts, '18') && local === 'supply') return one(medicationDispense(ctx, el, scope, {}));
  if (hasT(ts, '49')) return one(encounter(ctx, el, scope));
  if (hasT(ts, '40')) return one(serviceRequest(ctx, el, scope));
  if (hasT(ts, '121')) return one(goal(ctx, el, scope));
  if (hasT(ts, '500') && local === 'organizer') return one(careTeamOrganizer(ctx, el, scope));
  if (hasT(ts, '48')) return one(advanceDirective(ctx, el, scope));
  if (hasT(ts, '108')) return related(el).flatMap((r, i) => convertEntry(ctx, r.act, { ...scope, section: 'advanceDirectives', pos: `${scope.pos}/${i}` }));
  if (hasT(ts, '60')) return related(el).flatMap((r, i) => (r.act.local === 'act' ? one(policyActivity(ctx, r.act, { ...scope, pos: `${scope.pos}/${i}` })) : []));
  if (hasT(ts, '61')) return one(policyActivity(ctx, el, scope));
  if (hasT(ts, '50')) return deviceUse(ctx, el, scope);
  if (hasT(ts, '45')) return one(familyHistory(ctx, el, scope));
  if (hasT(ts, '202')) return one(noteActivity(ctx, el, scope));
  if (hasT(ts, '14', '12', '13') && !isPlanned(el)) return one(procedure(ctx, el, scope));
  if (hasT(ts, '39', '41', '43', '44')) return one(serviceRequest(ctx, el, scope));
  if (hasT(ts, '2', '27', '38', '78', '85', '67', '74', '73', '69', '2.16.840.1.113883.10.20.15.3.8') && local === 'observation') return one(observation(ctx, el, scope));
  // Fallback by entry class and section.
  switch (local) {
    case 'organizer': {
      if (scope.section === 'results') return one(resultOrganizer(ctx, el, scope));
      if (scope.section === 'vitals') return one(vitalsOrganizer(ctx, el, scope));
      if (scope.section === 'family') return one(familyHistory(ctx, el, scope));
      if (scope.section === 'careTeam') return one(careTeamOrganizer(ctx, el, scope));
      return related(el).flatMap((r, i) => convertEntry(ctx, r.act, { ...scope, pos: `${scope.pos}/${i}` }));
    }
    case 'act': {
      if (scope.section === 'allergies' && related(el).length) return allergyConcern(ctx, el, scope);
      if ((scope.section === 'problems' || scope.section === 'healthConcerns' || scope.section === 'diagnoses') && related(el).length) {
        return concernAct(ctx, el, scope, scope.section === 'problems' ? 'problem' : scope.section === 'healthConcerns' ? 'health-concern' : 'encounter-diagnosis');
      }
      if (scope.section === 'payers') return related(el).length ? related(el).flatMap((r, i) => (r.act.local === 'act' ? one(policyActivity(ctx, r.act, { ...scope, pos: `${scope.pos}/${i}` })) : [])) : one(policyActivity(ctx, el, scope));
      if (scope.section === 'notes' || child(el, 'code')?.attrs.code === '34109-9') return one(noteActivity(ctx, el, scope));
      if (scope.section === 'medications' || scope.section === 'immunizations') return related(el).flatMap((r, i) => convertEntry(ctx, r.act, { ...scope, pos: `${scope.pos}/${i}` }));
      return one(procedure(ctx, el, scope));
    }
    case 'observation': {
      if (isPlanned(el) && scope.section !== 'goals') return one(serviceRequest(ctx, el, scope));
      switch (scope.section) {
        case 'allergies': return one(allergyObservation(ctx, el, scope));
        case 'problems': return one(problemObservation(ctx, el, scope, 'problem'));
        case 'healthConcerns': return one(problemObservation(ctx, el, scope, 'health-concern'));
        case 'diagnoses': return one(problemObservation(ctx, el, scope, 'encounter-diagnosis'));
        case 'goals': return one(goal(ctx, el, scope));
        case 'advanceDirectives': return one(advanceDirective(ctx, el, scope));
        case 'family': return one(familyHistory(ctx, el, scope));
        default: return one(observation(ctx, el, scope));
      }
    }
    case 'substanceAdministration':
      if (scope.section === 'immunizations') return one(immunization(ctx, el, scope));
      return medicationActivity(ctx, el, scope);
    case 'supply':
      if (scope.section === 'equipment' || path(el, 'participant', 'participantRole') !== undefined) return deviceUse(ctx, el, scope);
      if (scope.section === 'medications') return isPlanned(el) ? one(medicationRequest(ctx, el, scope, medication(ctx, el))) : one(medicationDispense(ctx, el, scope, {}));
      return deviceUse(ctx, el, scope);
    case 'procedure':
      return one(procedure(ctx, el, scope));
    case 'encounter':
      return one(encounter(ctx, el, scope));
    default:
      return [];
  }
}

