// The network simulator: a real HTTP server (one port per network plus an admin port) that plays two EHR
// networks (FHIR-style patient discovery + document exchange) and one pharmacy network (NCPDP SCRIPT
// RxHistoryRequest/Response over HTTP POST), with fault injection per network and per person.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { generateDemographics, matchScore, missingDemographics, prng, type Demographics } from './people.ts';
import { loadCcdaTemplates, malform, personalizeCcda, poisonEntries, type CcdaTemplate } from './ccda.ts';
import { fillHistory, ncpdpError, parseRxHistoryRequest, rxHistoryDenied, rxHistoryResponse } from './ncpdp.ts';
import { parseXml, type XmlElement } from '../../documents/xml/index.ts';
import { FeedSimulator, FEED_SIM_NETWORKS, type FeedSimNetwork, type PushTarget } from './feeds.ts';

export const NETWORKS = ['commonwell', 'carequality', 'surescripts'] as const;
export type NetworkName = (typeof NETWORKS)[number];
export const EHR_NETWORKS: NetworkName[] = ['commonwell', 'carequality'];

export interface Faults {
  /** added before every answer */
  latencyMs?: number;
  /** 'refused': the network's port is closed; '503': it answers 503 */
  outage?: 'refused' | '503' | null;
  /** accept requests and never answer */
  timeout?: boolean;
  /** document ids (or 'all') listed but answering 404 on retrieval */
  notFoundDocuments?: string[] | 'all';
  /** discovery rejects the demographics (422) */
  rejectDemographics?: boolean;
  /** discovery answers several close candidates */
  ambiguous?: boolean;
  /** retrieved documents are cut in half (not well-formed) */
  malformedDocuments?: boolean;
  /** retrieved documents carry entries that fail FHIR validation once converted */
  invalidEntries?: boolean;
}

interface SimDocument {
  id: string;
  network: NetworkName;
  template: number;
  date: string;
  /** a document loaded from a folder (its own XML, header kept) */
  xml?: string;
}

export interface SimPerson {
  id: string;
  demographics: Demographics;
  networks: NetworkName[];
  documents: SimDocument[];
  rxFills: number;
  faults: Partial<Record<NetworkName | '*', Faults>>;
}

export interface SimulatorOptions {
  seed?: number;
  people?: number;
  documentsPerPerson?: number;
  corporaDir: string;
  /** folder of extra C-CDA documents; each distinct patient header becomes a person */
  loadDir?: string;
  host?: string;
  /** admin port (0 = random); network ports default to random too */
  port?: number;
  ports?: Partial<Record<NetworkName, number>>;
  faults?: Partial<Record<NetworkName, Faults>>;
  /** "today" for generated dates, YYYY-MM-DD */
  asOf?: string;
  /** push networks (feeds.ts): where ADT / lab / pharmacy pushes go, and the lab network's query port */
  push?: PushTarget;
  labPort?: number;
}

