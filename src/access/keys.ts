// Token signing keys and the key that encrypts secrets at rest. The master key comes from
// TESSERA_MASTER_KEY when set (production: keep it outside the database); otherwise one is generated on
// first start and kept in platform_settings so a single-node install works out of the box.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import type { Database } from '../db/types.ts';

export interface KeyRing {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  /** AES-256-GCM encryption of small secrets (webhook passwords, OAuth client secrets) */
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
}

async function setting<T>(db: Database, key: string, make: () => Promise<T>): Promise<T> {
  const found = await db.query<{ value: T }>('SELECT value FROM platform_settings WHERE key = $1', [key]);
  if (found.rows[0]) return found.rows[0].value;
  const value = await make();
  // ON CONFLICT: two processes starting at once both keep the first value written.
  await db.query('INSERT INTO platform_settings (key, value) VALUES ($1, $2::jsonb) ON CONFLICT (key) DO NOTHING', [key, JSON.stringify(value)]);
  const again = await db.query<{ value: T }>('SELECT value FROM platform_settings WHERE key = $1', [key]);
  return again.rows[0]!.value;
}

export async function loadKeyRing(db: Database, masterKey: string | undefined): Promise<KeyRing> {
  const jwk = await setting<JWK>(db, 'jwt_signing_key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const j = await exportJWK(privateKey);
    return { ...j, kid: randomBytes(8).toString('hex'), alg: 'ES256' };
  });
  const secretKeyMaterial = masterKey ?? (await setting<string>(db, 'master_key', async () => randomBytes(32).toString('base64')));
  const aesKey = createHash('sha256').update(secretKeyMaterial).digest();
  const privateKey = (await importJWK(jwk, 'ES256')) as CryptoKey;
  const { d: _d, ...pub } = jwk;
  const publicKey = (await importJWK(pub, 'ES256')) as CryptoKey;
  return {
    kid: jwk.kid!,
    privateKey,
    publicKey,
    publicJwk: { ...pub, use: 'sig' },
    encrypt(plain: string): string {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', aesKey, iv);
      const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return `v1.${iv.toString('base64url')}.${body.toString('base64url')}.${c.getAuthTag().toString('base64url')}`;
    },
    decrypt(sealed: string): string {
      const [v, iv, body, tag] = sealed.split('.');
      if (v !== 'v1' || !iv || !body || !tag) throw new Error('unsupported sealed secret');
      const d = createDecipheriv('aes-256-gcm', aesKey, Buffer.from(iv, 'base64url'));
      d.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
    },
  };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
