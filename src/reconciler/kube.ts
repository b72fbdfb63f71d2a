import { KubeConfig } from '@kubernetes/client-node';
import type { ClusterSource } from '../config.js';

/** A client configuration for the cluster config.ts found. */
export function kubeConfigFor(cluster: ClusterSource): KubeConfig {
  const kc = new KubeConfig();
  if (cluster.kind === 'kubeconfig') kc.loadFromFile(cluster.path);
  else kc.loadFromCluster();
  return kc;
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

/** The API server's message for a failed call (its Status body), else the error's own. */
export function apiErrorMessage(error: unknown): string {
  const body = typeof error === 'object' && error !== null ? (error as { body?: unknown }).body : undefined;
  if (statusOf(error) !== undefined && typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

/** Full-jitter exponential backoff: random in [0, min(cap, base * 2^attempt)]. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 30_000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 16));
}
