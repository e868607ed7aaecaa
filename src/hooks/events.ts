// Outbox events as the hooks read them. The FHIR store writes one event per resource write in the same
// transaction; this module reads its shape and the resource content of the event's version.
import type { Queryable } from '../db/types.ts';

export interface ChangeEvent {
  seq: number;
  resourceType: string;
  id: string;
  versionId: number;
  builderId: string;
  upid: string | null;
  operation: 'UPSERT' | 'DELETE';
  lastUpdated: string | null;
}

const s = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : null);

/** Reads an outbox row's event; null when it is not a resource change (other event kinds share the outbox). */
export function parseEvent(seq: number, raw: unknown): ChangeEvent | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const e = raw as Record<string, unknown>;
  const resourceType = s(e.resourceType ?? e.type);
  const id = s(e.id ?? e.resourceId);
  const builder = s(e.builderId ?? e.ownerId ?? e.owner);
  const version = Number(e.versionId ?? e.version);
  if (!resourceType || !id || !builder || !Number.isInteger(version)) return null;
  const action = String(e.action ?? e.method ?? e.operation ?? e.kind ?? 'update').toLowerCase();
  return {
    seq,
    resourceType,
    id,
    versionId: version,
    builderId: builder.replace(/^builder\//, ''),
    upid: s(e.upid),
    operation: action === 'delete' || action === 'deleted' ? 'DELETE' : 'UPSERT',
    lastUpdated: s(e.lastUpdated),
  };
}

export const versionKey = (type: string, id: string, version: number) => `${type}/${id}/${version}`;

/**
 * Content of each (type, id, version); for a delete (no content) the last version that had content, so that
 * a filter on, say, Encounter also hears Encounter deletes. `exact`: only the version itself.
 */
export async function loadVersions(db: Queryable, wanted: { resourceType: string; id: string; versionId: number }[], exact = false): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  if (wanted.length === 0) return out;
  const r = await db.query<{ t: string; i: string; v: number; content: Record<string, unknown> }>(
    `SELECT DISTINCT ON (w.t, w.i, w.v) w.t, w.i, w.v, rv.content
     FROM unnest($1::text[], $2::text[], $3::int[]) AS w(t, i, v)
     JOIN resource_versions rv ON rv.type = w.t AND rv.id = w.i AND (rv.version_id = w.v OR (NOT $4 AND rv.version_id < w.v)) AND rv.content IS NOT NULL
     ORDER BY w.t, w.i, w.v, rv.version_id DESC`,
    [wanted.map((w) => w.resourceType), wanted.map((w) => w.id), wanted.map((w) => w.versionId), exact],
  );
  for (const row of r.rows) out.set(versionKey(row.t, row.i, row.v), row.content);
  return out;
}
