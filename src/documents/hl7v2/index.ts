// HL7 v2 → FHIR R4: parser, converter and ACK builder. Pure functions, no I/O.
import { failedConversion, type ConversionResult } from '../types.ts';
import { convertMessage, type Hl7ConvertOptions } from './convert.ts';
import { isHl7Error, parseHl7v2, parseHl7v2Batch, type Hl7ParseOptions } from './parser.ts';

export {
  parseHl7v2, parseHl7v2Batch, splitMessages, isHl7Error, unescapeHl7, escapeHl7, Hl7Message, Hl7Segment, Hl7Field,
  DEFAULT_MAX_HL7_BYTES,
} from './parser.ts';
export type { Hl7ParseError, Hl7Encoding, Hl7ParseOptions, Hl7Batch, Hl7ErrorCode } from './parser.ts';
export { buildAck, type AckCode, type AckOptions } from './ack.ts';
export { convertMessage, patientOfMessage, type Hl7ConvertOptions } from './convert.ts';

export type ConvertHl7v2Options = Hl7ConvertOptions & Hl7ParseOptions;

/** Converts one HL7 v2 message (the first, when the text holds several) into a FHIR collection bundle. */
export function convertHl7v2(text: string, options: ConvertHl7v2Options = {}): ConversionResult {
  const parsed = parseHl7v2(text, options);
  if (isHl7Error(parsed)) return failedConversion(parsed.code === 'too-large' ? 'too-costly' : 'structure', `HL7 v2: ${parsed.message}`);
  return convertMessage(parsed, options);
}

/** Converts every message of a batch file (FHS/BHS … BTS/FTS) or of several concatenated messages. */
export function convertHl7v2Batch(text: string, options: ConvertHl7v2Options = {}): ConversionResult[] {
  const batch = parseHl7v2Batch(text, options);
  if ('kind' in batch) return [failedConversion(batch.code === 'too-large' ? 'too-costly' : 'structure', `HL7 v2: ${batch.message}`)];
  return batch.messages.map((m) => {
    if (isHl7Error(m)) return failedConversion('structure', `HL7 v2: ${m.message}`);
    const r = convertMessage(m, options);
    for (const w of batch.warnings) r.outcome.issue.push({ severity: 'warning', code: 'structure', diagnostics: w });
    return r;
  });
}
