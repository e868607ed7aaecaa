import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml, child, children, textContent, attrLocal, decodeEntities } from './index.ts';

describe('parseXml', () => {
  test('parses elements, attributes, namespaces, text, CDATA', () => {
    const r = parseXml(`<?xml version="1.0"?>\n<!-- c --><ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:sdtc="urn:hl7-org:sdtc" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <title>A &amp; B &#233;&#x41;</title><sdtc:raceCode code="1"/><value xsi:type="PQ" value="5"/><text><![CDATA[x<y]]></text></ClinicalDocument>`);
    assert.ok(r.ok);
    const root = r.root;
    assert.equal(root.local, 'ClinicalDocument');
    assert.equal(root.ns, 'urn:hl7-org:v3');
    assert.equal(textContent(child(root, 'title')), 'A & B éA');
    const race = child(root, 'raceCode')!;
    assert.equal(race.ns, 'urn:hl7-org:sdtc');
    assert.equal(race.name, 'sdtc:raceCode');
    assert.equal(attrLocal(child(root, 'value'), 'type'), 'PQ');
    assert.equal(textContent(child(root, 'text')), 'x<y');
    assert.equal(children(root).length, 4);
  });

  test('rejects DOCTYPE, entity bombs and external entities', () => {
    for (const doc of [
      '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>',
      '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>',
      '<!doctype html><x/>',
    ]) {
      const r = parseXml(doc);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, 'doctype');
    }
    const r = parseXml('<x><!ENTITY a "b"></x>');
    assert.equal(r.ok, false);
  });

  test('never expands unknown entities', () => {
    assert.equal(decodeEntities('&nbsp; &foo; & &#0; &#xD800;'), '&nbsp; &foo; & \uFFFD \uFFFD');
  });

  test('limits size and depth', () => {
    const deep = '<a>'.repeat(300) + '</a>'.repeat(300);
    const r1 = parseXml(deep);
    assert.equal(r1.ok, false);
    if (!r1.ok) assert.equal(r1.error.code, 'too-deep');
    assert.ok(parseXml(deep, { maxDepth: 400 }).ok);
    const r2 = parseXml('<a>' + 'x'.repeat(2000) + '</a>', { maxBytes: 1000 });
    assert.equal(r2.ok, false);
    if (!r2.ok) assert.equal(r2.error.code, 'too-large');
  });

  test('reports malformed input with a position', () => {
    for (const doc of ['', '   ', '<a><b></a>', '<a>', '<a x=1/>', '<a', '<a x="1></a>', '</a>', '< a/>']) {
      const r = parseXml(doc);
      assert.equal(r.ok, false, doc);
      if (!r.ok) assert.match(r.error.message, /./);
    }
    const r = parseXml('<a>\n  <b>\n</a>');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.line, 3);
  });

  test('tolerates junk around the root and "<" that cannot start a tag, with warnings', () => {
    const r = parseXml('junk<a>x < 5 and y <= 6<b/></a>\u0000\u0000<a/>');
    assert.ok(r.ok);
    if (r.ok) {
      assert.equal(textContent(r.root), 'x < 5 and y <= 6');
      assert.equal(r.warnings?.length, 3);
    }
    const clean = parseXml('<a/><!-- trailing comment -->\n');
    assert.ok(clean.ok && clean.warnings === undefined);
  });

  test('never throws on non-string input', () => {
    assert.equal(parseXml(undefined as unknown as string).ok, false);
  });
});
