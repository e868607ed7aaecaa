import { SignJWT, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import type { KeyRing } from './keys.ts';
import type { Clock } from '../platform/clock.ts';

/** Claim names as the reference platform uses them (notes §5): a URL prefix plus the claim. */
export const CLAIM = {
  builderId: 'https://zusapi.com/builder_id',
  builderName: 'https://zusapi.com/builder_name',
  appClientId: 'https://zusapi.com/app_client_id',
  userId: 'https://zusapi.com/user_id',
  userType: 'https://zusapi.com/user_type',
  email: 'https://zusapi.com/email',
  authenticatedBy: 'https://zusapi.com/authenticated_by',
  isSuperOrg: 'https://zusapi.com/is_super_org',
  practitionerId: 'https://zusapi.com/practitioner_id',
  role: 'https://zusapi.com/role',
} as const;

export interface TokenSubject {
  kind: 'client' | 'user';
  id: string;
  builderId: string | null;
  builderName: string | null;
  roleName: string;
  permissions: string[];
  isPlatformAdmin: boolean;
  email?: string;
  authenticatedBy: string;
  /** user tokens: the login session (revoking it ends the token) and the app client the user logged in through */
  sessionId?: string;
  clientId?: string;
  scope?: string;
}

export interface TokenSettings {
  issuer: string;
  audiences: string[];
  ttlSeconds: number;
}

export async function issueAccessToken(keys: KeyRing, clock: Clock, settings: TokenSettings, subject: TokenSubject, audience: string): Promise<string> {
  const now = Math.floor(clock.nowMs() / 1000);
  const claims: Record<string, unknown> = {
    [CLAIM.builderId]: subject.builderId,
    [CLAIM.builderName]: subject.builderName,
    [CLAIM.userType]: 'builder',
    [CLAIM.authenticatedBy]: subject.authenticatedBy,
    [CLAIM.isSuperOrg]: subject.isPlatformAdmin,
    [CLAIM.role]: subject.roleName,
    permissions: subject.permissions,
  };
  if (subject.kind === 'client') {
    claims[CLAIM.appClientId] = subject.id;
    claims.gty = 'client-credentials';
  } else {
    claims[CLAIM.userId] = subject.id;
    if (subject.email) claims[CLAIM.email] = subject.email;
    if (subject.sessionId) claims.sid = subject.sessionId;
    if (subject.clientId) claims.azp = subject.clientId;
    if (subject.scope) claims.scope = subject.scope;
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: keys.kid, typ: 'JWT' })
    .setIssuer(settings.issuer)
    .setSubject(subject.kind === 'client' ? `${subject.id}@clients` : subject.id)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + settings.ttlSeconds)
    .setJti(crypto.randomUUID())
    .sign(keys.privateKey);
}

export interface VerifiedToken {
  kind: 'client' | 'user';
  id: string;
  builderId: string | null;
  jti: string | undefined;
  expiresAt: number;
  /** user tokens: login session id and the app client it was issued to */
  sessionId?: string;
  clientId?: string;
}

// Signature checks of tokens already verified once (an ES256 verify was the largest CPU cost of a FHIR read):
// token text → its claims, per key ring. A hit re-checks everything time- or settings-dependent (exp, nbf,
// issuer, audience) against the injected clock; revocation and client state are checked by the caller, as before.
const VERIFIED_CACHE_MAX = 10_000;
const verifiedCache = new Map<string, { keys: KeyRing; payload: JWTPayload }>();

function cachedClaims(keys: KeyRing, clock: Clock, settings: TokenSettings, token: string): JWTPayload | null {
  const hit = verifiedCache.get(token);
  if (!hit || hit.keys !== keys) return null;
  const p = hit.payload;
  const now = Math.floor(clock.nowMs() / 1000);
  const aud = Array.isArray(p.aud) ? p.aud : [p.aud];
  if (typeof p.exp !== 'number' || p.exp <= now || (typeof p.nbf === 'number' && p.nbf > now)) return null;
  if (p.iss !== settings.issuer || !aud.some((a) => typeof a === 'string' && settings.audiences.includes(a))) return null;
  return p;
}

/** Verifies signature, issuer, audience and expiry against the injected clock; returns null when invalid. */
export async function verifyAccessToken(keys: KeyRing, clock: Clock, settings: TokenSettings, token: string): Promise<VerifiedToken | null> {
  try {
    let payload = cachedClaims(keys, clock, settings, token);
    if (!payload) {
      ({ payload } = await jwtVerify(token, keys.publicKey, {
        issuer: settings.issuer,
        audience: settings.audiences,
        algorithms: ['ES256'],
        currentDate: clock.now(),
      }));
      if (verifiedCache.size >= VERIFIED_CACHE_MAX) verifiedCache.delete(verifiedCache.keys().next().value!);
      verifiedCache.set(token, { keys, payload });
    }
    const clientId = payload[CLAIM.appClientId];
    const userId = payload[CLAIM.userId];
    const builderId = payload[CLAIM.builderId];
    const base = { builderId: typeof builderId === 'string' ? builderId : null, jti: payload.jti, expiresAt: payload.exp ?? 0 };
    if (typeof clientId === 'string') return { kind: 'client', id: clientId, ...base };
    if (typeof userId === 'string') {
      if (typeof payload.sid !== 'string') return null; // every user token belongs to a revocable login session
      return { kind: 'user', id: userId, ...base, sessionId: payload.sid, clientId: typeof payload.azp === 'string' ? payload.azp : undefined };
    }
    return null;
  } catch (err) {
    if (err instanceof joseErrors.JOSEError || err instanceof TypeError) return null;
    throw err;
  }
}
