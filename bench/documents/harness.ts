// Tiny benchmark harness for the document converters: each case converts a corpus repeatedly
// for a time budget and reports throughput per CPU-second of the (single-threaded) process,
// i.e. per core: MB/s and documents/s. GC and JIT work on helper threads is included.
export interface BenchResult {
  name: string;
  docs: number;
  bytes: number;
  seconds: number;
  /** Inputs the converter failed on (threw or returned ok:false) in one pass. */
  failures: number;
  /** Resources produced in one pass (when the converter reports them). */
  resources?: number;
}

export interface BenchSubject {
  /** e.g. "tessera convertCcda" or "@medplum/ccda 4.5.2" */
  name: string;
  /** Converts one input; returns false (or throws) on failure, or a resource count. */
  run: (input: string) => boolean | number;
}

export interface BenchCase {
  /** Section heading, e.g. "C-CDA → FHIR". */
  title: string;
  inputs: string[];
  /** The unit reported besides MB/s: 'documents' or 'messages'. */
  unit: string;
  subjects: BenchSubject[];
}

function onePass(subject: BenchSubject, inputs: string[]): { failures: number; resources: number } {
  let failures = 0;
  let resources = 0;
  for (const input of inputs) {
    try {
      const r = subject.run(input);
      if (r === false) failures++;
      else if (typeof r === 'number') resources += r;
    } catch {
      failures++;
    }
  }
  return { failures, resources };
}

export const ROUNDS = 5;

export function formatRow(r: BenchResult, unit: string, inputsPerPass: number): string {
  const mbs = r.bytes / 1e6 / r.seconds;
  const per = r.docs / r.seconds;
  const res = r.resources === undefined ? '' : ` | ${r.resources}`;
  return `| ${r.name} | ${mbs.toFixed(1)} MB/s | ${per.toFixed(0)} ${unit}/s | ${r.failures}/${inputsPerPass}${res} |`;
}

/**
 * Measures every subject of a case with their rounds interleaved (round 1 of each subject, then round 2
 * of each …, starting one subject later each round), so that on a shared machine the subjects compared
 * side by side see the same load; each subject's best round is reported.
 */
export function measureInterleaved(subjects: BenchSubject[], inputs: string[], budgetMs = 3000): BenchResult[] {
  const bytesPerPass = inputs.reduce((a, s) => a + Buffer.byteLength(s, 'utf8'), 0);
  const first = subjects.map((s) => onePass(s, inputs));
  const best: ({ passes: number; seconds: number } | undefined)[] = subjects.map(() => undefined);
  for (let round = 0; round < ROUNDS; round++) {
    // The order rotates every round: a subject measured right after another one inherits its garbage
    // and cache state, so no subject should always come first or second.
    for (let j = 0; j < subjects.length; j++) {
      const i = (j + round) % subjects.length;
      const subject = subjects[i]!;
      let passes = 0;
      // CPU time, not wall time: the figure is "per core" and stays meaningful on a shared, loaded machine.
      const start = performance.now();
      const cpu0 = process.cpuUsage();
      do {
        onePass(subject, inputs);
        passes++;
      } while (performance.now() - start < budgetMs / ROUNDS);
      const used = process.cpuUsage(cpu0);
      const seconds = (used.user + used.system) / 1e6;
      const b = best[i];
      if (b === undefined || passes / seconds > b.passes / b.seconds) best[i] = { passes, seconds };
    }
  }
  return subjects.map((subject, i) => {
    const { passes, seconds } = best[i]!;
    return { name: subject.name, docs: inputs.length * passes, bytes: bytesPerPass * passes, seconds, failures: first[i]!.failures, resources: first[i]!.resources };
  });
}

export function runCase(c: BenchCase, budgetMs: number): string[] {
  const lines = [`### ${c.title}`, '', `${c.inputs.length} inputs, ${(c.inputs.reduce((a, s) => a + Buffer.byteLength(s), 0) / 1e6).toFixed(2)} MB per pass, single core, best of ${ROUNDS} interleaved rounds (CPU time).`, '',
    `| converter | throughput | ${c.unit}/s | failed inputs | resources per pass |`, '|---|---:|---:|---:|---:|'];
  for (const r of measureInterleaved(c.subjects, c.inputs, budgetMs)) lines.push(formatRow(r, c.unit, c.inputs.length));
  return lines;
}
