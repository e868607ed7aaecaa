import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult, TransactionOptions } from './types.ts';

// Same value conventions as the pg driver (see types.ts).
const parsers = {
  [types.INT8]: (v: string) => Number(v),
};

type PGliteLike = Pick<PGlite, 'query' | 'exec'>;

function wrap(pg: PGliteLike): Queryable {
  return {
    async query<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await pg.query<T>(sql, params as unknown[] | undefined, { parsers });
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await pg.exec(sql);
    },
  };
}

export interface PGliteOptions {
  /** directory for persistent data; undefined = in memory */
  dataDir?: string;
  /** a dumped data directory (tarball) to start from, e.g. a migrated snapshot */
  loadDataDir?: Blob | File;
}

/**
 * PGlite is PostgreSQL inside this process: a second process opening the same data directory (say `tessera
 * reindex` while `tessera serve` runs) would write the same files from another server and corrupt them. The
 * directory is claimed with a lock file (`<dir>.lock`) holding the owner's pid; a lock whose process is gone is
 * taken over.
 */
function claimDataDir(dataDir: string): () => void {
  // Beside the directory, not in it: PostgreSQL's own files are left alone (initdb wants an empty directory).
  mkdirSync(dirname(dataDir), { recursive: true });
  const lockPath = `${dataDir.replace(/[/\\]+$/, '')}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        try {
          if (readFileSync(lockPath, 'utf8') === String(process.pid)) unlinkSync(lockPath);
        } catch {
          // already gone
        }
      };
      process.on('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(lockPath, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new Error(`the embedded database in ${dataDir} is in use by process ${owner} (a running tessera serve or worker?). `
          + 'Stop it first, or use a PostgreSQL server (DATABASE_URL) to run commands beside the platform. '
          + `If no such process is running, delete ${lockPath}.`);
      }
      // Left by a process that is gone (or by this one): take it over.
      unlinkSync(lockPath);
    }
  }
  throw new Error(`could not lock ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process that nobody has reaped yet still answers signal 0: on Linux, a zombie (state Z) is gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export async function openPGlite(options: PGliteOptions = {}): Promise<Database & { dump(): Promise<Blob> }> {
  const release = options.dataDir !== undefined ? claimDataDir(options.dataDir) : () => {};
  let pg: PGlite;
  try {
    pg = await PGlite.create({ dataDir: options.dataDir, loadDataDir: options.loadDataDir, relaxedDurability: false });
  } catch (err) {
    release();
    throw err;
  }
  const q = wrap(pg);
  return {
    kind: 'pglite',
    query: q.query,
    exec: q.exec,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      // PGlite has a single connection; its transaction() holds a lock so other queries wait.
      return pg.transaction(async (tx) => {
        if (opts?.isolation) await tx.exec(`SET TRANSACTION ISOLATION LEVEL ${opts.isolation.toUpperCase()}`);
        return fn(wrap(tx));
      });
    },
    async ping() {
      try {
        await pg.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (!pg.closed) await pg.close();
      release();
    },
    async dump() {
      return pg.dumpDataDir('none');
    },
  };
}
