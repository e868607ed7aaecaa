// Re-derives the UPI blocking keys of every indexed Patient from its stored person record, after an upgrade that
// changed the blocking rules (Patients indexed earlier are otherwise found only through their old keys until
// written again). It does not re-match: UPIDs stay as they are (a new match would move data between persons).
import type { Database } from '../db/types.ts';
import { blockingKeys, normalizeRecord, type PersonInput } from './engine/index.ts';
import { retryOnConflict } from '../db/retry.ts';

export interface UpiReindexProgress {
  patients: number;
  total: number;
}

export async function reindexUpiBlocks(db: Database, options: { batchSize?: number; onProgress?: (p: UpiReindexProgress) => void } = {}): Promise<UpiReindexProgress> {
  const batchSize = Math.max(1, Math.min(options.batchSize ?? 500, 10_000));
  const total = Number((await db.query<{ n: number | string }>('SELECT count(*)::int8 AS n FROM upi_persons')).rows[0]!.n);
  const progress: UpiReindexProgress = { patients: 0, total };
  let after = '';
  for (;;) {
    // The cursor and the count move only once the batch has committed (a retried batch is done again, whole).
    const batch = await retryOnConflict(() => db.transaction(async (tx) => {
      // FOR UPDATE: a concurrent Patient write of one of these waits, then writes its own keys.
      const rows = (await tx.query<{ patient_id: string; record: PersonInput | string }>(
        `SELECT patient_id, record FROM upi_persons WHERE patient_id > $1 ORDER BY patient_id LIMIT ${batchSize} FOR UPDATE`, [after],
      )).rows;
      if (rows.length === 0) return { n: 0, last: after };
      const patients: string[] = [];
      const keys: string[] = [];
      for (const r of rows) {
        const record = typeof r.record === 'string' ? (JSON.parse(r.record) as PersonInput) : r.record;
        for (const k of new Set(blockingKeys(normalizeRecord(record)))) {
          patients.push(r.patient_id);
          keys.push(k);
        }
      }
      const ids = rows.map((r) => r.patient_id);
      // Keys no longer derived go; new ones come (the same statements as a Patient write, for a batch).
      await tx.query(
        `DELETE FROM upi_blocks b WHERE b.patient_id = ANY($1::text[])
           AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS k(p, key) WHERE k.p = b.patient_id AND k.key = b.block_key)`,
        [ids, patients, keys],
      );
      await tx.query('INSERT INTO upi_blocks (block_key, patient_id) SELECT key, p FROM unnest($1::text[], $2::text[]) AS k(p, key) ON CONFLICT DO NOTHING', [patients, keys]);
      return { n: rows.length, last: rows[rows.length - 1]!.patient_id };
    }));
    after = batch.last;
    progress.patients += batch.n;
    if (batch.n > 0) options.onProgress?.({ ...progress });
    if (batch.n < batchSize) return progress;
  }
}
