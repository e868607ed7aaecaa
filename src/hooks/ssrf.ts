// Server-side request forgery guard for webhook and token URLs. Only public unicast addresses are allowed
// unless the operator allows private targets. Names are checked when a hook is saved and again at connect
// time through the HTTP agent's own DNS lookup, so a name that later resolves to 127.0.0.1 or 169.254.169.254
// (DNS rebinding) is refused on the socket actually opened.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';

export class TargetRefusedError extends Error {
  readonly code = 'ETARGETREFUSED';
}

/** Why an address may not be a webhook target (range name), or null when it is public unicast. */
export function refusedRange(address: string): string | null {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address.replace(/^\[|\]$/g, '').split('%')[0]!);
  } catch {
    return 'invalid';
  }
  if (ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress()) ip = ip.toIPv4Address();
  const range = ip.range();
  return range === 'unicast' ? null : range;
}

export interface TargetPolicy {
  allowPrivateTargets: boolean;
  allowHttp: boolean;
}

/** Checks scheme and literal-IP hosts of a URL; returns the parsed URL. Throws TargetRefusedError. */
export function checkUrl(raw: string, policy: TargetPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefusedError(`not a valid URL: ${raw}`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    throw new TargetRefusedError(policy.allowHttp ? 'URL must use http or https' : 'URL must use https');
  }
  if (url.username || url.password) throw new TargetRefusedError('URL must not contain credentials');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !policy.allowPrivateTargets) {
    const range = refusedRange(host);
    if (range) throw new TargetRefusedError(`target address ${host} is ${range}, not a public address`);
  }
  return url;
}

/** Resolves the URL's host and refuses it when any address is not public (unless allowed). */
export async function checkResolvedUrl(raw: string, policy: TargetPolicy): Promise<URL> {
  const url = checkUrl(raw, policy);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (policy.allowPrivateTargets || isIP(host)) return url;
  const addresses = await new Promise<LookupAddress[]>((resolve, reject) =>
    dnsLookup(host, { all: true }, (err, list) => (err ? reject(new TargetRefusedError(`cannot resolve ${host}: ${err.code ?? err.message}`)) : resolve(list))));
  for (const a of addresses) {
    const range = refusedRange(a.address);
    if (range) throw new TargetRefusedError(`${host} resolves to ${a.address} (${range}), not a public address`);
  }
  return url;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A dns.lookup replacement for sockets: resolves, then refuses non-public addresses. */
export function guardedLookup(policy: TargetPolicy) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, list) => {
      if (err) return callback(err, '');
      if (!policy.allowPrivateTargets) {
        for (const a of list) {
          const range = refusedRange(a.address);
          if (range) return callback(new TargetRefusedError(`${hostname} resolves to ${a.address} (${range}), not a public address`), '');
        }
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };
}

/**
 * The HTTP agent every webhook and token request goes through. The policy object is read at each
 * connection, so changing it (configuration) applies to new connections.
 */
export function guardedAgent(policy: TargetPolicy, options: { connections?: number; timeoutMs: number }): Agent {
  return new Agent({
    connections: options.connections ?? 64,
    connect: { lookup: guardedLookup(policy) as never, timeout: options.timeoutMs },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    keepAliveTimeout: 4_000,
  });
}
