// `tessera convert ccda|ncpdp|hl7v2 <file|folder|->… [--summary]`
// One input → its Bundle as pretty JSON; several inputs (or a folder) → NDJSON, one bundle per line;
// --summary → one line per input with counts per type, dropped resources and errors.
// Exit status: 0 when every input converted, 1 when any failed, 2 on usage errors.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConversionResult } from './types.ts';
import { convertCcda } from './ccda/index.ts';
import { convertNcpdp } from './ncpdp/index.ts';
import { convertHl7v2Batch } from './hl7v2/index.ts';

export interface ConvertIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  readStdin: () => Promise<string>;
}

const defaultIo: ConvertIo = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

type Format = 'ccda' | 'ncpdp' | 'hl7v2';

const CONVERTERS: Record<Format, { extensions: RegExp; convert: (text: string) => ConversionResult[] }> = {
  ccda: { extensions: /\.(xml|ccda|cda|ccd)$/i, convert: (t) => [convertCcda(t)] },
  ncpdp: { extensions: /\.(xml|ncpdp)$/i, convert: (t) => [convertNcpdp(t)] },
  // A v2 file may hold a batch: one result per message.
  hl7v2: { extensions: /\.(hl7|txt|msg|er7|hl7v2)$/i, convert: (t) => convertHl7v2Batch(t) },
};

const USAGE = 'usage: tessera convert ccda|ncpdp|hl7v2 <file|folder|->… [--summary]\n';

/** Files of a folder (recursively) that look like the format, in a stable order. */
async function folderFiles(dir: string, ext: RegExp): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const names = (await readdir(d)).sort();
    for (const n of names) {
      if (n.startsWith('.')) continue;
      const p = join(d, n);
      const s = await stat(p);
      if (s.isDirectory()) await walk(p);
      else if (s.isFile() && ext.test(n)) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

function summaryLine(input: string, results: ConversionResult[]): string {
  const counts: Record<string, number> = {};
  let dropped = 0;
  const errors: string[] = [];
  let ok = true;
  for (const r of results) {
    ok &&= r.ok;
    dropped += r.stats.dropped;
    for (const [t, n] of Object.entries(r.stats.resourcesByType)) counts[t] = (counts[t] ?? 0) + n;
    for (const i of r.outcome.issue) if (i.severity === 'fatal' || i.severity === 'error') errors.push(i.diagnostics ?? i.code);
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const types = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => `${t}=${n}`).join(' ');
  const first = errors.length > 0 ? ` (${errors[0].replace(/\s+/g, ' ').slice(0, 200)})` : '';
  return `${input}\t${ok ? 'ok' : 'FAILED'}\tresources=${total}${types ? ' ' + types : ''}\tdropped=${dropped}\terrors=${errors.length}${first}\n`;
}

export async function convertCommand(argv: string[], io: ConvertIo = defaultIo): Promise<number> {
  const [format, ...rest] = argv;
  const summary = rest.includes('--summary');
  const inputs = rest.filter((a) => a !== '--summary');
  if (format === '--help' || format === '-h') {
    io.stdout(USAGE);
    return 0;
  }
  if (format === undefined || !(format in CONVERTERS) || inputs.length === 0) {
    io.stderr(USAGE);
    return 2;
  }
  const conv = CONVERTERS[format as Format];
  const unknownFlag = inputs.find((a) => a.startsWith('--'));
  if (unknownFlag !== undefined) {
    io.stderr(`tessera convert: unknown option ${unknownFlag}\n${USAGE}`);
    return 2;
  }

  // Expand folders; remember whether output must be NDJSON (more than one file, or any folder).
  const files: string[] = [];
  let sawFolder = false;
  let failed = false;
  for (const input of inputs) {
    if (input === '-') {
      files.push('-');
      continue;
    }
    try {
      const s = await stat(input);
      if (s.isDirectory()) {
        sawFolder = true;
        files.push(...(await folderFiles(input, conv.extensions)));
      } else files.push(input);
    } catch (e) {
      io.stderr(`tessera convert: cannot read ${input}: ${(e as Error).message}\n`);
      failed = true;
    }
  }
  const ndjson = sawFolder || files.length > 1;

  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? await io.readStdin() : await readFile(file, 'utf8');
    } catch (e) {
      io.stderr(`tessera convert: cannot read ${file}: ${(e as Error).message}\n`);
      failed = true;
      continue;
    }
    const results = conv.convert(text);
    if (results.some((r) => !r.ok)) failed = true;
    if (summary) {
      io.stdout(summaryLine(file, results));
      continue;
    }
    for (const r of results) {
      if (!r.ok) io.stderr(`tessera convert: ${file}: ${r.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; ')}\n`);
    }
    if (ndjson || results.length > 1) {
      for (const r of results) io.stdout(JSON.stringify(r.bundle) + '\n');
    } else {
      io.stdout(JSON.stringify(results[0].bundle, null, 2) + '\n');
    }
  }
  return failed ? 1 : 0;
}
