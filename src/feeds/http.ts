// HTTPS ingest for networks that push over HTTP, and the operator's view of the feeds.
//   POST /feeds/hl7v2      ER7 body (one message); `Authorization: Bearer <network secret>`; answers the ACK
//                          (200 AA, 400 AR, 503 AE).
//   POST /feeds/pharmacy   JSON pharmacy notification (processor.ts PharmacyNotification); 202, or 200 for a
//                          re-sent messageId.
//   GET  /feeds/stats      platform admin: inbox counts per network, status and drop reason; ingest counters.
//   GET  /feeds/messages?filter[status]=failed, POST /feeds/messages/{id}/retry   platform admin (no content shown).
// The two POST routes are public to the token layer (src/access/http.ts isPublic): the network secret of
// TESSERA_FEED_SENDERS is their credential, not a platform token.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../server/services.ts';
import type { Domain } from '../server/domain.ts';
import { badRequest, forbidden, HttpError, notFound, unauthorized } from '../platform/errors.ts';
import { senderForSecret, type FeedSender } from './config.ts';
import { inboxStats } from './inbox.ts';
import { feedsFor } from './service.ts';
import { HL7_CONTENT_TYPE, PHARMACY_NOTIFICATIONS, type PharmacyNotification } from './processor.ts';

const HL7_TYPES = [HL7_CONTENT_TYPE, 'application/hl7-v2', 'application/hl7-v2+er7', 'text/plain'];

