import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  areNicknames,
  blockingKeys,
  compare,
  compileModel,
  defaultMatchModel,
  estimateWeights,
  linkRecords,
  MatchIndex,
  normalizeBirthDate,
  normalizeEmail,
  normalizePhone,
  normalizeRecord,
  normalizeSsn,
  normalizeStreetLine,
  pairwiseMetrics,
  TermFrequencyTable,
  uuidFromString,
  validateModel,
} from '../../src/upi/engine/index.ts';
import type { PersonInput } from '../../src/upi/engine/index.ts';
import { nicknamePairCount } from '../../src/upi/engine/nicknames.ts';
import { generatePeople } from '../../bench/upi/generate.ts';

const cm = compileModel(defaultMatchModel());
const cmp = (a: PersonInput, b: PersonInput) => compare(cm, normalizeRecord(a), normalizeRecord(b));
const level = (a: PersonInput, b: PersonInput, field: string) => cmp(a, b).fieldComparisons.find((f) => f.field === field)!.level;

describe('normalisation', () => {
  test('names: case, accents, punctuation, titles, compound surnames', () => {
    const r = normalizeRecord({ given: 'Dr. José-María', family: "O'Brien-García Jr." });
    assert.equal(r.given, 'jose');
    assert.deepEqual(r.givenTokens, ['jose', 'maria']);
    assert.equal(r.family, 'obriengarcia');
    assert.deepEqual(r.familyTokens, ['obrien', 'garcia']);
  });

  test('birth dates: ISO, YYYYMMDD, US, invalid and placeholder', () => {
    assert.equal(normalizeBirthDate('1971-06-24'), '19710624');
    assert.equal(normalizeBirthDate('19710624'), '19710624');
    assert.equal(normalizeBirthDate('6/24/1971'), '19710624');
    assert.equal(normalizeBirthDate('1971-02-30'), '');
    assert.equal(normalizeBirthDate('1900-01-01'), '');
    assert.equal(normalizeBirthDate('19010101'), '');
  });

  test('phones: digits, country code, 555 fillers', () => {
    assert.equal(normalizePhone('+1 (312) 652-4023'), '3126524023');
    assert.equal(normalizePhone('312.652.4023 x12'), '3126524023');
    assert.equal(normalizePhone('(312) 555-0142'), '');
    assert.equal(normalizePhone('555-555-5555'), '');
    assert.equal(normalizePhone('000-000-0000'), '');
  });

  test('SSNs and e-mails: placeholders carry nothing', () => {
    assert.equal(normalizeSsn('078-05-1121'), '078051121');
    for (const s of ['000-00-0000', '999-99-9999', '123-45-6789', '666-12-3456', '912-34-5678']) assert.equal(normalizeSsn(s), '', s);
    assert.equal(normalizeEmail('  Jo.Smith@Mail.NET '), 'jo.smith@mail.net');
    assert.equal(normalizeEmail('noemail@gmail.com'), '');
    assert.equal(normalizeEmail('none@none.com'), '');
  });

  test('addresses: USPS suffixes, directionals, unit numbers, ZIP+4', () => {
    const a = normalizeStreetLine('123 North Main Street Apt 4B');
    const b = normalizeStreetLine('123 N Main St #4B');
    assert.deepEqual(a, b);
    assert.deepEqual(a, { houseNumber: '123', street: 'n main st', unit: '4b' });
    assert.equal(normalizeRecord({ postalCode: '60657-1234' }).zip5, '60657');
    assert.equal(level({ line: '9 Oak Avenue', postalCode: '60657-1234' }, { line: '9 Oak Ave', postalCode: '60657' }, 'street'), 'exact');
    assert.equal(level({ line: '9 Oak Ave Apt 1', postalCode: '60657' }, { line: '9 Oak Ave Apt 2', postalCode: '60657' }, 'street'), 'otherUnit');
  });

  test('newborn placeholders and birth order', () => {
    const a = normalizeRecord({ given: 'Baby Boy A', family: 'Smith' });
    assert.equal(a.given, '');
    assert.equal(a.newborn, true);
    assert.equal(a.birthOrder, '1');
    assert.equal(normalizeRecord({ given: 'Twin B', family: 'Smith' }).birthOrder, '2');
    assert.equal(normalizeRecord({ given: 'Unknown', family: 'Patient' }).given, '');
    assert.equal(normalizeRecord({ given: 'Ann', multipleBirth: 2 }).birthOrder, '2');
  });
});

