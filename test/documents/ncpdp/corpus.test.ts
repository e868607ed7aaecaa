// Every NCPDP SCRIPT fixture of ../shared/corpora/ncpdp and of test/fixtures/ncpdp converts without failure.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertNcpdp } from '../../../src/documents/ncpdp/index.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CORPUS = resolve(HERE, '../../../../shared/corpora/ncpdp/cosyte-ncpdp/test/fixtures/script');
const OURS = resolve(HERE, '../../fixtures/ncpdp');
const present = existsSync(CORPUS);
if (!present) console.log(`# skipping NCPDP corpus test: ${CORPUS} not found`);

describe('NCPDP SCRIPT corpus', () => {
  test('cosyte-ncpdp fixtures: all convert, nothing dropped, no errors', { skip: !present && 'corpus folder absent' }, () => {
    const files = readdirSync(CORPUS).filter((f) => f.endsWith('.xml')).sort();
    assert.equal(files.length, 31);
    let withResources = 0;
    for (const f of files) {
      // Responses name no patient: give the pipeline's patient reference as it would.
      const r = convertNcpdp(readFileSync(join(CORPUS, f), 'utf8'), { patientReference: 'Patient/from-request' });
      assert.equal(r.ok, true, `${f}: ${JSON.stringify(r.outcome.issue)}`);
      assert.equal(r.stats.dropped, 0, `${f}: ${JSON.stringify(r.outcome.issue)}`);
      assert.ok(!r.outcome.issue.some((i) => i.severity === 'error' || i.severity === 'fatal'), f);
      assert.ok(r.message.transaction !== undefined, f);
      if (r.bundle.entry.some((e) => e.resource.resourceType === 'MedicationRequest')) withResources++;
    }
    // Every message that carries a medication yields a MedicationRequest (status/error/denials carry none).
    assert.ok(withResources >= 16, `only ${withResources} messages produced a MedicationRequest`);
  });

  test('our RxHistoryResponse fixtures: all convert, nothing dropped', () => {
    const files = readdirSync(OURS).filter((f) => f.endsWith('.xml'));
    assert.ok(files.length >= 6);
    for (const f of files) {
      const r = convertNcpdp(readFileSync(join(OURS, f), 'utf8'));
      assert.equal(r.ok, true, f);
      assert.equal(r.stats.dropped, 0, `${f}: ${JSON.stringify(r.outcome.issue)}`);
      assert.equal(r.message.transaction, 'RxHistoryResponse');
    }
  });
});
