// Builds the HL7 v2 acknowledgement (original mode ACK) an MLLP listener sends back.
import { escapeHl7, isHl7Error, parseHl7v2, type Hl7Encoding, type Hl7Message, type Hl7ParseError } from './parser.ts';

export type AckCode = 'AA' | 'AE' | 'AR';

export interface AckOptions {
  /** Control id of the ACK itself (MSH-10); default "ACK" + the original control id. */
  controlId?: string;
  /** Time stamp for MSH-7; default now. Pass one for deterministic output. */
  now?: Date;
  /** Segment separator (default CR, as the standard requires). */
  separator?: string;
}

const DEFAULT_ENCODING: Hl7Encoding = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

function hl7Timestamp(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}+0000`;
}

/**
 * ACK for a message: sender and receiver swapped, MSA with the original control id, and for AE/AR
 * with a text an ERR segment (v2.5+ layout). Accepts a parsed message, a parse error or raw text
 * (an unparseable message still gets an answer, with the default encoding characters).
 */
export function buildAck(message: Hl7Message | Hl7ParseError | string, code: AckCode, text?: string, options: AckOptions = {}): string {
  const parsed = typeof message === 'string' ? parseHl7v2(message) : message;
  const msg = isHl7Error(parsed) ? undefined : parsed;
  const enc = msg?.encoding ?? DEFAULT_ENCODING;
  const f = enc.field;
  const msh = msg?.msh;
  const raw = (n: number): string => msh?.raw(n) ?? '';
  const trigger = msg?.triggerEvent ?? '';
  const originalId = msg?.controlId ?? '';
  const version = raw(12) || '2.5.1';
  const ackId = options.controlId ?? `ACK${originalId}`.slice(0, 199);
  const encChars = enc.component + enc.repetition + enc.escape + enc.subcomponent;
  const mshFields = [
    'MSH', encChars,
    raw(5), raw(6), // our application / facility = their receiver
    raw(3), raw(4), // their sender
    hl7Timestamp(options.now ?? new Date()),
    '',
    ['ACK', escapeHl7(trigger, enc), 'ACK'].join(enc.component),
    escapeHl7(ackId, enc),
    raw(11) || 'P',
    version,
  ];
  const segments = [mshFields.join(f)];
  const msa = ['MSA', code, escapeHl7(originalId, enc)];
  if (text !== undefined && text !== '') msa.push(escapeHl7(text.slice(0, 80), enc));
  segments.push(msa.join(f));
  if (code !== 'AA' && text !== undefined && text !== '') {
    const errCode = code === 'AR' ? ['200', 'Unsupported message type', 'HL70357'] : ['207', 'Application internal error', 'HL70357'];
    // ERR-3 error code, ERR-4 severity E, ERR-8 user message.
    segments.push(['ERR', '', '', errCode.join(enc.component), 'E', '', '', '', escapeHl7(text, enc)].join(f));
  }
  return segments.join(options.separator ?? '\r');
}
