// HTTP connectors for EHR networks (FHIR-style discovery + document exchange) and pharmacy networks
// (NCPDP SCRIPT RxHistoryRequest/Response). Timeouts and network errors become ConnectorError('unreachable').
import { Agent, request } from 'undici';
import { rxHistoryRequest } from '../sim/ncpdp.ts';
import { parseXml, type XmlElement } from '../../documents/xml/index.ts';
import {
  ConnectorError, type DiscoveredPerson, type DocumentListing, type EhrConnector, type NetworkService,
  type PatientDemographics, type PharmacyConnector, type PharmacyHistory, type RetrievedDocument,
} from './types.ts';

export interface HttpConnectorOptions {
  service: NetworkService;
  baseUrl: string;
  /** per request, ms (default 30 s) */
  timeoutMs?: number;
  /** candidates closer than this to the best score make the match ambiguous (default 0.05) */
  ambiguityMargin?: number;
  /** lowest score accepted as a match (default 0.85) */
  minScore?: number;
  maxDocumentBytes?: number;
  dispatcher?: Agent;
}

const sharedAgent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });

async function call(o: HttpConnectorOptions, method: 'GET' | 'POST', url: string, body?: string, contentType?: string): Promise<{ status: number; text: string; type: string }> {
  const timeout = o.timeoutMs ?? 30_000;
  try {
    const res = await request(url, {
      method,
      body,
      headers: contentType ? { 'content-type': contentType, accept: '*/*' } : { accept: '*/*' },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      signal: AbortSignal.timeout(timeout),
      dispatcher: o.dispatcher ?? sharedAgent,
    });
    const limit = o.maxDocumentBytes ?? 25 * 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body) {
      size += (c as Buffer).length;
      if (size > limit) {
        res.body.destroy();
        throw new ConnectorError('protocol', `${o.service}: response larger than ${limit} bytes`);
      }
      chunks.push(c as Buffer);
    }
    const type = String(res.headers['content-type'] ?? '');
    if (res.statusCode >= 500) throw new ConnectorError('unreachable', `${o.service} answered ${res.statusCode}`);
    return { status: res.statusCode, text: Buffer.concat(chunks).toString('utf8'), type };
  } catch (err) {
    if (err instanceof ConnectorError) throw err;
    const e = err as { code?: string; name?: string; message?: string };
    throw new ConnectorError('unreachable', `${o.service} unreachable: ${e.code ?? e.name ?? ''} ${e.message ?? ''}`.trim());
  }
}

function json(o: HttpConnectorOptions, text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConnectorError('protocol', `${o.service} answered something that is not JSON`);
  }
}

