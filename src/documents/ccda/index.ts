// C-CDA (R1.1 / R2.1, any document type) → FHIR R4 collection Bundle. Pure and deterministic.
import { createHash } from 'node:crypto';
import { type XmlElement, parseXml, child, children, path, textContent } from '../xml/index.ts';
import { type ConversionResult, type FhirResource, type OutcomeIssue, failedConversion } from '../types.ts';
import { validateResource } from '../../fhir/validation/index.ts';
import { ConversionContext } from './context.ts';
import {
  type Json, clean, codeableConcept, collect, edText, idKey, identifier, period, timeOf, tsToDateTime, tsZone, withDocumentZone,
} from './datatypes.ts';
import { type SectionKind, convertEntry, encounterClass } from './entries.ts';
import { assignedParty, location, organization, patient, relatedPerson } from './parties.ts';
import { sectionKind } from './sections.ts';
import { narrativeDiv } from './narrative.ts';
import { LOINC } from './codes.ts';

export interface CcdaOptions {
  /** Mixed into every id (e.g. the importing builder's id) so two importers get distinct ids. */
  idNamespace?: string;
  /** XML limits (defaults: 20 MB, depth 200). */
  maxBytes?: number;
  maxDepth?: number;
}

interface SectionResult {
  element: XmlElement;
  kind: SectionKind;
  refs: string[];
  subsections: SectionResult[];
}

const CARE_PLAN_DOC = '2.16.840.1.113883.10.20.22.1.15';

/** Converts a C-CDA document. Never throws: bad input gives `ok: false` with the reason in `outcome`. */
export function convertCcda(xml: string, options: CcdaOptions = {}): ConversionResult {
  try {
    return withDocumentZone(undefined, () => convert(xml, options));
  } catch (e) {
    // A converter bug must not take the caller down; report it as a processing failure.
    return failedConversion('exception', `C-CDA conversion failed: ${(e as Error)?.message ?? String(e)}`);
  }
}

function convert(xml: string, options: CcdaOptions): ConversionResult {
  const parsed = parseXml(xml, { maxBytes: options.maxBytes, maxDepth: options.maxDepth });
  if (!parsed.ok) {
    const code = parsed.error.code === 'too-large' || parsed.error.code === 'too-deep' ? 'too-costly' : parsed.error.code === 'doctype' ? 'security' : 'structure';
    return failedConversion(code, `Not a well-formed XML document: ${parsed.error.message}`);
  }
  const doc = asClinicalDocument(parsed.root);
  if (doc === undefined) {
    return failedConversion('not-supported', `Expected a CDA <ClinicalDocument> (or a section/entry fragment of one), found <${parsed.root.name}>`);
  }
  const isFragment = doc !== parsed.root;
  const patientRole = path(doc, 'recordTarget', 'patientRole');

  const zone = tsZone(child(doc, 'effectiveTime')?.attrs.value);
  return withDocumentZone(zone, () => convertDocument(xml, doc, isFragment, patientRole, options, parsed.warnings ?? []));
}

