// Processing of stored feed messages (inbox rows): parse and convert, find the enrolled patients (routing.ts),
// and write the converted resources for each enrolled builder through the one write path (the history
// importer: re-pointed at the builder's own Patient, raw message kept as Binary + DocumentReference +
// Provenance, thirdparty/source tag, deterministic ids per builder, patient and network).
//
// ADT: the Encounter is keyed by the visit number (PV1-19), so later events update the same Encounter; an
// event older than the one already applied (EVN-2, else MSH-7) does not roll the Encounter back. Bamboo Health
// flags (ZHF segments) ride in meta.extension healthFlag (notes §2).
import type { Database, Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import type { FhirStore, FhirResource } from '../fhir/store/index.ts';
import { convertMessage, isHl7Error, parseHl7v2, patientOfMessage, type Hl7Message } from '../documents/hl7v2/index.ts';
import { convertNcpdp, SURESCRIPTS_NOTIFICATION, SURESCRIPTS_NOTIFICATION_TIME } from '../documents/ncpdp/index.ts';
import type { ConversionResult } from '../documents/types.ts';
import { importDocument } from '../history/importer.ts';
import { systemContext } from '../history/runner.ts';
import type { UpiService } from '../upi/service.ts';
import { SOURCE_TAG, type FeedNetwork } from './config.ts';
import type { InboxRow, Outcome } from './inbox.ts';
import { routeMessage, type RouteTarget } from './routing.ts';

export const HEALTH_FLAG_URL = 'http://bamboohealth.com/fhir/CodeSystem/healthFlag';
/** When the event that last wrote an Encounter happened (keeps later events from being undone by older ones). */
export const EVENT_TIME_URL = 'https://tessera.dev/fhir/StructureDefinition/feed-event-time';
export const HL7_CONTENT_TYPE = 'x-application/hl7-v2+er7';

export const PHARMACY_NOTIFICATIONS = ['PMANewRx', 'PMARefill', 'PMANewPrescriber', 'PMAControlledSubstance', 'PMANoRefillsRemaining', 'PMARefillNotPickedUp'] as const;

/** The body of a pharmacy notification (POST /feeds/pharmacy). */
export interface PharmacyNotification {
  messageId: string;
  /** labels of the notes §6; when absent, those the NCPDP converter derives from the fills */
  notifications?: string[];
  /** when the network generated the notification (instant) */
  generatedTime?: string;
  /** NCPDP SCRIPT message carrying the fill(s) (RxHistoryResponse shape) */
  script: string;
}

/** HL7 TS/DTM → epoch ms (seconds precision; local time without a zone read as UTC), or null. */
export function hl7TimeMs(ts: string | undefined): number | null {
  if (!ts) return null;
  const m = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$/.exec(ts.trim());
  if (!m) return null;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', z] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (z) ms -= (z[0] === '-' ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3))) * 60_000;
  return Number.isFinite(ms) ? ms : null;
}

export interface ProcessResult {
  targets: { builderId: string; patientId: string }[];
  written: number;
  unchanged: number;
  skippedInvalid: number;
}

export class FeedProcessor {
  constructor(
    readonly db: Database,
    readonly clock: Clock,
    readonly store: FhirStore,
    readonly upi: UpiService,
    readonly logger: Logger,
  ) {}

  /** Processes one inbox row; the outcome says how to finish it. Database failures throw (retried). */
  async process(row: InboxRow): Promise<Outcome> {
    const network = row.network as FeedNetwork;
    if (row.kind === 'hl7v2') return this.#hl7(row, network);
    if (row.kind === 'pharmacy') return this.#pharmacy(row, network);
    return { status: 'failed', reason: `unknown message kind ${row.kind}` };
  }

  async #deliver(
    row: InboxRow,
    network: FeedNetwork,
    patient: FhirResource | undefined,
    convert: (ns: string) => ConversionResult,
    doc: { contentType: string; content?: string; typeCode?: string; typeDisplay?: string; date?: string },
    adjust?: (resources: FhirResource[], target: RouteTarget) => { lockKeys: string[]; filter?: (tx: Queryable, rs: FhirResource[]) => Promise<FhirResource[]> },
  ): Promise<Outcome> {
    const route = await routeMessage(this.db, this.upi, network, patient);
    if (!route.ok) {
      this.logger.info({ network, controlId: row.control_id, type: row.message_type, reason: route.reason }, 'feed message dropped');
      return { status: 'dropped', reason: route.reason };
    }
    const result: ProcessResult = { targets: [], written: 0, unchanged: 0, skippedInvalid: 0 };
    for (const t of route.targets) {
      const ns = `${t.builderId}|${t.patientId}|${network}`;
      const converted = convert(ns);
      if (!converted.ok) return { status: 'failed', reason: `conversion failed: ${converted.outcome.issue.find((i) => i.severity === 'error' || i.severity === 'fatal')?.diagnostics ?? 'unknown error'}` };
      const hooks = adjust?.(converted.bundle.entry.map((e) => e.resource), t);
      const ctx = systemContext(t.builderId, `feed:${network}`);
      const counts = await importDocument(this.db, this.store, ctx, t.patientId, {
        source: SOURCE_TAG[network],
        documentId: `${network}:${row.control_id}`,
        contentType: doc.contentType,
        content: doc.content ?? row.body,
        ...(doc.typeCode ? { typeCode: doc.typeCode, typeDisplay: doc.typeDisplay } : {}),
        date: doc.date ?? row.received_at.toISOString(),
      }, converted, ns, { ...hooks, validated: true });
      result.targets.push({ builderId: t.builderId, patientId: t.patientId });
      result.written += counts.written;
      result.unchanged += counts.unchanged;
      result.skippedInvalid += counts.skippedInvalid;
    }
    return { status: 'done', result };
  }

  async #hl7(row: InboxRow, network: FeedNetwork): Promise<Outcome> {
    const msg = parseHl7v2(row.body);
    if (isHl7Error(msg)) return { status: 'failed', reason: `unparseable HL7 v2: ${msg.message}` };
    const patient = patientOfMessage(msg, { idNamespace: 'route', validate: false });
    const eventMs = hl7TimeMs(msg.segment('EVN')?.get(2)) ?? hl7TimeMs(msg.msh.get(7));
    const isAdt = msg.messageCode === 'ADT';
    const flags = network === 'bamboo' ? healthFlags(msg) : [];
    return this.#deliver(row, network, patient, (ns) => convertMessage(msg, { idNamespace: ns }), {
      contentType: HL7_CONTENT_TYPE,
      ...(isAdt ? {} : { typeCode: '11502-2', typeDisplay: 'Laboratory report' }),
      ...(eventMs !== null ? { date: new Date(eventMs).toISOString() } : {}),
    }, isAdt ? (resources) => {
      const encounters = resources.filter((r) => r.resourceType === 'Encounter');
      for (const e of encounters) {
        if (eventMs !== null) {
          e.extension = [...((e.extension as unknown[]) ?? []), { url: EVENT_TIME_URL, valueDateTime: new Date(eventMs).toISOString() }];
        }
        if (flags.length) {
          const meta = { ...((e.meta as Record<string, unknown>) ?? {}) };
          meta.extension = [...((meta.extension as unknown[]) ?? []), ...flags.map((f) => ({ url: HEALTH_FLAG_URL, valueString: f }))];
          e.meta = meta;
        }
      }
      return {
        lockKeys: encounters.map((e) => `feed-encounter:${e.id}`).sort(),
        filter: async (tx, rs) => {
          if (eventMs === null || encounters.length === 0) return rs;
          const ids = encounters.map((e) => String(e.id));
          const cur = (await tx.query<{ id: string; content: FhirResource }>(
            "SELECT id, content FROM resources WHERE type = 'Encounter' AND id = ANY($1::text[]) AND NOT deleted", [ids],
          )).rows;
          const stale = new Set<string>();
          for (const c of cur) {
            const at = ((c.content.extension as { url?: string; valueDateTime?: string }[] | undefined) ?? []).find((x) => x.url === EVENT_TIME_URL)?.valueDateTime;
            if (at && Date.parse(at) > eventMs) stale.add(c.id);
          }
          return stale.size ? rs.filter((r) => !(r.resourceType === 'Encounter' && stale.has(String(r.id)))) : rs;
        },
      };
    } : undefined);
  }

  async #pharmacy(row: InboxRow, network: FeedNetwork): Promise<Outcome> {
    let n: PharmacyNotification;
    try {
      n = JSON.parse(row.body) as PharmacyNotification;
    } catch {
      return { status: 'failed', reason: 'pharmacy notification is not JSON' };
    }
    const asOf = this.clock.now().toISOString();
    const probe = convertNcpdp(n.script, { idNamespace: 'route', validate: false, asOf });
    if (!probe.ok) return { status: 'failed', reason: `NCPDP conversion failed: ${probe.outcome.issue[0]?.diagnostics ?? 'unknown error'}` };
    const patient = probe.bundle.entry.map((e) => e.resource).find((r) => r.resourceType === 'Patient');
    const labels = n.notifications;
    const generated = n.generatedTime;
    return this.#deliver(row, network, patient, (ns) => {
      const r = convertNcpdp(n.script, { idNamespace: ns, asOf });
      if (labels?.length || generated) {
        for (const e of r.bundle.entry) {
          const res = e.resource;
          if (res.resourceType !== 'MedicationDispense' && res.resourceType !== 'MedicationRequest') continue;
          const ext = ((res.extension as { url: string }[] | undefined) ?? []).filter((x) => (labels?.length ? x.url !== SURESCRIPTS_NOTIFICATION : true) && (generated ? x.url !== SURESCRIPTS_NOTIFICATION_TIME : true));
          for (const l of labels ?? []) ext.push({ url: SURESCRIPTS_NOTIFICATION, valueString: l } as { url: string });
          if (generated) ext.push({ url: SURESCRIPTS_NOTIFICATION_TIME, valueInstant: generated } as { url: string });
          res.extension = ext;
        }
      }
      return r;
    }, { contentType: 'application/xml', content: n.script, typeCode: '10160-0', typeDisplay: 'History of Medication use Narrative', ...(generated ? { date: generated } : {}) });
  }
}

/** Bamboo Health flags: ZHF|<set id>|<flag text> segments (e.g. "high utilizer", "readmission risk"). */
export function healthFlags(msg: Hl7Message): string[] {
  return msg.segmentsNamed('ZHF').map((s) => s.get(2)?.trim()).filter((x): x is string => !!x);
}
