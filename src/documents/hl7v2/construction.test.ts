// Every HL7 v2 resource is emitted valid by construction (not run through the validator by default): this
// sweeps hostile values through every field and component of a message that reaches every builder, and runs
// the R4 validator over everything emitted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { convertHl7v2 } from './index.ts';
import { validateResource } from '../../fhir/validation/index.ts';
import type { ConversionResult } from '../types.ts';

type J = Record<string, any>;

/** Builds a segment from field number → raw value, so field positions are explicit. */
function seg(name: string, fields: Record<number, string>): string {
  const n = Math.max(...Object.keys(fields).map(Number));
  const out = [name];
  for (let i = 1; i <= n; i++) out.push(fields[i] ?? '');
  return out.join('|');
}

const BASE = [
  'MSH|^~\\&|ADT1|GHH^1.2.840.1^ISO|LAB|GHH|20240301101500-0500||ADT^A01^ADT_A01|CTL-1|P|2.5.1',
  'EVN|A01|20240301101500',
  'PID|1||MRN123^^^GHH&1.2.3&ISO^MR~999-88-7777^^^USSSA^SS|ALT1^^^X|DOE^JANE^Q R^JR^DR^^L|MAIDEN^M|19700412101500|F|ALIAS^A|2106-3^White^CDCREC|12 MAIN ST^APT 4^SPRINGFIELD^IL^62704^USA^H^^COOK|COOK|^PRN^PH^^1^217^5550100^12|(217)555-0199^WPN^PH|en^English^ISO639|M^Married^HL70002||ACCT-9^^^GHH^AN|123-45-6789|DL-1^IL|MOM1^^^GHH^MR|2186-5^Not Hispanic^CDCREC|Springfield|Y|2||||20240301|N',
  'PD1|||GHH Clinic^^^^^GHH&1.2.4&ISO^^^^PCP-ORG|1234567893^WELBY^MARCUS^^^DR^^^NPI&2.16.840.1.113883.4.6&ISO^^^^NPI',
  'MRG|OLD1^^^GHH^MR|OLDACCT|ACCT-OLD^^^GHH^AN||||OLDNAME^X',
  'NK1|1|DOE^JOHN|SPO^Spouse^HL70063|12 MAIN ST^^SPRINGFIELD^IL^62704|(217)555-0111^PRN^PH|^WPN^Internet^j@x.org|EC^Emergency^HL70131|20200101|20301231||||ACME|NKID^^^GHH||M|19690101||||en^English^ISO639',
  seg('PV1', {
    1: '1', 2: 'I', 3: '4WEST^412^B^GHH&1.2.5&ISO^^^MAIN^4^Desc', 4: 'E', 5: 'PRE1^^^GHH', 6: '3EAST^301^A^GHH', 7: '0042^ATTEND^ALICE^^^DR^^^GHH&1.2.6&ISO^^^^NPI',
    8: '0077^REFER^ROB', 9: '0088^CONS^CAT', 10: 'MED', 11: 'ICU^^^GHH', 13: 'R', 14: '7', 15: 'W~X', 16: 'VIP^Very important^HL70099', 17: '0099^ADMIT^ADA', 18: 'S',
    19: 'V-2024-001^^^GHH^VN', 36: '01^Home^HL70112', 37: 'HOME^^^GHH', 38: 'D^Diabetic^HL70114', 42: '5N^501^^GHH', 43: '6S^601^^GHH', 44: '20240301093000',
    45: '20240305120000', 50: 'ALT-V^^^GHH', 54: 'EP-1^^^GHH',
  }),
  'PV2|PEND^1^^GHH||R07.9^Chest pain^I10C|||||20240301|20240310|||Admit text <b>&|||||||||||||E',
  'DG1|1|I10|I21.4^NSTEMI^I10||20240301|A|||||||||1|0042^ATTEND^ALICE||||DX-1',
  'AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives~Anaphylaxis|20100101',
  'IAM|1|DA|70618^Penicillin^RXNORM|SV|Rash^Rash^L~Itch|A|IAM-1^GHH||||20100101||20100102|REP^RITA|SPO^Spouse^HL70063|||C',
  'PR1|1|C4|33533^CABG^C4|CABG|20240302|A||0011^ANES^AL|||0022^SURG^SAM|0033^ASSIST^AL|||I21.4^NSTEMI^I10||||PR-1',
  'IN1|1|PPO1^Gold PPO|BCBS01^^^NAIC|Blue Cross|300 E Randolph^^Chicago^IL^60601||(800)555-0101|GRP-77|ACME Corp|||20240101|20241231||PPO^PPO plan|ROE^RICK|SPO|19680101|1 ELM^^SPRINGFIELD^IL||||||||||||||||||POL-1||||||||||||M^^^^^^^^^^^^^^^^^^^^^^^^|INS-ID^^^BCBS',
  'IN2||123-45-6789|||||MCARE1||MCAID1||MIL1|||||||||||||||||||||||||||||||||||||||||||||||||MEMB^^^BCBS',
  'GT1|1|G1^^^GHH|ROE^RICK||1 ELM^^SPRINGFIELD^IL|(217)555-0122^PRN^PH|(217)555-0133^WPN^PH|19680101|M||SPO|987-65-4321',
  'DB1|1|PT|DIS-1^^^GHH',
  'ROL|1|AD|PP^Primary care^HL70443|0042^ATTEND^ALICE|20240101|20241231|||FM^Family^HL70286|||(217)555-0144^WPN^PH|4WEST^412^B^GHH|GHH Clinic^^^^^GHH&1.2.4&ISO^^^^PCP-ORG',
  'ORC|NW|PL-1^GHH|FL-1^LAB||||||||||0042^ATTEND^ALICE',
  'OBR|1|PL-1^GHH^1.2.7^ISO|FL-1^LAB^1.2.8^ISO|24331-1^Lipid panel^LN|||20240301080000|20240301090000||||||||0042^ATTEND^ALICE||||||20240301100000||CH|F|||||||INT1&INTERP&IAN',
  'OBX|1|NM|2093-3^Cholesterol^LN||199|mg/dL^mg/dL^UCUM|<200|N|||F|||20240301090000||0055^TECH^TIM|M1^Method|||20240301100000|BS^Site||||GHH Lab^^^^^GHH&1.2.9&ISO^^^^LAB1|1 LAB RD^^SPRINGFIELD^IL',
  'NTE|1||Fasting sample',
  'OBX|2|SN|2085-9^HDL^LN||>^40|mg/dl|40-60|H|||P',
  'OBX|3|SN|2089-1^LDL ratio^LN||^1^:^3',
  'OBX|4|CWE|11111-1^Blood type^LN||A^Type A^L||||||F',
  'OBX|5|DTM|22222-2^Collected^LN||20240301083000||||||F',
  'OBX|6|CQ|33333-3^Dose^LN||5^mg||||||F',
  'OBX|7|ST|44444-4^Comment^LN||free text~more text||||||X',
  'OBX|8|SN|55555-5^Range^LN||^1^-^3|mmol/l|1-3|||C',
  'PDA|I46.9^Cardiac arrest^I10|||20240305120000|0042^ATTEND^ALICE',
];

