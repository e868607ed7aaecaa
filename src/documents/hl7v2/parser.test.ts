import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHl7, isHl7Error, parseHl7v2, parseHl7v2Batch, unescapeHl7, type Hl7Message } from './parser.ts';

const ADT = [
  'MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|GHH LAB|GHH|20240102030405-0500||ADT^A01^ADT_A01|MSG00001|P|2.5.1',
  'EVN|A01|20240102030405',
  'PID|1||PATID1234^^^GHH&1.2.3.4&ISO^MR~123456789^^^USSSA^SS||EVERYMAN^ADAM^A^III||19610615|M',
  'NK1|1|NUCLEAR^NELDA^W|SPO^SPOUSE',
  'PV1|1|I|2000^2012^01||||004777^ATTEND^AARON^A',
].join('\r');

function ok(text: string): Hl7Message {
  const m = parseHl7v2(text);
  if (isHl7Error(m)) throw new Error(`unexpected parse error: ${m.message}`);
  return m;
}

describe('HL7 v2 parser: structure', () => {
  test('segments, MSH numbering and typed accessors', () => {
    const m = ok(ADT);
    assert.equal(m.segments.length, 5);
    assert.deepEqual(m.segments.map((s) => s.name), ['MSH', 'EVN', 'PID', 'NK1', 'PV1']);
    assert.equal(m.msh.raw(1), '|');
    assert.equal(m.msh.raw(2), '^~\\&');
    assert.equal(m.msh.get(3), 'ADT1');
    assert.equal(m.messageCode, 'ADT');
    assert.equal(m.triggerEvent, 'A01');
    assert.equal(m.msh.get(9, 3), 'ADT_A01');
    assert.equal(m.controlId, 'MSG00001');
    assert.equal(m.version, '2.5.1');
    assert.equal(m.segment('PID')?.get(5, 2), 'ADAM');
    assert.equal(m.segmentsNamed('NK1').length, 1);
    assert.equal(m.segment('ZZZ'), undefined);
  });

  test('repetitions, components and subcomponents', () => {
    const pid = ok(ADT).segment('PID')!;
    const ids = pid.reps(3);
    assert.equal(ids.length, 2);
    assert.equal(ids[0]!.get(1), 'PATID1234');
    assert.equal(ids[0]!.get(4), 'GHH'); // whole component with subcomponents → first subcomponent
    assert.equal(ids[0]!.get(4, 2), '1.2.3.4');
    assert.deepEqual(ids[0]!.subcomponents(4), ['GHH', '1.2.3.4', 'ISO']);
    assert.equal(ids[1]!.get(5), 'SS');
    assert.equal(pid.get(3, 1, undefined, 1), '123456789');
    assert.equal(pid.get(3, 9), undefined);
    assert.equal(pid.get(99), undefined);
    assert.deepEqual(pid.reps(99), []);
  });

  test('CR, LF and CRLF separators give the same message; blank lines are ignored', () => {
    const a = ok(ADT);
    for (const sep of ['\n', '\r\n', '\n\n', '\r\r\n']) {
      const b = ok(ADT.split('\r').join(sep));
      assert.deepEqual(b.segments.map((s) => s.fields), a.segments.map((s) => s.fields));
    }
  });

  test('MLLP framing and a byte-order mark are stripped', () => {
    const m = ok(`\u000b\ufeff${ADT}\r\u001c\r`);
    assert.equal(m.segments.length, 5);
    assert.equal(m.segment('PV1')?.get(7, 2), 'ATTEND');
  });

  test('any encoding characters declared in MSH-1/MSH-2', () => {
    const text = ['MSH#!*@$#APP#FAC#####ORU!R01#42#P#2.3', 'PID#1##X1!!!AUTH$1.2$ISO!MR*X2##SMITH!JOHN#'].join('\r');
    const m = ok(text);
    assert.deepEqual(m.encoding, { field: '#', component: '!', repetition: '*', escape: '@', subcomponent: '$' });
    assert.equal(m.messageCode, 'ORU');
    assert.equal(m.triggerEvent, 'R01');
    const pid = m.segment('PID')!;
    assert.equal(pid.reps(3).length, 2);
    assert.equal(pid.get(3, 4, 2), '1.2');
    assert.equal(pid.get(5, 2), 'JOHN');
  });

  test('a doubled escape character in MSH-2 is tolerated', () => {
    const m = ok('MSH|^~\\\\&|A|B|||20120912011230||ADT^A01|102|T|2.6\rPID|1||X^^^A&B&ISO');
    assert.equal(m.encoding.subcomponent, '&');
    assert.equal(m.segment('PID')?.get(3, 4, 2), 'B');
  });

  test('the trigger event falls back to EVN-1 when MSH-9 has none', () => {
    const m = ok('MSH|^~\\&|A|B|C|D|2001||ADT|1|P|2.3\rEVN|A08|2001');
    assert.equal(m.triggerEvent, 'A08');
  });

  test('HL7 null ("") reads as absent', () => {
    const m = ok('MSH|^~\\&|A|B|C|D|2001||ADT^A08|1|P|2.3\rPID|1||""||""^JOHN');
    assert.equal(m.segment('PID')?.get(3), undefined);
    assert.equal(m.segment('PID')?.get(5, 1), undefined);
    assert.equal(m.segment('PID')?.get(5, 2), 'JOHN');
  });

  test('non-segment lines are skipped with a warning, or rejected in strict mode', () => {
    const text = `${ADT}\rthis is not a segment\rZPV|custom`;
    const m = ok(text);
    assert.equal(m.segments.at(-1)?.name, 'ZPV');
    assert.equal(m.warnings.length, 1);
    const strict = parseHl7v2(text, { badSegments: 'error' });
    assert.ok(isHl7Error(strict));
    assert.equal(strict.code, 'bad-segment');
    assert.equal(strict.segment, 6);
  });
});

