// The verified-token cache must not change any answer: expiry, issuer, audience and key ring are checked on every hit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from 'jose';
import { FakeClock } from '../platform/clock.ts';
import { issueAccessToken, verifyAccessToken, type TokenSettings } from './tokens.ts';
import type { KeyRing } from './keys.ts';

async function ring(kid: string): Promise<KeyRing> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { kid, privateKey, publicKey, publicJwk: {}, encrypt: (s) => s, decrypt: (s) => s } as KeyRing;
}

test('cached verification re-checks expiry, issuer, audience and keys', async () => {
  const clock = new FakeClock('2026-01-01T00:00:00Z');
  const keys = await ring('k1');
  const settings: TokenSettings = { issuer: 'https://issuer.test', audiences: ['https://api.test'], ttlSeconds: 3600 };
  const token = await issueAccessToken(keys, clock, settings, {
    kind: 'client', id: 'c1', builderId: 'b1', builderName: 'B', roleName: 'Builder Admin', permissions: [], isPlatformAdmin: false, authenticatedBy: 'client_credentials',
  }, 'https://api.test');
  assert.equal((await verifyAccessToken(keys, clock, settings, token))?.id, 'c1');
  assert.equal((await verifyAccessToken(keys, clock, settings, token))?.id, 'c1'); // from the cache
  assert.equal(await verifyAccessToken(await ring('k2'), clock, settings, token), null); // other key ring: verified again, fails
  assert.equal(await verifyAccessToken(keys, clock, { ...settings, audiences: ['https://other.test'] }, token), null);
  assert.equal(await verifyAccessToken(keys, clock, { ...settings, issuer: 'https://evil.test' }, token), null);
  assert.equal(await verifyAccessToken(keys, clock, settings, `${token}x`), null);
  clock.advance(3600 * 1000);
  assert.equal(await verifyAccessToken(keys, clock, settings, token), null); // expired, though cached
});
