// UPI over HTTP: the FHIR Patient/$match operation (scored candidates the caller may see) and review of
// possible matches (list, confirm, reject; rejected pairs are never linked again).
import type { FastifyInstance } from 'fastify';
import { getAccess } from '../access/http.ts';
import { requireFhir, requirePermission } from '../access/context.ts';
import { visibleSql } from '../access/policy.ts';
import { badRequest, notFound, HttpError } from '../platform/errors.ts';
import type { Services } from '../server/services.ts';
import type { FhirStore, FhirResource } from '../fhir/store/index.ts';
import { blockingKeys, compare, keyBlockCap, normalizeRecord, type PersonInput } from './engine/index.ts';
import { personFromPatient, type UpiService } from './service.ts';
import { readPage, pageLinks } from '../server/jsonapi.ts';

const MATCH_GRADE = 'http://hl7.org/fhir/StructureDefinition/match-grade';

export async function registerUpiRoutes(app: FastifyInstance, services: Services, store: FhirStore, upi: UpiService): Promise<void> {
  const { db, config } = services;

  app.post('/fhir/Patient/$match', async (request, reply) => {
    const ctx = getAccess(request);
    requireFhir(ctx, 'read', 'Patient');
    const body = request.body as { resourceType?: string; parameter?: { name?: string; resource?: FhirResource; valueInteger?: number; valueBoolean?: boolean }[] } | null;
    if (body?.resourceType !== 'Parameters') throw badRequest('The body must be a Parameters resource with a `resource` parameter (a Patient)');
    const param = (n: string) => body.parameter?.find((p) => p.name === n);
    const patient = param('resource')?.resource;
    if (patient?.resourceType !== 'Patient') throw badRequest('Parameters.resource must be a Patient');
    const count = Math.min(Math.max(param('count')?.valueInteger ?? 10, 1), 100);
    const onlyCertain = param('onlyCertainMatches')?.valueBoolean === true;
    const norm = normalizeRecord(personFromPatient(patient));
    const keys = [...new Set(blockingKeys(norm))];
    if (keys.length === 0) return reply.type('application/fhir+json').send({ resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] });
    // Candidates as on the write path: blocks over their cap are skipped (read with LIMIT, never in full), and
    // those sharing the most keys come first; then only the ones the caller may see.
    const params: unknown[] = [keys, keys.map((k) => keyBlockCap(k, upi.model.model.maxBlockSize))];
    const vis = visibleSql(ctx, 'r', params);
    const rows = (await db.query<{ id: string; record: PersonInput; content: FhirResource }>(
      `WITH blk AS (
         SELECT k.cap, b.ids FROM unnest($1::text[], $2::int[]) AS k(key, cap)
         CROSS JOIN LATERAL (SELECT array_agg(s.patient_id) AS ids FROM (SELECT patient_id FROM upi_blocks WHERE block_key = k.key LIMIT k.cap + 1) s) b
       ), hits AS (
         SELECT c.patient_id, count(*) AS n FROM blk CROSS JOIN LATERAL unnest(blk.ids) AS c(patient_id)
          WHERE cardinality(blk.ids) <= blk.cap GROUP BY c.patient_id
       )
       SELECT p.patient_id AS id, p.record, r.content FROM hits h
         JOIN upi_persons p ON p.patient_id = h.patient_id
         JOIN resources r ON r.type = 'Patient' AND r.id = p.patient_id AND NOT r.deleted
        WHERE ${vis}
        ORDER BY h.n DESC, p.patient_id
        LIMIT 500`,
      params,
    )).rows;
    const scored = rows
      .map((row) => ({ row, r: compare(upi.model, norm, normalizeRecord(row.record)) }))
      .filter((x) => x.r.outcome !== 'no-match' && (!onlyCertain || x.r.outcome === 'match'))
      .sort((a, b) => b.r.score - a.r.score)
      .slice(0, count);
    const grade = (o: string) => (o === 'match' ? 'certain' : 'possible');
    return reply.type('application/fhir+json').send({
      resourceType: 'Bundle',
      type: 'searchset',
      total: scored.length,
      entry: scored.map(({ row, r }) => ({
        fullUrl: `${config.baseUrl}/fhir/Patient/${row.id}`,
        resource: row.content,
        search: { mode: 'match', score: Math.round(r.probability * 1000) / 1000, extension: [{ url: MATCH_GRADE, valueCode: grade(r.outcome) }] },
      })),
    });
  });

  // ---- possible matches -------------------------------------------------------------------------------
  interface PmRow { id: string; patient_id: string; candidate_id: string; score: number; status: string; created_at: Date; decided_at: Date | null }
  const pmJson = (m: PmRow) => ({
    type: 'upi/possible-matches',
    id: m.id,
    // Only the originator's own patient is named; the candidate (maybe another builder's) is not revealed.
    attributes: { score: m.score, status: m.status, createdAt: m.created_at.toISOString(), ...(m.decided_at ? { decidedAt: m.decided_at.toISOString() } : {}) },
    relationships: { patient: { data: { type: 'fhir/Patient', id: m.patient_id } } },
  });
  const ownPatientIds = async (builders: string[], ids: string[]) => new Set((await db.query<{ patient_id: string }>('SELECT patient_id FROM upi_persons WHERE patient_id = ANY($1::text[]) AND builder_id = ANY($2::text[])', [ids, builders])).rows.map((r) => r.patient_id));

  app.get('/upi/possible-matches', async (request) => {
    const ctx = getAccess(request);
    requirePermission(ctx, 'fhir:update:Patient');
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const status = typeof q['filter[status]'] === 'string' ? (q['filter[status]'] as string) : 'open';
    const where = `m.status = $2 AND EXISTS (SELECT 1 FROM upi_persons p WHERE p.patient_id = m.patient_id AND p.builder_id = ANY($1::text[]))`;
    const total = (await db.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM upi_possible_matches m WHERE ${where}`, [ctx.readBuilderIds, status])).rows[0]!.n;
    const rows = (await db.query<PmRow>(`SELECT * FROM upi_possible_matches m WHERE ${where} ORDER BY m.created_at DESC, m.id LIMIT ${limit} OFFSET ${offset}`, [ctx.readBuilderIds, status])).rows;
    return { data: rows.map(pmJson), meta: { total }, links: pageLinks(config.baseUrl, '/upi/possible-matches', q, limit, offset, total) };
  });

  const decide = async (ctx: ReturnType<typeof getAccess>, id: string) => {
    requirePermission(ctx, 'fhir:update:Patient');
    const m = (await db.query<PmRow>('SELECT * FROM upi_possible_matches WHERE id = $1', [id])).rows[0];
    if (!m) throw notFound('Possible match not found');
    const own = await ownPatientIds(ctx.writeBuilderId ? [ctx.writeBuilderId] : [], [m.patient_id]);
    if (!own.has(m.patient_id)) throw notFound('Possible match not found');
    if (m.status !== 'open') throw new HttpError(409, 'conflict', `This possible match was already ${m.status}`);
    return m;
  };

  app.post('/upi/possible-matches/:id/reject', async (request) => {
    const ctx = getAccess(request);
    const m = await decide(ctx, (request.params as { id: string }).id);
    const r = await db.query<PmRow>("UPDATE upi_possible_matches SET status = 'rejected', decided_at = $2 WHERE id = $1 AND status = 'open' RETURNING *", [m.id, services.clock.now()]);
    return { data: pmJson(r.rows[0] ?? m) };
  });

  app.post('/upi/possible-matches/:id/confirm', async (request) => {
    const ctx = getAccess(request);
    const m = await decide(ctx, (request.params as { id: string }).id);
    // Link: the originator's patient takes the candidate's UPID, and its resources are re-stamped — all through
    // the store in one transaction, so versions, index rows and webhook events follow.
    await db.transaction(async (tx) => {
      const target = (await tx.query<{ upid: string }>('SELECT upid FROM upi_persons WHERE patient_id = $1', [m.candidate_id])).rows[0];
      if (!target) throw notFound('The candidate no longer exists');
      await tx.query("UPDATE upi_possible_matches SET status = 'confirmed', decided_at = $2 WHERE id = $1", [m.id, services.clock.now()]);
      await upi.linkAndRestamp(tx, m.patient_id, target.upid, 'confirmed', ctx.principal.id);
    });
    const r = await db.query<PmRow>('SELECT * FROM upi_possible_matches WHERE id = $1', [m.id]);
    return { data: pmJson(r.rows[0]!) };
  });

  // ---- persons: unmerge and the versioned history of a UPID ----------------------------------------------
  // Unmerge detaches one Patient from its person to a new UPID. Allowed to the platform admin, and to the builder
  // that owns the Patient (it may always say "this record of mine is not that person"); other builders' records
  // of the person are never named.
  app.post('/upi/persons/:upid/unmerge', async (request) => {
    const ctx = getAccess(request);
    const { upid } = request.params as { upid: string };
    const body = request.body as { patientId?: unknown; data?: { attributes?: { patientId?: unknown } } } | null;
    const raw = body?.data?.attributes?.patientId ?? body?.patientId;
    if (typeof raw !== 'string' || raw === '') throw badRequest('The body must name the Patient to detach: {"data":{"type":"upi/unmerges","attributes":{"patientId":"…"}}}');
    const patientId = raw.replace(/^Patient\//, '');
    if (!ctx.principal.isPlatformAdmin) requirePermission(ctx, 'fhir:update:Patient');
    const row = (await db.query<{ builder_id: string; upid: string }>('SELECT builder_id, upid FROM upi_persons WHERE patient_id = $1', [patientId])).rows[0];
    const mayAct = ctx.principal.isPlatformAdmin || (row !== undefined && row.builder_id === ctx.writeBuilderId);
    if (!row || !mayAct || row.upid !== upid) throw notFound('No such Patient in this person');
    const result = await db.transaction((tx) => upi.unmerge(tx, patientId, ctx.principal.id));
    return {
      data: {
        type: 'upi/unmerges',
        id: result.newUpid,
        attributes: { patientId, previousUpid: result.oldUpid, upid: result.newUpid, separatedFromCount: result.others.length },
        relationships: { patient: { data: { type: 'fhir/Patient', id: patientId } } },
      },
    };
  });

  // The versioned history of a UPID: every link, match, merge and unmerge that moved a Patient into or out of it.
  // A builder sees the entries of its own Patients; the platform admin sees all.
  app.get('/upi/persons/:upid/assignments', async (request) => {
    const ctx = getAccess(request);
    const { upid } = request.params as { upid: string };
    if (!ctx.principal.isPlatformAdmin) requirePermission(ctx, 'fhir:read:Patient');
    const rows = (await db.query<{ seq: string; patient_id: string; old_upid: string | null; new_upid: string; reason: string; score: number | null; at: Date; actor: string | null }>(
      `SELECT a.seq, a.patient_id, a.old_upid, a.new_upid, a.reason, a.score, a.at, a.actor FROM upi_assignments a
        WHERE (a.new_upid = $1 OR a.old_upid = $1)
          AND ($2::boolean OR EXISTS (SELECT 1 FROM upi_persons p WHERE p.patient_id = a.patient_id AND p.builder_id = ANY($3::text[])))
        ORDER BY a.seq LIMIT 1000`,
      [upid, ctx.principal.isPlatformAdmin, ctx.readBuilderIds],
    )).rows;
    return {
      data: rows.map((r) => ({
        type: 'upi/assignments',
        id: String(r.seq),
        attributes: { previousUpid: r.old_upid, upid: r.new_upid, reason: r.reason, score: r.score, at: r.at.toISOString(), actor: r.actor },
        relationships: { patient: { data: { type: 'fhir/Patient', id: r.patient_id } } },
      })),
    };
  });
}