function convertDocument(xml: string, doc: XmlElement, isFragment: boolean, patientRole: XmlElement | undefined, options: CcdaOptions, xmlWarnings: string[]): ConversionResult {
  const docKey = idKey(child(doc, 'id')) ?? createHash('sha1').update(xml).digest('hex');
  const body = path(doc, 'component', 'structuredBody');
  const sectionEls: XmlElement[] = [];
  const gather = (parent: XmlElement | undefined): void => {
    for (const comp of children(parent, 'component')) {
      const s = child(comp, 'section');
      if (s !== undefined) {
        sectionEls.push(s);
        gather(s);
      }
    }
  };
  gather(body);
  const ctx = new ConversionContext(options.idNamespace ?? '', docKey, () => collect(sectionEls.map((s) => child(s, 'text'))));
  for (const w of xmlWarnings) ctx.warn('structure', `XML: ${w}`);

  // Header.
  let placeholderPatient: string | undefined;
  let pat: FhirResource;
  if (patientRole !== undefined) pat = patient(ctx, patientRole, docKey);
  else {
    // No header patient (a fragment, or a broken header): clinical data still needs a subject.
    pat = { resourceType: 'Patient', id: ctx.id('Patient', `no-record-target:${docKey}`) };
    ctx.patientRef = placeholderPatient = ctx.add(pat);
    ctx.warn('incomplete', isFragment ? 'Document fragment without a header: data is attached to a Patient with no demographics' : 'The document has no recordTarget/patientRole: data is attached to a Patient with no demographics');
  }
  for (const rt of children(doc, 'recordTarget').slice(1)) {
    ctx.warn('not-supported', 'Only the first recordTarget becomes the Patient; further ones are ignored', `recordTarget/${idKey(path(rt, 'patientRole', 'id')) ?? ''}`);
  }
  const header = headerParties(ctx, doc);
  const encounterRef = encompassingEncounter(ctx, doc) ?? serviceEventEncounter(ctx, doc);

  // Body.
  const sections: SectionResult[] = [];
  const walk = (parent: XmlElement | undefined, pos: string, into: SectionResult[]): void => {
    let i = 0;
    for (const comp of children(parent, 'component')) {
      const s = child(comp, 'section');
      if (s === undefined) continue;
      const kind = sectionKind(s);
      const title = clean(textContent(child(s, 'title')));
      const result: SectionResult = { element: s, kind, refs: [], subsections: [] };
      let j = 0;
      const seen = new Set<string>();
      for (const entry of children(s, 'entry')) {
        for (const act of entry.children) {
          if (act.type !== 'element') continue;
          const refs = convertEntry(ctx, act, { section: kind, pos: `${pos}s${i}.e${j}`, sectionTitle: title });
          for (const r of refs) {
            if (!seen.has(r)) {
              seen.add(r);
              result.refs.push(r);
            }
          }
        }
        j++;
      }
      walk(s, `${pos}s${i}.`, result.subsections);
      into.push(result);
      i++;
    }
  };
  walk(body, '', sections);

  const nonXml = path(doc, 'component', 'nonXMLBody');
  carePlan(ctx, doc, sections);
  if (!isFragment) {
    const composition = compositionOf(ctx, doc, pat, header, encounterRef, sections);
    documentReference(ctx, doc, header, encounterRef, nonXml, composition);
  }
  if (placeholderPatient !== undefined && ![...ctx.resources.values()].some((r) => r !== pat && JSON.stringify(r).includes(placeholderPatient!))) {
    ctx.resources.delete(placeholderPatient);
  }
  return finish(ctx);
}

const HEADER_ELEMENTS = new Set(['recordTarget', 'author', 'custodian', 'legalAuthenticator', 'authenticator', 'dataEnterer', 'informant', 'informationRecipient', 'participant', 'documentationOf', 'componentOf', 'relatedDocument', 'inFulfillmentOf', 'authorization']);
const ENTRY_ELEMENTS = new Set(['act', 'observation', 'organizer', 'substanceAdministration', 'supply', 'procedure', 'encounter']);

function synthetic(local: string, kids: XmlElement[], attrs: Record<string, string> = {}): XmlElement {
  return { type: 'element', name: local, local, ns: 'urn:hl7-org:v3', attrs, children: kids };
}

/**
 * The document itself, or a synthetic ClinicalDocument around a fragment (a section, an entry, a
 * header participation …) so that fragments convert with the same code as full documents.
 */
