// The refresh engine: claims due rows of the durable schedule with FOR UPDATE SKIP LOCKED and, in the same
// transaction, creates the patient-history job and marks the row started. A row is claimed by one worker only
// and leaves 'pending' in the transaction that creates its job, so no trigger ever starts twice, whatever the
// number of workers or restarts.
import type { Queryable } from '../db/types.ts';
import type { NetworkService } from '../networks/connectors/types.ts';
import { historyServicesFor, appointmentIsUpcoming, watchesPharmacy, type PackageMeta } from './rules.ts';
import type { EnrollmentRow, RefreshRow, SubscriptionService } from './service.ts';

export interface RunResult {
  started: number;
  skipped: number;
  cancelled: number;
}

export class RefreshEngine {
  constructor(readonly subs: SubscriptionService) {}

  /** Runs one batch of due refreshes; returns what happened. */
  async runOnce(limit = this.subs.cfg.batchSize): Promise<RunResult> {
    const { db, clock, history } = this.subs;
    const woken = new Set<NetworkService>();
    const result: RunResult = { started: 0, skipped: 0, cancelled: 0 };
    await db.transaction(async (tx) => {
      const now = clock.now();
      const rows = (await tx.query<RefreshRow>(
        `SELECT * FROM subscription_refreshes WHERE status = 'pending' AND due_at <= $1 ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [now, limit],
      )).rows;
      for (const row of rows) {
        await tx.query('SAVEPOINT refresh');
        try {
          const outcome = await this.fire(tx, row, now);
          result[outcome.status]++;
          for (const s of outcome.services) woken.add(s);
          await tx.query('RELEASE SAVEPOINT refresh');
        } catch (e) {
          await tx.query('ROLLBACK TO SAVEPOINT refresh');
          this.subs.logger?.error({ err: e, refresh: row.id, reason: row.reason_key }, 'refresh failed to start');
          await this.finish(tx, row, 'skipped', now, null, { note: `failed to start: ${(e as Error).message}` });
          result.skipped++;
        }
      }
    });
    if (woken.size) history.onEnqueued([...woken]);
    return result;
  }

  /** Runs batches until nothing is due (tests, drains). */
  async runDue(): Promise<RunResult> {
    const total: RunResult = { started: 0, skipped: 0, cancelled: 0 };
    for (;;) {
      const r = await this.runOnce();
      total.started += r.started;
      total.skipped += r.skipped;
      total.cancelled += r.cancelled;
      if (r.started + r.skipped + r.cancelled < this.subs.cfg.batchSize) return total;
    }
  }

  private async finish(tx: Queryable, row: RefreshRow, status: RefreshRow['status'], now: Date, jobId: string | null, detail: Record<string, unknown> = {}): Promise<void> {
    await tx.query('UPDATE subscription_refreshes SET status = $2, job_id = $3, detail = detail || $4::jsonb, updated_at = $5 WHERE id = $1', [row.id, status, jobId, JSON.stringify(detail), now]);
  }

  private async fire(tx: Queryable, row: RefreshRow, now: Date): Promise<{ status: 'started' | 'skipped' | 'cancelled'; services: NetworkService[] }> {
    const none = { services: [] as NetworkService[] };
    const e = (await tx.query<EnrollmentRow>('SELECT * FROM subscription_enrollments WHERE builder_id = $1 AND patient_id = $2', [row.builder_id, row.patient_id])).rows[0];
    if (!e || e.status !== 'active') {
      await this.finish(tx, row, 'skipped', now, null, { note: `enrollment is ${e?.status ?? 'gone'}` });
      return { status: 'skipped', ...none };
    }
    // Deletes do not pass the write interceptors: a deleted Patient gets no more refreshes.
    const p = (await tx.query<{ deleted: boolean }>("SELECT deleted FROM resources WHERE type = 'Patient' AND id = $1", [row.patient_id])).rows[0];
    if (!p || p.deleted) {
      await this.finish(tx, row, 'skipped', now, null, { note: 'the patient was deleted' });
      return { status: 'skipped', ...none };
    }
    if (row.kind === 'appointment') {
      // Check the appointment is still there, booked, and ahead.
      const id = row.reason_key.slice('appointment:'.length);
      const a = (await tx.query<{ content: any; deleted: boolean }>("SELECT content, deleted FROM resources WHERE type = 'Appointment' AND id = $1", [id])).rows[0];
      const start = a?.content?.start ? new Date(a.content.start).getTime() : NaN;
      if (!a || a.deleted || !appointmentIsUpcoming(a.content) || !(start > now.getTime())) {
        await this.finish(tx, row, 'cancelled', now, null, { note: 'appointment cancelled, removed or started' });
        return { status: 'cancelled', ...none };
      }
    }
    const pkg = await this.subs.getPackage(e.package_id, tx);
    const meta: PackageMeta = pkg?.meta ?? {};
    const services = historyServicesFor(row.providers, new Set(this.subs.history.queues.keys()));
    const job = e.practitioner_id
      ? await this.subs.history.createRefreshJob({
          builderId: e.builder_id, patientId: e.patient_id, practitionerId: e.practitioner_id, practitioner: e.practitioner,
          services, reason: row.reason_key, runAt: now, priority: row.priority,
        }, tx)
      : null;
    if (!job) {
      await this.finish(tx, row, 'skipped', now, null, { note: e.practitioner_id ? `no queryable provider among ${row.providers.join(', ') || '(none)'}` : 'enrollment has no practitioner' });
    } else {
      await this.finish(tx, row, 'started', now, job.id, { services: job.services });
    }
    // Follow-ons: the next recurring refresh; any pharmacy refresh restarts the 36-day backstop.
    if (row.kind === 'recurring') await this.subs.scheduleRecurring(tx, e, meta, now, Number(row.detail.group ?? 0));
    if (watchesPharmacy(meta) && (row.kind === 'pharmacy-backstop' || job?.services.includes('surescripts'))) await this.subs.resetPharmacyBackstop(tx, e, now);
    return job ? { status: 'started', services: job.services } : { status: 'skipped', ...none };
  }
}
