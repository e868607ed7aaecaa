// C-CDA documents for simulated people: real corpus documents whose header (recordTarget) and document id are
// rewritten for the synthetic person, so every person carries realistic clinical content.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Demographics } from './people.ts';

export interface CcdaTemplate {
  name: string;
  xml: string;
  /** LOINC document type code from the header, for DocumentReference.type */
  typeCode: string;
  typeDisplay: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function isClinicalDocument(xml: string): boolean {
  return xml.includes('<ClinicalDocument') && xml.includes('<recordTarget') && xml.includes('</recordTarget>');
}

/** Full C-CDA documents from the corpora (the section/entry fragments are skipped). */
export function loadCcdaTemplates(corporaDir: string): CcdaTemplate[] {
  const dirs = [join(corporaDir, 'ccda/ms-fhir-converter/SampleData/Ccda'), join(corporaDir, 'ccda/hl7-examples/Documents')];
  const files: string[] = [];
  const walk = (d: string) => {
    let names: string[] = [];
    try { names = readdirSync(d); } catch { return; }
    for (const n of names) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(xml|ccda)$/i.test(n)) files.push(p);
    }
  };
  dirs.forEach(walk);
  const out: CcdaTemplate[] = [];
  for (const f of files.sort()) {
    const xml = readFileSync(f, 'utf8');
    // Embedded PDFs make documents large without adding structured data; keep the corpus lean.
    if (!isClinicalDocument(xml) || xml.length > 400_000) continue;
    const code = /<ClinicalDocument[\s\S]*?<code\s[^>]*?code="([^"]+)"[^>]*?(?:displayName="([^"]*)")?/.exec(xml);
    out.push({ name: f.slice(corporaDir.length + 1), xml, typeCode: code?.[1] ?? '34133-9', typeDisplay: code?.[2] ?? 'Summary of episode note' });
  }
  return out;
}

function recordTargetXml(d: Demographics, personId: string, network: string): string {
  const g = d.gender === 'female' ? 'F' : 'M';
  return `<recordTarget>
    <patientRole>
      <id root="2.16.840.1.113883.3.7411.${network.length}" extension="${esc(personId)}"/>
      <addr use="HP"><streetAddressLine>${esc(d.line)}</streetAddressLine><city>${esc(d.city)}</city><state>${esc(d.state)}</state><postalCode>${esc(d.postalCode)}</postalCode><country>US</country></addr>
      ${d.phone ? `<telecom use="HP" value="tel:+1-${d.phone.slice(0, 3)}-${d.phone.slice(3, 6)}-${d.phone.slice(6)}"/>` : ''}
      ${d.email ? `<telecom value="mailto:${esc(d.email)}"/>` : ''}
      <patient>
        <name use="L"><given>${esc(d.given)}</given><family>${esc(d.family)}</family></name>
        <administrativeGenderCode code="${g}" codeSystem="2.16.840.1.113883.5.1" displayName="${d.gender === 'female' ? 'Female' : 'Male'}"/>
        <birthTime value="${d.birthDate.replace(/-/g, '')}"/>
        <languageCommunication><languageCode code="en"/></languageCommunication>
      </patient>
    </patientRole>
  </recordTarget>`;
}

/** The template with this person's header and a unique document id. */
export function personalizeCcda(template: CcdaTemplate, d: Demographics, personId: string, network: string, documentId: string): string {
  let xml = template.xml;
  const start = xml.indexOf('<recordTarget');
  const endTag = '</recordTarget>';
  const end = xml.lastIndexOf(endTag);
  if (start >= 0 && end > start) xml = xml.slice(0, start) + recordTargetXml(d, personId, network) + xml.slice(end + endTag.length);
  // The document id is the first <id> child of ClinicalDocument, before any recordTarget.
  const docStart = xml.indexOf('<ClinicalDocument');
  const idMatch = /<id\s[^>]*?\/>/.exec(xml.slice(docStart));
  if (idMatch && docStart + idMatch.index < xml.indexOf('<recordTarget')) {
    const at = docStart + idMatch.index;
    xml = xml.slice(0, at) + `<id root="2.16.840.1.113883.3.7411.99" extension="${esc(documentId)}"/>` + xml.slice(at + idMatch[0].length);
  }
  return xml;
}

/** Fault: a document cut in half (not well-formed XML). */
export function malform(xml: string): string {
  return xml.slice(0, Math.floor(xml.length / 2));
}

/**
 * Fault: entries whose converted resources fail FHIR validation. Every <effectiveTime>/<time> value in the body
 * becomes an impossible date, and observation values lose their numbers, so converters either drop the
 * affected resources (counted as skipped) or produce invalid ones that validation rejects.
 */
export function poisonEntries(xml: string): string {
  const body = xml.indexOf('<component>');
  if (body < 0) return xml;
  const head = xml.slice(0, body);
  const rest = xml.slice(body)
    .replace(/(<(?:low|high|effectiveTime|time)\s[^>]*?value=")(\d{8,14})/g, '$119991399')
    .replace(/(<value\s[^>]*?xsi:type="PQ"[^>]*?value=")([^"]*)/g, '$1not-a-number');
  return head + rest;
}
