import { CoreV1Api, Watch } from '@kubernetes/client-node';
import { apiErrorMessage, backoffMs } from '../reconciler/kube.js';
const versionOf = (node) => node.status?.nodeInfo?.kubeletVersion;
export function watchNodeVersions(kc, logger) {
    const core = kc.makeApiClient(CoreV1Api);
    const versions = new Map();
    let synced = false;
    let running = true;
    let abort;
    let wake;
    const sleep = (ms) => new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
            clearTimeout(timer);
            resolve();
        };
    });
    const apply = (type, node) => {
        const name = node.metadata?.name;
        if (name === undefined)
            return;
        const version = versionOf(node);
        if (type === 'DELETED' || version === undefined)
            versions.delete(name);
        else
            versions.set(name, version);
    };
    const loop = async () => {
        let attempt = 0;
        while (running) {
            try {
                const list = await core.listNode();
                versions.clear();
                for (const node of list.items)
                    apply('ADDED', node);
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
                    resume = await new Promise((resolve, reject) => {
                        new Watch(kc)
                            .watch('/api/v1/nodes', { resourceVersion, allowWatchBookmarks: true }, (type, node) => {
                            if (type === 'ERROR')
                                expired = true;
                            else
                                resourceVersion = node.metadata?.resourceVersion ?? resourceVersion;
                            apply(type, node);
                        }, (error) => {
                            if (error?.name === 'TimeoutError')
                                resolve(!expired);
                            else if (error && running)
                                reject(error);
                            else
                                resolve(false);
                        })
                            .then((controller) => {
                            abort = controller;
                            if (!running)
                                controller.abort();
                        }, reject);
                    });
                }
            }
            catch (error) {
                if (!running)
                    break;
                const delay = backoffMs(attempt++);
                logger.warn({ err: apiErrorMessage(error), retryInMs: Math.round(delay) }, 'node watch failed; sidecar mode auto uses the versions it has');
                await sleep(delay);
            }
        }
    };
    const done = loop();
    return {
        facts: () => (synced ? { kubeletVersions: versions } : undefined),
        stop: async () => {
            running = false;
            abort?.abort();
            wake?.();
            await done;
        },
    };
}
//# sourceMappingURL=node-versions.js.map