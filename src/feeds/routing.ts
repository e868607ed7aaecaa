// Who a pushed message is for: the message's Patient demographics are matched through the UPI (certain
// matches only — precision first), giving UPIDs; every builder Patient with such a UPID that has an active
// enrollment in a package whose subscriptionProviders name this network receives the data.
import type { Queryable } from '../db/types.ts';
import type { FhirResource } from '../fhir/store/index.ts';
import { blockingKeys, compare, normalizeRecord, type PersonInput } from '../upi/engine/index.ts';
import { personFromPatient, type UpiService } from '../upi/service.ts';
import type { FeedNetwork } from './config.ts';

export interface RouteTarget {
  builderId: string;
  patientId: string;
  upid: string;
}

export type Route =
  | { ok: true; targets: RouteTarget[] }
  | { ok: false; reason: 'no-demographics' | 'no-match' | 'possible-match-only' | 'not-enrolled' };

/** Candidates scored per message; blocks are small, this guards against degenerate keys. */
const MAX_CANDIDATES = 500;

export async function routeMessage(db: Queryable, upi: UpiService, network: FeedNetwork, patient: FhirResource | undefined): Promise<Route> {
  if (!patient) return { ok: false, reason: 'no-demographics' };
  const norm = normalizeRecord(personFromPatient(patient));
  const keys = [...new Set(blockingKeys(norm))];
  if (keys.length === 0) return { ok: false, reason: 'no-demographics' };
  const rows = (await db.query<{ patient_id: string; upid: string; record: PersonInput }>(
    `SELECT p.patient_id, p.upid, p.record FROM upi_persons p
      WHERE p.patient_id IN (SELECT b.patient_id FROM upi_blocks b WHERE b.block_key = ANY($1::text[])) LIMIT ${MAX_CANDIDATES}`,
    [keys],
  )).rows;
  const upids = new Set<string>();
  let possible = false;
  for (const row of rows) {
    const r = compare(upi.model, norm, normalizeRecord(row.record));
    if (r.outcome === 'match') upids.add(row.upid);
    else if (r.outcome === 'possible') possible = true;
  }
  if (upids.size === 0) return { ok: false, reason: possible ? 'possible-match-only' : 'no-match' };
  const targets = (await db.query<{ builder_id: string; patient_id: string; upid: string }>(
    `SELECT e.builder_id, e.patient_id, p.upid
       FROM upi_persons p
       JOIN subscription_enrollments e ON e.patient_id = p.patient_id AND e.builder_id = p.builder_id AND e.status = 'active'
       JOIN subscription_packages k ON k.id = e.package_id
      WHERE p.upid = ANY($1::text[]) AND k.meta -> 'subscriptionProviders' @> jsonb_build_array($2::text)
      ORDER BY e.builder_id, e.patient_id`,
    [[...upids], network],
  )).rows;
  if (targets.length === 0) return { ok: false, reason: 'not-enrolled' };
  return { ok: true, targets: targets.map((t) => ({ builderId: t.builder_id, patientId: t.patient_id, upid: t.upid })) };
}
