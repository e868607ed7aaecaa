import { createPlatform } from '../server/platform.ts';
import { startWorkers, stopWorkers } from '../server/workers.ts';

export async function serveCommand(argv: string[]): Promise<number> {
  const demo = argv.includes('--demo');
  // Workers run in the API process unless disabled (then run `tessera worker` separately).
  const withWorkers = !argv.includes('--no-workers') && process.env.TESSERA_WORKERS !== 'off';
  const platform = await createPlatform({ demo });
  const { config, logger } = platform.services;
  await platform.app.listen({ port: config.port, host: config.host });
  printBootstrap(platform.bootstrap, config.baseUrl);
  const workers = withWorkers ? await startWorkers(platform.services, platform.domain) : [];

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const timer = setTimeout(() => process.exit(1), 30_000);
    timer.unref();
    await platform.app.close();
    await stopWorkers(workers);
    await platform.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  await new Promise(() => {}); // serve until a signal arrives
  return 0;
}

function printBootstrap(boot: Awaited<ReturnType<typeof createPlatform>>['bootstrap'], baseUrl: string): void {
  const out: string[] = [];
  if (boot.adminCreated) {
    out.push('', '== Platform admin client (creates builders and grants) ==', `  client_id:     ${boot.adminCreated.clientId}`);
    out.push(boot.adminCreated.clientSecret ? `  client_secret: ${boot.adminCreated.clientSecret}   (shown once: store it now)` : '  client_secret: (from TESSERA_ADMIN_CLIENT_SECRET)');
  }
  if (boot.demo) {
    out.push('', `== Demo builder "${boot.demo.builderName}" (${boot.demo.builderId}) with a Builder Admin client ==`,
      `  client_id:     ${boot.demo.clientId}`, `  client_secret: ${boot.demo.clientSecret}   (shown once)`, '',
      'Get a token and make a first call:',
      `  TOKEN=$(curl -s ${baseUrl}/oauth/token -H 'content-type: application/json' \\`,
      `    -d '{"grant_type":"client_credentials","client_id":"${boot.demo.clientId}","client_secret":"${boot.demo.clientSecret}"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
      `  curl -s ${baseUrl}/fhir/Patient -H "authorization: Bearer $TOKEN" -H 'content-type: application/fhir+json' \\`,
      `    -d '{"resourceType":"Patient","name":[{"family":"Bergamel","given":["Soloman"]}],"gender":"male","birthDate":"1970-03-21"}'`,
      `  curl -s "${baseUrl}/fhir/Patient?name=bergamel" -H "authorization: Bearer $TOKEN"`);
  }
  if (out.length) process.stdout.write(out.join('\n') + '\n\n');
  process.stdout.write(`Tessera listening on ${baseUrl}\n`);
}
