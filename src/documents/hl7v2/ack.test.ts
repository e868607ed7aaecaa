import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAck } from './ack.ts';
import { isHl7Error, parseHl7v2 } from './parser.ts';

const MSG = 'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240102030405||ADT^A01^ADT_A01|CTRL-77|P|2.5.1\rPID|1||X';
const NOW = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));

function segs(ack: string): string[][] {
  return ack.split('\r').map((s) => s.split('|'));
}

describe('ACK builder', () => {
  test('AA: sender and receiver swapped, MSA echoes the control id', () => {
    const ack = buildAck(MSG, 'AA', undefined, { now: NOW });
    const [msh, msa, extra] = segs(ack);
    assert.equal(msh![0], 'MSH');
    assert.equal(msh![1], '^~\\&');
    assert.deepEqual(msh!.slice(2, 6), ['RECVAPP', 'RECVFAC', 'SENDAPP', 'SENDFAC']);
    assert.equal(msh![6], '20240102030405+0000');
    assert.equal(msh![8], 'ACK^A01^ACK');
    assert.equal(msh![9], 'ACKCTRL-77');
    assert.equal(msh![10], 'P');
    assert.equal(msh![11], '2.5.1');
    assert.deepEqual(msa, ['MSA', 'AA', 'CTRL-77']);
    assert.equal(extra, undefined);
  });

  test('the ACK is itself a parseable HL7 message', () => {
    const parsed = parseHl7v2(buildAck(MSG, 'AE', 'bad thing', { now: NOW }));
    assert.ok(!isHl7Error(parsed));
    assert.equal(parsed.messageCode, 'ACK');
    assert.equal(parsed.segment('MSA')?.get(2), 'CTRL-77');
    assert.equal(parsed.segment('MSA')?.get(3), 'bad thing');
    assert.equal(parsed.segment('ERR')?.get(3, 1), '207');
    assert.equal(parsed.segment('ERR')?.get(4), 'E');
  });

  test('AR carries an ERR segment and texts with delimiters are escaped', () => {
    const ack = buildAck(parseHl7v2(MSG) as never, 'AR', 'unsupported A|B^C', { now: NOW, controlId: 'MYACK1' });
    const parsed = parseHl7v2(ack);
    assert.ok(!isHl7Error(parsed));
    assert.equal(parsed.controlId, 'MYACK1');
    assert.equal(parsed.segment('MSA')?.get(1), 'AR');
    assert.equal(parsed.segment('MSA')?.get(3), 'unsupported A|B^C');
    assert.equal(parsed.segment('ERR')?.get(3, 1), '200');
  });

  test('custom encoding characters of the original are used in the ACK', () => {
    const custom = 'MSH#!*@$#A#B#C#D#2024##ORU!R01#ID9#T#2.3';
    const ack = buildAck(custom, 'AA', undefined, { now: NOW });
    assert.ok(ack.startsWith('MSH#!*@$#C#D#A#B#'));
    const parsed = parseHl7v2(ack);
    assert.ok(!isHl7Error(parsed));
    assert.equal(parsed.segment('MSA')?.get(2), 'ID9');
    assert.equal(parsed.msh.get(9, 2), 'R01');
  });

  test('an unparseable message still gets an AR answer', () => {
    const ack = buildAck('garbage', 'AR', 'could not parse', { now: NOW });
    const parsed = parseHl7v2(ack);
    assert.ok(!isHl7Error(parsed));
    assert.equal(parsed.segment('MSA')?.get(1), 'AR');
    assert.equal(parsed.segment('MSA')?.get(2), undefined);
  });

  test('deterministic with a fixed clock; separator configurable', () => {
    assert.equal(buildAck(MSG, 'AA', undefined, { now: NOW }), buildAck(MSG, 'AA', undefined, { now: NOW }));
    assert.ok(buildAck(MSG, 'AA', undefined, { now: NOW, separator: '\n' }).includes('\nMSA|AA|CTRL-77'));
  });
});
