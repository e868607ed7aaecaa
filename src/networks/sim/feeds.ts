// Push networks of the simulator: two ADT networks (bamboo, collective), a lab network (quest: an HTTP
// lab-history query answering 2 years of ORU^R01 results per person, plus pushed new results) and Surescripts
// pharmacy notifications. Messages are built for the simulator's synthetic people and pushed to a configured
// platform target — MLLP host:port for HL7 v2 (or an HTTPS URL with the network's secret), an HTTPS URL for
// pharmacy notifications — on a schedule or on demand through the admin API:
//   POST /admin/push {network, personId, event?, time?, visit?}   → {network, controlId, transport, ack|status}
//   GET  /admin/push/target, PUT /admin/push/target {mllp?, hl7Url?, pharmacyUrl?, secrets?, intervalMs?}
//   GET  /admin/people/<id>/feeds                                 → memberships, open visit, lab history ids
// Lab network port: POST /lab-history {given, family, birthDate, gender, postalCode, …, since?} → {personId,
// results: [{id, date, contentType, message}]}; 404 when nobody matches, 422 when demographics are missing.
import { connect, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { fillHistory, rxHistoryResponse } from './ncpdp.ts';
import { matchScore, missingDemographics, type Demographics } from './people.ts';

export const FEED_SIM_NETWORKS = ['bamboo', 'collective', 'quest', 'surescripts'] as const;
export type FeedSimNetwork = (typeof FEED_SIM_NETWORKS)[number];

export interface PushTarget {
  /** host:port of the platform's MLLP listener (HL7 v2 networks) */
  mllp?: string;
  /** HTTPS endpoint for HL7 v2 (used when no MLLP target is set), e.g. https://tessera/feeds/hl7v2 */
  hl7Url?: string;
  /** HTTPS endpoint for pharmacy notifications, e.g. https://tessera/feeds/pharmacy */
  pharmacyUrl?: string;
  /** bearer secrets per network for the HTTPS endpoints */
  secrets?: Partial<Record<FeedSimNetwork, string>>;
  /** scheduled pushes: one event for a random member of each network every intervalMs (0 = off) */
  intervalMs?: number;
}

interface FeedPerson {
  id: string;
  demographics: Demographics;
  networks: readonly string[];
}

const MSH_APP: Record<FeedSimNetwork, string> = { bamboo: 'BAMBOO', collective: 'COLLECTIVE', quest: 'QUEST', surescripts: 'SURESCRIPTS' };

const hash = (s: string) => createHash('sha1').update(s).digest().readUInt32BE(0);

/** Which push networks know a person (deterministic from the id; every person is on one ADT network). */
export function feedMemberships(p: FeedPerson): FeedSimNetwork[] {
  const h = hash(`feeds|${p.id}`);
  const out: FeedSimNetwork[] = [h % 2 === 0 ? 'bamboo' : 'collective'];
  if (h % 10 < 8) out.push('quest');
  if (p.networks.includes('surescripts')) out.push('surescripts');
  return out;
}

const hl7Ts = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + '+0000';
const hl7Date = (d: string) => d.replace(/-/g, '');
const escHl7 = (s: string) => s.replace(/\\/g, '\\E\\').replace(/\|/g, '\\F\\').replace(/\^/g, '\\S\\').replace(/&/g, '\\T\\').replace(/~/g, '\\R\\');

function pidSegment(p: FeedPerson): string {
  const d = p.demographics;
  return `PID|1||${p.id}^^^SIM^MR||${escHl7(d.family)}^${escHl7(d.given)}||${hl7Date(d.birthDate)}|${d.gender === 'female' ? 'F' : 'M'}|||${escHl7(d.line)}^^${escHl7(d.city)}^${d.state}^${d.postalCode}^USA||${d.phone ?? ''}`;
}

const FACILITIES = ['GENERAL HOSPITAL', 'ST MARY MEDICAL CENTER', 'COUNTY MEMORIAL', 'RIVERSIDE SNF'];
const DIAGNOSES: [string, string][] = [['R07.9', 'Chest pain, unspecified'], ['J18.9', 'Pneumonia, unspecified organism'], ['I50.9', 'Heart failure, unspecified'], ['N39.0', 'Urinary tract infection'], ['S72.001A', 'Fracture of femur']];
const FLAGS = ['high utilizer', 'readmission risk', 'recent inpatient stay', 'recent SNF stay'];
// Quest order codes (no system) with their CPT, and the LOINC-coded results of each panel.
const PANELS: { quest: string; cpt: string; name: string; results: [string, string, string, number, number, string][] }[] = [
  { quest: '10231', cpt: '80053', name: 'COMPREHENSIVE METABOLIC PANEL', results: [['2345-7', 'Glucose', 'mg/dL', 70, 99, ''], ['2160-0', 'Creatinine', 'mg/dL', 0.6, 1.2, ''], ['2823-3', 'Potassium', 'mmol/L', 3.5, 5.1, '']] },
  { quest: '7600', cpt: '80061', name: 'LIPID PANEL', results: [['2093-3', 'Cholesterol, total', 'mg/dL', 125, 200, ''], ['2085-9', 'HDL cholesterol', 'mg/dL', 40, 90, ''], ['13457-7', 'LDL cholesterol (calc)', 'mg/dL', 0, 100, '']] },
  { quest: '496', cpt: '83036', name: 'HEMOGLOBIN A1C', results: [['4548-4', 'Hemoglobin A1c', '%', 4, 5.6, '']] },
  { quest: '6399', cpt: '85025', name: 'CBC WITH DIFFERENTIAL', results: [['6690-2', 'WBC', '10*3/uL', 3.8, 10.8, ''], ['718-7', 'Hemoglobin', 'g/dL', 11.7, 15.5, '']] },
];

export interface PushResult {
  network: FeedSimNetwork;
  personId: string;
  controlId: string;
  transport: 'mllp' | 'https';
  /** MSA-1 for HL7 v2 */
  ack?: string;
  /** HTTP status for HTTPS pushes */
  status?: number;
  event: string;
}

/** A small MLLP client: one connection, one message at a time, waits for the ACK. */
class MllpSender {
  #socket: Socket | null = null;
  #buf = Buffer.alloc(0);
  #waiting: ((ack: string) => void) | null = null;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(readonly target: string) {}

  async #open(): Promise<Socket> {
    if (this.#socket && !this.#socket.destroyed) return this.#socket;
    const [host, port] = [this.target.slice(0, this.target.lastIndexOf(':')), Number(this.target.slice(this.target.lastIndexOf(':') + 1))];
    const s = await new Promise<Socket>((resolve, reject) => {
      const sock = connect(port, host || '127.0.0.1', () => resolve(sock));
      sock.once('error', reject);
    });
    s.on('error', () => {});
    s.on('close', () => { if (this.#socket === s) this.#socket = null; this.#waiting?.(''); });
    s.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c]);
      for (;;) {
        const start = this.#buf.indexOf(0x0b);
        const end = this.#buf.indexOf(Buffer.from([0x1c, 0x0d]));
        if (start === -1 || end === -1 || end < start) break;
        const ack = this.#buf.subarray(start + 1, end).toString('utf8');
        this.#buf = this.#buf.subarray(end + 2);
        const w = this.#waiting;
        this.#waiting = null;
        w?.(ack);
      }
    });
    this.#socket = s;
    return s;
  }

  send(message: string, timeoutMs = 30_000): Promise<string> {
    const run = async () => {
      const s = await this.#open();
      return new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => { this.#waiting = null; s.destroy(); reject(new Error('MLLP ACK timeout')); }, timeoutMs);
        this.#waiting = (ack) => {
          clearTimeout(t);
          if (ack) resolve(ack);
          else reject(new Error('MLLP connection closed before the ACK'));
        };
        s.write(Buffer.concat([Buffer.of(0x0b), Buffer.from(message, 'utf8'), Buffer.of(0x1c, 0x0d)]));
      });
    };
    const p = this.#chain.then(run, run);
    this.#chain = p.catch(() => {});
    return p;
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = null;
  }
}

