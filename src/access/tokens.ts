import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
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

/** Verifies signature, issuer, audience and expiry against the injected clock; returns null when invalid. */
export async function verifyAccessToken(keys: KeyRing, clock: Clock, settings: TokenSettings, token: string): Promise<VerifiedToken | null> {
  try {
    const { payload } = await jwtVerify(token, keys.publicKey, {
      issuer: settings.issuer,
      audience: settings.audiences,
      algorithms: ['ES256'],
      currentDate: clock.now(),
    });
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
