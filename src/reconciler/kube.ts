import { KubeConfig } from '@kubernetes/client-node';
import type { ClusterSource } from '../config.js';
import { KubeconfigInvalidError } from '../errors.js';

/**
 * A client configuration for the cluster config.ts found. A kubeconfig that
 * cannot be read, does not parse, or names no cluster is the user's mistake:
 * a coded error (exit 2), not a stack trace on the first request.
 */
export function kubeConfigFor(cluster: ClusterSource): KubeConfig {
  const kc = new KubeConfig();
  if (cluster.kind === 'in-cluster') {
    kc.loadFromCluster();
    return shareConnections(kc);
  }
  const which = cluster.from === 'flag' ? `--kubeconfig ${cluster.path}` : cluster.from === 'home' ? cluster.path : `KUBECONFIG=${cluster.path}`;
  try {
    kc.loadFromFile(cluster.path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message.split('\n')[0];
    throw new KubeconfigInvalidError(which, `cannot be read: ${reason}`);
  }
  const current = kc.getCurrentCluster();
  if (current === null || !current.server) {
    throw new KubeconfigInvalidError(which, `names no cluster to use (current context "${kc.getCurrentContext() || '(none)'}")`);
  }
  return shareConnections(kc);
}

/**
 * The HTTP status of a client-node error: ApiException carries it as a
 * number; network errors (FetchError, ECONNREFUSED...) carry a string code
 * and count as "no status".
 */
export function statusOf(error: unknown): number | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}

/**
 * The API server's message for a failed call (its Status body), else the
 * error's own, with its cause: client-node 2 (undici) reports an unreachable
 * server as "fetch failed", the reason (ECONNREFUSED, a TLS error...) in `cause`.
 */
export function apiErrorMessage(error: unknown): string {
  const body = typeof error === 'object' && error !== null ? (error as { body?: unknown }).body : undefined;
  if (statusOf(error) !== undefined && typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  const cause = typeof error === 'object' && error !== null ? (error as { cause?: { code?: unknown; message?: unknown } }).cause : undefined;
  const reason = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined;
  return reason === undefined || message.includes(reason) ? message : `${message}: ${reason}`;
}

/** Full-jitter exponential backoff: random in [0, min(cap, base * 2^attempt)]. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 30_000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 16));
}

const sharing = new WeakSet<KubeConfig>();

/**
 * client-node 2 builds a new undici Agent, so a new TLS connection, for every
 * request (KubeConfig.applySecurityAuthentication -> createDispatcher), and
 * each stays open until its keep-alive ends: 550 writes at start-up meant
 * hundreds of connections and handshakes. This makes one KubeConfig reuse one
 * Agent per distinct TLS setting (cluster, CA, client certificate), so
 * requests share keep-alive connections. Idempotent.
 */
export function shareConnections(kc: KubeConfig): KubeConfig {
  if (sharing.has(kc)) return kc;
  sharing.add(kc);
  const patched = kc as unknown as { createDispatcher(cluster: unknown, agentOptions: Record<string, unknown>): unknown };
  const create = patched.createDispatcher.bind(kc);
  const agents = new Map<string, unknown>();
  patched.createDispatcher = (cluster, agentOptions) => {
    const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = agentOptions;
    const cacheKey = JSON.stringify([(cluster as { server?: string } | null)?.server, String(ca), String(cert), String(key), String(pfx), passphrase, rejectUnauthorized, servername]);
    let agent = agents.get(cacheKey);
    if (agent === undefined) {
      agent = create(cluster, agentOptions);
      // A rotated client certificate makes a new key; a few stale agents are harmless, many are not.
      if (agents.size >= 8) agents.clear();
      agents.set(cacheKey, agent);
    }
    return agent;
  };
  return kc;
}
