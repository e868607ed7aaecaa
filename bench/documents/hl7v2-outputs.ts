// Output check for HL7 v2 speed work: converts every corpus message, and seeded random mutations of each
// (hostile input: control characters, lone surrogates, delimiter runs, digit changes), in all three
// validation modes, and prints one hash over the JSON of every ConversionResult.
//   node --import tsx bench/documents/hl7v2-outputs.ts [mutationsPerMessage] [--base <dir>]
// With --base, <dir>/src/documents/hl7v2/index.ts (e.g. an older commit from `git archive`) converts the
// same inputs in the same process and the first differing outputs are printed.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { convertHl7v2, splitMessages } from '../../src/documents/hl7v2/index.ts';
import { seededRandom } from '../../src/platform/random.ts';
import { files } from './hl7v2.ts';

type Convert = typeof convertHl7v2;

const CORPUS = resolve(fileURLToPath(new URL('../../../shared/corpora/hl7v2', import.meta.url)));
const args = process.argv.slice(2);
const baseAt = args.indexOf('--base');
const baseDir = baseAt !== -1 ? args.splice(baseAt, 2)[1] : undefined;
const MUTATIONS = Number(args[0] ?? 30);


const ALPHABET = ['|', '^', '~', '\\', '&', '\r', '\n', '\u0000', '\u001f', '\ud800', '\udc00', '\u00e9', ' ', '""', '99999999999999999999', '20240230', '-', '+', '.', 'T'];

function mutate(src: string, rand: () => number): string {
  let s = src;
  const rounds = 1 + Math.floor(rand() * 5);
  for (let k = 0; k < rounds; k++) {
    const i = Math.floor(rand() * (s.length + 1));
    const j = Math.min(s.length, i + Math.floor(rand() * 40));
    switch (Math.floor(rand() * 6)) {
      case 0: s = s.slice(0, i) + s.slice(j); break;
      case 1: s = s.slice(0, i) + ALPHABET[Math.floor(rand() * ALPHABET.length)]! + s.slice(i); break;
      case 2: s = s.slice(0, i) + String.fromCharCode(Math.floor(rand() * 0xe000)) + s.slice(i + 1); break;
      case 3: s = s.slice(0, i) + s.slice(i, j).replace(/\d/g, () => String(Math.floor(rand() * 10))) + s.slice(j); break;
      case 4: s = s.slice(0, i) + s.slice(i, j).replace(/[^|^~&\r\n]/g, '') + s.slice(j); break; // empty components
      default: s = s.slice(0, i) + ALPHABET[Math.floor(rand() * ALPHABET.length)]!.repeat(1 + Math.floor(rand() * 20)) + s.slice(i);
    }
  }
  return s;
}

const messages = files(CORPUS, '.hl7').flatMap((f) => splitMessages(readFileSync(f, 'utf8')));
const rand = seededRandom(424242);
const inputs: string[] = [...messages];
for (const m of messages) for (let k = 0; k < MUTATIONS; k++) inputs.push(mutate(m, rand));

const MODES = [{}, { validate: 'all' as const }, { validate: false }];
const out = (convert: Convert, x: string, o: object): string => {
  try {
    return JSON.stringify(convert(x, o));
  } catch (e) {
    return `threw ${(e as Error).message}`;
  }
};

let base: Convert | undefined;
if (baseDir !== undefined) base = ((await import(pathToFileURL(resolve(baseDir, 'src/documents/hl7v2/index.ts')).href)) as { convertHl7v2: Convert }).convertHl7v2;

const corpusHash = createHash('sha256');
const allHash = createHash('sha256');
let diffs = 0;
for (let i = 0; i < inputs.length; i++) {
  for (const o of MODES) {
    const s = out(convertHl7v2, inputs[i]!, o);
    allHash.update(s);
    if (i < messages.length) corpusHash.update(s);
    if (base !== undefined) {
      const b = out(base, inputs[i]!, o);
      if (b !== s && diffs++ < 5) {
        let at = 0;
        while (at < b.length && b[at] === s[at]) at++;
        console.log(`input ${i} (${i < messages.length ? 'corpus' : 'mutation'}) mode ${JSON.stringify(o)} differs at ${at}:\n  base: ${b.slice(Math.max(0, at - 150), at + 150)}\n  new:  ${s.slice(Math.max(0, at - 150), at + 150)}`);
      }
    }
  }
}
console.log(`${messages.length} corpus messages: ${corpusHash.digest('hex')}`);
console.log(`${inputs.length} inputs (with ${MUTATIONS} mutations each): ${allHash.digest('hex')}`);
if (base !== undefined) console.log(`${diffs} differing outputs against ${baseDir}`);
