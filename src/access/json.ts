// JSON:API representations of the auth records.
import type { AppClientRow, BuilderRow } from './service.ts';
import type { UserRow } from './users.ts';
import type { GrantRow } from './grants.ts';
import type { RoleDefinition } from './roles.ts';
import type { MailRow } from './mail.ts';

const iso = (d: Date) => d.toISOString();
const rel = (type: string, id: string | null) => ({ data: id ? { type, id } : null });

export function builderJson(b: BuilderRow) {
  return { type: 'auth/builders', id: b.id, attributes: { name: b.name, createdAt: iso(b.created_at), updatedAt: iso(b.updated_at) } };
}

export function clientJson(c: AppClientRow, secret?: string) {
  return {
    type: 'auth/app-clients',
    id: c.id,
    attributes: {
      name: c.name,
      type: c.client_type,
      userType: c.user_type,
      clientId: c.id,
      ...(secret ? { clientSecret: secret } : {}),
      redirectUris: c.redirect_uris ?? [],
      active: c.active,
      createdAt: iso(c.created_at),
      updatedAt: iso(c.updated_at),
    },
    relationships: {
      'auth/roles': rel('auth/roles', c.role_id),
      'auth/builders': rel('auth/builders', c.builder_id),
    },
  };
}

export function roleJson(r: RoleDefinition, at: string) {
  return { type: 'auth/roles', id: r.id, attributes: { createdAt: at, description: r.description, isManaged: true, name: r.name, permissions: r.permissions, updatedAt: at } };
}

export function userJson(u: UserRow) {
  return {
    type: 'auth/users',
    id: u.id,
    attributes: {
      email: u.email,
      name: u.name,
      userType: u.user_type,
      active: u.active,
      emailVerified: u.email_verified,
      passwordSet: u.password_hash !== null,
      createdAt: iso(u.created_at),
      updatedAt: iso(u.updated_at),
    },
    relationships: {
      'auth/roles': rel('auth/roles', u.role_id),
      'auth/builders': rel('auth/builders', u.builder_id),
    },
  };
}

export function grantJson(g: GrantRow) {
  return {
    type: 'auth/cross-builder-grants',
    id: g.id,
    attributes: {
      relationship: g.relationship,
      active: g.revoked_at === null,
      createdBy: g.created_by,
      createdAt: iso(g.created_at),
      revokedAt: g.revoked_at ? iso(g.revoked_at) : null,
      revokedBy: g.revoked_by,
    },
    relationships: {
      grantor: rel('auth/builders', g.grantor_builder_id),
      grantee: rel('auth/builders', g.grantee_builder_id),
    },
  };
}

export function mailJson(m: MailRow, full: boolean) {
  return {
    type: 'auth/mail-outbox',
    id: m.id,
    attributes: {
      to: m.to_address,
      subject: m.subject,
      createdAt: iso(m.created_at),
      ...(full ? { text: m.text_body, html: m.html_body } : {}),
    },
  };
}