const NASTY = [
  '', '""', '^^^', '&&^&&', ' ', '~~', '^ ^ ^', '\uD800', 'A\uDC00B^\uD800^\uDFFF&x&ISO', '\u0001\u0002', 'X\u0000Y^\u0007',
  'a\u00a0b^c\u2028d^urn:a\u3000b', 'http://x\u00a0y', 'urn:a b^b^urn:c d', '99999999999999999999', '2147483648', '-2147483649', '1e400',
  '20240230', '20241301', '00000101', '2024010125', '20240101120000+1454', '20240101120000-9999', '20240101120000.12345', '2024',
  'a  b^c  d^UCUM', '  x  ^  y  ^  HL70001', '\\X0D\\\\E\\', '\\.br\\^\\Xff\\', 'SEL', 'X', 'D',
  // Table lookups are indexed with input: none may find Object.prototype's members.
  'constructor', 'toString^constructor^__proto__', '__proto__',
];

// For single components (the whole list goes into whole fields).
const NASTY_COMPONENT = ['', ' ', '\uD800', 'X\u0000Y', 'urn:a\u3000b', '99999999999999999999', '20240101120000+1454', 'a  b', 'constructor', '__proto__', 'toString'];
// Components swept per field (the first ones carry the values; HL7_SWEEP_COMPONENTS=20 for a longer run).
const MAX_COMPONENT = Number(process.env.HL7_SWEEP_COMPONENTS ?? 4);
const FULL = process.env.HL7_SWEEP === 'full';

function fieldsOf(line: string): string[] {
  return line.split('|');
}

