// Password hashing with argon2id (@node-rs/argon2, a native binding that loads on this platform) and the
// password policy. Parameters are OWASP's argon2id minimum (19 MiB, t=2, p=1): ~40 ms per hash here (npm run bench:access).
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import { badRequest } from '../platform/errors.ts';

// Algorithm is an ambient const enum (not importable under verbatimModuleSyntax); 2 is Argon2id.
const ARGON2ID = 2 as Algorithm;
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

// A fixed hash to verify against when the account does not exist, so that "no such user" and "wrong password"
// take the same time.
let dummy: Promise<string> | undefined;
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummy ??= hashPassword('tessera-dummy-password-for-timing');
  await verifyPassword(await dummy, password);
  return false;
}

/** Throws 400 (JSON:API pointer at `pointer`) when the password breaks the policy. */
export function checkPasswordPolicy(password: unknown, email: string, minLength: number, pointer = '/data/attributes/password'): string {
  const fail = (message: string) => badRequest(message, [{ code: 'value', message, path: pointer }]);
  if (typeof password !== 'string' || password.length === 0) throw fail('A password is required');
  if ([...password].length < minLength) throw fail(`The password must be at least ${minLength} characters long`);
  if (password.length > 1024) throw fail('The password is too long (max 1024 characters)');
  if (password.trim().toLowerCase() === email.trim().toLowerCase()) throw fail('The password must not be the email address');
  return password;
}