export function httpEhrConnector(o: HttpConnectorOptions): EhrConnector {
  const base = o.baseUrl.replace(/\/$/, '');
  return {
    service: o.service,
    async discover(p: PatientDemographics): Promise<DiscoveredPerson | null> {
      const patient = {
        resourceType: 'Patient',
        name: [{ family: p.family, given: [p.given] }],
        gender: p.gender,
        birthDate: p.birthDate,
        address: [{ line: [p.line], city: p.city, state: p.state, postalCode: p.postalCode }],
        telecom: [...(p.phone ? [{ system: 'phone', value: p.phone }] : []), ...(p.email ? [{ system: 'email', value: p.email }] : [])],
      };
      const r = await call(o, 'POST', `${base}/fhir/Patient/$match`, JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient }, { name: 'onlyCertainMatches', valueBoolean: false }] }), 'application/fhir+json');
      if (r.status === 422 || r.status === 400) {
        const oo = json(o, r.text);
        throw new ConnectorError('rejected', `${o.service} rejected the demographics: ${oo?.issue?.[0]?.diagnostics ?? r.status}`);
      }
      if (r.status !== 200) throw new ConnectorError('protocol', `${o.service} discovery answered ${r.status}`);
      const bundle = json(o, r.text);
      const candidates = ((bundle.entry ?? []) as any[])
        .map((e) => ({ id: String(e.resource?.id ?? ''), score: Number(e.search?.score ?? 0), identifier: e.resource?.identifier?.[0] }))
        .filter((c) => c.id)
        .sort((a, b) => b.score - a.score);
      const best = candidates[0];
      if (!best || best.score < (o.minScore ?? 0.85)) return null;
      // Never pick between near-identical candidates: a wrong person's records are worse than none.
      if (candidates[1] && best.score - candidates[1].score < (o.ambiguityMargin ?? 0.05)) return null;
      return { networkPatientId: best.id, score: best.score, identifier: best.identifier?.system && best.identifier?.value ? { system: best.identifier.system, value: best.identifier.value } : undefined };
    },
    async listDocuments(person: DiscoveredPerson): Promise<DocumentListing[]> {
      const r = await call(o, 'GET', `${base}/fhir/DocumentReference?patient=${encodeURIComponent(person.networkPatientId)}`);
      if (r.status === 404) return [];
      if (r.status !== 200) throw new ConnectorError('protocol', `${o.service} document list answered ${r.status}`);
      const bundle = json(o, r.text);
      return ((bundle.entry ?? []) as any[]).flatMap((e) => {
        const d = e.resource;
        const att = d?.content?.[0]?.attachment;
        if (!d?.id || !att?.url) return [];
        const coding = d.type?.coding?.[0];
        return [{ id: String(d.id), url: String(att.url), contentType: String(att.contentType ?? 'application/xml'), typeCode: coding?.code, typeDisplay: coding?.display, date: d.date }];
      });
    },
    async retrieve(doc: DocumentListing): Promise<RetrievedDocument> {
      const r = await call(o, 'GET', doc.url);
      if (r.status === 404 || r.status === 410) return { found: false, id: doc.id, status: r.status };
      if (r.status !== 200) throw new ConnectorError('protocol', `${o.service} document retrieval answered ${r.status}`);
      return { found: true, id: doc.id, contentType: r.type || doc.contentType, content: r.text };
    },
  };
}

const child = (e: XmlElement | undefined, name: string) => e?.children.find((c): c is XmlElement => c.type === 'element' && c.local === name);

export function httpPharmacyConnector(o: HttpConnectorOptions): PharmacyConnector {
  const base = o.baseUrl.replace(/\/$/, '');
  return {
    service: o.service,
    async medicationHistory(p: PatientDemographics, prescriberNpi: string, messageId: string): Promise<PharmacyHistory> {
      const body = rxHistoryRequest({ messageId, sentTime: new Date().toISOString(), patient: { ...p, gender: p.gender === 'female' ? 'female' : p.gender === 'male' ? 'male' : undefined } as any, prescriberNpi, consent: true });
      const r = await call(o, 'POST', `${base}/ncpdp/script`, body, 'application/xml');
      const parsed = parseXml(r.text, { maxBytes: o.maxDocumentBytes ?? 25 * 1024 * 1024 });
      if (!parsed.ok) throw new ConnectorError('protocol', `${o.service} answered malformed XML: ${parsed.error.message}`);
      const bodyEl = child(parsed.root, 'Body');
      const error = child(bodyEl, 'Error');
      if (error) {
        const code = (child(error, 'Code')?.children[0] as { text?: string } | undefined)?.text ?? '';
        const desc = (child(error, 'Description')?.children[0] as { text?: string } | undefined)?.text ?? '';
        if (code === '602' || code === '601') throw new ConnectorError('rejected', `${o.service} rejected the request: ${desc}`);
        throw new ConnectorError('protocol', `${o.service} error ${code}: ${desc}`);
      }
      const resp = child(bodyEl, 'RxHistoryResponse');
      if (!resp) throw new ConnectorError('protocol', `${o.service} answered without an RxHistoryResponse`);
      const denied = child(child(resp, 'Response'), 'Denied');
      if (denied) return { found: false, reason: (child(denied, 'DenialReason')?.children[0] as { text?: string } | undefined)?.text ?? 'denied' };
      return { found: true, xml: r.text, messageId };
    },
  };
}