/** Every variant of the message: each field (and each component of it) of each segment replaced by each value. */
function* variants(): Generator<[string, string]> {
  for (let s = 0; s < BASE.length; s++) {
    const fields = fieldsOf(BASE[s]!);
    // MSH-1/MSH-2 are the delimiters; a broken MSH is a parse error, not a builder input.
    const first = s === 0 ? 3 : 1;
    for (let f = first; f <= fields.length; f++) {
      const original = fields[f] ?? '';
      const comps = original.split('^').length;
      for (let c = 0; c <= Math.min(comps, MAX_COMPONENT); c++) {
        const values = c === 0 ? NASTY : NASTY_COMPONENT;
        for (let k = 0; k < values.length; k++) {
          // By default each field gets every third value (a different third per field and component, so every
          // value meets every segment); HL7_SWEEP=full tries them all (≈ 24 000 variants).
          if (!FULL && (k + f + c) % 3 !== 0) continue;
          const v = values[k]!;
          const copy = [...fields];
          while (copy.length <= f) copy.push('');
          if (c === 0) copy[f] = v;
          else {
            const parts = original.split('^');
            while (parts.length < c) parts.push('');
            parts[c - 1] = v;
            copy[f] = parts.join('^');
          }
          const lines = [...BASE];
          lines[s] = copy.join('|');
          yield [`${fields[0]}-${f}${c > 0 ? `.${c}` : ''} = ${JSON.stringify(v)}`, lines.join('\r')];
        }
      }
    }
  }
}

function invalidEntries(r: ConversionResult): string[] {
  const out: string[] = [];
  for (const e of r.bundle.entry) {
    const errors = validateResource(e.resource).filter((i) => i.severity === 'error');
    if (errors.length > 0) out.push(`${e.resource.resourceType}: ${errors.map((i) => `${i.path} ${i.message}`).join('; ')}`);
  }
  return out;
}

describe('HL7 v2 resources valid by construction', () => {
  test('the base message reaches every builder and is valid as is', () => {
    const r = convertHl7v2(BASE.join('\r'));
    assert.equal(r.ok, true);
    assert.equal(r.stats.dropped, 0, JSON.stringify(r.outcome.issue));
    const types = new Set(r.bundle.entry.map((e) => e.resource.resourceType));
    for (const t of ['Patient', 'RelatedPerson', 'Encounter', 'Location', 'Practitioner', 'PractitionerRole', 'Organization', 'Account', 'EpisodeOfCare', 'Linkage', 'Condition', 'AllergyIntolerance', 'Procedure', 'Coverage', 'DiagnosticReport', 'Observation']) {
      assert.ok(types.has(t), t);
    }
    assert.deepEqual(invalidEntries(r), []);
    assert.equal(JSON.stringify(convertHl7v2(BASE.join('\r'), { validate: 'all' })), JSON.stringify(r));
  });

  test('hostile values in every field and component never give an invalid resource', () => {
    let n = 0;
    for (const [label, msg] of variants()) {
      n++;
      const r = convertHl7v2(msg);
      const bad = invalidEntries(r);
      assert.deepEqual(bad, [], label);
      const bug = r.outcome.issue.find((i) => i.code === 'exception');
      assert.equal(bug, undefined, `${label}: ${bug?.diagnostics}`);
      // Nothing the validator would drop: 'all' gives the same result.
      if (n % 25 === 0) assert.equal(JSON.stringify(convertHl7v2(msg, { validate: 'all' })), JSON.stringify(r), label);
    }
    assert.ok(n > 5000 / (FULL ? 1 : 3), `${n} variants`);
    console.log(`# ${n} variants`);
  });

  test('a merge never adds a second variant of a choice element', () => {
    // The same patient twice (same identifier): one with a birth order, one with only the multiple-birth flag
    // and a death date; the same report twice (same placer/filler/code), one with a period, one with a time.
    const msg = [
      'MSH|^~\\&|A|B|C|D|20240301101500-0500||ORU^R01|M1|P|2.5',
      seg('PID', { 1: '1', 3: 'MRN1^^^H^MR', 5: 'DOE^JANE', 7: '19700101', 8: 'F', 24: 'Y', 25: '2', 30: 'Y' }),
      'OBR|1|P1|F1|1-1^Panel^LN|||20240301080000|20240301090000',
      seg('PID', { 1: '2', 3: 'MRN1^^^H^MR', 5: 'DOE^JANE', 7: '19700101', 8: 'F', 24: 'Y', 29: '20240301' }),
      'OBR|2|P1|F1|1-1^Panel^LN|||20240301080000',
    ].join('\r');
    const r = convertHl7v2(msg);
    assert.equal(r.stats.dropped, 0, JSON.stringify(r.outcome.issue));
    assert.deepEqual(invalidEntries(r), []);
    const p = r.bundle.entry.find((e) => e.resource.resourceType === 'Patient')!.resource as J;
    assert.equal(p.multipleBirthInteger, 2);
    assert.equal(p.multipleBirthBoolean, undefined);
    assert.equal(p.deceasedBoolean, true);
    assert.equal(p.deceasedDateTime, undefined);
    const dr = r.bundle.entry.find((e) => e.resource.resourceType === 'DiagnosticReport')!.resource as J;
    assert.ok(dr.effectivePeriod !== undefined && dr.effectiveDateTime === undefined);
  });

  test('sanitisers: zones FHIR does not allow, Unicode spaces in URIs, 32-bit integers', () => {
    const r = convertHl7v2([
      'MSH|^~\\&|A|B|C|D|20240301101500-0500||ADT^A01|M1|P|2.5',
      'PID|1||MRN1^^^H^MR||DOE^JANE||19700101',
      seg('PV1', { 1: '1', 2: 'I', 19: 'V1^^^H^VN', 44: '20240301101500+1454', 45: '20240302101500+1400' }),
      'DG1|1||X1^Dx^I10||||||||||||2147483648',
      'IN1|2147483648|P|C1^^^NS&urn:a\u00a0b&URI|Co',
    ].join('\r'), { defaultTimezone: 'EST' });
    assert.equal(r.stats.dropped, 0, JSON.stringify(r.outcome.issue));
    assert.deepEqual(invalidEntries(r), []);
    const e = r.bundle.entry.find((x) => x.resource.resourceType === 'Encounter')!.resource as J;
    assert.deepEqual(e.period, { end: '2024-03-02T10:15:00+14:00' });
    assert.equal(e.diagnosis[0].rank, undefined);
    const cov = r.bundle.entry.find((x) => x.resource.resourceType === 'Coverage')!.resource as J;
    assert.equal(cov.order, undefined);
    const payer = r.bundle.entry.find((x) => x.resource.resourceType === 'Organization' && x.resource.name === 'Co')!.resource as J;
    assert.equal(payer.identifier[0].system, 'urn:id:NS');
    // A caller's zone that FHIR does not allow is ignored (dates keep only their day).
    const noZone = convertHl7v2(['MSH|^~\\&|A|B|C|D|20240301101500||ADT^A01|M1|P|2.5', 'PID|1||MRN1^^^H^MR||DOE^JANE', seg('PV1', { 1: '1', 2: 'I', 19: 'V1', 44: '20240301101500' })].join('\r'), { defaultTimezone: 'EST' });
    assert.deepEqual((noZone.bundle.entry.find((x) => x.resource.resourceType === 'Encounter')!.resource as J).period, { start: '2024-03-01' });
  });
});

