import { nodesAtLeast, type NodeFacts } from './sidecar-mode.js';

// When the kubelet stops the sidecar (the pod is deleted; or, native, a Job's
// app containers have exited), the agent gets SIGTERM at once and stops
// tailing: promtail's tailer stops without reading what is left of the file
// (targets/file/tailer.go Stop), and it polls files every 250 ms. A line the
// app wrote just before it exited could be lost that way (seen on a busy real
// node: a Job's last line never reached Loki). A preStop `sleep` keeps the
// agent running a few seconds first, long enough to read the last lines and
// send its batch (promtail's client sends what it holds when it stops).

/** How long the agent keeps shipping after the kubelet is told to stop it. */
export const DRAIN_SECONDS = 3;

/**
 * The `sleep` lifecycle action is beta, on by default, from 1.30 (GA 1.34).
 * A kubelet is never newer than its API server, so nodes at 1.30 mean an API
 * server that accepts it; on an older one the field is dropped and the empty
 * preStop makes the pod invalid, so without node versions there is none.
 */
export const SLEEP_ACTION_DEFAULT_ON = { major: 1, minor: 30 } as const;

/**
 * The preStop sleep the sidecar gets, in seconds, or undefined for none: the
 * nodes must accept it, and it may not pass the pod's
 * terminationGracePeriodSeconds (the API server refuses a longer sleep; 0 is
 * refused before 1.33, so a pod that asks to be killed at once gets none).
 */
export function drainSeconds(nodes: NodeFacts | undefined, nodeName: string | undefined, terminationGracePeriodSeconds: unknown): number | undefined {
  if (nodesAtLeast(nodes, nodeName, SLEEP_ACTION_DEFAULT_ON) !== 'yes') return undefined;
  // The API server sets 30 before admission; a template (offline inject) may leave it out.
  const grace = terminationGracePeriodSeconds === undefined ? 30 : terminationGracePeriodSeconds;
  if (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 1) return undefined;
  return Math.min(DRAIN_SECONDS, grace);
}