describe('nicknames', () => {
  test('table is data with a few hundred pairs', () => {
    assert.ok(nicknamePairCount() >= 300, `only ${nicknamePairCount()} pairs`);
    assert.ok(areNicknames('bob', 'robert'));
    assert.ok(areNicknames('bill', 'william'));
    assert.ok(areNicknames('peggy', 'margaret'));
    assert.ok(!areNicknames('robert', 'william'));
  });
});

describe('comparison', () => {
  const base: PersonInput = { given: 'Robert', family: 'Allen', birthDate: '1971-06-24', sex: 'M', line: '12 Oak St', city: 'Springfield', state: 'IL', postalCode: '62701', phone: '217-321-4567', email: 'rallen71@gmail.com' };

  test('identical records match; the score is the sum of field weights', () => {
    const r = cmp(base, base);
    assert.equal(r.outcome, 'match');
    const sum = r.fieldComparisons.reduce((s, f) => s + f.weight, 0);
    assert.ok(Math.abs(sum - r.score) < 1e-9);
  });

  test('nickname, typos, date transpositions and swapped names still match', () => {
    assert.equal(level(base, { ...base, given: 'Bob' }, 'given'), 'nickname');
    assert.equal(level(base, { ...base, birthDate: '1971-24-06'.replace('24-06', '06-24') }, 'birthDate'), 'exact');
    assert.equal(level(base, { ...base, birthDate: '1971-07-24' }, 'birthDate'), 'typo');
    assert.equal(level({ ...base, birthDate: '1971-03-04' }, { ...base, birthDate: '1971-04-03' }, 'birthDate'), 'typo');
    assert.equal(level(base, { ...base, birthDate: '1917-06-24' }, 'birthDate'), 'typo');
    const swapped = cmp(base, { ...base, given: 'Allen', family: 'Robert', phone: '', email: '' });
    assert.ok(swapped.reasons.includes('given and family names swapped'));
    assert.equal(swapped.outcome, 'match');
    assert.equal(cmp({ ...base, phone: '', email: '', line: '' }, { ...base, given: 'Bob', family: 'Alen', birthDate: '19710624', phone: '', email: '', line: '' }).outcome, 'match');
  });

  test('placeholders carry no weight', () => {
    const a: PersonInput = { given: 'Unknown', family: 'Test', birthDate: '1900-01-01', phone: '555-555-0100', ssn: '999-99-9999', email: 'noemail@x.com' };
    const r = cmp(a, a);
    assert.equal(r.score, 0);
    assert.equal(r.outcome, 'no-match');
  });

  test('twins do not match: same family, DOB, address, phone; different given names', () => {
    const twinA: PersonInput = { ...base, given: 'Jacob', email: '' };
    const twinB: PersonInput = { ...base, given: 'Ethan', email: '' };
    const r = cmp(twinA, twinB);
    assert.ok(r.cannotLink);
    assert.notEqual(r.outcome, 'match');
  });

  test('opposite-sex twins with close names (Maria / Mario) are never linked directly', () => {
    const sister: PersonInput = { ...base, given: 'Maria', sex: 'female', email: '' };
    const brother: PersonInput = { ...base, given: 'Mario', sex: 'male', email: '' };
    const r = cmp(sister, brother);
    assert.ok(r.reasons.includes('different sex and given name'));
    assert.notEqual(r.outcome, 'match');
    // A recorded sex that differs on its own (same first name) stays a data-entry question, not a conflict.
    assert.ok(!cmp(sister, { ...sister, sex: 'male' }).reasons.includes('different sex and given name'));
  });

  test('"Baby Boy A" and "Baby Boy B" never match; the names contribute nothing', () => {
    const a: PersonInput = { given: 'Baby Boy A', family: 'Smith', birthDate: '2024-01-02', sex: 'M', line: '1 Elm St', postalCode: '62701', phone: '217-321-4567' };
    const b: PersonInput = { ...a, given: 'Baby Boy B' };
    const r = cmp(a, b);
    assert.ok(r.cannotLink);
    assert.notEqual(r.outcome, 'match');
    assert.equal(r.fieldComparisons.find((f) => f.field === 'given')!.level, 'missing');
  });

  test('Jr/Sr and different SSNs are conflicts; matching SSN overrides nothing else', () => {
    const jr = cmp(base, { ...base, birthDate: '1998-02-11', email: '' });
    assert.ok(jr.cannotLink, jr.reasons.join());
    assert.ok(cmp({ ...base, ssn: '123-45-6780' }, { ...base, ssn: '321-54-0876' }).reasons.includes('different SSN'));
  });

  test('e-mail typos: a dropped or doubled @, a dropped digit; another number is another account', () => {
    const level = (x: string, y: string): string | undefined =>
      compare(compileModel(defaultMatchModel()), normalizeRecord({ email: x }), normalizeRecord({ email: y })).fieldComparisons.find((f) => f.field === 'email')?.level;
    assert.equal(level('oliverjones82bond.biz', 'oliverjones82@bond.biz'), 'fuzzy');
    assert.equal(level('f@b@reese.com', 'fb@reese.com'), 'fuzzy');
    assert.equal(level('oliverjones82bond.biz', 'oliverjones83@bond.biz'), 'disagree');
    assert.equal(level('poppy.foxo3@rivera.c6m', 'poppy.fox63@rivera.com'), 'weak');
    assert.equal(level('poppy.fox64@rivera.com', 'poppy.fox63@rivera.com'), 'disagree');
  });

  test('weights come from the model file, not code', () => {
    const model = defaultMatchModel();
    model.comparisons.email.exact = { m: 0.5, u: 0.5 };
    const zeroEmail = compileModel(model);
    const r = compare(zeroEmail, normalizeRecord({ email: 'a.b@c.de' }), normalizeRecord({ email: 'a.b@c.de' }));
    assert.equal(r.score, 0);
    assert.throws(() => validateModel({ version: 1, thresholds: { match: 1, possible: 0 }, comparisons: {} }), /missing/);
  });
});