describe('table lookups', () => {
  test("input naming Object.prototype members ('toString', 'constructor') finds nothing in the code tables", () => {
    const r = convertHl7v2([
      'MSH|^~\\&|A|B|C|D|20240301101500-0500||ADT^toString|M1|P|2.5',
      'PID|1||MRN1^^^H^MR||DOE^JANE^^^^^constructor||19700101|||||^toString^PH^^^^5550100',
      'PV1|1|I|||||||||||||||||V1',
      'OBX|1|NM|1-1^X^LN||5|constructor',
    ].join('\r'));
    assert.equal(r.stats.dropped, 0, JSON.stringify(r.outcome.issue));
    assert.deepEqual(invalidEntries(r), []);
    const p = r.bundle.entry.find((e) => e.resource.resourceType === 'Patient')!.resource as J;
    assert.equal(p.name[0].use, undefined);
    assert.equal((r.bundle.entry.find((e) => e.resource.resourceType === 'Encounter')!.resource as J).status, 'unknown');
  });
});

describe('incremental ids', () => {
  test('IdHasher start/extend/finish gives id() of the joined key', async () => {
    const { IdHasher } = await import('../ccda/context.ts');
    const h = new IdHasher('tessera');
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const word = (): string => Array.from({ length: Math.floor(rand() * 12) }, () => String.fromCharCode(Math.floor(rand() * 0xffff))).join('');
    for (let n = 0; n < 2000; n++) {
      const parts = Array.from({ length: 1 + Math.floor(rand() * 5) }, word);
      let st = h.start('Location');
      for (const p of parts) st = h.extend(st, p);
      assert.equal(h.finish(st), h.id('Location', parts.join('')));
    }
  });
});
