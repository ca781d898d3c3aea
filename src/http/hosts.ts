/**
 * The Host check, against DNS rebinding: a page in a victim's browser can point a name it controls
 * at 127.0.0.1 (or at a LAN address) and then read whatever this server answers for that name. The
 * browser still sends the attacker's name as `Host`, so refusing names that are not ours ends it.
 *
 * Answered: PUBLIC_URL's host, HOST (unless it is a wildcard address), `localhost`, every IP
 * literal, and ALLOWED_HOSTS (`name`, `.example.com` for a domain and its subdomains, `*` for
 * anything). An IP literal cannot be rebound: a browser that sends `Host: 10.0.0.5` connected to
 * 10.0.0.5 under that very origin, so the same-origin policy already keeps other sites out (and
 * Prometheus, kubelet probes and nginx's default `proxy_pass` all send one).
 *
 * With TRUST_PROXY, Fastify reads the host from `X-Forwarded-Host` when a trusted proxy sent it.
 */
import { isIP } from 'node:net';
import type { Config } from '../config.js';

export interface HostPolicy {
  /** Exact names, lower case. */
  readonly names: ReadonlySet<string>;
  /** `.example.com` entries: the domain itself and every name under it. */
  readonly suffixes: readonly string[];
  readonly any: boolean;
}

const WILDCARD_LISTEN = new Set(['0.0.0.0', '::', '[::]', '']);

export function hostPolicy(config: Pick<Config, 'publicUrl' | 'host' | 'allowedHosts'>): HostPolicy {
  const names = new Set<string>(['localhost']);
  names.add(normalHost(new URL(config.publicUrl).hostname));
  const listen = normalHost(config.host);
  if (!WILDCARD_LISTEN.has(listen)) names.add(listen);
  const suffixes: string[] = [];
  let any = false;
  for (const entry of config.allowedHosts) {
    if (entry === '*') any = true;
    else if (entry.startsWith('.')) suffixes.push(entry);
    else names.add(entry);
  }
  return { names, suffixes, any };
}

/** Lower case, no trailing dot (`Example.COM.` is example.com to DNS), IPv6 without brackets. */
function normalHost(hostname: string): string {
  const h = hostname.trim().toLowerCase().replace(/\.$/, '');
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/** `hostname` is the Host header without its port (Fastify's `request.hostname`). */
export function isAllowedHost(policy: HostPolicy, hostname: string): boolean {
  if (policy.any) return true;
  const h = normalHost(hostname);
  if (h === '') return false;
  if (isIP(h) !== 0 || policy.names.has(h)) return true;
  return policy.suffixes.some((s) => h === s.slice(1) || h.endsWith(s));
}
