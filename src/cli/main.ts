// `tessera <command>`: what operators do by hand.
import { loadConfig } from '../platform/config.ts';
import { serveCommand } from './serve.ts';
import { migrateCommand } from './migrate.ts';
import { workerCommand } from './worker.ts';
import { reindexCommand } from './reindex.ts';
import { networkSimCommand } from '../networks/sim/cli.ts';
import { convertCommand } from '../documents/cli.ts';
import { jqCommand } from '../hooks/jq/cli.ts';
import { upiCommand } from '../upi/cli.ts';
import { builderCommand, clientCommand, grantCommand, mailCommand } from '../access/cli.ts';
import { subscriptionsCommand } from '../subscriptions/cli.ts';

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { run: Command; help: string }> = {
  serve: { run: serveCommand, help: 'serve [--demo] [--no-workers]   run the API and the workers on PORT' },
  worker: { run: workerCommand, help: 'worker                    run only the background workers (outbox, deliveries, jobs)' },
  'network-sim': { run: networkSimCommand, help: 'network-sim [--port 8090]  start the external-network simulator (commonwell, carequality, surescripts)' },
  migrate: { run: migrateCommand, help: 'migrate                   apply database migrations and exit' },
  reindex: { run: reindexCommand, help: 'reindex [--type T,…] [--batch 500] [--upi]   rebuild search-index rows (and UPI blocking keys) from stored data' },
  builder: { run: (a) => builderCommand(a), help: 'builder create <name> | list' },
  client: { run: (a) => clientCommand(a), help: 'client create --builder <id> --name <n> --role "Builder Admin" | list --builder <id>' },
  grant: { run: (a) => grantCommand(a), help: 'grant create --grantor <id> --grantee <id> --relationship "<text>" | list | revoke <id>' },
  mail: { run: (a) => mailCommand(a), help: 'mail list | show <id>       read the local mail outbox (when no SMTP is configured)' },
  convert: { run: (a) => convertCommand(a), help: 'convert ccda|ncpdp|hl7v2 <file|folder|->… [--summary]  documents → FHIR Bundle (JSON / NDJSON)' },
  jq: { run: (a) => jqCommand(a), help: "jq '<filter>' [file] | jq --run-tests <file>   evaluate a jq filter like the jq command" },
  subscriptions: { run: (a) => subscriptionsCommand(a), help: "subscriptions package add --id <id> --name <n> --meta '<json>' | package list" },
  upi: { run: upiCommand, help: 'upi link <file.csv> --map column=field … [--truth column]   link person records through the UPI engine' },
};

function usage(): string {
  return ['usage: tessera <command> [options]', '', ...Object.values(commands).map((c) => `  ${c.help}`), '',
    'Environment: DATABASE_URL (PostgreSQL; default embedded PGlite in DATA_DIR=./data), PORT (8080), LOG_LEVEL.'].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    process.exitCode = name ? 0 : 1;
    return;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`tessera: unknown command '${name}'\n\n${usage()}\n`);
    process.exitCode = 2;
    return;
  }
  try {
    loadConfig(); // fail fast on invalid configuration
    const code = await cmd.run(rest);
    if (code !== 0) process.exitCode = code;
  } catch (err) {
    // What went wrong, in one line (the embedded database in use by another process, a bad DATABASE_URL …); the
    // stack only when asked for.
    const e = err as Error;
    process.stderr.write(`tessera ${name}: ${e?.message ?? String(err)}\n`);
    if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') process.stderr.write(`${e?.stack ?? ''}\n`);
    process.exitCode = 1;
  }
}
