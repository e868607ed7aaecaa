// People, organizations, devices and places: Patient, Practitioner, PractitionerRole, Organization,
// Device (authoring software), RelatedPerson, Location.
import { type XmlElement, child, children, path, attrLocal, textContent } from '../xml/index.ts';
import type { FhirResource } from '../types.ts';
import type { ConversionContext } from './context.ts';
import {
  type Json, address, clean, codeableConcept, collect, contactPoint, edText, humanName, idKey, identifiers,
  period, timeOf, tsToDate, tsToDateTime,
} from './datatypes.ts';
import { US_CORE } from './codes.ts';

function partyKey(ids: XmlElement[], fallback: unknown): string {
  const keys = collect(ids.map(idKey));
  return keys.length > 0 ? keys.sort()[0] : JSON.stringify(fallback);
}

/** Organization from an organization element (representedOrganization, scopingOrganization, …). */
// The same participation element is met several times (authors of nested entries …); build once.
const orgCache = new WeakMap<ConversionContext, WeakMap<XmlElement, string | undefined>>();
const partyCache = new WeakMap<ConversionContext, WeakMap<XmlElement, PartyRefs>>();

function cacheFor<T>(store: WeakMap<ConversionContext, WeakMap<XmlElement, T>>, ctx: ConversionContext): WeakMap<XmlElement, T> {
  let m = store.get(ctx);
  if (m === undefined) {
    m = new WeakMap();
    store.set(ctx, m);
  }
  return m;
}

export function organization(ctx: ConversionContext, el: XmlElement | undefined): string | undefined {
  if (el === undefined) return undefined;
  const cache = cacheFor(orgCache, ctx);
  if (cache.has(el)) return cache.get(el);
  let sig = 'org:';
  for (const c of el.children) if (c.type === 'element' && c.local === 'id') sig += `${c.attrs.root ?? ''}^${c.attrs.extension ?? ''};`;
  sig += textContent(child(el, 'name'));
  const ref = ctx.memo.has(sig) ? (ctx.memo.get(sig) as string | undefined) : buildOrganization(ctx, el);
  ctx.memo.set(sig, ref);
  cache.set(el, ref);
  return ref;
}

function buildOrganization(ctx: ConversionContext, el: XmlElement): string | undefined {
  if (el.attrs.nullFlavor !== undefined && el.children.length === 0) return undefined;
  const name = clean(edText(child(el, 'name'), ctx.lookup));
  const ident = identifiers(el);
  if (name === undefined && ident.length === 0) return undefined;
  const org: FhirResource = { resourceType: 'Organization' };
  org.id = ctx.id('Organization', partyKey(children(el, 'id'), name));
  if (ident.length) org.identifier = ident;
  org.active = true;
  if (name !== undefined) org.name = name;
  const telecom = collect(children(el, 'telecom').map(contactPoint));
  if (telecom.length) org.telecom = telecom;
  const addr = collect(children(el, 'addr').map(address));
  if (addr.length) org.address = addr;
  const partOf = organization(ctx, path(el, 'asOrganizationPartOf', 'wholeOrganization'));
  if (partOf !== undefined && partOf !== `Organization/${org.id}`) org.partOf = { reference: partOf };
  return ctx.add(org);
}

export interface PartyRefs {
  /** The individual: Practitioner, Device, RelatedPerson or Organization. */
  actor?: string;
  organization?: string;
  role?: string;
}

/**
 * assignedEntity / assignedAuthor / associatedEntity → Practitioner (+ PractitionerRole and
 * Organization), or Device for authoring software, or Organization when only an organization is named.
 */
export function assignedParty(ctx: ConversionContext, el: XmlElement | undefined): PartyRefs {
  if (el === undefined) return {};
  const cache = cacheFor(partyCache, ctx);
  const hit = cache.get(el);
  if (hit !== undefined) return hit;
  // Big documents repeat the same author (same id) on every entry: build it once per document.
  const sig = partySignature(el);
  const seen = sig === undefined ? undefined : ctx.memo.get(sig);
  const refs = (seen as PartyRefs | undefined) ?? buildAssignedParty(ctx, el);
  if (sig !== undefined && seen === undefined) ctx.memo.set(sig, refs);
  cache.set(el, refs);
  return refs;
}