export async function registerFeedRoutes(app: FastifyInstance, services: Services, domain: Domain): Promise<void> {
  const feeds = feedsFor(services, domain);

  const senderOf = (request: FastifyRequest): FeedSender => {
    const h = request.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) throw new HttpError(401, 'login', 'A network secret is required (Authorization: Bearer <secret>)', undefined, { 'www-authenticate': 'Bearer realm="tessera-feeds"' });
    const s = senderForSecret(feeds.cfg, m[1]!);
    if (!s) throw unauthorized('Unknown network secret');
    return s;
  };

  await app.register(async (scope) => {
    scope.addContentTypeParser(HL7_TYPES, { parseAs: 'string', bodyLimit: feeds.cfg.maxMessageBytes }, (_req, body, done) => done(null, body));

    scope.post('/feeds/hl7v2', async (request, reply) => {
      const sender = senderOf(request);
      if (sender.network === 'surescripts') throw forbidden('surescripts sends pharmacy notifications to /feeds/pharmacy');
      const body = request.body;
      if (typeof body !== 'string' || body.trim() === '') throw badRequest(`Send one HL7 v2 message (ER7) as ${HL7_CONTENT_TYPE}`);
      const r = await feeds.ingest.acceptHl7(body.replace(/\r?\n/g, '\r'), { transport: 'https', peerIp: request.ip, sender });
      return reply.status(r.code === 'AA' ? 200 : r.code === 'AR' ? 400 : 503).type(HL7_CONTENT_TYPE).send(r.ack);
    });

    scope.post('/feeds/pharmacy', { bodyLimit: feeds.cfg.maxMessageBytes }, async (request, reply) => {
      const sender = senderOf(request);
      if (sender.network !== 'surescripts') throw forbidden(`${sender.network} does not send pharmacy notifications`);
      const b = request.body as Partial<PharmacyNotification> | null;
      const problems: string[] = [];
      if (typeof b !== 'object' || b === null) throw badRequest('The body must be a JSON pharmacy notification');
      if (typeof b.messageId !== 'string' || !b.messageId.trim() || b.messageId.length > 200) problems.push('messageId is required (a string of at most 200 characters)');
      if (typeof b.script !== 'string' || !b.script.trimStart().startsWith('<')) problems.push('script must be the NCPDP SCRIPT message (XML) carrying the fill');
      if (b.notifications !== undefined && (!Array.isArray(b.notifications) || b.notifications.some((n) => !(PHARMACY_NOTIFICATIONS as readonly unknown[]).includes(n)))) {
        problems.push(`notifications must be a list of ${PHARMACY_NOTIFICATIONS.join(', ')}`);
      }
      if (b.generatedTime !== undefined && (typeof b.generatedTime !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(b.generatedTime))) {
        problems.push('generatedTime must be an instant (e.g. 2026-11-21T10:00:00Z)');
      }
      if (problems.length) throw new HttpError(422, 'processing', problems.join('; '), problems.map((message) => ({ code: 'invalid', message })));
      const body: PharmacyNotification = { messageId: b.messageId!, script: b.script!, ...(b.notifications ? { notifications: b.notifications } : {}), ...(b.generatedTime ? { generatedTime: b.generatedTime } : {}) };
      let r: 'inserted' | 'duplicate';
      try {
        r = await feeds.ingest.acceptPharmacy(sender, body.messageId, body.notifications ?? [], JSON.stringify(body), request.ip);
      } catch (err) {
        services.logger.error({ err }, 'pharmacy notification could not be stored');
        throw new HttpError(503, 'transient', 'Temporarily unable to store the notification; resend later');
      }
      return reply.status(r === 'inserted' ? 202 : 200).send({ data: { type: 'feeds/messages', id: `${sender.network}:${body.messageId}`, attributes: { status: r === 'inserted' ? 'accepted' : 'duplicate' } } });
    });
  });

  // Operators: failed (or any) messages without their content, and a retry of a failed one.
  app.get('/feeds/messages', async (request) => {
    if (!request.access?.principal.isPlatformAdmin) throw forbidden('Only the platform admin may list feed messages');
    const q = request.query as Record<string, string | undefined>;
    const status = q['filter[status]'] ?? 'failed';
    if (!['pending', 'done', 'dropped', 'failed'].includes(status)) throw badRequest('filter[status] must be pending, done, dropped or failed');
    const limit = Math.min(Math.max(Number(q['page[count]'] ?? 50) || 50, 1), 500);
    const rows = (await services.db.query<{ id: number; network: string; control_id: string; message_type: string; transport: string; received_at: Date; processed_at: Date | null; attempts: number; reason: string | null }>(
      `SELECT id, network, control_id, message_type, transport, received_at, processed_at, attempts, reason FROM feed_inbox
        WHERE status = $1 ORDER BY id DESC LIMIT ${limit}`, [status])).rows;
    return { data: rows.map((r) => ({ type: 'feeds/messages', id: String(r.id), attributes: { network: r.network, controlId: r.control_id, messageType: r.message_type, transport: r.transport, status, receivedAt: r.received_at.toISOString(), processedAt: r.processed_at?.toISOString() ?? null, attempts: r.attempts, reason: r.reason } })) };
  });

  app.post('/feeds/messages/:id/retry', async (request) => {
    if (!request.access?.principal.isPlatformAdmin) throw forbidden('Only the platform admin may retry feed messages');
    const id = Number((request.params as { id: string }).id);
    if (!Number.isSafeInteger(id)) throw notFound('Feed message not found');
    const r = await services.db.query("UPDATE feed_inbox SET status = 'pending', attempts = 0, locked_until = NULL, processed_at = NULL WHERE id = $1 AND status = 'failed' RETURNING id", [id]);
    if (r.rowCount === 0) {
      const exists = (await services.db.query('SELECT 1 FROM feed_inbox WHERE id = $1', [id])).rows.length > 0;
      if (!exists) throw notFound('Feed message not found');
      throw new HttpError(409, 'conflict', 'Only failed messages can be retried');
    }
    feeds.wake();
    return { data: { type: 'feeds/messages', id: String(id), attributes: { status: 'pending' } } };
  });

  app.get('/feeds/stats', async (request) => {
    if (!request.access?.principal.isPlatformAdmin) throw forbidden('Only the platform admin may read feed statistics');
    const rows = await inboxStats(services.db);
    return {
      data: rows.map((r) => ({ type: 'feeds/stats', id: `${r.network}:${r.status}${r.reason ? `:${r.reason}` : ''}`, attributes: r })),
      meta: { ingest: { ...feeds.ingest.counters }, mllp: feeds.mllp ? { port: feeds.mllp.port, ...feeds.mllp.stats } : null },
    };
  });
}