function asClinicalDocument(root: XmlElement): XmlElement | undefined {
  const inBody = (sections: XmlElement[]): XmlElement =>
    synthetic('ClinicalDocument', [synthetic('component', [synthetic('structuredBody', sections.map((s) => synthetic('component', [s])))])]);
  const inSection = (entries: XmlElement[]): XmlElement => inBody([synthetic('section', entries)]);
  switch (root.local) {
    case 'ClinicalDocument': return root;
    case 'section': return inBody([root]);
    case 'structuredBody': return synthetic('ClinicalDocument', [synthetic('component', [root])]);
    case 'component': {
      const sec = child(root, 'section');
      if (sec !== undefined) return inBody([sec]);
      if (child(root, 'structuredBody') !== undefined || child(root, 'nonXMLBody') !== undefined) return synthetic('ClinicalDocument', [root]);
      const act = root.children.find((c): c is XmlElement => c.type === 'element' && ENTRY_ELEMENTS.has(c.local));
      return act === undefined ? undefined : inSection([synthetic('entry', [act])]);
    }
    case 'entry': return inSection([root]);
    case 'entryRelationship': return inSection([synthetic('entry', children(root).filter((c) => ENTRY_ELEMENTS.has(c.local)))]);
    case 'serviceEvent': return synthetic('ClinicalDocument', [synthetic('documentationOf', [root])]);
    case 'encompassingEncounter': return synthetic('ClinicalDocument', [synthetic('componentOf', [root])]);
    case 'assignedAuthor': return synthetic('ClinicalDocument', [synthetic('author', [root])]);
    default:
      if (HEADER_ELEMENTS.has(root.local)) return synthetic('ClinicalDocument', [root]);
      if (ENTRY_ELEMENTS.has(root.local)) return inSection([synthetic('entry', [root])]);
      // Another piece of a CDA document (an address, a participant role …): nothing clinical to
      // convert, which is an honest empty result rather than a failure.
      if (root.ns === '' || root.ns === 'urn:hl7-org:v3' || root.ns === 'urn:hl7-org:sdtc') return synthetic('ClinicalDocument', [synthetic('fragment', [root])]);
      return undefined;
  }
}

interface HeaderRefs {
  authors: string[];
  authorTime?: string;
  custodian?: string;
  legal?: { party: string; time?: string };
}

function headerParties(ctx: ConversionContext, doc: XmlElement): HeaderRefs {
  const out: HeaderRefs = { authors: [] };
  for (const a of children(doc, 'author')) {
    const p = assignedParty(ctx, child(a, 'assignedAuthor'));
    const ref = p.actor ?? p.organization;
    if (ref !== undefined && !out.authors.includes(ref)) out.authors.push(ref);
    const t = tsToDateTime(child(a, 'time')?.attrs.value);
    if (t !== undefined && out.authorTime === undefined) out.authorTime = t;
  }
  out.custodian = organization(ctx, path(doc, 'custodian', 'assignedCustodian', 'representedCustodianOrganization'));
  const legal = child(doc, 'legalAuthenticator');
  if (legal !== undefined) {
    const p = assignedParty(ctx, child(legal, 'assignedEntity'));
    const party = p.actor ?? p.organization;
    if (party !== undefined && !party.startsWith('Device/')) out.legal = { party, time: tsToDateTime(child(legal, 'time')?.attrs.value) };
  }
  for (const a of children(doc, 'authenticator')) assignedParty(ctx, child(a, 'assignedEntity'));
  for (const d of children(doc, 'dataEnterer')) assignedParty(ctx, child(d, 'assignedEntity'));
  for (const r of children(doc, 'informationRecipient')) assignedParty(ctx, child(r, 'intendedRecipient'));
  for (const inf of children(doc, 'informant')) {
    const re = child(inf, 'relatedEntity');
    if (re !== undefined) relatedPerson(ctx, re, child(re, 'relatedPerson'));
    else assignedParty(ctx, child(inf, 'assignedEntity'));
  }
  for (const part of children(doc, 'participant')) {
    const ae = child(part, 'associatedEntity');
    if (ae === undefined) continue;
    const person = child(ae, 'associatedPerson');
    if (person !== undefined) relatedPerson(ctx, ae, person);
    else organization(ctx, child(ae, 'scopingOrganization'));
  }
  // Service event performers: the care team for the documented care.
  for (const docOf of children(doc, 'documentationOf')) {
    const se = child(docOf, 'serviceEvent');
    const members: Json[] = [];
    for (const perf of children(se, 'performer')) {
      const p = assignedParty(ctx, child(perf, 'assignedEntity'));
      if (p.actor === undefined || p.actor.startsWith('Device/')) continue;
      const m: Json = { member: { reference: p.actor } };
      const role = codeableConcept(child(perf, 'functionCode'), ctx.lookup) ?? codeableConcept(path(perf, 'assignedEntity', 'code'), ctx.lookup);
      if (role !== undefined) m.role = [role];
      if (p.organization !== undefined && p.organization !== p.actor) m.onBehalfOf = { reference: p.organization };
      const mp = period(timeOf(child(perf, 'time')));
      if (mp !== undefined) m.period = mp;
      members.push(m);
    }
    if (members.length === 0) continue;
    const team: FhirResource = { resourceType: 'CareTeam', id: ctx.id('CareTeam', `serviceEvent:${idKey(child(se, 'id')) ?? ''}`) };
    team.status = 'active';
    const code = codeableConcept(child(se, 'code'), ctx.lookup);
    if (code?.text !== undefined) team.name = code.text;
    team.subject = { reference: ctx.patientRef };
    const p = period(timeOf(child(se, 'effectiveTime')));
    if (p !== undefined) team.period = p;
    team.participant = members;
    ctx.add(team);
  }
  return out;
}