describe('HL7 v2 parser: escapes', () => {
  const enc = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };
  test('delimiter escapes', () => {
    assert.equal(unescapeHl7('A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F', enc), 'A|B^C&D~E\\F');
  });
  test('hex escapes decode UTF-8 and fall back to Latin-1', () => {
    assert.equal(unescapeHl7('caf\\XC3A9\\', enc), 'café');
    assert.equal(unescapeHl7('caf\\XE9\\', enc), 'café');
    assert.equal(unescapeHl7('\\X414243\\', enc), 'ABC');
  });
  test('highlighting, character-set and formatting escapes', () => {
    assert.equal(unescapeHl7('\\H\\bold\\N\\ text', enc), 'bold text');
    assert.equal(unescapeHl7('line1\\.br\\line2', enc), 'line1\nline2');
    assert.equal(unescapeHl7('\\C2842\\x', enc), 'x');
    assert.equal(unescapeHl7('\\Zlocal\\x', enc), 'x');
  });
  test('unknown or unterminated escapes stay literal', () => {
    assert.equal(unescapeHl7('C:\\temp\\file', enc), 'C:\\temp\\file');
    assert.equal(unescapeHl7('trailing \\', enc), 'trailing \\');
    assert.equal(unescapeHl7('\\XZZ\\', enc), '\\XZZ\\');
    assert.equal(unescapeHl7('\\\\F\\', enc), '\\|');
  });
  test('values read through accessors are unescaped; raw() is not', () => {
    const m = ok('MSH|^~\\&|A|B|C|D|2001||ADT^A08|1|P|2.3\rNTE|1||Na\\S\\K \\T\\ Cl\\F\\ 5\\R\\6');
    const nte = m.segment('NTE')!;
    assert.equal(nte.get(3), 'Na^K & Cl| 5~6');
    assert.equal(nte.raw(3), 'Na\\S\\K \\T\\ Cl\\F\\ 5\\R\\6');
  });
  test('escapeHl7 round-trips through unescapeHl7', () => {
    const s = 'a|b^c&d~e\\f';
    assert.equal(unescapeHl7(escapeHl7(s, enc), enc), s);
  });
  test('escape scanning stays linear on pathological input', () => {
    const evil = '\\'.repeat(200_000) + 'X'.repeat(200_000);
    const out = unescapeHl7(evil, enc);
    assert.ok(out.length > 0);
  });
});

