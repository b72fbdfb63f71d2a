import { ListWatch, Watch } from '@kubernetes/client-node';
import { CacheSyncTimeoutError } from '../errors.js';
import { clusterApi, MANAGED_SELECTOR } from './api.js';
import { apiErrorMessage, backoffMs } from './kube.js';
import { INJECTED_SELECTOR } from './model.js';
import { NamespaceReconciler, podKey } from './reconcile-namespace.js';
import { slimConfigMap, slimPod, slimService } from './slim.js';
import { WorkQueue } from './work-queue.js';
/** Namespaces reconciled at once: enough to overlap API round trips on a small control plane. */
const WORKERS = 8;
/** Objects per list page: bounds what a list holds in memory before it is cut down. */
const PAGE_SIZE = 500;
/** A list function for ListWatch that pages through the list and keeps only what `slim` keeps of each object. */
function pagedList(page, slim) {
    return async () => {
        const items = [];
        let next;
        let resourceVersion = '';
        do {
            const listed = await page({ limit: PAGE_SIZE, ...(next ? { _continue: next } : {}) });
            for (const item of listed.items)
                items.push(slim(item));
            resourceVersion = listed.metadata?.resourceVersion ?? resourceVersion;
            next = listed.metadata?._continue || undefined;
        } while (next !== undefined);
        return { items, metadata: { resourceVersion } };
    };
}
/**
 * A Watch whose events carry the cut-down object, so ListWatch caches only
 * that. ERROR and BOOKMARK events pass as they are (ListWatch reads their code
 * and resourceVersion).
 */