const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';

function encompassingEncounter(ctx: ConversionContext, doc: XmlElement): string | undefined {
  const ee = path(doc, 'componentOf', 'encompassingEncounter');
  if (ee === undefined) return undefined;
  const e: FhirResource = { resourceType: 'Encounter', id: ctx.id('Encounter', `header:${idKey(child(ee, 'id')) ?? ''}`) };
  const ids = collect(children(ee, 'id').map(identifier));
  if (ids.length) e.identifier = ids;
  const t = timeOf(child(ee, 'effectiveTime'));
  e.status = t.high !== undefined || child(ee, 'dischargeDispositionCode') !== undefined ? 'finished' : t.low !== undefined || t.value !== undefined ? 'in-progress' : 'unknown';
  e.class = encounterClass(child(ee, 'code'));
  const type = codeableConcept(child(ee, 'code'), ctx.lookup);
  if (type !== undefined) e.type = [type];
  e.subject = { reference: ctx.patientRef };
  const participants: Json[] = [];
  const rp = assignedParty(ctx, path(ee, 'responsibleParty', 'assignedEntity'));
  if (rp.actor?.startsWith('Practitioner/')) participants.push({ type: [{ coding: [{ system: PARTICIPATION, code: 'ATND', display: 'attender' }] }], individual: { reference: rp.actor } });
  for (const ep of children(ee, 'encounterParticipant')) {
    const p = assignedParty(ctx, child(ep, 'assignedEntity'));
    if (!p.actor?.startsWith('Practitioner/')) continue;
    const tc = ep.attrs.typeCode ?? 'PART';
    const item: Json = { type: [{ coding: [{ system: PARTICIPATION, code: tc }] }], individual: { reference: p.actor } };
    const pp = period(timeOf(child(ep, 'time')));
    if (pp !== undefined) item.period = pp;
    participants.push(item);
  }
  if (participants.length) e.participant = participants;
  const p = period(t);
  if (p !== undefined) e.period = p;
  const dispo = codeableConcept(child(ee, 'dischargeDispositionCode'), ctx.lookup);
  if (dispo !== undefined) e.hospitalization = { dischargeDisposition: dispo };
  const facility = path(ee, 'location', 'healthCareFacility');
  const loc = location(ctx, facility);
  if (loc !== undefined) e.location = [{ location: { reference: loc } }];
  const sp = organization(ctx, child(facility, 'serviceProviderOrganization'));
  if (sp !== undefined) e.serviceProvider = { reference: sp };
  return ctx.add(e);
}