/** Ids (with extensions) of the party and of its organization, or undefined when it has none. */
function partySignature(el: XmlElement): string | undefined {
  let sig = '';
  for (const c of el.children) {
    if (c.type === 'element' && c.local === 'id' && c.attrs.extension !== undefined && c.attrs.nullFlavor === undefined) sig += `${c.attrs.root ?? ''}^${c.attrs.extension};`;
  }
  if (sig === '') return undefined;
  const org = child(el, 'representedOrganization') ?? child(el, 'scopingOrganization');
  for (const c of org?.children ?? []) if (c.type === 'element' && c.local === 'id') sig += `@${c.attrs.root ?? ''}^${c.attrs.extension ?? ''}`;
  const kind = child(el, 'assignedPerson') !== undefined ? 'P' : child(el, 'assignedAuthoringDevice') !== undefined ? 'D' : 'O';
  return `party:${kind}:${sig}`;
}

function buildAssignedParty(ctx: ConversionContext, el: XmlElement): PartyRefs {
  const out: PartyRefs = {};
  const orgEl = child(el, 'representedOrganization') ?? child(el, 'scopingOrganization') ?? child(el, 'representedCustodianOrganization') ?? child(el, 'receivedOrganization');
  out.organization = organization(ctx, orgEl);
  // The person is named differently by role: assignedEntity/assignedAuthor, associatedEntity, intendedRecipient.
  const person = child(el, 'assignedPerson') ?? child(el, 'associatedPerson') ?? child(el, 'informationRecipient');
  const device = child(el, 'assignedAuthoringDevice');
  const telecom = collect(children(el, 'telecom').map(contactPoint));
  const addr = collect(children(el, 'addr').map(address));
  const ident = identifiers(el);
  if (person !== undefined) {
    const names = collect(children(person, 'name').map(humanName));
    if (names.length === 0 && ident.length === 0) return out;
    const p: FhirResource = { resourceType: 'Practitioner' };
    p.id = ctx.id('Practitioner', partyKey(children(el, 'id'), names));
    if (ident.length) p.identifier = ident;
    if (names.length) p.name = names;
    if (telecom.length) p.telecom = telecom;
    if (addr.length) p.address = addr;
    out.actor = ctx.add(p);
    const specialty = codeableConcept(child(el, 'code'), ctx.lookup);
    if (out.organization !== undefined || specialty !== undefined) {
      const role: FhirResource = { resourceType: 'PractitionerRole' };
      role.id = ctx.id('PractitionerRole', `${out.actor}|${out.organization ?? ''}|${JSON.stringify(specialty ?? '')}`);
      role.practitioner = { reference: out.actor };
      if (out.organization !== undefined) role.organization = { reference: out.organization };
      if (specialty !== undefined) role.specialty = [specialty];
      if (telecom.length) role.telecom = telecom;
      out.role = ctx.add(role);
    }
  } else if (device !== undefined) {
    const model = clean(edText(child(device, 'manufacturerModelName'), ctx.lookup));
    const software = clean(edText(child(device, 'softwareName'), ctx.lookup));
    if (model === undefined && software === undefined && ident.length === 0) return out;
    const d: FhirResource = { resourceType: 'Device' };
    d.id = ctx.id('Device', partyKey(children(el, 'id'), [model, software]));
    if (ident.length) d.identifier = ident;
    const names: Json[] = [];
    if (model !== undefined) names.push({ name: model, type: 'model-name' });
    if (software !== undefined) names.push({ name: software, type: 'user-friendly-name' });
    if (names.length) d.deviceName = names;
    if (software !== undefined) d.version = [{ value: software }];
    if (out.organization !== undefined) d.owner = { reference: out.organization };
    out.actor = ctx.add(d);
  } else {
    out.actor = out.organization;
  }
  return out;
}

/** References to the authors of an act (Practitioner or Device); and their earliest time. */
export function authors(ctx: ConversionContext, act: XmlElement): { refs: string[]; time?: string } {
  const refs: string[] = [];
  let time: string | undefined;
  for (const a of children(act, 'author')) {
    const t = tsToDateTime(child(a, 'time')?.attrs.value);
    if (t !== undefined && (time === undefined || t < time)) time = t;
    const p = assignedParty(ctx, child(a, 'assignedAuthor'));
    if (p.actor !== undefined && !refs.includes(p.actor)) refs.push(p.actor);
  }
  return time === undefined ? { refs } : { refs, time };
}

/** Practitioners of `performer` elements. */
export function performers(ctx: ConversionContext, act: XmlElement): PartyRefs[] {
  const out: PartyRefs[] = [];
  for (const p of children(act, 'performer')) {
    const party = assignedParty(ctx, child(p, 'assignedEntity'));
    if (party.actor !== undefined) out.push(party);
  }
  return out;
}

