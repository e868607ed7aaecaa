// Operator commands: `tessera grant|builder|client|mail …`. Each opens the configured database (migrating it),
// does one thing and prints the result (`--json` for machine-readable output). The platform admin's API does the
// same over HTTP; these exist for operators on the host (e.g. the first grant, reading mail without SMTP).
import { parseArgs } from 'node:util';
import { loadConfig } from '../platform/config.ts';
import { systemClock } from '../platform/clock.ts';
import { HttpError } from '../platform/errors.ts';
import { openDatabase, migrate } from '../db/index.ts';
import type { Database } from '../db/types.ts';
import { AccessService } from './service.ts';
import { loadKeyRing } from './keys.ts';
import { roleByName, roleById, MANAGED_ROLES } from './roles.ts';
import { getMail, listMail } from './mail.ts';
import { builderJson, clientJson, grantJson, mailJson } from './json.ts';

export interface CliDeps {
  /** an open, migrated database (tests); default: the configured one, closed afterwards */
  db?: Database;
  out?: (s: string) => void;
  err?: (s: string) => void;
}

type Run = (access: AccessService, args: string[], io: Required<Pick<CliDeps, 'out' | 'err'>>) => Promise<number>;

async function withAccess(deps: CliDeps, run: Run, args: string[]): Promise<number> {
  const out = deps.out ?? ((s: string) => process.stdout.write(s + '\n'));
  const err = deps.err ?? ((s: string) => process.stderr.write(s + '\n'));
  const config = loadConfig();
  const db = deps.db ?? (await openDatabase(config));
  try {
    if (!deps.db) await migrate(db);
    const keys = await loadKeyRing(db, config.masterKey);
    const access = new AccessService(db, systemClock, keys, { issuer: config.jwtIssuer, audiences: [config.baseUrl], ttlSeconds: config.tokenTtlSeconds, tokenRateLimitPerHour: config.tokenRateLimitPerHour }, () => config.baseUrl);
    return await run(access, args, { out, err });
  } catch (e) {
    if (e instanceof HttpError || (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (e as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      err(`error: ${(e as Error).message}`);
      return e instanceof HttpError && e.status === 404 ? 3 : 2;
    }
    throw e;
  } finally {
    if (!deps.db) await db.close();
  }
}

const iso = (d: Date | null) => (d ? d.toISOString() : '-');

function usage(io: { err: (s: string) => void }, text: string): number {
  io.err(text);
  return 2;
}

// ---- grant ------------------------------------------------------------------------------------------------
const GRANT_USAGE = `usage:
  tessera grant create --grantor <builderId> --grantee <builderId> --relationship "<nature of the business relationship>" [--by <operator>] [--json]
  tessera grant list [--grantor <builderId>] [--grantee <builderId>] [--all] [--json]
  tessera grant revoke <grantId> [--by <operator>] [--json]`;

export async function grantCommand(argv: string[], deps: CliDeps = {}): Promise<number> {
  const [sub, ...rest] = argv;
  return withAccess(deps, async (access, _a, io) => {
    if (sub === 'create') {
      const { values } = parseArgs({ args: rest, options: { grantor: { type: 'string' }, grantee: { type: 'string' }, relationship: { type: 'string' }, by: { type: 'string' }, json: { type: 'boolean' } } });
      if (!values.grantor || !values.grantee || !values.relationship) return usage(io, GRANT_USAGE);
      const g = await access.grants.create({ grantorBuilderId: values.grantor, granteeBuilderId: values.grantee, relationship: values.relationship, createdBy: `operator/${values.by ?? process.env.USER ?? 'cli'}` });
      io.out(values.json ? JSON.stringify({ data: grantJson(g) }) : `created grant ${g.id}: ${g.grantee_builder_id} may act on the data of ${g.grantor_builder_id}`);
      return 0;
    }
    if (sub === 'list') {
      const { values } = parseArgs({ args: rest, options: { grantor: { type: 'string' }, grantee: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' } } });
      const { rows } = await access.grants.list({ grantorBuilderId: values.grantor, granteeBuilderId: values.grantee, includeRevoked: values.all ?? false }, 100_000, 0);
      if (values.json) io.out(JSON.stringify({ data: rows.map(grantJson) }));
      else {
        io.out(['id', 'grantor', 'grantee', 'created', 'revoked', 'relationship'].join('\t'));
        for (const g of rows) io.out([g.id, g.grantor_builder_id, g.grantee_builder_id, iso(g.created_at), iso(g.revoked_at), g.relationship].join('\t'));
      }
      return 0;
    }
    if (sub === 'revoke') {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { by: { type: 'string' }, json: { type: 'boolean' } } });
      if (positionals.length !== 1) return usage(io, GRANT_USAGE);
      const g = await access.grants.revoke(positionals[0]!, `operator/${values.by ?? process.env.USER ?? 'cli'}`);
      io.out(values.json ? JSON.stringify({ data: grantJson(g) }) : `revoked grant ${g.id} at ${iso(g.revoked_at)}`);
      return 0;
    }
    return usage(io, GRANT_USAGE);
  }, argv);
}

// ---- builder ----------------------------------------------------------------------------------------------
const BUILDER_USAGE = `usage:
  tessera builder create <name> [--json]
  tessera builder list [--json]`;

export async function builderCommand(argv: string[], deps: CliDeps = {}): Promise<number> {
  const [sub, ...rest] = argv;
  return withAccess(deps, async (access, _a, io) => {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: 'boolean' } } });
    if (sub === 'create') {
      if (positionals.length === 0) return usage(io, BUILDER_USAGE);
      const b = await access.createBuilder(positionals.join(' '));
      io.out(values.json ? JSON.stringify({ data: builderJson(b) }) : `created builder ${b.id} (${b.name})`);
      return 0;
    }
    if (sub === 'list') {
      const { rows } = await access.listBuilders('all', 100_000, 0);
      if (values.json) io.out(JSON.stringify({ data: rows.map(builderJson) }));
      else {
        io.out(['id', 'name', 'created'].join('\t'));
        for (const b of rows) io.out([b.id, b.name, iso(b.created_at)].join('\t'));
      }
      return 0;
    }
    return usage(io, BUILDER_USAGE);
  }, argv);
}