// Document types that record one encounter or procedure (the serviceEvent is that encounter's act),
// unlike a CCD, Care Plan or Referral whose "care provision" serviceEvent spans the patient's history.
const ENCOUNTER_DOCS: Record<string, Json | undefined> = {
  '2.16.840.1.113883.10.20.22.1.3': undefined, // History and Physical
  '2.16.840.1.113883.10.20.22.1.4': undefined, // Consultation Note
  '2.16.840.1.113883.10.20.22.1.5': undefined, // Diagnostic Imaging Report
  '2.16.840.1.113883.10.20.22.1.6': undefined, // Procedure Note
  '2.16.840.1.113883.10.20.22.1.7': undefined, // Operative Note
  '2.16.840.1.113883.10.20.22.1.8': { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' }, // Discharge Summary
  '2.16.840.1.113883.10.20.22.1.9': undefined, // Progress Note
  '2.16.840.1.113883.10.20.22.1.13': undefined, // Transfer Summary
};

/**
 * documentationOf/serviceEvent → Encounter, when the header has no componentOf/encompassingEncounter:
 * for documents about one encounter (the types above) or a serviceEvent that is not "care provision"
 * (PCPR). A CCD's PCPR serviceEvent (the span of care summarised) is not an encounter and gives none
 * (it stays Composition.event and the CareTeam).
 */
function serviceEventEncounter(ctx: ConversionContext, doc: XmlElement): string | undefined {
  const roots = children(doc, 'templateId').map((t) => t.attrs.root ?? '');
  const docType = roots.find((r) => r in ENCOUNTER_DOCS);
  let i = 0;
  for (const docOf of children(doc, 'documentationOf')) {
    const se = child(docOf, 'serviceEvent');
    if (se === undefined) continue;
    const pos = i++;
    const classCode = se.attrs.classCode ?? 'ACT';
    if (docType === undefined && classCode === 'PCPR') continue;
    const e: FhirResource = { resourceType: 'Encounter', id: ctx.id('Encounter', `serviceEvent:${idKey(child(se, 'id')) ?? `#${pos}`}`) };
    const ids = collect(children(se, 'id').map(identifier));
    if (ids.length) e.identifier = ids;
    const t = timeOf(child(se, 'effectiveTime'));
    e.status = t.high !== undefined || t.value !== undefined ? 'finished' : t.low !== undefined ? 'in-progress' : 'unknown';
    e.class = (docType !== undefined ? ENCOUNTER_DOCS[docType] : undefined) ?? encounterClass(child(se, 'code'));
    const type = codeableConcept(child(se, 'code'), ctx.lookup);
    if (type !== undefined) e.type = [type];
    e.subject = { reference: ctx.patientRef };
    const participants: Json[] = [];
    for (const perf of children(se, 'performer')) {
      const p = assignedParty(ctx, child(perf, 'assignedEntity'));
      if (!p.actor?.startsWith('Practitioner/')) continue;
      const tc = perf.attrs.typeCode === 'PPRF' || perf.attrs.typeCode === 'SPRF' ? perf.attrs.typeCode : 'PRF';
      const item: Json = { type: [{ coding: [{ system: PARTICIPATION, code: tc }] }], individual: { reference: p.actor } };
      const pp = period(timeOf(child(perf, 'time')));
      if (pp !== undefined) item.period = pp;
      participants.push(item);
    }
    if (participants.length) e.participant = participants;
    const p = period(t);
    if (p !== undefined) e.period = p;
    return ctx.add(e);
  }
  return undefined;
}

function carePlan(ctx: ConversionContext, doc: XmlElement, sections: SectionResult[]): void {
  const isCarePlanDoc = children(doc, 'templateId').some((t) => t.attrs.root === CARE_PLAN_DOC);
  const all = flatten(sections);
  const planRefs = all.filter((s) => s.kind === 'plan').flatMap((s) => s.refs).filter((r) => /^(ServiceRequest|MedicationRequest|Procedure|Encounter|Immunization)\//.test(r));
  const goals = all.flatMap((s) => s.refs).filter((r) => r.startsWith('Goal/'));
  if (!isCarePlanDoc && planRefs.length === 0) return;
  const concerns = all.filter((s) => s.kind === 'healthConcerns').flatMap((s) => s.refs).filter((r) => r.startsWith('Condition/'));
  const cp: FhirResource = { resourceType: 'CarePlan', id: ctx.id('CarePlan', 'document') };
  cp.status = isCarePlanDoc ? 'active' : 'active';
  cp.intent = 'plan';
  cp.category = [{ coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/careplan-category', code: 'assess-plan', display: 'Assessment and Plan of Treatment' }] }];
  const title = clean(textContent(child(doc, 'title')));
  if (title !== undefined) cp.title = title;
  cp.subject = { reference: ctx.patientRef };
  const p = period(timeOf(path(doc, 'documentationOf', 'serviceEvent', 'effectiveTime')));
  if (p !== undefined) cp.period = p;
  if (concerns.length) cp.addresses = concerns.map((r) => ({ reference: r }));
  if (goals.length) cp.goal = goals.map((r) => ({ reference: r }));
  // Requests are the plan's activities; things already done are their outcomes.
  if (planRefs.length) cp.activity = planRefs.map((r) => (/^(ServiceRequest|MedicationRequest)\//.test(r) ? { reference: { reference: r } } : { outcomeReference: [{ reference: r }] }));
  const planText = all.filter((s) => s.kind === 'plan').map((s) => sectionPlainText(s.element)).filter((x) => x !== undefined).join('\n');
  cp.text = { status: 'generated', div: xhtmlDiv(planText || title || 'Care plan') };
  ctx.add(cp);
}

function flatten(sections: SectionResult[]): SectionResult[] {
  return sections.flatMap((s) => [s, ...flatten(s.subsections)]);
}

function sectionPlainText(section: XmlElement): string | undefined {
  const text = child(section, 'text');
  if (text === undefined) return undefined;
  const parts: string[] = [];
  const walk = (el: XmlElement): void => {
    for (const c of el.children) {
      if (c.type === 'text') parts.push(c.text);
      else {
        walk(c);
        if (c.local === 'paragraph' || c.local === 'tr' || c.local === 'item' || c.local === 'br' || c.local === 'caption') parts.push('\n');
        else if (c.local === 'td' || c.local === 'th') parts.push(' | ');
      }
    }
  };
  walk(text);
  const s = parts.join('').split('\n').map((l) => l.replace(/\s+/g, ' ').replace(/\s*\|\s*$/, '').trim()).filter((l) => l !== '').join('\n');
  return s === '' ? undefined : s;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function xhtmlDiv(text: string): string {
  const lines = text.split('\n').map((l) => `<p>${escapeXml(l)}</p>`).join('');
  return `<div xmlns="http://www.w3.org/1999/xhtml">${lines}</div>`;
}

function compositionSection(ctx: ConversionContext, s: SectionResult): Json | undefined {
  const out: Json = {};
  const title = clean(textContent(child(s.element, 'title')));
  if (title !== undefined) out.title = title;
  const code = codeableConcept(child(s.element, 'code'), ctx.lookup);
  if (code !== undefined) out.code = code;
  const div = narrativeDiv(child(s.element, 'text'));
  if (div !== undefined) out.text = { status: 'generated', div };
  const refs = s.refs.filter((r) => ctx.has(r));
  if (refs.length) out.entry = refs.map((r) => ({ reference: r }));
  const subs = collect(s.subsections.map((x) => compositionSection(ctx, x)));
  if (subs.length) out.section = subs;
  if (out.text === undefined && out.entry === undefined && out.section === undefined) {
    if (s.element.attrs.nullFlavor === undefined && title === undefined) return undefined;
    out.emptyReason = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/list-empty-reason', code: 'unavailable', display: 'Unavailable' }] };
  }
  return out;
}

function compositionOf(ctx: ConversionContext, doc: XmlElement, pat: FhirResource, header: HeaderRefs, encounterRef: string | undefined, sections: SectionResult[]): string | undefined {
  const c: FhirResource = { resourceType: 'Composition', id: ctx.id('Composition', 'document') };
  const docId = identifier(child(doc, 'id'));
  if (docId !== undefined) c.identifier = docId;
  c.status = 'final';
  c.type = codeableConcept(child(doc, 'code'), ctx.lookup) ?? { coding: [{ system: LOINC, code: '34133-9', display: 'Summary of episode note' }] };
  c.subject = { reference: `Patient/${pat.id}` };
  if (encounterRef !== undefined) c.encounter = { reference: encounterRef };
  const date = tsToDateTime(child(doc, 'effectiveTime')?.attrs.value) ?? header.authorTime;
  if (date === undefined) {
    ctx.warn('incomplete', 'Document has no effectiveTime or author time: no Composition');
    return undefined;
  }
  c.date = date;
  const authorRefs = header.authors.length ? header.authors : header.custodian !== undefined ? [header.custodian] : [];
  if (authorRefs.length === 0) {
    ctx.warn('incomplete', 'Document has no author: no Composition');
    return undefined;
  }
  c.author = authorRefs.map((r) => ({ reference: r }));
  c.title = clean(textContent(child(doc, 'title'))) ?? (c.type as { text?: string }).text ?? 'Clinical document';
  const conf = child(doc, 'confidentialityCode')?.attrs.code;
  if (conf !== undefined && /^(U|L|M|N|R|V)$/.test(conf)) c.confidentiality = conf;
  if (header.legal !== undefined) {
    const att: Json = { mode: 'legal', party: { reference: header.legal.party } };
    if (header.legal.time !== undefined) att.time = header.legal.time;
    c.attester = [att];
  }
  if (header.custodian !== undefined) c.custodian = { reference: header.custodian };
  const events: Json[] = [];
  for (const docOf of children(doc, 'documentationOf')) {
    const se = child(docOf, 'serviceEvent');
    if (se === undefined) continue;
    const ev: Json = {};
    const code = codeableConcept(child(se, 'code'), ctx.lookup);
    if (code !== undefined) ev.code = [code];
    const p = period(timeOf(child(se, 'effectiveTime')));
    if (p !== undefined) ev.period = p;
    if (Object.keys(ev).length) events.push(ev);
  }
  if (events.length) c.event = events;
  const relates: Json[] = [];
  for (const rd of children(doc, 'relatedDocument')) {
    const tc = rd.attrs.typeCode;
    const target = identifier(path(rd, 'parentDocument', 'id'));
    const code = tc === 'RPLC' ? 'replaces' : tc === 'XFRM' ? 'transforms' : tc === 'APND' ? 'appends' : undefined;
    if (code !== undefined && target !== undefined) relates.push({ code, targetIdentifier: target });
  }
  if (relates.length) c.relatesTo = relates;
  const secs = collect(sections.map((s) => compositionSection(ctx, s)));
  if (secs.length) c.section = secs;
  return ctx.add(c);
}

function documentReference(ctx: ConversionContext, doc: XmlElement, header: HeaderRefs, encounterRef: string | undefined, nonXml: XmlElement | undefined, composition: string | undefined): void {
  const d: FhirResource = { resourceType: 'DocumentReference', id: ctx.id('DocumentReference', 'document') };
  const docId = identifier(child(doc, 'id'));
  if (docId !== undefined) d.masterIdentifier = docId;
  const setId = identifier(child(doc, 'setId'));
  if (setId !== undefined) d.identifier = [setId];
  d.status = 'current';
  d.docStatus = 'final';
  d.type = codeableConcept(child(doc, 'code'), ctx.lookup) ?? { coding: [{ system: LOINC, code: '34133-9' }] };
  d.category = [{ coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category', code: 'clinical-note', display: 'Clinical Note' }] }];
  d.subject = { reference: ctx.patientRef };
  const date = tsToDateTime(child(doc, 'effectiveTime')?.attrs.value);
  if (date !== undefined && date.length > 10) d.date = date; // DocumentReference.date is an instant
  if (header.authors.length) d.author = header.authors.map((r) => ({ reference: r }));
  if (header.legal !== undefined && header.legal.party.startsWith('Practitioner/')) d.authenticator = { reference: header.legal.party };
  if (header.custodian !== undefined) d.custodian = { reference: header.custodian };
  const title = clean(textContent(child(doc, 'title')));
  if (title !== undefined) d.description = title;
  const conf = child(doc, 'confidentialityCode')?.attrs.code;
  if (conf !== undefined && /^(U|L|M|N|R|V)$/.test(conf)) d.securityLabel = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: conf }] }];
  const attachment: Json = {};
  const formatCode = { system: 'http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem', code: 'urn:hl7-org:sdwg:ccda-structuredBody:2.1' };
  let format: Json | undefined = formatCode;
  if (nonXml !== undefined) {
    const text = child(nonXml, 'text');
    const media = text?.attrs.mediaType ?? 'text/plain';
    attachment.contentType = media;
    const ref = child(text, 'reference')?.attrs.value;
    if (text?.attrs.representation === 'B64') {
      // Not re-checked here: the validator checks base64Binary, and drops the reference if it is bad.
      const data = textContent(text).replace(/\s+/g, '');
      if (data.length > 0) attachment.data = data;
    } else if (ref !== undefined && /^[a-z]+:\S+$/i.test(ref)) attachment.url = ref;
    else {
      const plain = edText(text, ctx.lookup);
      if (plain !== undefined) attachment.data = Buffer.from(plain, 'utf8').toString('base64');
    }
    format = { system: formatCode.system, code: 'urn:hl7-org:sdwg:ccda-nonXMLBody:2.1' };
  } else {
    attachment.contentType = 'application/xml';
  }
  if (title !== undefined) attachment.title = title;
  if (date !== undefined) attachment.creation = date.length > 10 ? date : undefined;
  if (attachment.creation === undefined) delete attachment.creation;
  d.content = [{ attachment, format }];
  const context: Json = {};
  if (encounterRef !== undefined) context.encounter = [{ reference: encounterRef }];
  const p = period(timeOf(path(doc, 'documentationOf', 'serviceEvent', 'effectiveTime')));
  if (p !== undefined) context.period = p;
  const event = codeableConcept(path(doc, 'documentationOf', 'serviceEvent', 'code'), ctx.lookup);
  if (event !== undefined) context.event = [event];
  if (composition !== undefined) context.related = [{ reference: composition }];
  if (Object.keys(context).length) d.context = context;
  ctx.add(d);
}

// ---- Validation, dangling references, result ----

/** Removes references to resources that are not in the bundle; returns true when something changed. */
function pruneReferences(node: unknown, present: Set<string>): boolean {
  let changed = false;
  const isDangling = (v: unknown): boolean => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    const r = (v as { reference?: unknown }).reference;
    return typeof r === 'string' && /^[A-Z][A-Za-z]+\/[A-Za-z0-9.-]+$/.test(r) && !present.has(r);
  };
  const visit = (obj: unknown): void => {
    if (Array.isArray(obj)) {
      for (let i = obj.length - 1; i >= 0; i--) {
        const item = obj[i];
        // An array item wrapping only a dangling reference ({reference} or {actor:{reference}}) goes entirely.
        const dangling = isDangling(item) || typeof item === 'object' && item !== null && Object.values(item as Json).some((v) => isDangling(v) && Object.keys(item as Json).length <= 2 && ['actor', 'member', 'individual', 'condition', 'location', 'reference', 'manipulated', 'detail', 'party'].some((k) => (item as Json)[k] === v));
        if (dangling) {
          obj.splice(i, 1);
          changed = true;
        } else visit(item);
      }
    } else if (typeof obj === 'object' && obj !== null) {
      for (const [k, v] of Object.entries(obj)) {
        if (isDangling(v)) {
          delete (obj as Json)[k];
          changed = true;
        } else {
          visit(v);
          if (Array.isArray(v) && v.length === 0) {
            delete (obj as Json)[k];
            changed = true;
          }
        }
      }
    }
  };
  visit(node);
  return changed;
}

function finish(ctx: ConversionContext): ConversionResult {
  const kept = new Map(ctx.resources);
  const droppedByType: Record<string, number> = {};
  const issues: OutcomeIssue[] = [...ctx.issues];
  let dropped = 0;
  const invalid = new Set<string>();
  // Validate, drop the invalid, strip references to them, and re-check what changed (bounded passes).
  let toCheck = [...kept.keys()];
  for (let pass = 0; pass < 4 && toCheck.length > 0; pass++) {
    const removed: string[] = [];
    for (const ref of toCheck) {
      const res = kept.get(ref);
      if (res === undefined) continue;
      const problems = validateResource(res).filter((p) => p.severity === 'error');
      if (problems.length === 0) continue;
      kept.delete(ref);
      invalid.add(ref);
      removed.push(ref);
      dropped++;
      droppedByType[res.resourceType] = (droppedByType[res.resourceType] ?? 0) + 1;
      if (issues.length < 1000) {
        issues.push({ severity: 'error', code: 'invalid', diagnostics: `${res.resourceType} dropped: ${problems.slice(0, 3).map((p) => `${p.path}: ${p.message}`).join('; ')}`, expression: [ref] });
      }
    }
    if (removed.length === 0) break;
    const present = new Set(kept.keys());
    toCheck = [];
    for (const [ref, res] of kept) if (pruneReferences(res, present)) toCheck.push(ref);
  }
  const resourcesByType: Record<string, number> = {};
  const entry = [...kept.values()].map((resource) => {
    resourcesByType[resource.resourceType] = (resourcesByType[resource.resourceType] ?? 0) + 1;
    return { fullUrl: `urn:uuid:${resource.id}`, resource };
  });
  if (issues.length === 0) issues.push({ severity: 'information', code: 'informational', diagnostics: `Converted ${entry.length} resources` });
  return {
    bundle: { resourceType: 'Bundle', type: 'collection', entry },
    outcome: { resourceType: 'OperationOutcome', issue: issues },
    stats: { resourcesByType, dropped, droppedByType },
    ok: true,
  };
}