/** Location from a participantRole / healthCareFacility / place. */
export function location(ctx: ConversionContext, role: XmlElement | undefined): string | undefined {
  if (role === undefined) return undefined;
  const place = child(role, 'playingEntity') ?? child(role, 'location') ?? child(role, 'place');
  const name = clean(edText(child(place, 'name'), ctx.lookup)) ?? clean(edText(child(role, 'name'), ctx.lookup));
  const addr = address(child(role, 'addr') ?? child(place, 'addr'));
  const type = codeableConcept(child(role, 'code'), ctx.lookup);
  const ident = identifiers(role);
  if (name === undefined && addr === undefined && ident.length === 0 && type === undefined) return undefined;
  const loc: FhirResource = { resourceType: 'Location' };
  loc.id = ctx.id('Location', partyKey(children(role, 'id'), [name, addr, type]));
  if (ident.length) loc.identifier = ident;
  loc.status = 'active';
  if (name !== undefined) loc.name = name;
  else if (type?.text !== undefined) loc.name = type.text;
  if (type !== undefined) loc.type = [type];
  const telecom = collect(children(role, 'telecom').map(contactPoint));
  if (telecom.length) loc.telecom = telecom;
  if (addr !== undefined) loc.address = addr;
  const org = organization(ctx, child(role, 'serviceProviderOrganization'));
  if (org !== undefined) loc.managingOrganization = { reference: org };
  return ctx.add(loc);
}

const RACE_OMB = new Set(['1002-5', '2028-9', '2054-5', '2076-8', '2106-3']);
const ETHNICITY_OMB = new Set(['2135-2', '2186-5']);
const CDC_RACE = 'urn:oid:2.16.840.1.113883.6.238';

function raceLikeExtension(url: string, omb: Set<string>, codes: XmlElement[]): Json | undefined {
  const ext: Json[] = [];
  const texts: string[] = [];
  for (const c of codes) {
    const code = clean(c.attrs.code);
    const display = clean(c.attrs.displayName);
    if (code === undefined) {
      const nf = c.attrs.nullFlavor;
      if (nf === 'UNK' || nf === 'ASKU') {
        ext.push({ url: 'ombCategory', valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: nf, display: nf === 'UNK' ? 'Unknown' : 'Asked but no answer' } });
        texts.push(nf === 'UNK' ? 'Unknown' : 'Asked but no answer');
      }
      continue;
    }
    const coding: Json = { system: CDC_RACE, code };
    if (display !== undefined) coding.display = display;
    ext.push({ url: omb.has(code) ? 'ombCategory' : 'detailed', valueCoding: coding });
    texts.push(display ?? code);
  }
  if (ext.length === 0) return undefined;
  ext.push({ url: 'text', valueString: texts.join(', ') });
  return { url, extension: ext };
}

const GENDER: Record<string, string> = { M: 'male', F: 'female', UN: 'other', U: 'unknown', UNK: 'unknown' };
const GUARDIAN_REL = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';

