// Accepting a pushed message: recognise the sender and the message type from MSH alone (the full parse
// happens later, in the worker), store the raw message durably in the inbox, then acknowledge:
//   AA  stored (or already stored: a re-sent control id is acknowledged again, never stored twice);
//   AR  rejected for good: no MSH, unknown sender, a message type this network does not send, no control id,
//       over the size limit — resending the same message will not help;
//   AE  our own failure (database unreachable): the sender should resend later.
import { buildAck, parseHl7v2, isHl7Error, type AckCode } from '../documents/hl7v2/index.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { senderForMessage, type FeedNetwork, type FeedSender, type FeedsConfig } from './config.ts';
import type { InboxWriter } from './inbox.ts';

/** ADT events accepted from ADT networks (those the HL7 v2 converter maps to an Encounter). */
export const ADT_EVENTS = new Set(['A01', 'A02', 'A03', 'A04', 'A05', 'A06', 'A07', 'A08', 'A11', 'A12', 'A13', 'A28', 'A31', 'A40']);

export function acceptedType(network: FeedNetwork, code: string, trigger: string): boolean {
  if (network === 'bamboo' || network === 'collective') return code === 'ADT' && ADT_EVENTS.has(trigger);
  if (network === 'quest') return code === 'ORU' && trigger === 'R01';
  return false;
}

export interface MshInfo {
  fieldSep: string;
  sendingApp: string;
  sendingFacility: string;
  code: string;
  trigger: string;
  controlId: string;
  /** the MSH line alone, enough to build the ACK */
  line: string;
}

/** Reads the header fields we need from the first segment, without parsing the whole message. */
export function readMsh(text: string): MshInfo | null {
  let start = 0;
  while (start < text.length && (text[start] === '\r' || text[start] === '\n' || text[start] === ' ')) start++;
  if (!text.startsWith('MSH', start) || text.length < start + 8) return null;
  let end = text.indexOf('\r', start);
  const nl = text.indexOf('\n', start);
  if (end === -1 || (nl !== -1 && nl < end)) end = nl;
  const line = text.slice(start, end === -1 ? undefined : end);
  const fs = line[3]!;
  const f = line.split(fs);
  const comp = (f[1] ?? '^')[0] ?? '^';
  const first = (v: string | undefined) => (v ?? '').split(comp)[0]!.trim();
  const type = (f[8] ?? '').split(comp);
  return {
    fieldSep: fs,
    sendingApp: first(f[2]),
    sendingFacility: first(f[3]),
    code: (type[0] ?? '').trim().toUpperCase(),
    trigger: (type[1] ?? '').trim().toUpperCase(),
    controlId: (f[9] ?? '').trim(),
    line,
  };
}

export interface AcceptResult {
  code: AckCode;
  ack: string;
  /** why, for AR / AE */
  text?: string;
  network?: FeedNetwork;
  duplicate?: boolean;
}

export class FeedIngest {
  /** counters since start (rejections never reach the inbox) */
  readonly counters = { accepted: 0, duplicates: 0, rejected: 0, errors: 0 };

  constructor(
    readonly cfg: FeedsConfig,
    readonly inbox: InboxWriter,
    readonly clock: Clock,
    readonly logger: Logger,
  ) {}

  #ack(mshLine: string | null, code: AckCode, text?: string): string {
    return buildAck(mshLine ?? '', code, text, { now: this.clock.now() });
  }

  reject(mshLine: string | null, text: string, network?: FeedNetwork): AcceptResult {
    this.counters.rejected++;
    this.logger.warn({ network, reason: text }, 'feed message rejected');
    return { code: 'AR', ack: this.#ack(mshLine, 'AR', text), text, network };
  }

  /** Rejects a message that went over the size limit (only its beginning was read). */
  oversize(head: string, limit: number): AcceptResult {
    return this.reject(readMsh(head)?.line ?? null, `Message larger than ${limit} bytes`);
  }

  /**
   * Accepts one HL7 v2 message. `sender` is given for HTTPS (authenticated by its secret); for MLLP the
   * sender is recognised by MSH-3/MSH-4 and the peer address.
   */
  async acceptHl7(text: string, via: { transport: 'mllp' | 'https'; peerIp?: string; sender?: FeedSender }): Promise<AcceptResult> {
    if (Buffer.byteLength(text, 'utf8') > this.cfg.maxMessageBytes) return this.oversize(text.slice(0, 4096), this.cfg.maxMessageBytes);
    const msh = readMsh(text);
    if (!msh) {
      // Not even a header: answer with what the parser can tell (the ACK builder copes with a parse error).
      const parsed = parseHl7v2(text);
      const why = isHl7Error(parsed) ? parsed.message : 'The message does not start with an MSH segment';
      this.counters.rejected++;
      return { code: 'AR', ack: buildAck(parsed, 'AR', why, { now: this.clock.now() }), text: why };
    }
    const sender = via.sender ?? senderForMessage(this.cfg, msh.sendingApp, msh.sendingFacility, via.peerIp);
    if (!sender) return this.reject(msh.line, `Unknown sender ${msh.sendingApp}${msh.sendingFacility ? `/${msh.sendingFacility}` : ''}`);
    if (!msh.controlId) return this.reject(msh.line, 'MSH-10 (message control id) is required', sender.network);
    if (!acceptedType(sender.network, msh.code, msh.trigger)) {
      return this.reject(msh.line, `Message type ${msh.code} ${msh.trigger} is not accepted from ${sender.network}`, sender.network);
    }
    try {
      const r = await this.inbox.add({
        network: sender.network,
        kind: 'hl7v2',
        controlId: msh.controlId,
        messageType: `${msh.code}^${msh.trigger}`,
        transport: via.transport,
        peer: via.peerIp ?? null,
        body: text,
      });
      if (r === 'duplicate') this.counters.duplicates++;
      else this.counters.accepted++;
      return { code: 'AA', ack: this.#ack(msh.line, 'AA'), network: sender.network, duplicate: r === 'duplicate' };
    } catch (err) {
      this.counters.errors++;
      this.logger.error({ err, network: sender.network }, 'feed message could not be stored');
      return { code: 'AE', ack: this.#ack(msh.line, 'AE', 'Temporarily unable to store the message; resend later'), text: 'storage unavailable', network: sender.network };
    }
  }

  /** Accepts one pharmacy notification (already validated) from an authenticated sender. */
  async acceptPharmacy(sender: FeedSender, messageId: string, types: string[], body: string, peerIp?: string): Promise<'inserted' | 'duplicate'> {
    const r = await this.inbox.add({ network: sender.network, kind: 'pharmacy', controlId: messageId, messageType: types.join(','), transport: 'https', peer: peerIp ?? null, body });
    if (r === 'duplicate') this.counters.duplicates++;
    else this.counters.accepted++;
    return r;
  }
}
