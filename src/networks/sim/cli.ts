import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startSimulator, NETWORKS, type Faults, type NetworkName } from './server.ts';

export const DEFAULT_CORPORA = resolve(new URL('../../../', import.meta.url).pathname, '../shared/corpora');

/** `tessera network-sim`: start the external-network simulator until interrupted. */
export async function networkSimCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: process.env.SIM_PORT ?? '8090' },
      host: { type: 'string', default: '127.0.0.1' },
      seed: { type: 'string', default: '42' },
      people: { type: 'string', default: '100' },
      documents: { type: 'string', default: '3' },
      'load-dir': { type: 'string' },
      faults: { type: 'string' },
      corpora: { type: 'string', default: process.env.TESSERA_CORPORA_DIR ?? DEFAULT_CORPORA },
      'push-mllp': { type: 'string', default: process.env.SIM_PUSH_MLLP },
      'push-hl7-url': { type: 'string', default: process.env.SIM_PUSH_HL7_URL },
      'push-pharmacy-url': { type: 'string', default: process.env.SIM_PUSH_PHARMACY_URL },
      'push-secrets': { type: 'string', default: process.env.SIM_PUSH_SECRETS },
      'push-interval': { type: 'string', default: process.env.SIM_PUSH_INTERVAL_MS ?? '0' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: tessera network-sim [--port 8090] [--seed 42] [--people 100] [--documents 3] [--load-dir DIR] [--faults faults.json] [--corpora DIR]
Networks listen on port+1 (commonwell), port+2 (carequality), port+3 (surescripts); the admin API on --port.
faults.json: {"commonwell": {"latencyMs": 200, "outage": "503"|"refused", "timeout": true, "notFoundDocuments": "all",
  "rejectDemographics": true, "ambiguous": true, "malformedDocuments": true, "invalidEntries": true}, ...}
Admin: GET /admin/config, /admin/people, /admin/stats; PUT|DELETE /admin/faults/<network>; PUT /admin/people/<id>/faults; POST /admin/people; POST /admin/reset
Push networks (bamboo, collective: ADT; quest: ORU; surescripts: pharmacy notifications): the lab network's
  POST /lab-history listens on port+4. Pushes go to --push-mllp host:port (HL7 v2) or --push-hl7-url, and
  --push-pharmacy-url, with --push-secrets '{"bamboo":"…","surescripts":"…"}' for HTTPS; --push-interval ms
  pushes one event per network on a schedule (0 = only on demand).
  POST /admin/push {network, personId, event?, time?, visit?}; GET|PUT /admin/push/target; GET /admin/people/<id>/feeds\n`);
    return 0;
  }
  if (!existsSync(values.corpora!)) {
    process.stderr.write(`network-sim: corpora folder not found: ${values.corpora} (set --corpora or TESSERA_CORPORA_DIR)\n`);
    return 2;
  }
  const port = Number(values.port);
  const faults = values.faults ? (JSON.parse(readFileSync(values.faults, 'utf8')) as Partial<Record<NetworkName, Faults>>) : undefined;
  const sim = await startSimulator({
    corporaDir: values.corpora!,
    host: values.host,
    port,
    ports: port === 0 ? {} : Object.fromEntries(NETWORKS.map((n, i) => [n, port + i + 1])),
    seed: Number(values.seed),
    people: Number(values.people),
    documentsPerPerson: Number(values.documents),
    loadDir: values['load-dir'],
    faults,
    labPort: port === 0 ? 0 : port + NETWORKS.length + 1,
    push: {
      mllp: values['push-mllp'] || undefined,
      hl7Url: values['push-hl7-url'] || undefined,
      pharmacyUrl: values['push-pharmacy-url'] || undefined,
      secrets: values['push-secrets'] ? (JSON.parse(values['push-secrets']) as Record<string, string>) : undefined,
      intervalMs: Number(values['push-interval'] ?? 0),
    },
  });
  process.stdout.write(JSON.stringify({ msg: 'network simulator listening', admin: sim.adminUrl, networks: sim.urls, lab: sim.labUrl, people: sim.people.length }) + '\n');
  await new Promise<void>((r) => { process.once('SIGINT', r); process.once('SIGTERM', r); });
  await sim.close();
  return 0;
}