function slimmingWatch(kc, slim) {
    const watch = new Watch(kc);
    return {
        watch: (path, query, callback, done) => watch.watch(path, query, (phase, object, raw) => callback(phase, phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? slim(object) : object, raw), done),
    };
}
export class Reconciler {
    options;
    informers = [];
    pods;
    services;
    managedConfigMaps;
    templates;
    queue;
    namespaces;
    lists;
    timers = new Set();
    running = false;
    synced = false;
    constructor(options) {
        this.options = options;
        const { kc, metrics, logger, defaults, template, reloader, clock } = options;
        const api = clusterApi(kc, (verb) => metrics.reconcilerRequests.inc({ verb }));
        this.lists = api.lists;
        const caches = {
            pods: (namespace) => this.pods.list(namespace),
            services: (namespace) => this.services.list(namespace),
            managedConfigMap: (namespace, name) => this.managedConfigMaps.get(name, namespace),
            template: () => {
                const data = this.templates.list()[0]?.data;
                return data === undefined || Object.keys(data).length === 0 ? undefined : data;
            },
        };
        this.namespaces = new NamespaceReconciler({
            api: api.writes,
            caches,
            defaults,
            template,
            log: logger,
            onConflict: (kind, reason) => metrics.reconcileConflicts.inc({ kind, reason }),
            ...(reloader ? { requestReloads: (targets) => reloader.request(targets) } : {}),
            now: () => clock.now(),
        });
    }
    isSynced() {
        return this.synced;
    }
    /** Starts the informers and resolves once their caches are complete; rejects with CacheSyncTimeoutError if that takes longer than cacheSyncTimeoutMs. */
    async start() {
        if (this.running)
            return;
        this.running = true;
        const { kc, template, metrics, logger, clock } = this.options;
        const informer = (path, list, slim, labelSelector, fieldSelector) => {
            const made = new ListWatch(path, slimmingWatch(kc, slim), pagedList(list, slim), false, labelSelector, fieldSelector);
            made.on('connect', () => metrics.reconcilerRequests.inc({ verb: 'watch' }));
            this.informers.push(made);
            this.keepWatching(made, path);
            return made;
        };
        this.pods = informer('/api/v1/pods', this.lists.injectedPods, slimPod, INJECTED_SELECTOR);
        this.services = informer('/api/v1/services', this.lists.services, slimService);
        this.managedConfigMaps = informer('/api/v1/configmaps', this.lists.managedConfigMaps, slimConfigMap, MANAGED_SELECTOR);
        const byName = `metadata.name=${template.name}`;
        this.templates = informer(`/api/v1/namespaces/${template.namespace}/configmaps`, this.lists.templates(template.namespace, template.name), slimConfigMap, undefined, byName);
        const queue = new WorkQueue({
            workers: WORKERS,
            clock,
            backoffMs,
            process: (namespace) => this.namespaces.reconcile(namespace),
            onSuccess: () => metrics.reconciles.inc({ result: 'ok' }),
            onError: (namespace, error, retryInMs) => {
                metrics.reconciles.inc({ result: 'error' });
                logger.warn({ namespace, err: apiErrorMessage(error), retryInMs: Math.round(retryInMs) }, 'reconcile failed; retrying');
            },
        });
        this.queue = queue;
        // Until the caches are complete, start() marks everything once they are.
        const markNamespace = (object) => this.synced && object.metadata?.namespace && queue.add(object.metadata.namespace);
        for (const source of [this.pods, this.services, this.managedConfigMaps])
            source.on('change', markNamespace);
        this.pods.on('delete', (pod) => this.options.reloader?.forget(podKey(pod.metadata ?? {})));
        this.services.on('delete', (service) => this.namespaces.forgetService(service.metadata?.namespace ?? '', service.metadata?.name ?? ''));
        this.templates.on('change', () => {
            this.namespaces.templateChanged();
            this.markAll();
        });
        await Promise.all(this.informers.map((each) => each.start()));
        // start() also returns when the first list failed (the informer then
        // restarts with backoff): synced means every informer has listed.
        const deadline = clock.now() + (this.options.cacheSyncTimeoutMs ?? 120_000);
        while (this.running && this.informers.some((each) => each.latestResourceVersion() === '')) {
            if (clock.now() >= deadline) {
                const missing = this.informers.filter((each) => each.latestResourceVersion() === '').length;
                throw new CacheSyncTimeoutError(missing, this.informers.length, this.options.cacheSyncTimeoutMs ?? 120_000);
            }
            await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), 200));
        }
        if (!this.running)
            return;
        this.synced = true;
        logger.info({ pods: this.pods.list().length, services: this.services.list().length }, 'reconciler caches synced');
        this.markAll();
        this.every(this.options.resyncIntervalMs ?? 5 * 60_000, () => this.markAll());
    }
    async stop() {
        this.running = false;
        this.synced = false;
        this.options.reloader?.stop();
        for (const timer of this.timers)
            this.options.clock.clearTimeout(timer);
        this.timers.clear();
        await Promise.all(this.informers.splice(0).map((each) => each.stop()));
        await this.queue?.shutDown();
    }
    /** Resolves once no namespace is waiting or being reconciled (tests, benchmarks). */
    idle() {
        return this.queue?.idle() ?? Promise.resolve();
    }
    every(ms, run) {
        const tick = () => {
            this.timers.delete(handle);
            if (!this.running)
                return;
            run();
            this.every(ms, run);
        };
        const handle = this.options.clock.setTimeout(tick, ms);
        this.timers.add(handle);
    }
    later(ms, run) {
        const handle = this.options.clock.setTimeout(() => {
            this.timers.delete(handle);
            if (this.running)
                void run();
        }, ms);
        this.timers.add(handle);
    }
    /**
     * client-node's ListWatch stops on any error other than 410, and after a
     * 410 ERROR event it only forgets its resourceVersion, waiting for a stream
     * end that the API server may not send. Both are handled here: errors
     * restart it with backoff; a forgotten resourceVersion (checked every
     * second, no API call) restarts it at once, which relists.
     */
    keepWatching(source, path) {
        let attempt = 0;
        let failed = false;
        let restarting = false;
        let expectedAbort;
        const restart = async () => {
            restarting = true;
            failed = false;
            try {
                await source.start();
            }
            finally {
                restarting = false;
            }
            // start() reports failures through the error event, before it returns.
            if (!failed)
                attempt = 0;
        };
        source.on('error', (error) => {
            if (expectedAbort && error.name === 'AbortError')
                return expectedAbort();
            failed = true;
            if (!this.running)
                return;
            const delay = backoffMs(attempt++);
            this.options.logger.warn({ path, err: apiErrorMessage(error), retryInMs: Math.round(delay) }, 'watch failed; restarting');
            this.later(delay, restart);
        });
        this.every(1000, () => {
            if (!this.synced || restarting || source.latestResourceVersion() !== '')
                return;
            restarting = true;
            this.options.logger.info({ path }, 'watch expired (410 Gone); relisting');
            const aborted = new Promise((resolve) => {
                expectedAbort = resolve;
                this.options.clock.setTimeout(resolve, 1000);
            });
            // Wait for the old request's abort to come back before starting anew,
            // or it would abort the new one.
            void source
                .stop()
                .then(() => aborted)
                .then(() => {
                expectedAbort = undefined;
                return this.running ? restart() : undefined;
            })
                .finally(() => (restarting = false));
        });
    }
    markAll() {
        const queue = this.queue;
        if (queue === undefined)
            return;
        const namespaces = new Set();
        for (const pod of this.pods.list())
            if (pod.metadata?.namespace)
                namespaces.add(pod.metadata.namespace);
        for (const service of this.services.list())
            if (service.metadata?.namespace)
                namespaces.add(service.metadata.namespace);
        for (const namespace of namespaces)
            queue.add(namespace);
    }
}
//# sourceMappingURL=reconciler.js.map