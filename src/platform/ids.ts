import { randomUUID, randomBytes, createHash } from 'node:crypto';

export const newId = (): string => randomUUID();

/** URL-safe random secret (for client secrets, reset tokens). */
export const newSecret = (bytes = 32): string => randomBytes(bytes).toString('base64url');

/** Deterministic UUID (v5-style, SHA-1 over namespace + name) for idempotent imports. */
export function deterministicUuid(namespace: string, name: string): string {
  const h = createHash('sha1').update(namespace).update('\u0000').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
