// `tessera upi link|estimate`: bulk record linkage of a CSV of person records through the same
// engine that matches Patient writes.
import { createReadStream, createWriteStream, writeFileSync } from 'node:fs';
import { parse } from 'csv-parse';
import { estimateWeights } from './engine/estimate.ts';
import { linkRecords } from './engine/link.ts';
import type { LinkProgress } from './engine/link.ts';
import { pairwiseMetrics } from './engine/metrics.ts';
import { defaultMatchModel, loadModel } from './engine/model.ts';
import type { MatchModel } from './engine/model.ts';
import type { PersonInput } from './engine/normalize.ts';

export const PERSON_FIELDS = ['given', 'family', 'birthDate', 'sex', 'line', 'city', 'state', 'postalCode', 'phone', 'email', 'ssn', 'mrn', 'mrnSystem'] as const;
type PersonField = (typeof PERSON_FIELDS)[number];

const USAGE = `usage:
  tessera upi link <file.csv> --map column=field … [--id column] [--truth column] [--out file]
                   [--model model.json] [--no-estimate] [--quiet]
  tessera upi estimate <file.csv> --map column=field … --out model.json [--model start.json]

  fields: ${PERSON_FIELDS.join(', ')}
  --map      map a CSV column to a field (repeatable; also "--map a=given,b=family")
  --id       column holding the record id (default: row number, from 1)
  --truth    column with true cluster ids: prints pairwise precision, recall and F1
  --out      output file (link: record_id,upid CSV, default stdout; estimate: model JSON)
  --model    match model JSON (default: the shipped model)
  --no-estimate  keep the model's m/u as they are (default: files of ≥ 1,000 records are first
             re-estimated by EM — u by random sampling, m over blocked pairs — as Splink does)`;

interface ParsedArgs {
  command: string;
  file: string;
  map: Map<string, PersonField>;
  id?: string;
  truth?: string;
  out?: string;
  model?: string;
  estimate: boolean | undefined;
  quiet: boolean;
}

class UsageError extends Error {}

/** Below this many records EM estimates are too noisy to beat the shipped model. */
const MIN_RECORDS_FOR_EM = 1000;