describe('HL7 v2 parser: errors are values, never throws', () => {
  test('empty input', () => {
    const r = parseHl7v2('  \r\n ');
    assert.ok(isHl7Error(r));
    assert.equal(r.code, 'empty');
  });
  test('too large', () => {
    const r = parseHl7v2(ADT, { maxBytes: 50 });
    assert.ok(isHl7Error(r));
    assert.equal(r.code, 'too-large');
  });
  test('no MSH first', () => {
    const r = parseHl7v2('PID|1||X');
    assert.ok(isHl7Error(r));
    assert.equal(r.code, 'no-msh');
  });
  test('bad encoding characters', () => {
    for (const bad of ['MSH|', 'MSH|^^^^|x', 'MSH|^~|', 'MSH|^~A&|x|y']) {
      const r = parseHl7v2(bad);
      assert.ok(isHl7Error(r), bad);
    }
  });
  test('missing message type', () => {
    const r = parseHl7v2('MSH|^~\\&|A|B|C|D|2001|||1|P|2.3');
    assert.ok(isHl7Error(r));
  });
  test('non-string input', () => {
    assert.ok(isHl7Error(parseHl7v2(undefined as unknown as string)));
  });
});

describe('HL7 v2 batches', () => {
  test('FHS/BHS … BTS/FTS with the trailer count checked', () => {
    const msg2 = ADT.replace('MSG00001', 'MSG00002');
    const text = ['FHS|^~\\&|SENDER', 'BHS|^~\\&|SENDER', ADT, msg2, 'BTS|2', 'FTS|1'].join('\r');
    const b = parseHl7v2Batch(text);
    assert.ok(!('kind' in b));
    assert.equal(b.messages.length, 2);
    assert.deepEqual(b.messages.map((m) => (isHl7Error(m) ? 'error' : m.controlId)), ['MSG00001', 'MSG00002']);
    assert.deepEqual(b.warnings, []);
  });
  test('a wrong trailer count is reported', () => {
    const b = parseHl7v2Batch(['BHS|^~\\&', ADT, 'BTS|3'].join('\n'));
    assert.ok(!('kind' in b));
    assert.equal(b.warnings.length, 1);
  });
  test('MLLP-framed messages back to back', () => {
    const text = `\u000b${ADT}\u001c\r\u000b${ADT.replace('MSG00001', 'X2')}\u001c\r`;
    const b = parseHl7v2Batch(text);
    assert.ok(!('kind' in b));
    assert.equal(b.messages.length, 2);
  });
  test('one bad message does not spoil the others', () => {
    const b = parseHl7v2Batch([ADT, 'MSH|^^', ADT].join('\r'));
    assert.ok(!('kind' in b));
    assert.equal(b.messages.length, 3);
    assert.equal(b.messages.filter((m) => isHl7Error(m)).length, 1);
  });
  test('no MSH at all', () => {
    const b = parseHl7v2Batch('FHS|^~\\&\rFTS|0');
    assert.ok('kind' in b);
  });
});

describe('HL7 v2 parser: one message from a text holding several', () => {
  test('reads the first message only, skips a batch envelope, and says so', () => {
    const text = ['FHS|^~\\&', 'BHS|^~\\&', ADT, ADT.replace('MSG00001', 'MSG00002'), 'BTS|2', 'FTS|1'].join('\r');
    const m = ok(text);
    assert.equal(m.controlId, 'MSG00001');
    assert.equal(m.segmentsNamed('MSH').length, 1);
    assert.equal(m.segmentsNamed('PID').length, 1);
    assert.equal(m.warnings.length, 1);
  });
});

describe('HL7 v2 parser: component reads in any order', () => {
  test('every read order gives what splitting the field gives (the scan resumes forwards and walks back)', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const alphabet = ['a', 'bc', '', '^', '^', '&', 'x&y', '""'];
    for (let round = 0; round < 500; round++) {
      let raw = '';
      for (let k = 0, n = 1 + rand(12); k < n; k++) raw += alphabet[rand(alphabet.length)];
      const m = ok(`MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||${raw.replace(/\|/g, '')}`);
      const field = m.segment('PID')!.field(3);
      if (field === undefined) continue;
      const parts = field.raw.split('^');
      for (let r = 0; r < 20; r++) {
        const k = 1 + rand(parts.length + 2);
        const c = parts[k - 1];
        const expected = c === undefined || c === '' ? undefined : c.split('&')[0] === '' || c.split('&')[0] === '""' ? undefined : c.split('&')[0];
        assert.equal(field.get(k), expected, `${raw} component ${k}`);
      }
    }
  });
});