describe('term frequencies', () => {
  test('per person: a person with many records does not make their own name common', () => {
    // 300 people: one with 7 records of "Zbigniewski", two sharing "Nowak", the rest unique surnames.
    const records = [];
    const person: number[] = [];
    for (let k = 0; k < 7; k++) { records.push(normalizeRecord({ family: 'Zbigniewski' })); person.push(0); }
    records.push(normalizeRecord({ family: 'Nowak' }), normalizeRecord({ family: 'Nowak' }));
    person.push(1, 2);
    for (let p = 3; p < 300; p++) { records.push(normalizeRecord({ family: `Name${p}` })); person.push(p); }
    const perRecord = new TermFrequencyTable();
    for (const r of records) perRecord.add(r);
    const perPerson = TermFrequencyTable.perPerson(records, person);
    assert.equal(perRecord.frequency('family', 'zbigniewski'), 7 / 306);
    // Among the other 299 people nobody is called Zbigniewski (floored at one holder, as an unseen value); one
    // other person is called Nowak.
    assert.equal(perPerson.frequency('family', 'zbigniewski'), 1 / 300);
    assert.equal(perPerson.frequency('family', 'nowak'), 1 / 300);
    assert.equal(perPerson.frequency('given', 'anything'), 0); // no given names: below the noise guard
  });
});