export class FeedSimulator {
  target: PushTarget;
  readonly stats: Record<string, number> = {};
  #visits = new Map<string, { visit: string; n: number; open: boolean; patientClass: string }>();
  #seq = 0;
  #mllp: MllpSender | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    readonly people: () => FeedPerson[],
    readonly byId: (id: string) => FeedPerson | undefined,
    readonly seed: number,
    readonly asOf: string,
    target: PushTarget = {},
    /** a discharge was pushed: the simulator makes the hospital's discharge summary available on the EHR networks */
    readonly onDischarge: (personId: string, at: Date) => void = () => {},
  ) {
    this.target = {};
    this.setTarget(target);
  }

  #count(k: string) {
    this.stats[k] = (this.stats[k] ?? 0) + 1;
  }

  setTarget(t: PushTarget): void {
    this.target = { ...this.target, ...t, secrets: { ...(this.target.secrets ?? {}), ...(t.secrets ?? {}) } };
    this.#mllp?.close();
    this.#mllp = this.target.mllp ? new MllpSender(this.target.mllp) : null;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    if (this.target.intervalMs && this.target.intervalMs > 0) {
      this.#timer = setInterval(() => void this.#scheduled(), this.target.intervalMs);
      this.#timer.unref();
    }
  }

  async #scheduled(): Promise<void> {
    const all = this.people();
    if (!all.length) return;
    for (const network of FEED_SIM_NETWORKS) {
      const members = all.filter((p) => feedMemberships(p).includes(network));
      if (!members.length) continue;
      const p = members[Math.floor(Math.random() * members.length)]!;
      try {
        await this.push(network, p.id);
      } catch {
        this.#count(`${network}:push-failed`);
      }
    }
  }

  #controlId(network: FeedSimNetwork, personId: string): string {
    return `${MSH_APP[network]}-${personId}-${Date.now().toString(36)}-${++this.#seq}`;
  }

  /** An ADT message for a person: A01 admit / A04 ED registration opens a visit, A03 closes it, A08 updates. */
  adt(network: 'bamboo' | 'collective', p: FeedPerson, event: string, o: { time?: Date; visit?: string; controlId?: string } = {}): { message: string; controlId: string } {
    const time = o.time ?? new Date();
    let v = this.#visits.get(`${network}|${p.id}`);
    if (!v || (!v.open && (event === 'A01' || event === 'A04'))) {
      const n = (v?.n ?? 0) + 1;
      v = { visit: o.visit ?? `${network.toUpperCase()}-${p.id}-${n}`, n, open: true, patientClass: event === 'A04' ? 'E' : 'I' };
      this.#visits.set(`${network}|${p.id}`, v);
    } else if (o.visit) v.visit = o.visit;
    if (event === 'A03') v.open = false;
    const h = hash(`${p.id}|${v.visit}`);
    const controlId = o.controlId ?? this.#controlId(network, p.id);
    const ts = hl7Ts(time);
    const pv1: string[] = new Array(46).fill('');
    pv1[0] = 'PV1';
    pv1[1] = '1';
    pv1[2] = v.patientClass;
    pv1[3] = `${v.patientClass === 'E' ? 'ED' : '4E'}^${100 + (h % 300)}^A^${FACILITIES[h % FACILITIES.length]}`;
    pv1[7] = '1376609297^Samplecare^Jordan^^^Dr^MD^^^^^^NPI';
    pv1[10] = v.patientClass === 'E' ? 'EM' : 'MED';
    pv1[19] = `${v.visit}^^^${network.toUpperCase()}^VN`;
    pv1[44] = ts;
    if (event === 'A03') pv1[45] = ts;
    const [code, text] = DIAGNOSES[h % DIAGNOSES.length]!;
    const segs = [
      `MSH|^~\\&|${MSH_APP[network]}|${network.toUpperCase()}-HIE|TESSERA|TESSERA|${ts}||ADT^${event}^ADT_A01|${controlId}|P|2.5.1`,
      `EVN|${event}|${ts}`,
      pidSegment(p),
      pv1.join('|'),
      // DG1-6 type (A admitting, F final/discharge), DG1-15 the sender's priority (→ Encounter.diagnosis.rank)
      `DG1|1||${code}^${text}^I10||${ts}|${event === 'A03' ? 'F' : 'A'}${'|'.repeat(9)}1`,
    ];
    if (network === 'bamboo' && h % 3 === 0) segs.push(`ZHF|1|${FLAGS[h % FLAGS.length]}`);
    return { message: segs.join('\r'), controlId };
  }

  /** An ORU^R01 lab result for a person. */
  oru(p: FeedPerson, o: { time: Date; panel: number; controlId: string; order: string }): string {
    const ts = hl7Ts(o.time);
    const panel = PANELS[o.panel % PANELS.length]!;
    const h = hash(`${p.id}|${o.order}`);
    const segs = [
      `MSH|^~\\&|QUEST|QUEST-LAB|TESSERA|TESSERA|${ts}||ORU^R01^ORU_R01|${o.controlId}|P|2.5.1`,
      pidSegment(p),
      `ORC|RE|${o.order}|Q${o.order}`,
      `OBR|1|${o.order}|Q${o.order}|${panel.quest}^${panel.name}^^${panel.cpt}^${panel.name}^CPT4|||${ts}|||||||||1245319599^Examplemd^Avery^^^Dr^MD^^^^^^NPI||||||${ts}|||F`,
      ...panel.results.map(([loinc, name, unit, lo, hi], i) => {
        const span = hi - lo;
        const value = Math.round((lo + span * (((h >> (i * 3)) % 140) / 100 - 0.2)) * 10) / 10;
        const flag = value > hi ? 'H' : value < lo ? 'L' : 'N';
        return `OBX|${i + 1}|NM|${loinc}^${name}^LN||${value}|${unit}|${lo}-${hi}|${flag}|||F|||${ts}`;
      }),
    ];
    return segs.join('\r');
  }

  /** The person's 2-year lab history (reproducible: same ids and content on every query). */
  labHistory(p: FeedPerson, since?: string): { id: string; date: string; contentType: string; message: string }[] {
    const h = hash(`labs|${this.seed}|${p.id}`);
    const count = 3 + (h % 6);
    const base = new Date(`${this.asOf}T12:00:00Z`).getTime();
    const out = [];
    for (let i = 0; i < count; i++) {
      const date = new Date(base - Math.floor(((hash(`${p.id}|lab|${i}`) % 720) + 5)) * 86_400_000);
      if (since && date.toISOString().slice(0, 10) < since) continue;
      const id = `QH-${p.id}-${i + 1}`;
      out.push({ id, date: date.toISOString(), contentType: 'x-application/hl7-v2+er7', message: this.oru(p, { time: date, panel: (h + i) % PANELS.length, controlId: id, order: `QO-${p.id}-${i + 1}` }) });
    }
    return out.sort((a, b) => a.date.localeCompare(b.date));
  }

  /** A pharmacy notification (JSON envelope around an NCPDP fill) for a person. */
  pharmacy(p: FeedPerson, label: string, time = new Date()): { body: string; messageId: string } {
    const [fill] = fillHistory(this.seed ^ hash(p.id), this.asOf, 1);
    const today = time.toISOString().slice(0, 10);
    const fillNumber = label === 'PMANewRx' ? 0 : label === 'PMANoRefillsRemaining' ? fill!.refillsAuthorized : 1;
    const f = { ...fill!, filled: today, written: fill!.written < today ? fill!.written : today, fillNumber };
    const messageId = this.#controlId('surescripts', p.id);
    const script = rxHistoryResponse({ messageId, relatesTo: '', sentTime: time.toISOString().replace(/\.\d{3}Z$/, 'Z'), patient: p.demographics, fills: [f] });
    return { messageId, body: JSON.stringify({ messageId, notifications: [label], generatedTime: time.toISOString().replace(/\.\d{3}Z$/, 'Z'), script }) };
  }

  async #sendHl7(network: FeedSimNetwork, personId: string, message: string, controlId: string, event: string): Promise<PushResult> {
    if (this.#mllp) {
      const ack = await this.#mllp.send(message);
      const code = ack.split('\r').find((s) => s.startsWith('MSA'))?.split('|')[1] ?? '';
      this.#count(`${network}:pushed:${code}`);
      return { network, personId, controlId, transport: 'mllp', ack: code, event };
    }
    if (!this.target.hl7Url) throw new Error('no push target: set mllp or hl7Url (PUT /admin/push/target)');
    const secret = this.target.secrets?.[network];
    const r = await fetch(this.target.hl7Url, { method: 'POST', headers: { 'content-type': 'x-application/hl7-v2+er7', ...(secret ? { authorization: `Bearer ${secret}` } : {}) }, body: message });
    const text = await r.text();
    const code = text.split('\r').find((s) => s.startsWith('MSA'))?.split('|')[1] ?? '';
    this.#count(`${network}:pushed:${code || r.status}`);
    return { network, personId, controlId, transport: 'https', status: r.status, ack: code, event };
  }

  /** Builds and pushes one event for a person on a network. */
  async push(network: FeedSimNetwork, personId: string, o: { event?: string; time?: Date; visit?: string } = {}): Promise<PushResult> {
    const p = this.byId(personId);
    if (!p) throw new Error(`unknown person ${personId}`);
    const time = o.time ?? new Date();
    if (network === 'bamboo' || network === 'collective') {
      const open = this.#visits.get(`${network}|${p.id}`)?.open ?? false;
      const event = o.event ?? (open ? 'A03' : 'A01');
      if (!/^A\d\d$/.test(event)) throw new Error('event must be an ADT trigger (A01, A03, A04, A08, …)');
      const { message, controlId } = this.adt(network, p, event, { time, visit: o.visit });
      const sent = await this.#sendHl7(network, p.id, message, controlId, event);
      if (event === 'A03') this.onDischarge(p.id, time);
      return sent;
    }
    if (network === 'quest') {
      const controlId = this.#controlId('quest', p.id);
      const message = this.oru(p, { time, panel: this.#seq, controlId, order: `QP-${controlId}` });
      return this.#sendHl7(network, p.id, message, controlId, 'R01');
    }
    const label = o.event ?? 'PMARefill';
    if (!this.target.pharmacyUrl) throw new Error('no pharmacy push target: set pharmacyUrl (PUT /admin/push/target)');
    const { body, messageId } = this.pharmacy(p, label, time);
    const secret = this.target.secrets?.surescripts;
    const r = await fetch(this.target.pharmacyUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) }, body });
    await r.arrayBuffer();
    this.#count(`surescripts:pushed:${r.status}`);
    return { network, personId: p.id, controlId: messageId, transport: 'https', status: r.status, event: label };
  }

  /** The lab network's query: demographics → 2 years of results. */
  labQuery(q: Partial<Demographics> & { since?: string }): { status: number; body: unknown } {
    this.#count('quest:lab-history');
    const missing = missingDemographics(q).filter((k) => k !== 'line' && k !== 'city' && k !== 'state');
    if (missing.length) return { status: 422, body: { error: `Incomplete demographics: missing ${missing.join(', ')}` } };
    const scored = this.people().filter((p) => feedMemberships(p).includes('quest')).map((p) => ({ p, s: matchScore(q, p.demographics) })).filter((x) => x.s >= 0.8).sort((a, b) => b.s - a.s);
    const top = scored[0];
    if (!top || (scored.length > 1 && scored[1]!.s === top.s)) return { status: 404, body: { error: top ? 'several people match' : 'no match' } };
    return { status: 200, body: { personId: top.p.id, results: this.labHistory(top.p, q.since) } };
  }

  memberships(personId: string): unknown {
    const p = this.byId(personId);
    if (!p) return null;
    return { networks: feedMemberships(p), visits: Object.fromEntries([...this.#visits].filter(([k]) => k.endsWith(`|${p.id}`))), labHistory: this.labHistory(p).map((r) => ({ id: r.id, date: r.date })) };
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#mllp?.close();
  }
}
