// The platform side of bench:feeds, in its own process (forked by bench/feeds/index.ts, IPC messages):
// PostgreSQL schema from BENCH_SCHEMA, a builder with Patients (half of them enrolled in an ADT package), the
// MLLP listener with the inbox (processing off), then on {cmd: 'process'} the processing loops until the inbox
// is drained or the time limit passes.
import { openPostgres } from '../../src/db/postgres.ts';
import { openServices } from '../../src/server/platform.ts';
import { createDomain } from '../../src/server/domain.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { loadFeedsConfig } from '../../src/feeds/config.ts';
import { createFeeds } from '../../src/feeds/service.ts';
import { systemContext } from '../../src/history/runner.ts';
import type { FhirResource } from '../../src/fhir/store/index.ts';
import { generateDemographics, prng } from '../../src/networks/sim/people.ts';
import { enroll, patientResource, type Person } from '../../test/feeds/helpers.ts';

const url = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const schema = process.env.BENCH_SCHEMA!;
const PATIENTS = Number(process.env.BENCH_PATIENTS ?? 200);

async function main() {
  const db = await openPostgres({ url, schema, max: 16 });
  const { services, access } = await openServices({ db, logger: createLogger('warn') });
  const domain = createDomain(services, access);
  const builder = await access.createBuilder('bench feeds');
  const ctx = systemContext(builder.id, 'bench');
  const rnd = prng(4242);
  const people: (Person & { enrolled: boolean })[] = [];
  for (let i = 0; i < PATIENTS; i++) {
    const d = generateDemographics(rnd) as Person;
    const p = { ...d, family: `${d.family}${String.fromCharCode(65 + (i % 26))}${String.fromCharCode(65 + Math.floor(i / 26) % 26)}`, enrolled: i % 2 === 0 };
    const [out] = await db.transaction((tx) => domain.store.writeBatch(tx, ctx, [{ action: 'create', type: 'Patient', resource: patientResource(p) as FhirResource }], { platform: true, tx }));
    if (p.enrolled) await enroll(db, builder.id, out!.id, ['bamboo', 'collective']);
    people.push(p);
  }
  const cfg = { ...loadFeedsConfig({ TESSERA_FEEDS_INSERT_PARALLEL: process.env.TESSERA_FEEDS_INSERT_PARALLEL }), concurrency: Number(process.env.BENCH_PROCESS_CONCURRENCY ?? 4), claimBatch: 20 };
  const feeds = createFeeds(services, domain, cfg);
  const mllp = await feeds.startMllp(0, '127.0.0.1');
  process.send!({ ready: true, port: mllp.port, people });

  process.on('message', async (m: { cmd: string; limitSeconds?: number }) => {
    if (m.cmd === 'stats') {
      process.send!({ stats: true, commits: feeds.inbox.commits, ingest: feeds.ingest.counters });
      return;
    }
    if (m.cmd === 'process') {
      const pending = async () => (await db.query<{ n: number }>("SELECT count(*)::int8 AS n FROM feed_inbox WHERE status = 'pending'")).rows[0]!.n;
      const start = await pending();
      const t0 = performance.now();
      feeds.startProcessing();
      const limit = (m.limitSeconds ?? 60) * 1000;
      let left = start;
      while (left > 0 && performance.now() - t0 < limit) {
        await new Promise((r) => setTimeout(r, 250));
        left = await pending();
      }
      const seconds = (performance.now() - t0) / 1000;
      await feeds.stopProcessing();
      const byStatus = (await db.query<{ status: string; reason: string | null; n: number }>('SELECT status, reason, count(*)::int8 AS n FROM feed_inbox GROUP BY 1, 2 ORDER BY 1, 2')).rows;
      process.send!({ processed: start - (await pending()), seconds, byStatus });
      return;
    }
    if (m.cmd === 'close') {
      await feeds.close();
      await db.close();
      process.exit(0);
    }
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