describe('blocking, index and linking', () => {
  test('blocking keys are prefixed strings a database can index', () => {
    const keys = blockingKeys(normalizeRecord({ given: 'Robert', family: 'Allen', birthDate: '1971-06-24', phone: '3126524023' }));
    assert.ok(keys.includes('dob:19710624'));
    assert.ok(keys.includes('phone:3126524023'));
    assert.ok(keys.every((k) => /^[a-z-]+:/.test(k)));
  });

  test('MatchIndex finds a corrupted duplicate and not the twin', () => {
    const index = new MatchIndex();
    index.add('p1', { given: 'Margaret', family: 'Lopez', birthDate: '1980-03-14', line: '5 Pine Rd', postalCode: '60657', phone: '3124441212' });
    index.add('p2', { given: 'Teresa', family: 'Lopez', birthDate: '1980-03-14', line: '5 Pine Rd', postalCode: '60657', phone: '3124441212' });
    const found = index.match({ given: 'Peggy', family: 'Lopez', birthDate: '19800314', line: '5 Pine Road', postalCode: '60657-0001' }, { minOutcome: 'match' });
    assert.deepEqual(found.map((c) => c.id), ['p1']);
    index.remove('p1');
    assert.equal(index.match({ given: 'Peggy', family: 'Lopez', birthDate: '19800314' }, { minOutcome: 'match' }).length, 0);
  });

  test('bulk: a corrupted e-mail sharing no blocking key is found by the sorted neighbourhood', () => {
    const recs: PersonInput[] = [{ family: 'Cox', birthDate: '1971-07-20', email: 'j.c@white.org' }, { family: 'Cox', birthDate: '1972-07-19', email: 'j.c@wwhite.org' }];
    assert.notEqual(linkRecords(recs, { neighbourhoods: [] }).upids[0], linkRecords(recs, { neighbourhoods: [] }).upids[1]);
    const linked = linkRecords(recs);
    assert.equal(linked.upids[0], linked.upids[1]);
  });

  test('bulk: a record joins a person when a majority of its records nearly match it, not on one record', () => {
    const person: PersonInput = { given: 'Ann', family: 'Zabrowski', birthDate: '1980-03-14', city: 'Springfield' };
    const lone: PersonInput = { family: 'Zabrowski', birthDate: '1980-03-30' };
    const one = linkRecords([person, lone]);
    assert.notEqual(one.upids[0], one.upids[1]);
    const three = linkRecords([person, person, person, lone]);
    assert.equal(new Set(three.upids).size, 1);
  });

  test('pairwise metrics', () => {
    const m = pairwiseMetrics([1, 1, 1, 2], ['a', 'a', 'b', 'b']);
    assert.equal(m.predictedPairs, 3);
    assert.equal(m.truePairs, 2);
    assert.equal(m.correctPairs, 1);
  });

  test('UPIDs are UUIDs, deterministic per cluster', () => {
    assert.match(uuidFromString('x'), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const recs: PersonInput[] = [{ given: 'Ann', family: 'Lee', birthDate: '1990-01-02' }, { given: 'Ann', family: 'Lee', birthDate: '1990-01-02' }];
    const a = linkRecords(recs, { ids: ['x', 'y'] });
    const b = linkRecords([...recs].reverse(), { ids: ['y', 'x'] });
    assert.equal(a.upids[0], a.upids[1]);
    assert.equal(a.upids[0], b.upids[0]);
  });

  test('synthetic data with known corruptions: precision ≥ 0.995, recall ≥ 0.95', () => {
    const data = generatePeople({ records: 4000, seed: 20240601 });
    const result = linkRecords(data.records, { ids: data.ids });
    const m = pairwiseMetrics(result.cluster, data.truth);
    assert.ok(m.precision >= 0.995, `precision ${m.precision}`);
    assert.ok(m.recall >= 0.95, `recall ${m.recall}`);
  });

  test('EM re-estimation from unlabelled records keeps precision on synthetic data', () => {
    const data = generatePeople({ records: 2000, seed: 99 });
    const model = estimateWeights(data.records, undefined, { uSampleSize: 30_000 });
    assert.equal(model.provenance?.method, 'EM (m) over blocked pairs + random sampling (u)');
    // A name agreement must stay evidence for, a birth-date disagreement evidence against.
    assert.ok(model.comparisons.family.exact.m > model.comparisons.family.exact.u);
    assert.ok(model.comparisons.birthDate.disagree.m < model.comparisons.birthDate.disagree.u);
    const m = pairwiseMetrics(linkRecords(data.records, { model }).cluster, data.truth);
    assert.ok(m.precision >= 0.995, `precision ${m.precision}`);
    assert.ok(m.recall >= 0.9, `recall ${m.recall}`);
  });
});
