// Random mutations of the corpus (byte flips, truncation, tag duplication, deep nesting, entity
// bombs, DOCTYPE/external entities): the converter never throws, and returns either ok:false with
// a clear reason and no entries, or a result whose entries are all valid and whose references resolve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { convertCcda } from './index.ts';
import { validateResource } from '../../fhir/validation/index.ts';
import { CORPUS, ccdaFiles, references } from '../../../test/documents/ccda-compare.ts';
import { seededRandom } from '../../platform/random.ts';

/** Small deterministic PRNG so a failure can be replayed. */
const rng = seededRandom;

const BOMB = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>';
const XXE = '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>';

type Mutation = (doc: string, r: () => number) => string;
const pick = (r: () => number, n: number): number => Math.floor(r() * n);

const MUTATIONS: Record<string, Mutation> = {
  flip: (d, r) => {
    const chars = d.split('');
    const n = 1 + pick(r, 20);
    for (let i = 0; i < n; i++) chars[pick(r, chars.length)] = String.fromCharCode(pick(r, 128));
    return chars.join('');
  },
  truncate: (d, r) => d.slice(0, pick(r, d.length)),
  duplicateTag: (d, r) => {
    const at = d.indexOf('<', pick(r, d.length));
    if (at === -1) return d;
    const end = d.indexOf('>', at);
    return end === -1 ? d : d.slice(0, end + 1) + d.slice(at, end + 1).repeat(1 + pick(r, 50)) + d.slice(end + 1);
  },
  duplicateRange: (d, r) => {
    const a = pick(r, d.length);
    const b = Math.min(d.length, a + pick(r, 5000));
    return d.slice(0, b) + d.slice(a, b) + d.slice(b);
  },
  deepNesting: (d, r) => {
    const at = d.indexOf('<text', pick(r, d.length));
    const depth = 150 + pick(r, 5000);
    const nest = '<content>'.repeat(depth) + 'x' + '</content>'.repeat(depth);
    return at === -1 ? nest : d.slice(0, at) + nest + d.slice(at);
  },
  entityBomb: (d) => BOMB + d.replace(/^<\?xml[^>]*\?>/, '').replace('<title>', '<title>&lol2;'),
  externalEntity: (d) => XXE + d.replace(/^<\?xml[^>]*\?>/, '').replace('<title>', '<title>&xxe;'),
  undefinedEntity: (d, r) => { const at = pick(r, d.length); return d.slice(0, at) + '&xxe;&#xFFFFFF;&#0;&' + d.slice(at); },
  deleteRange: (d, r) => { const a = pick(r, d.length); return d.slice(0, a) + d.slice(a + pick(r, 2000)); },
  scrambleValues: (d, r) => d.replace(/value="[^"]*"/g, (m) => (r() < 0.2 ? `value="${['', '-', 'abc', '99999999999999999999', '2020-13-45', '1e309', '#', '#missing'][pick(r, 8)]}"` : m)),
  stripNamespaces: (d) => d.replace(/xmlns(:\w+)?="[^"]*"/g, ''),
};


test('fuzz: mutated C-CDA never throws and is either rejected clearly or valid', { skip: existsSync(CORPUS) ? false : `corpus not found at ${CORPUS}` }, () => {
  const docs = ccdaFiles().map((p) => readFileSync(p, 'utf8'));
  // Mostly small documents (fast), some large full ones.
  const small = docs.filter((d) => d.length < 40_000);
  const large = docs.filter((d) => d.length >= 40_000 && d.length < 400_000);
  const r = rng(20261121);
  const names = Object.keys(MUTATIONS);
  const CASES = 3000;
  let rejected = 0;
  let converted = 0;
  for (let i = 0; i < CASES; i++) {
    const pool = i % 10 === 0 && large.length ? large : small;
    const base = pool[pick(r, pool.length)];
    const name = names[i % names.length];
    const input = MUTATIONS[name](base, r);
    let result;
    try {
      result = convertCcda(input);
    } catch (e) {
      assert.fail(`case ${i} (${name}) threw: ${(e as Error).stack}`);
    }
    if (!result.ok) {
      rejected++;
      assert.equal(result.bundle.entry.length, 0, `case ${i} (${name}): a rejected input has no entries`);
      assert.ok(result.outcome.issue.some((x) => x.severity === 'fatal' && (x.diagnostics ?? '').length > 0), `case ${i} (${name}): fatal issue with a reason`);
      assert.notEqual(result.outcome.issue[0].code, 'exception', `case ${i} (${name}): converter bug: ${result.outcome.issue[0].diagnostics}`);
      continue;
    }
    converted++;
    const ids = new Set(result.bundle.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
    for (const e of result.bundle.entry) {
      // Full validation on a sample keeps the test fast; the converter validated every resource already.
      if (i % 7 === 0) assert.deepEqual(validateResource(e.resource).filter((p) => p.severity === 'error'), [], `case ${i} (${name})`);
      for (const ref of references(e.resource)) if (/^[A-Z][A-Za-z]+\/[^/]+$/.test(ref)) assert.ok(ids.has(ref), `case ${i} (${name}): dangling ${ref}`);
    }
  }
  assert.ok(rejected > 0 && converted > 0, `both outcomes exercised (rejected ${rejected}, converted ${converted})`);
});

test('fuzz: DOCTYPE, entity bombs and external entities are refused', () => {
  for (const doc of [BOMB + '<ClinicalDocument><title>&lol2;</title></ClinicalDocument>', XXE + '<ClinicalDocument>&xxe;</ClinicalDocument>']) {
    const r = convertCcda(doc);
    assert.equal(r.ok, false);
    assert.equal(r.outcome.issue[0].code, 'security');
    assert.match(r.outcome.issue[0].diagnostics ?? '', /DOCTYPE/);
  }
  const huge = convertCcda('<ClinicalDocument>' + 'x'.repeat(1000) + '</ClinicalDocument>', { maxBytes: 500 });
  assert.equal(huge.ok, false);
  assert.equal(huge.outcome.issue[0].code, 'too-costly');
});