/** recordTarget/patientRole → Patient (+ guardian RelatedPersons and managing Organization). */
export function patient(ctx: ConversionContext, role: XmlElement | undefined, fallbackKey: string): FhirResource {
  const p: FhirResource = { resourceType: 'Patient' };
  const pat = child(role, 'patient');
  p.id = ctx.id('Patient', partyKey(children(role, 'id'), fallbackKey));
  ctx.patientRef = `Patient/${p.id}`;
  const ext: Json[] = [];
  const raceCodes = children(pat, 'raceCode');
  const ethCodes = children(pat, 'ethnicGroupCode');
  const raceExt = raceLikeExtension(`${US_CORE}/us-core-race`, RACE_OMB, raceCodes);
  if (raceExt !== undefined) ext.push(raceExt);
  const ethExt = raceLikeExtension(`${US_CORE}/us-core-ethnicity`, ETHNICITY_OMB, ethCodes);
  if (ethExt !== undefined) ext.push(ethExt);
  const birthPlace = address(path(pat, 'birthplace', 'place', 'addr'));
  if (birthPlace !== undefined) ext.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueAddress: birthPlace });
  const religion = codeableConcept(child(pat, 'religiousAffiliationCode'), ctx.lookup);
  if (religion !== undefined) ext.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-religion', valueCodeableConcept: religion });
  if (ext.length) p.extension = ext;
  const ident = identifiers(role);
  const names = collect(children(pat, 'name').map(humanName));
  if (names.length) p.name = names;
  const telecom = collect(children(role, 'telecom').map(contactPoint));
  if (telecom.length) p.telecom = telecom;
  // Epic and others identify the patient by an id in the patient element itself (R1.1 allowed it).
  for (const id of identifiers(pat)) if (!ident.some((x) => x.system === id.system && x.value === id.value)) ident.push(id);
  if (ident.length) p.identifier = ident;
  const g = child(pat, 'administrativeGenderCode');
  const gender = g?.attrs.code !== undefined ? GENDER[g.attrs.code.toUpperCase()] : g?.attrs.nullFlavor !== undefined ? 'unknown' : undefined;
  if (gender !== undefined) p.gender = gender;
  const birth = tsToDate(child(pat, 'birthTime')?.attrs.value);
  if (birth !== undefined) p.birthDate = birth;
  const deceasedInd = child(pat, 'deceasedInd')?.attrs.value;
  const deceasedTime = tsToDateTime(child(pat, 'deceasedTime')?.attrs.value);
  if (deceasedTime !== undefined) p.deceasedDateTime = deceasedTime;
  else if (deceasedInd === 'true' || deceasedInd === 'false') p.deceasedBoolean = deceasedInd === 'true';
  const addr = collect(children(role, 'addr').map(address));
  if (addr.length) p.address = addr;
  const marital = codeableConcept(child(pat, 'maritalStatusCode'), ctx.lookup);
  if (marital !== undefined) p.maritalStatus = marital;
  const comms: Json[] = [];
  for (const lc of children(pat, 'languageCommunication')) {
    const code = clean(child(lc, 'languageCode')?.attrs.code);
    if (code === undefined) continue;
    const comm: Json = { language: { coding: [{ system: 'urn:ietf:bcp:47', code }] } };
    const pref = child(lc, 'preferenceInd')?.attrs.value;
    if (pref === 'true' || pref === 'false') comm.preferred = pref === 'true';
    comms.push(comm);
  }
  if (comms.length) p.communication = comms;
  // Claim US Core only when its must-haves (identifier, name, gender) are there.
  if (ident.length && names.length && gender !== undefined) p.meta = { profile: [`${US_CORE}/us-core-patient`] };
  const managing = organization(ctx, child(role, 'providerOrganization'));
  if (managing !== undefined) p.managingOrganization = { reference: managing };
  ctx.add(p);
  for (const guardian of children(pat, 'guardian')) {
    relatedPerson(ctx, guardian, child(guardian, 'guardianPerson'), { system: GUARDIAN_REL, code: 'GUARD', display: 'guardian' });
  }
  return p;
}

/** RelatedPerson for the patient from a guardian / associatedEntity / relatedEntity. */
export function relatedPerson(ctx: ConversionContext, role: XmlElement, person: XmlElement | undefined, extraRelationship?: Json): string | undefined {
  const names = collect(children(person, 'name').map(humanName));
  const telecom = collect(children(role, 'telecom').map(contactPoint));
  const addr = collect(children(role, 'addr').map(address));
  if (names.length === 0 && telecom.length === 0) return undefined;
  const rp: FhirResource = { resourceType: 'RelatedPerson' };
  rp.id = ctx.id('RelatedPerson', partyKey(children(role, 'id'), [names, telecom]));
  const ident = identifiers(role);
  if (ident.length) rp.identifier = ident;
  rp.active = true;
  rp.patient = { reference: ctx.patientRef };
  const rel: Json[] = [];
  const code = codeableConcept(child(role, 'code'), ctx.lookup);
  if (code !== undefined) rel.push(code);
  const classCode = role.attrs.classCode;
  if (classCode !== undefined && /^[A-Z]+$/.test(classCode) && classCode !== 'ASSIGNED') {
    rel.push({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleClass', code: classCode }] });
  }
  if (extraRelationship !== undefined) rel.push({ coding: [extraRelationship] });
  if (rel.length) rp.relationship = rel;
  if (names.length) rp.name = names;
  if (telecom.length) rp.telecom = telecom;
  if (addr.length) rp.address = addr;
  const p = period(timeOf(child(role, 'effectiveTime')));
  if (p !== undefined) rp.period = p;
  return ctx.add(rp);
}

/** The xsi:type of an element, without prefix. */
export function xsiType(el: XmlElement | undefined): string | undefined {
  return attrLocal(el, 'type');
}