function parseArgs(argv: string[]): ParsedArgs {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') throw new UsageError('');
  const args: ParsedArgs = { command, file: '', map: new Map(), estimate: undefined, quiet: false };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const value = (): string => {
      const v = rest[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--map':
        for (const pair of value().split(',')) {
          const eq = pair.lastIndexOf('=');
          const column = pair.slice(0, eq);
          const field = pair.slice(eq + 1) as PersonField;
          if (eq <= 0 || !PERSON_FIELDS.includes(field)) throw new UsageError(`--map ${pair}: expected column=field with field one of ${PERSON_FIELDS.join(', ')}`);
          args.map.set(column, field);
        }
        break;
      case '--id': args.id = value(); break;
      case '--truth': args.truth = value(); break;
      case '--out': args.out = value(); break;
      case '--model': args.model = value(); break;
      case '--estimate': args.estimate = true; break;
      case '--no-estimate': args.estimate = false; break;
      case '--quiet': args.quiet = true; break;
      default:
        if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`);
        if (args.file !== '') throw new UsageError(`unexpected argument ${arg}`);
        args.file = arg;
    }
  }
  if (args.file === '') throw new UsageError('a CSV file is required');
  if (args.map.size === 0) throw new UsageError('at least one --map column=field is required');
  return args;
}

interface CsvData {
  records: PersonInput[];
  ids: string[];
  truth: string[] | undefined;
}

async function readCsv(args: ParsedArgs, log: (s: string) => void): Promise<CsvData> {
  const parser = createReadStream(args.file).pipe(parse({ columns: true, bom: true, skip_empty_lines: true, trim: true, relax_column_count: true }));
  const records: PersonInput[] = [];
  const ids: string[] = [];
  const truth: string[] | undefined = args.truth ? [] : undefined;
  let checked = false;
  for await (const row of parser as AsyncIterable<Record<string, string | undefined>>) {
    if (!checked) {
      const missing = [...args.map.keys(), args.id, args.truth].filter((c): c is string => c !== undefined && !(c in row));
      if (missing.length > 0) throw new UsageError(`column(s) not in ${args.file}: ${missing.join(', ')} (have: ${Object.keys(row).join(', ')})`);
      checked = true;
    }
    const record: PersonInput = {};
    for (const [column, field] of args.map) {
      const v = row[column];
      // Several columns may feed one field (e.g. street_number + address_1 → line).
      if (v !== undefined && v !== '') record[field] = record[field] ? `${record[field]} ${v}` : v;
    }
    records.push(record);
    ids.push(args.id ? (row[args.id] ?? '') : String(records.length));
    truth?.push(row[args.truth!] ?? '');
    if (records.length % 50_000 === 0) log(`read ${records.length} records`);
  }
  return { records, ids, truth };
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

async function writeOutput(path: string | undefined, ids: string[], upids: string[]): Promise<void> {
  const out = path ? createWriteStream(path) : process.stdout;
  const chunks: string[] = ['record_id,upid\n'];
  for (let i = 0; i < ids.length; i++) chunks.push(`${csvField(ids[i]!)},${upids[i]}\n`);
  const text = chunks.join('');
  await new Promise<void>((resolve, reject) => {
    out.write(text, (err) => (err ? reject(err) : resolve()));
  });
  if (path) await new Promise<void>((resolve) => (out as ReturnType<typeof createWriteStream>).end(resolve));
}

export async function upiCommand(argv: string[]): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message ? `tessera upi: ${e.message}\n\n` : ''}${USAGE}\n`);
    return e.message ? 2 : 0;
  }
  const log = (s: string): void => {
    if (!args.quiet) process.stderr.write(`upi: ${s}\n`);
  };
  try {
    const started = performance.now();
    const data = await readCsv(args, log);
    log(`read ${data.records.length} records from ${args.file}`);
    let model: MatchModel = args.model ? loadModel(args.model) : defaultMatchModel();
    const estimate = args.command === 'estimate' || (args.estimate ?? data.records.length >= MIN_RECORDS_FOR_EM);
    if (estimate) {
      model = estimateWeights(data.records, undefined, { model, onProgress: log });
      log('model re-estimated by EM');
    }
    if (args.command === 'estimate') {
      if (!args.out) throw new UsageError('estimate needs --out model.json');
      writeFileSync(args.out, JSON.stringify(model, null, 2) + '\n');
      log(`model written to ${args.out}`);
      return 0;
    }
    if (args.command !== 'link') throw new UsageError(`unknown upi command '${args.command}'`);
    let lastReport = 0;
    const onProgress = (p: LinkProgress): void => {
      const now = performance.now();
      if (now - lastReport < 1000) return;
      lastReport = now;
      log(p.total > 0 ? `${p.phase} ${p.done}/${p.total}` : `${p.phase} ${p.done} pairs`);
    };
    const result = linkRecords(data.records, { model, ids: data.ids, onProgress });
    const seconds = (performance.now() - started) / 1000;
    const s = result.stats;
    log(`${s.records} records → ${s.clusters} UPIDs; ${s.comparisons} pairs compared, ${s.matchPairs} match pairs, ` +
      `${s.blockedMerges} merges refused by hard rules, ${s.skippedBlocks} oversized blocks skipped; ` +
      `${seconds.toFixed(1)} s (${Math.round(s.records / seconds)} records/s)`);
    await writeOutput(args.out, data.ids, result.upids);
    if (data.truth) {
      const m = pairwiseMetrics(result.cluster, data.truth);
      process.stderr.write(
        `pairwise precision ${m.precision.toFixed(4)}  recall ${m.recall.toFixed(4)}  F1 ${m.f1.toFixed(4)}  ` +
        `(predicted pairs ${m.predictedPairs}, true pairs ${m.truePairs}, correct ${m.correctPairs})\n`,
      );
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tessera upi: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`tessera upi: ${(e as Error).message}\n`);
    return 1;
  }
}