// ---- client -----------------------------------------------------------------------------------------------
const CLIENT_USAGE = `usage:
  tessera client create --builder <id> --name <name> --role "<${MANAGED_ROLES.map((r) => r.name).join('|')}>" [--type machine_to_machine|single_page_application|native|regular_web_application] [--redirect-uri <uri>]… [--json]
  tessera client list --builder <id> [--json]`;

export async function clientCommand(argv: string[], deps: CliDeps = {}): Promise<number> {
  const [sub, ...rest] = argv;
  return withAccess(deps, async (access, _a, io) => {
    if (sub === 'create') {
      const { values } = parseArgs({ args: rest, options: { builder: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' }, type: { type: 'string' }, 'redirect-uri': { type: 'string', multiple: true }, json: { type: 'boolean' } } });
      if (!values.builder || !values.name || !values.role) return usage(io, CLIENT_USAGE);
      const role = roleByName(values.role) ?? roleById(values.role);
      if (!role) {
        io.err(`error: unknown role '${values.role}' (one of: ${MANAGED_ROLES.map((r) => r.name).join(', ')})`);
        return 2;
      }
      if (!(await access.getBuilder(values.builder))) {
        io.err(`error: builder '${values.builder}' not found`);
        return 3;
      }
      const { client, secret } = await access.createClient({ builderId: values.builder, name: values.name, clientType: values.type ?? 'machine_to_machine', roleId: role.id, redirectUris: values['redirect-uri'] ?? [] });
      if (values.json) io.out(JSON.stringify({ data: clientJson(client, secret) }));
      else {
        io.out(`created app client ${client.id} (${client.name}, ${role.name}) in builder ${client.builder_id}`);
        io.out(`client_id:     ${client.id}`);
        io.out(`client_secret: ${secret}`);
        io.out('The secret is shown only this once; store it now.');
      }
      return 0;
    }
    if (sub === 'list') {
      const { values } = parseArgs({ args: rest, options: { builder: { type: 'string' }, json: { type: 'boolean' } } });
      if (!values.builder) return usage(io, CLIENT_USAGE);
      const { rows } = await access.listClients([values.builder], 100_000, 0);
      if (values.json) io.out(JSON.stringify({ data: rows.map((c) => clientJson(c)) }));
      else {
        io.out(['id', 'name', 'type', 'role', 'active', 'created'].join('\t'));
        for (const c of rows) io.out([c.id, c.name, c.client_type, roleById(c.role_id)?.name ?? c.role_id, String(c.active), iso(c.created_at)].join('\t'));
      }
      return 0;
    }
    return usage(io, CLIENT_USAGE);
  }, argv);
}

// ---- mail -------------------------------------------------------------------------------------------------
const MAIL_USAGE = `usage:
  tessera mail list [--to <address>] [--limit <n>] [--json]
  tessera mail show <id> [--json]`;

export async function mailCommand(argv: string[], deps: CliDeps = {}): Promise<number> {
  const [sub, ...rest] = argv;
  return withAccess(deps, async (access, _a, io) => {
    if (sub === 'list') {
      const { values } = parseArgs({ args: rest, options: { to: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } } });
      const limit = values.limit ? Number(values.limit) : 50;
      if (!Number.isInteger(limit) || limit < 1) return usage(io, MAIL_USAGE);
      const { rows, total } = await listMail(access.db, { to: values.to, limit, offset: 0 });
      if (values.json) io.out(JSON.stringify({ data: rows.map((m) => mailJson(m, false)), meta: { total } }));
      else {
        io.out(['id', 'created', 'to', 'subject'].join('\t'));
        for (const m of rows) io.out([m.id, iso(m.created_at), m.to_address, m.subject].join('\t'));
        if (access.mailer.kind === 'smtp') io.err('note: TESSERA_SMTP_URL is set, so new mail goes to the SMTP server, not this outbox');
      }
      return 0;
    }
    if (sub === 'show') {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: 'boolean' } } });
      if (positionals.length !== 1) return usage(io, MAIL_USAGE);
      const m = await getMail(access.db, positionals[0]!);
      if (!m) {
        io.err(`error: mail '${positionals[0]}' not found`);
        return 3;
      }
      if (values.json) io.out(JSON.stringify({ data: mailJson(m, true) }));
      else io.out(`To: ${m.to_address}\nDate: ${iso(m.created_at)}\nSubject: ${m.subject}\n\n${m.text_body}`);
      return 0;
    }
    return usage(io, MAIL_USAGE);
  }, argv);
}
