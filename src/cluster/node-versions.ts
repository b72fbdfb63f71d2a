import { CoreV1Api, Watch, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { FastifyBaseLogger } from 'fastify';
import type { NodeFacts } from '../injection/index.js';
import { apiErrorMessage, backoffMs } from '../reconciler/kube.js';
import { NodeVersionTable } from './node-facts.js';

// The kubelet version of every node, for sidecar mode `auto`: one list, then
// a watch, relisting when the watch ends or fails. Only name and version are
// kept (a Node object carries its image list and more), and every webhook
// replica runs its own, so a review never waits on the API. The facts are
// handed out as values (node-facts.ts): the same object until a version changes.

export interface NodeVersions {
  /** Undefined until the first list has arrived. */
  facts(): NodeFacts | undefined;
  stop(): Promise<void>;
}

const versionOf = (node: V1Node): string | undefined => node.status?.nodeInfo?.kubeletVersion;

export function watchNodeVersions(kc: KubeConfig, logger: FastifyBaseLogger): NodeVersions {
  const core = kc.makeApiClient(CoreV1Api);
  const versions = new NodeVersionTable();
  let synced = false;
  let running = true;
  let abort: AbortController | undefined;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const apply = (type: string, node: V1Node) => {
    const name = node.metadata?.name;
    if (name === undefined) return;
    const version = versionOf(node);
    versions.set(name, type === 'DELETED' ? undefined : version);
  };

  const loop = async () => {
    let attempt = 0;
    while (running) {
      try {
        const list = await core.listNode();
        versions.clear();
        for (const node of list.items) apply('ADDED', node);
        synced = true;
        attempt = 0;
        // Until the watch ends (server timeout, 410 Gone, a broken connection): then relist.
        // client-node's Watch also gives up after 30 s without data (TimeoutError;
        // bookmarks come once a minute): that only resumes from the last
        // resourceVersion, unless an ERROR event (410 Gone) came first.
        let resourceVersion = list.metadata?.resourceVersion;
        let expired = false;
        let resume = true;
        while (running && resume) {
          resume = await new Promise<boolean>((resolve, reject) => {
            new Watch(kc)
              .watch(
                '/api/v1/nodes',
                { resourceVersion, allowWatchBookmarks: true },
                (type, node: V1Node) => {
                  if (type === 'ERROR') expired = true;
                  else resourceVersion = node.metadata?.resourceVersion ?? resourceVersion;
                  apply(type, node);
                },
                (error: Error | null) => {
                  if (error?.name === 'TimeoutError') resolve(!expired);
                  else if (error && running) reject(error);
                  else resolve(false);
                },
              )
              .then((controller) => {
                abort = controller;
                if (!running) controller.abort();
              }, reject);
          });
        }
      } catch (error) {
        if (!running) break;
        const delay = backoffMs(attempt++);
        logger.warn({ err: apiErrorMessage(error), retryInMs: Math.round(delay) }, 'node watch failed; sidecar mode auto uses the versions it has');
        await sleep(delay);
      }
    }
  };
  const done = loop();

  return {
    facts: () => (synced ? versions.facts() : undefined),
    stop: async () => {
      running = false;
      abort?.abort();
      wake?.();
      await done;
    },
  };
}
