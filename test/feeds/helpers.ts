// Shared pieces of the feeds tests: an MLLP client over a real TCP socket, message builders, and
// enrollment rows written straight into the subscriptions tables (the shared contract, 0700_subscriptions.sql).
import { connect, type Socket } from 'node:net';
import type { Queryable } from '../../src/db/types.ts';
import { frame, MllpFramer } from '../../src/feeds/mllp.ts';
import type { Demographics } from '../../src/networks/sim/people.ts';

export class MllpClient {
  readonly acks: string[] = [];
  #waiters: (() => void)[] = [];
  #framer = new MllpFramer(10 * 1024 * 1024);
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const ev of this.#framer.push(chunk)) if (ev.type === 'message') this.acks.push(ev.data.toString('utf8'));
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }

  static connect(port: number, host = '127.0.0.1'): Promise<MllpClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host, () => resolve(new MllpClient(s)));
      s.once('error', reject);
    });
  }

  write(b: Buffer | string): void {
    this.socket.write(b);
  }

  send(message: string): void {
    this.socket.write(frame(message));
  }

  /** waits until `n` ACKs arrived in total (or the socket closed, or the timeout passed) */
  async waitAcks(n: number, timeoutMs = 10_000): Promise<string[]> {
    const t0 = Date.now();
    while (this.acks.length < n && !this.closed && Date.now() - t0 < timeoutMs) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.#waiters.push(() => { clearTimeout(t); r(); });
      });
    }
    return this.acks;
  }

  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    const t0 = Date.now();
    while (!this.closed && Date.now() - t0 < timeoutMs) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** MSA-1 and MSA-2 of an ACK. */
export function msa(ack: string): { code: string; controlId: string; text: string } {
  const seg = ack.split('\r').find((s) => s.startsWith('MSA'))?.split('|') ?? [];
  const err = ack.split('\r').find((s) => s.startsWith('ERR'));
  return { code: seg[1] ?? '', controlId: seg[2] ?? '', text: (seg[3] ?? '') || (err ?? '') };
}

/** A person in the feed tests: the simulator's demographics. */
export type Person = Demographics;

export const ALICE: Person = { family: 'Quintero', given: 'Marisol', birthDate: '1961-04-12', gender: 'female', line: '18 Bainbridge St', city: 'Philadelphia', state: 'PA', postalCode: '19146', phone: '2155550142' };
export const BOB: Person = { family: 'Okonkwo', given: 'Chidi', birthDate: '1979-09-30', gender: 'male', line: '400 Walnut St', city: 'Boston', state: 'MA', postalCode: '02118', phone: '6175550199' };

const hl7Date = (d: string) => d.replace(/-/g, '');

export function pid(p: Person, mrn = 'MRN-1'): string {
  return `PID|1||${mrn}^^^HOSP^MR||${p.family}^${p.given}||${hl7Date(p.birthDate)}|${p.gender === 'female' ? 'F' : 'M'}|||${p.line}^^${p.city}^${p.state}^${p.postalCode}^USA||${p.phone ?? ''}`;
}

export interface AdtOptions {
  app?: string;
  facility?: string;
  controlId: string;
  event: string;
  person: Person;
  visit?: string;
  /** YYYYMMDDHHMMSS+ZZZZ */
  time?: string;
  patientClass?: string;
  dischargeTime?: string;
  diagnosis?: string;
  flags?: string[];
}

function pv1(o: AdtOptions, time: string): string {
  const f: string[] = new Array(46).fill('');
  f[0] = 'PV1';
  f[1] = '1';
  f[2] = o.patientClass ?? 'I';
  f[3] = '4E^401^B^GENERAL HOSPITAL';
  f[7] = '1234567893^Attend^Alice^^^Dr^MD^^^^^^NPI';
  f[10] = 'MED';
  f[14] = '7';
  f[19] = `${o.visit ?? 'V1001'}^^^GENERAL^VN`;
  f[44] = time;
  f[45] = o.dischargeTime ?? '';
  return f.join('|');
}

export function adt(o: AdtOptions): string {
  const time = o.time ?? '20261120083000+0000';
  const segs = [
    `MSH|^~\\&|${o.app ?? 'BAMBOO'}|${o.facility ?? 'BAMBOO-HIE'}|TESSERA|TESSERA|${time}||ADT^${o.event}^ADT_A01|${o.controlId}|P|2.5.1`,
    `EVN|${o.event}|${time}`,
    pid(o.person),
    pv1(o, time),
  ];
  if (o.diagnosis) segs.push(`DG1|1||${o.diagnosis}^Chest pain^I10||${time}|A`);
  for (const [i, f] of (o.flags ?? []).entries()) segs.push(`ZHF|${i + 1}|${f}`);
  return segs.join('\r');
}

export function oru(o: { controlId: string; person: Person; order?: string; time?: string; app?: string }): string {
  const time = o.time ?? '20261119101500+0000';
  return [
    `MSH|^~\\&|${o.app ?? 'QUEST'}|QUEST-LAB|TESSERA|TESSERA|${time}||ORU^R01^ORU_R01|${o.controlId}|P|2.5.1`,
    pid(o.person),
    `ORC|RE|PL-${o.order ?? '1'}|FL-${o.order ?? '1'}`,
    `OBR|1|PL-${o.order ?? '1'}|FL-${o.order ?? '1'}|24323-8^Comprehensive metabolic panel^LN|||${time}|||||||||1234567893^Ordering^Olga^^^Dr^MD^^^^^^NPI||||||${time}|||F`,
    `OBX|1|NM|2345-7^Glucose^LN||98|mg/dL|70-99|N|||F|||${time}`,
    `OBX|2|NM|2160-0^Creatinine^LN||1.4|mg/dL|0.6-1.2|H|||F|||${time}`,
  ].join('\r');
}

/** A package whose subscriptionProviders are `providers`, and an active enrollment of the builder's Patient. */
export async function enroll(db: Queryable, builderId: string, patientId: string, providers: string[], status: 'active' | 'pending' | 'inactive' = 'active'): Promise<void> {
  const pkg = `pkg-${providers.join('-')}`;
  await db.query(
    `INSERT INTO subscription_packages (id, name, description, meta, created_at) VALUES ($1, $1, '', $2::jsonb, now()) ON CONFLICT (id) DO NOTHING`,
    [pkg, JSON.stringify({ initialProviders: ['commonwell'], subscriptionProviders: providers })],
  );
  await db.query(
    `INSERT INTO subscription_enrollments (builder_id, patient_id, package_id, status, practitioner, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5::jsonb, now(), now())
     ON CONFLICT (builder_id, patient_id) DO UPDATE SET package_id = EXCLUDED.package_id, status = EXCLUDED.status`,
    [builderId, patientId, pkg, status, JSON.stringify({ npi: '1013085661', name: 'Test Doctor', role: '309343006' })],
  );
}

export function patientResource(p: Person): Record<string, unknown> {
  return {
    resourceType: 'Patient',
    name: [{ family: p.family, given: [p.given] }],
    gender: p.gender,
    birthDate: p.birthDate,
    address: [{ line: [p.line], city: p.city, state: p.state, postalCode: p.postalCode }],
    ...(p.phone ? { telecom: [{ system: 'phone', value: p.phone }] } : {}),
  };
}