export interface Simulator {
  adminUrl: string;
  /** the lab network (quest): POST /lab-history */
  labUrl: string;
  feeds: FeedSimulator;
  urls: Record<NetworkName, string>;
  people: SimPerson[];
  setFaults(network: NetworkName, faults: Faults | null): Promise<void>;
  setPersonFaults(personId: string, network: NetworkName | '*', faults: Faults | null): void;
  addPerson(demographics: Demographics, opts?: { documentsPerNetwork?: number; networks?: NetworkName[]; rxFills?: number }): SimPerson;
  stats: Record<string, number>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readBody(req: IncomingMessage, limit = 2_000_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/fhir+json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const outcome = (code: string, diagnostics: string) => ({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] });

/** Demographics from a FHIR Patient (as sent to $match). */
export function demographicsFromPatient(p: Record<string, any>): Partial<Demographics> {
  const name = (p.name ?? [])[0] ?? {};
  const addr = (p.address ?? [])[0] ?? {};
  const phone = (p.telecom ?? []).find((t: any) => t.system === 'phone')?.value;
  return {
    given: name.given?.[0],
    family: name.family,
    birthDate: p.birthDate,
    gender: p.gender,
    line: addr.line?.[0],
    city: addr.city,
    state: addr.state,
    postalCode: addr.postalCode,
    phone: phone ? String(phone).replace(/\D/g, '') : undefined,
  };
}

function patientResource(network: NetworkName, person: SimPerson) {
  const d = person.demographics;
  return {
    resourceType: 'Patient',
    id: `${network}-${person.id}`,
    identifier: [{ system: `urn:tessera:network-sim:${network}`, value: person.id }],
    name: [{ family: d.family, given: [d.given] }],
    gender: d.gender,
    birthDate: d.birthDate,
    address: [{ line: [d.line], city: d.city, state: d.state, postalCode: d.postalCode }],
    ...(d.phone ? { telecom: [{ system: 'phone', value: d.phone }] } : {}),
  };
}

/** Reads the recordTarget of a C-CDA document into demographics (for --load-dir). */
function demographicsFromCcda(xml: string): Demographics | null {
  const r = parseXml(xml);
  if (!r.ok) return null;
  const find = (e: XmlElement | undefined, ...names: string[]): XmlElement | undefined =>
    names.reduce<XmlElement | undefined>((acc, n) => acc?.children.find((c): c is XmlElement => c.type === 'element' && c.local === n), e);
  const text = (e?: XmlElement) => (e?.children ?? []).map((c) => (c.type === 'text' ? c.text : '')).join('').trim();
  const role = find(r.root, 'recordTarget', 'patientRole');
  const patient = find(role, 'patient');
  const name = find(patient, 'name');
  const addr = find(role, 'addr');
  const birth = find(patient, 'birthTime')?.attrs.value ?? '';
  const g = find(patient, 'administrativeGenderCode')?.attrs.code;
  if (!name || birth.length < 8) return null;
  return {
    given: text(find(name, 'given')),
    family: text(find(name, 'family')),
    birthDate: `${birth.slice(0, 4)}-${birth.slice(4, 6)}-${birth.slice(6, 8)}`,
    gender: g === 'F' ? 'female' : 'male',
    line: text(find(addr, 'streetAddressLine')),
    city: text(find(addr, 'city')),
    state: text(find(addr, 'state')),
    postalCode: text(find(addr, 'postalCode')),
  };
}

export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  const seed = opts.seed ?? 42;
  const rnd = prng(seed);
  const asOf = opts.asOf ?? '2026-11-01';
  const templates: CcdaTemplate[] = loadCcdaTemplates(opts.corporaDir);
  if (templates.length === 0) throw new Error(`no C-CDA documents found under ${opts.corporaDir}/ccda`);
  const docsPer = opts.documentsPerPerson ?? 3;
  const people: SimPerson[] = [];
  const byId = new Map<string, SimPerson>();
  const docIndex = new Map<string, { person: SimPerson; doc: SimDocument }>();
  const faults: Partial<Record<NetworkName, Faults>> = { ...(opts.faults ?? {}) };
  const stats: Record<string, number> = {};
  const count = (k: string) => { stats[k] = (stats[k] ?? 0) + 1; };
  const rendered = new Map<string, string>();

  const register = (p: SimPerson) => {
    people.push(p);
    byId.set(p.id, p);
    for (const d of p.documents) docIndex.set(d.id, { person: p, doc: d });
  };
  const makeDocs = (personId: string, nets: NetworkName[], per: number, r: () => number): SimDocument[] =>
    nets.filter((n) => n !== 'surescripts').flatMap((n) => Array.from({ length: per }, (_, i) => ({
      id: `${n}-${personId}-${i + 1}`,
      network: n,
      template: Math.floor(r() * templates.length),
      date: new Date(new Date(`${asOf}T00:00:00Z`).getTime() - Math.floor(r() * 700) * 86_400_000).toISOString(),
    })));

  const addPerson: Simulator['addPerson'] = (demographics, o = {}) => {
    const id = `p-${String(people.length + 1).padStart(6, '0')}`;
    const nets = o.networks ?? [...NETWORKS];
    const r = prng(seed ^ (people.length + 1) * 2654435761);
    const p: SimPerson = { id, demographics, networks: nets, documents: makeDocs(id, nets, o.documentsPerNetwork ?? docsPer, r), rxFills: o.rxFills ?? 6, faults: {} };
    register(p);
    return p;
  };

  for (let i = 0; i < (opts.people ?? 100); i++) {
    const d = generateDemographics(rnd);
    const nets = NETWORKS.filter((n) => (n === 'commonwell' ? rnd() < 0.9 : n === 'carequality' ? rnd() < 0.7 : rnd() < 0.85));
    addPerson(d, { networks: nets.length ? nets : ['commonwell'], rxFills: 3 + Math.floor(rnd() * 8) });
  }

