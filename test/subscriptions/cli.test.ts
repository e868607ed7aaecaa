import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase } from '../../src/db/testing.ts';
import { subscriptionsCommand } from '../../src/subscriptions/cli.ts';

test('tessera subscriptions package add|list', async () => {
  const db = await createTestDatabase();
  try {
    const out: string[] = [];
    const err: string[] = [];
    const io = { db, out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    const meta = JSON.stringify({ initialProviders: ['commonwell', 'quest'], subscriptionProviders: ['quest'] });
    assert.equal(await subscriptionsCommand(['package', 'add', '--id', 'labs', '--name', 'Labs only', '--meta', meta, '--json'], io), 0, err.join('\n'));
    assert.equal(JSON.parse(out.pop()!).attributes.meta.subscriptionProviders[0], 'quest');
    assert.equal(await subscriptionsCommand(['package', 'add', '--id', 'labs', '--name', 'Again', '--meta', meta], io), 2, 'duplicate id');
    assert.equal(await subscriptionsCommand(['package', 'add', '--id', 'bad', '--name', 'Bad', '--meta', '{"initialProviders":["epic"]}'], io), 2);
    assert.equal(await subscriptionsCommand(['package', 'add', '--id', 'bad', '--name', 'Bad', '--meta', 'not json'], io), 2);
    assert.equal(await subscriptionsCommand(['package', 'list'], io), 0);
    assert.deepEqual(out.map((l) => l.split('\t')[0]).sort(), ['labs', 'lite', 'monitoring']);
    assert.equal(await subscriptionsCommand(['nothing'], io), 2);
  } finally {
    await db.close();
  }
});
