// `npm run bench:documents [-- budgetMs]`: throughput of the document converters, with peers side by side.
// To add a case, write a module returning BenchCase[] and add it to CASES.
import { cpus } from 'node:os';
import { runCase, type BenchCase } from './harness.ts';
import { ccdaCases } from './ccda.ts';
import { hl7v2Cases, ncpdpCases } from './hl7v2.ts';

const CASES: (() => BenchCase[])[] = [ccdaCases, hl7v2Cases, ncpdpCases];

const budgetMs = Number(process.argv[2] ?? 3000);
const out: string[] = [`Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores), ${budgetMs} ms per measurement`, ''];
for (const make of CASES) {
  for (const c of make()) {
    out.push(...runCase(c, budgetMs), '');
    process.stdout.write(out.splice(0).join('\n') + '\n');
  }
}
process.stdout.write(out.join('\n'));
