import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { roleByName } from '../../src/access/roles.ts';
import { PASSWORD, createUserAndLogin, jsonApi, tokenFromMail, uniqueEmail, userBody } from './login-helpers.ts';

type UserDoc = { data: { type: string; id: string; attributes: Record<string, unknown>; relationships: Record<string, { data: { type: string; id: string } }> } };
type ListDoc = { data: { id: string; attributes: { email: string } }[]; meta: { total: number }; links: { next?: string; self: string } };

const resetBody = (token: string, password: string) => ({ data: { type: 'auth/password-resets', attributes: { token, password } } });

describe('users (JSON:API /auth/users)', () => {
  let tp: TestPlatform;
  let admin: TestBuilder;
  before(async () => {
    tp = await startTestPlatform();
    admin = await tp.createBuilder();
  });
  after(async () => { await tp.close(); });

  test('create with the spec body: 201, relationships, mails sent by default; read; duplicate email → 409', async () => {
    const email = uniqueEmail();
    const r = await admin.fetch('/auth/users', jsonApi(userBody(email, 'Care Team User', admin.builderId)));
    assert.equal(r.status, 201);
    const doc = (await r.json()) as UserDoc;
    assert.equal(doc.data.type, 'auth/users');
    assert.equal(doc.data.attributes.email, email);
    assert.equal(doc.data.attributes.userType, 'builder');
    assert.equal(doc.data.attributes.passwordSet, false);
    assert.equal(doc.data.relationships['auth/roles']!.data.id, roleByName('Care Team User')!.id);
    assert.equal(doc.data.relationships['auth/builders']!.data.id, admin.builderId);
    // sendPasswordResetEmail and sendVerificationEmail default to true
    const mails = await tp.db.query<{ subject: string }>('SELECT subject FROM mail_outbox WHERE to_address = $1 ORDER BY subject', [email]);
    assert.deepEqual(mails.rows.map((m) => m.subject), ['Set up your Tessera password', 'Verify your email address for Tessera']);
    const got = (await (await admin.fetch(`/auth/users/${doc.data.id}`)).json()) as UserDoc;
    assert.equal(got.data.attributes.email, email);
    const dup = await admin.fetch('/auth/users', jsonApi(userBody(email.toUpperCase(), 'Builder Admin')));
    assert.equal(dup.status, 409);
    assert.equal(((await dup.json()) as { errors: { status: string }[] }).errors[0]!.status, '409');
  });

  test('no mails when both flags are false; the builder defaults to the caller\'s own', async () => {
    const email = uniqueEmail();
    const r = await admin.fetch('/auth/users', jsonApi(userBody(email, 'Builder Admin', undefined, { sendPasswordResetEmail: false, sendVerificationEmail: false })));
    assert.equal(r.status, 201);
    assert.equal(((await r.json()) as UserDoc).data.relationships['auth/builders']!.data.id, admin.builderId);
    assert.equal((await tp.db.query('SELECT 1 FROM mail_outbox WHERE to_address = $1', [email])).rows.length, 0);
  });

  test('bad input → 400 with a pointer, nothing written', async () => {
    const before = (await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM users')).rows[0]!.n;
    for (const body of [
      userBody('not-an-email', 'Builder Admin'),
      userBody(uniqueEmail(), 'Builder Admin', undefined, { userType: 'robot' }),
      userBody(uniqueEmail(), 'Builder Admin', undefined, { sendPasswordResetEmail: 'yes' }),
      { data: { type: 'auth/users', attributes: { email: uniqueEmail() } } },
      { data: { type: 'auth/app-clients', attributes: { email: uniqueEmail() } } },
      { nope: true },
    ]) {
      const r = await admin.fetch('/auth/users', jsonApi(body));
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.ok(((await r.json()) as { errors: unknown[] }).errors.length > 0);
    }
    assert.equal((await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM users')).rows[0]!.n, before);
  });

  test('list with filter[builderId], filter[email] and paging', async () => {
    const b = await tp.createBuilder();
    const emails: string[] = [];
    for (let i = 0; i < 5; i++) {
      const e = uniqueEmail('page');
      emails.push(e);
      tp.clock.advance(1); // listing is in creation order
      assert.equal((await b.fetch('/auth/users', jsonApi(userBody(e, 'Care Team User', undefined, { sendPasswordResetEmail: false, sendVerificationEmail: false })))).status, 201);
    }
    const page1 = (await (await b.fetch('/auth/users?page[size]=2')).json()) as ListDoc;
    assert.equal(page1.meta.total, 5);
    assert.deepEqual(page1.data.map((u) => u.attributes.email), emails.slice(0, 2));
    assert.ok(page1.links.next);
    const page2 = (await (await b.fetch(new URL(page1.links.next!).pathname + new URL(page1.links.next!).search)).json()) as ListDoc;
    assert.deepEqual(page2.data.map((u) => u.attributes.email), emails.slice(2, 4));
    const one = (await (await b.fetch(`/auth/users?filter[email]=${encodeURIComponent(emails[3]!.toUpperCase())}`)).json()) as ListDoc;
    assert.deepEqual(one.data.map((u) => u.attributes.email), [emails[3]]);
    const own = (await (await b.fetch(`/auth/users?filter[builderId]=${b.builderId}`)).json()) as ListDoc;
    assert.equal(own.meta.total, 5);
    // another builder's users: an empty list, exactly like a builder that does not exist
    const other = (await (await b.fetch(`/auth/users?filter[builderId]=${admin.builderId}`)).json()) as ListDoc;
    const none = (await (await b.fetch('/auth/users?filter[builderId]=no-such-builder')).json()) as ListDoc;
    assert.deepEqual(other, { ...none, links: other.links });
    assert.equal(other.data.length, 0);
    // the platform admin sees a builder's users
    const viaAdmin = (await (await tp.fetchAs(tp.adminToken, `/auth/users?filter[builderId]=${b.builderId}`)).json()) as ListDoc;
    assert.equal(viaAdmin.meta.total, 5);
    const everyone = (await (await tp.fetchAs(tp.adminToken, '/auth/users?page[size]=500')).json()) as ListDoc;
    const inDb = (await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM users WHERE active')).rows[0]!.n;
    assert.equal(everyone.meta.total, inDb, 'the platform admin lists every builder\'s users');
  });

  test('update (PATCH) and deactivate; another builder\'s user is 404', async () => {
    const email = uniqueEmail();
    const created = (await (await admin.fetch('/auth/users', jsonApi(userBody(email, 'Care Team User', undefined, { sendVerificationEmail: false })))).json()) as UserDoc;
    const id = created.data.id;
    const patch = await admin.fetch(`/auth/users/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify({ data: { type: 'auth/users', id, attributes: { name: 'Renamed' }, relationships: { 'auth/roles': { data: { type: 'auth/roles', id: roleByName('Builder Admin')!.id } } } } }) });
    assert.equal(patch.status, 200);
    const p = (await patch.json()) as UserDoc;
    assert.equal(p.data.attributes.name, 'Renamed');
    assert.equal(p.data.relationships['auth/roles']!.data.id, roleByName('Builder Admin')!.id);
    const other = await tp.createBuilder();
    assert.equal((await other.fetch(`/auth/users/${id}`)).status, 404);
    assert.equal((await other.fetch(`/auth/users/${id}`, { method: 'DELETE' })).status, 404);
    assert.equal((await admin.fetch(`/auth/users/${id}`, { method: 'DELETE' })).status, 204);
    const after = (await (await admin.fetch(`/auth/users/${id}`)).json()) as UserDoc;
    assert.equal(after.data.attributes.active, false);
    const listed = (await (await admin.fetch(`/auth/users?filter[email]=${encodeURIComponent(email)}`)).json()) as ListDoc;
    assert.equal(listed.data.length, 0, 'deactivated users are not listed by default');
    const inactive = (await (await admin.fetch(`/auth/users?filter[email]=${encodeURIComponent(email)}&filter[active]=false`)).json()) as ListDoc;
    assert.equal(inactive.data.length, 1);
  });

  test('roles are enforced on /auth/users: Care Team User and Permissionless may not manage users; nothing written', async () => {
    for (const role of ['Care Team User', 'Permissionless'] as const) {
      const c = await tp.createClient(admin.builderId, role);
      const email = uniqueEmail();
      const r = await c.fetch('/auth/users', jsonApi(userBody(email, 'Builder Admin')));
      assert.equal(r.status, 403, role);
      assert.ok(((await r.json()) as { errors: unknown[] }).errors.length > 0);
      assert.equal((await tp.db.query('SELECT 1 FROM users WHERE email = $1', [email])).rows.length, 0);
      assert.equal((await c.fetch('/auth/users')).status, 403);
      assert.equal((await c.fetch('/auth/app-clients')).status, 403);
      // they can still ask who they are
      const me = (await (await c.fetch('/auth/users/me')).json()) as UserDoc;
      assert.equal(me.data.type, 'auth/app-clients');
      assert.equal(me.data.id, c.clientId);
    }
  });

  test('the reset page (HTML form) sets the password', async () => {
    const email = uniqueEmail();
    assert.equal((await admin.fetch('/auth/users', jsonApi(userBody(email, 'Care Team User', undefined, { sendVerificationEmail: false })))).status, 201);
    const token = await tokenFromMail(tp, email);
    const page = await fetch(`${tp.url}/auth/password-reset?token=${token}`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'/);
    const html = await page.text();
    assert.match(html, /<form method="post" action="\/auth\/password-reset">/);
    assert.ok(html.includes(email));
    const short = await fetch(`${tp.url}/auth/password-reset`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token, password: 'short' }).toString() });
    assert.equal(short.status, 400);
    assert.match(await short.text(), /at least 12 characters/);
    const post = await fetch(`${tp.url}/auth/password-reset`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token, password: PASSWORD }).toString() });
    assert.equal(post.status, 200);
    assert.match(await post.text(), /Password saved/);
    const row = (await tp.db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE email = $1', [email])).rows[0]!;
    assert.match(row.password_hash, /^\$argon2id\$/);
    assert.ok(!row.password_hash.includes(PASSWORD));
    const tokens = await tp.db.query<{ token_hash: string }>('SELECT token_hash FROM user_tokens');
    assert.ok(tokens.rows.every((t) => t.token_hash !== token), 'tokens are stored hashed');
  });

  test('email verification link, single use', async () => {
    const email = uniqueEmail();
    assert.equal((await admin.fetch('/auth/users', jsonApi(userBody(email, 'Care Team User', undefined, { sendPasswordResetEmail: false })))).status, 201);
    const token = await tokenFromMail(tp, email, '/auth/verify-email');
    assert.equal((await fetch(`${tp.url}/auth/verify-email?token=${token}`)).status, 200);
    assert.equal((await tp.db.query<{ email_verified: boolean }>('SELECT email_verified FROM users WHERE email = $1', [email])).rows[0]!.email_verified, true);
    assert.equal((await fetch(`${tp.url}/auth/verify-email?token=${token}`)).status, 410);
  });

  test('forgotten password: same 202 whether or not the address is known', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    const before = (await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM mail_outbox WHERE to_address = $1', [u.email])).rows[0]!.n;
    const known = await fetch(`${tp.url}/auth/password-reset-requests`, jsonApi({ data: { type: 'auth/password-reset-requests', attributes: { email: u.email } } }));
    const unknown = await fetch(`${tp.url}/auth/password-reset-requests`, jsonApi({ data: { type: 'auth/password-reset-requests', attributes: { email: 'nobody@example.com' } } }));
    assert.equal(known.status, 202);
    assert.equal(unknown.status, 202);
    assert.deepEqual(await known.json(), await unknown.json());
    const afterCount = (await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM mail_outbox WHERE to_address = $1', [u.email])).rows[0]!.n;
    assert.equal(afterCount, before + 1);
  });

  test('mail outbox endpoint: platform admin only', async () => {
    const r = await tp.fetchAs(tp.adminToken, '/auth/mail-outbox?page[size]=3');
    assert.equal(r.status, 200);
    const doc = (await r.json()) as { data: { id: string; attributes: { to: string; subject: string; text: string } }[]; meta: { total: number; transport: string } };
    assert.equal(doc.meta.transport, 'outbox');
    assert.ok(doc.meta.total > 0);
    assert.ok(doc.data[0]!.attributes.text.includes('http'));
    const one = await tp.fetchAs(tp.adminToken, `/auth/mail-outbox/${doc.data[0]!.id}`);
    assert.equal(one.status, 200);
    assert.equal((await admin.fetch('/auth/mail-outbox')).status, 403);
    assert.equal((await admin.fetch(`/auth/mail-outbox/${doc.data[0]!.id}`)).status, 403);
  });
  // last: it moves the clock past every token's expiry
  test('password setup: policy, single use, expiry on the injected clock, sessions end on reset', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    const me = (await (await u.fetch('/auth/users/me')).json()) as UserDoc & { meta: { actsFor: string[] } };
    assert.equal(me.data.type, 'auth/users');
    assert.equal(me.data.id, u.userId);
    assert.equal(me.data.attributes.passwordSet, true);
    assert.equal(me.data.attributes.emailVerified, true, 'a used password link proves the mailbox');
    assert.deepEqual(me.meta.actsFor, [admin.builderId]);

    // the setup token was used: a second use is refused
    const used = await tokenFromMail(tp, u.email);
    assert.equal((await fetch(`${tp.url}/auth/password-reset`, jsonApi(resetBody(used, 'another long password 1')))).status, 410);

    // admin triggers a reset mail
    tp.clock.advance(1000); // mails are told apart by time
    assert.equal((await admin.fetch(`/auth/users/${u.userId}/password-reset`, { method: 'POST' })).status, 202);
    const reset = await tokenFromMail(tp, u.email);
    assert.notEqual(reset, used);
    // policy: too short, equal to the email
    for (const bad of ['short', u.email, u.email.toUpperCase() + '']) {
      const r = await fetch(`${tp.url}/auth/password-reset`, jsonApi(resetBody(reset, bad)));
      assert.equal(r.status, 400, bad);
    }
    const ok = await fetch(`${tp.url}/auth/password-reset`, jsonApi(resetBody(reset, 'a brand new password')));
    assert.equal(ok.status, 200);
    assert.equal((await fetch(`${tp.url}/auth/password-reset`, jsonApi(resetBody(reset, 'yet another password')))).status, 410, 'single use');
    assert.equal((await u.fetch('/auth/users/me')).status, 401, 'a new password ends existing logins');

    // expiry: the reset link lives passwordResetTtlSeconds (default 1 h) on the fake clock
    tp.clock.advance(1000);
    assert.equal((await admin.fetch(`/auth/users/${u.userId}/password-reset`, { method: 'POST' })).status, 202);
    const late = await tokenFromMail(tp, u.email);
    tp.clock.advance(3600_000 + 1000);
    assert.equal((await fetch(`${tp.url}/auth/password-reset`, jsonApi(resetBody(late, 'too late password')))).status, 410);
    assert.equal((await fetch(`${tp.url}/auth/password-reset?token=${late}`)).status, 410);
    assert.equal((await fetch(`${tp.url}/auth/password-reset`, jsonApi(resetBody('forged-token', 'some long password')))).status, 404);
  });

});