  if (opts.loadDir) {
    const byKey = new Map<string, SimPerson>();
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : /\.(xml|ccda)$/i.test(n) ? [p] : [];
    });
    for (const file of walk(opts.loadDir).sort()) {
      const xml = readFileSync(file, 'utf8');
      const d = demographicsFromCcda(xml);
      if (!d) continue;
      const key = `${d.family}|${d.given}|${d.birthDate}`.toLowerCase();
      let person = byKey.get(key);
      if (!person) {
        person = addPerson(d, { documentsPerNetwork: 0, networks: ['commonwell', 'carequality'], rxFills: 0 });
        byKey.set(key, person);
      }
      const doc: SimDocument = { id: `commonwell-${person.id}-f${person.documents.length + 1}`, network: 'commonwell', template: -1, date: new Date(`${asOf}T00:00:00Z`).toISOString(), xml };
      person.documents.push(doc);
      docIndex.set(doc.id, { person, doc });
    }
  }

  const effective = (network: NetworkName, person?: SimPerson): Faults => ({
    ...(faults[network] ?? {}),
    ...(person?.faults['*'] ?? {}),
    ...(person?.faults[network] ?? {}),
  });

  const documentXml = (person: SimPerson, doc: SimDocument): string => {
    if (doc.xml) return doc.xml;
    let xml = rendered.get(doc.id);
    if (!xml) {
      xml = personalizeCcda(templates[doc.template]!, person.demographics, person.id, doc.network, doc.id);
      if (rendered.size > 5000) rendered.clear();
      rendered.set(doc.id, xml);
    }
    return xml;
  };

  // ---- EHR networks: FHIR-style discovery and document exchange --------------------------------------
  async function handleEhr(network: NetworkName, req: IncomingMessage, res: ServerResponse, path: string, base: string) {
    const url = new URL(path, 'http://x');
    if (req.method === 'POST' && url.pathname === '/fhir/Patient/$match') {
      count(`${network}:discovery`);
      let body: any;
      try { body = JSON.parse(await readBody(req)); } catch { return send(res, 400, outcome('structure', 'Body must be a FHIR Parameters resource (JSON)')); }
      const patient = body?.resourceType === 'Parameters' ? body.parameter?.find((p: any) => p.name === 'resource')?.resource : body;
      if (patient?.resourceType !== 'Patient') return send(res, 400, outcome('structure', 'Parameters.resource must be a Patient'));
      const q = demographicsFromPatient(patient);
      const missing = missingDemographics(q);
      if (missing.length) return send(res, 422, outcome('required', `Incomplete demographics: missing ${missing.join(', ')}`));
      const scored = people.filter((p) => p.networks.includes(network)).map((p) => ({ p, s: matchScore(q, p.demographics) })).filter((x) => x.s >= 0.7).sort((a, b) => b.s - a.s);
      const top = scored[0]?.p;
      const f = effective(network, top);
      if (f.rejectDemographics) { count(`${network}:rejected`); return send(res, 422, outcome('business-rule', 'The responding network rejected the patient demographics')); }
      let entries = scored.slice(0, 5).map(({ p, s }) => ({ fullUrl: `${base}/fhir/Patient/${network}-${p.id}`, resource: patientResource(network, p), search: { mode: 'match', score: s } }));
      if (f.ambiguous && top) {
        // Two near-identical candidates: a careful client must not pick one.
        const decoy = { ...patientResource(network, top), id: `${network}-${top.id}-twin`, identifier: [{ system: `urn:tessera:network-sim:${network}`, value: `${top.id}-twin` }] };
        entries = [{ ...entries[0]!, search: { mode: 'match', score: 0.81 } }, { fullUrl: `${base}/fhir/Patient/${decoy.id}`, resource: decoy, search: { mode: 'match', score: 0.8 } }];
      }
      return send(res, 200, { resourceType: 'Bundle', type: 'searchset', total: entries.length, entry: entries });
    }
    if (req.method === 'GET' && url.pathname === '/fhir/DocumentReference') {
      count(`${network}:list`);
      const pid = (url.searchParams.get('patient') ?? '').replace(/^Patient\//, '');
      const person = byId.get(pid.replace(`${network}-`, ''));
      if (!person || !pid.startsWith(`${network}-`) || !person.networks.includes(network)) return send(res, 404, outcome('not-found', `Unknown patient ${pid}`));
      const docs = person.documents.filter((d) => d.network === network || (d.xml && network !== 'surescripts'));
      return send(res, 200, {
        resourceType: 'Bundle',
        type: 'searchset',
        total: docs.length,
        entry: docs.map((d) => {
          const t = d.template >= 0 ? templates[d.template]! : { typeCode: '34133-9', typeDisplay: 'Summary of episode note' };
          return {
            fullUrl: `${base}/fhir/DocumentReference/${d.id}`,
            resource: {
              resourceType: 'DocumentReference',
              id: d.id,
              status: 'current',
              type: { coding: [{ system: 'http://loinc.org', code: t.typeCode, display: t.typeDisplay }] },
              subject: { reference: `Patient/${pid}` },
              date: d.date,
              content: [{ attachment: { contentType: 'application/xml', url: `${base}/fhir/Binary/${d.id}` }, format: { system: 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode', code: 'urn:hl7-org:sdwg:ccda-structuredBody:2.1' } }],
            },
          };
        }),
      });
    }
    const bin = /^\/fhir\/Binary\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && bin) {
      count(`${network}:retrieve`);
      const hit = docIndex.get(decodeURIComponent(bin[1]!));
      if (!hit) return send(res, 404, outcome('not-found', 'Unknown document'));
      const f = effective(network, hit.person);
      if (f.notFoundDocuments === 'all' || f.notFoundDocuments?.includes(hit.doc.id)) { count(`${network}:404`); return send(res, 404, outcome('not-found', 'Document no longer available')); }
      let xml = documentXml(hit.person, hit.doc);
      if (f.invalidEntries) xml = poisonEntries(xml);
      if (f.malformedDocuments) xml = malform(xml);
      res.setHeader('etag', `"${createHash('sha1').update(xml).digest('hex')}"`);
      return send(res, 200, xml, 'application/xml');
    }
    return send(res, 404, outcome('not-found', `No route ${req.method} ${url.pathname}`));
  }

  // ---- pharmacy network: NCPDP SCRIPT over HTTP POST --------------------------------------------------
  async function handlePharmacy(req: IncomingMessage, res: ServerResponse, path: string) {
    if (req.method !== 'POST' || path.split('?')[0] !== '/ncpdp/script') return send(res, 404, outcome('not-found', 'POST NCPDP SCRIPT XML to /ncpdp/script'));
    count('surescripts:rxhistory');
    const sent = new Date().toISOString();
    const xml = await readBody(req);
    const parsed = parseRxHistoryRequest(xml);
    const mid = `SIM-${createHash('sha1').update(xml).digest('hex').slice(0, 16)}`;
    if ('error' in parsed) return send(res, 400, ncpdpError({ messageId: mid, relatesTo: '', sentTime: sent, code: '900', description: parsed.error }), 'application/xml');
    const missing = missingDemographics(parsed.patient).filter((k) => k !== 'line' && k !== 'city' && k !== 'state');
    if (missing.length) return send(res, 200, ncpdpError({ messageId: mid, relatesTo: parsed.messageId, sentTime: sent, code: '601', description: `Receiver unable to process: missing ${missing.join(', ')}` }), 'application/xml');
    const scored = people.filter((p) => p.networks.includes('surescripts')).map((p) => ({ p, s: matchScore(parsed.patient, p.demographics) })).filter((x) => x.s >= 0.8).sort((a, b) => b.s - a.s);
    const top = scored[0]?.p;
    const f = effective('surescripts', top);
    if (f.rejectDemographics) return send(res, 200, ncpdpError({ messageId: mid, relatesTo: parsed.messageId, sentTime: sent, code: '602', description: 'Patient demographics rejected' }), 'application/xml');
    if (!top || (f.ambiguous ?? false) || (scored.length > 1 && scored[1]!.s === scored[0]!.s)) {
      return send(res, 200, rxHistoryDenied({ messageId: mid, relatesTo: parsed.messageId, sentTime: sent, code: top ? 'AQ' : 'AE', reason: top ? 'Multiple patients matched' : 'Patient not found' }), 'application/xml');
    }
    let out = rxHistoryResponse({ messageId: mid, relatesTo: parsed.messageId, sentTime: sent, patient: top.demographics, fills: fillHistory(seed ^ Number(top.id.slice(2)), asOf, top.rxFills) });
    if (f.malformedDocuments) out = malform(out);
    return send(res, 200, out, 'application/xml');
  }

  async function dispatch(network: NetworkName, req: IncomingMessage, res: ServerResponse, path: string, base: string) {
    const f = faults[network] ?? {};
    if (f.timeout) { count(`${network}:timeout`); return; } // hold the connection; never answer
    if (f.latencyMs) await sleep(f.latencyMs);
    if (f.outage === '503') { count(`${network}:503`); return send(res, 503, outcome('transient', `${network} is unavailable`)); }
    if (network === 'surescripts') return handlePharmacy(req, res, path);
    return handleEhr(network, req, res, path, base);
  }

  const host = opts.host ?? '127.0.0.1';
  const servers = new Map<NetworkName, Server>();
  const urls = {} as Record<NetworkName, string>;
  const listen = (server: Server, port: number) => new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
  const makeNetworkServer = (network: NetworkName) => createServer((req, res) => {
    dispatch(network, req, res, req.url ?? '/', urls[network]).catch((err) => send(res, 500, outcome('exception', String(err))));
  });
  for (const n of NETWORKS) {
    const s = makeNetworkServer(n);
    const port = await listen(s, opts.ports?.[n] ?? 0);
    urls[n] = `http://${host}:${port}`;
    servers.set(n, s);
  }

  const setFaults: Simulator['setFaults'] = async (network, f) => {
    const before = faults[network]?.outage;
    if (f) faults[network] = f; else delete faults[network];
    const after = faults[network]?.outage;
    if (after === 'refused' && before !== 'refused') {
      const s = servers.get(network)!;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    } else if (before === 'refused' && after !== 'refused') {
      const s = makeNetworkServer(network);
      await listen(s, Number(new URL(urls[network]).port));
      servers.set(network, s);
    }
  };
  for (const n of NETWORKS) if (faults[n]?.outage === 'refused') { const f = faults[n]!; delete faults[n]; await setFaults(n, f); }

  // ---- admin API --------------------------------------------------------------------------------------
  const admin = createServer((req, res) => {
    (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const parts = url.pathname.split('/').filter(Boolean);
      // network endpoints are reachable under /<network>/… on the admin port too
      if (parts[0] && (NETWORKS as readonly string[]).includes(parts[0])) {
        const n = parts[0] as NetworkName;
        return dispatch(n, req, res, url.pathname.slice(n.length + 1) + url.search, `${adminUrl}/${n}`);
      }
      if (parts[0] !== 'admin') return send(res, 404, { error: 'not found' }, 'application/json');
      const json = async () => { const t = await readBody(req); return t ? JSON.parse(t) : {}; };
      if (req.method === 'GET' && parts[1] === 'config') return send(res, 200, { seed, people: people.length, urls, adminUrl, labUrl }, 'application/json');
      // ---- push networks (feeds.ts)
      if (parts[1] === 'push' && parts[2] === 'target') {
        if (req.method === 'PUT') feeds.setTarget(await json());
        return send(res, 200, { ...feeds.target, secrets: Object.keys(feeds.target.secrets ?? {}) }, 'application/json');
      }
      if (req.method === 'POST' && parts[1] === 'push' && !parts[2]) {
        const b = await json();
        if (!(FEED_SIM_NETWORKS as readonly string[]).includes(b.network)) return send(res, 400, { error: `network must be one of ${FEED_SIM_NETWORKS.join(', ')}` }, 'application/json');
        if (!byId.get(b.personId)) return send(res, 404, { error: 'unknown person' }, 'application/json');
        return send(res, 200, await feeds.push(b.network as FeedSimNetwork, b.personId, { event: b.event, visit: b.visit, time: b.time ? new Date(b.time) : undefined }), 'application/json');
      }
      if (req.method === 'GET' && parts[1] === 'people' && parts[2] && parts[3] === 'feeds') {
        const m = feeds.memberships(parts[2]);
        return m ? send(res, 200, m, 'application/json') : send(res, 404, { error: 'unknown person' }, 'application/json');
      }
      if (req.method === 'GET' && parts[1] === 'stats') return send(res, 200, stats, 'application/json');
      if (req.method === 'GET' && parts[1] === 'people' && !parts[2]) {
        const limit = Math.min(Number(url.searchParams.get('limit') ?? 100), 1000);
        const offset = Number(url.searchParams.get('offset') ?? 0);
        return send(res, 200, { total: people.length, people: people.slice(offset, offset + limit) }, 'application/json');
      }
      if (req.method === 'GET' && parts[1] === 'people' && parts[2]) {
        const p = byId.get(parts[2]);
        return p ? send(res, 200, p, 'application/json') : send(res, 404, { error: 'unknown person' }, 'application/json');
      }
      if (req.method === 'POST' && parts[1] === 'people') {
        const b = await json();
        const missing = missingDemographics(b.demographics ?? {});
        if (missing.length) return send(res, 400, { error: `missing ${missing.join(', ')}` }, 'application/json');
        return send(res, 201, addPerson(b.demographics, { documentsPerNetwork: b.documentsPerNetwork, networks: b.networks, rxFills: b.rxFills }), 'application/json');
      }
      if (req.method === 'PUT' && parts[1] === 'people' && parts[2] && parts[3] === 'faults') {
        const p = byId.get(parts[2]);
        if (!p) return send(res, 404, { error: 'unknown person' }, 'application/json');
        const b = await json();
        p.faults = b;
        return send(res, 200, p.faults, 'application/json');
      }
      if (parts[1] === 'faults' && parts[2] && (NETWORKS as readonly string[]).includes(parts[2])) {
        if (req.method === 'PUT') { await setFaults(parts[2] as NetworkName, await json()); return send(res, 200, faults[parts[2] as NetworkName] ?? {}, 'application/json'); }
        if (req.method === 'DELETE') { await setFaults(parts[2] as NetworkName, null); return send(res, 204, ''); }
      }
      if (req.method === 'GET' && parts[1] === 'faults') return send(res, 200, faults, 'application/json');
      if (req.method === 'POST' && parts[1] === 'reset') {
        for (const n of NETWORKS) await setFaults(n, null);
        for (const p of people) p.faults = {};
        for (const k of Object.keys(stats)) delete stats[k];
        return send(res, 204, '');
      }
      return send(res, 404, { error: 'not found' }, 'application/json');
    })().catch((err) => send(res, 400, { error: String(err instanceof Error ? err.message : err) }, 'application/json'));
  });
  // After a pushed discharge, the hospital's discharge summary appears on the person's EHR network(s).
  const addDischargeSummary = (personId: string, at: Date) => {
    const p = byId.get(personId);
    if (!p) return;
    const t = templates.findIndex((x) => x.typeCode === '18842-5' || x.typeCode === '11490-0');
    for (const network of EHR_NETWORKS.filter((n) => p.networks.includes(n)).slice(0, 1)) {
      const doc: SimDocument = { id: `${network}-${p.id}-ds${p.documents.length + 1}`, network, template: t >= 0 ? t : 0, date: at.toISOString() };
      p.documents.push(doc);
      docIndex.set(doc.id, { person: p, doc });
      count(`${network}:discharge-summary`);
    }
  };
  const feeds = new FeedSimulator(() => people, (id) => byId.get(id), seed, asOf, opts.push ?? {}, addDischargeSummary);
  const lab = createServer((req, res) => {
    (async () => {
      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/lab-history') return send(res, 404, { error: 'POST demographics (JSON) to /lab-history' }, 'application/json');
      let q: any;
      try { q = JSON.parse(await readBody(req)); } catch { return send(res, 400, { error: 'body must be JSON demographics' }, 'application/json'); }
      const r = feeds.labQuery(q ?? {});
      return send(res, r.status, r.body, 'application/json');
    })().catch((err) => send(res, 500, { error: String(err) }, 'application/json'));
  });
  const labUrl = `http://${host}:${await listen(lab, opts.labPort ?? 0)}`;
  const adminPort = await listen(admin, opts.port ?? 0);
  const adminUrl = `http://${host}:${adminPort}`;

  return {
    adminUrl,
    labUrl,
    feeds,
    urls,
    people,
    stats,
    setFaults,
    setPersonFaults(personId, network, f) {
      const p = byId.get(personId);
      if (!p) throw new Error(`unknown person ${personId}`);
      if (f) p.faults[network] = f; else delete p.faults[network];
    },
    addPerson,
    async close() {
      feeds.close();
      for (const s of [...servers.values(), admin, lab]) {
        s.closeAllConnections();
        if (s.listening) await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}
