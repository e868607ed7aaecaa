// The ZusHooks message (spec/003 and notes §6) and its Standard Webhooks signature.
import { createHmac } from 'node:crypto';
import type { ChangeEvent } from './events.ts';

export const HOOK_SOURCE = 'com.zushealth.zushooks';

/** What the dispatcher records for one (event, hook); the message is built from it at each attempt. */
export interface DeliveryPayload extends Omit<ChangeEvent, 'lastUpdated'> {
  hookId: string;
  /** message creation time (ISO, seconds): the same on every retry */
  time: string;
}

export interface HookMessage {
  message_id: string;
  source: typeof HOOK_SOURCE;
  time: string;
  resourceId: string;
  ownerId: string;
  upid: string | null;
  operationType: 'UPSERT' | 'DELETE';
  resourceIncluded: boolean;
  resource: Record<string, unknown> | null;
}

/** RFC 3339 to the second, as the spec's examples ("2023-07-17T13:48:32Z"). */
export const messageTime = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * OAuth hooks get the resource when its JSON is smaller than `maxResourceBytes`; otherwise (and on deletes)
 * `resourceIncluded: false` and `resource: null`. Basic-auth hooks get `resourceIncluded: false` and only the UPID.
 * Returns the body text, serialized once (it is both sent and signed).
 */
export function buildMessage(messageId: string, p: DeliveryPayload, authType: 'basic' | 'oauth', resourceJson: string | null, maxResourceBytes: number): string {
  const head = {
    message_id: messageId,
    source: HOOK_SOURCE,
    time: p.time,
    resourceId: `${p.resourceType}/${p.id}`,
    ownerId: `builder/${p.builderId}`,
    upid: p.upid,
    operationType: p.operation,
  };
  if (authType === 'basic') {
    return JSON.stringify({ ...head, resourceIncluded: false, resource: { UPID: p.upid } });
  }
  const include = resourceJson !== null && p.operation === 'UPSERT' && Buffer.byteLength(resourceJson, 'utf8') < maxResourceBytes;
  // The resource text is spliced in as stored, so a 1 MB resource is not parsed and re-serialized per attempt.
  const text = JSON.stringify({ ...head, resourceIncluded: include, resource: null });
  return include ? `${text.slice(0, -'null}'.length)}${resourceJson}}` : text;
}

/** `v1,<base64 HMAC-SHA256(id.timestamp.body)>` with the secret's key (the base64 after `whsec_`). */
export function sign(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** Standard Webhooks headers; several secrets (rotation) give several space-separated signatures. */
export function signatureHeaders(secrets: string[], messageId: string, timestampSeconds: number, body: string): Record<string, string> {
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': secrets.map((s) => sign(s, messageId, timestampSeconds, body)).join(' '),
  };
}
