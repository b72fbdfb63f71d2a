import { AGENT_PROFILES } from '../injection/index.js';
import { planConfigMap } from './config-maps.js';
import { readInjectedPod } from './model.js';
import { planServicePort } from './service-ports.js';
import { alloyConfigHash } from './sidecar-reload.js';
export const podKey = (metadata) => `${metadata.namespace}/${metadata.name}/${metadata.uid ?? ''}`;
export class NamespaceReconciler {
    options;
    reported = new Map();
    /** What we last sent per Service, and for which version of it: a watch event is on its way. */
    lastWrite = new Map();
    templateMissingReported = false;
    /** Agent keys the template lacks that we already warned about (once per template version). */
    keysMissingReported = new Set();
    constructor(options) {
        this.options = options;
    }
    async reconcile(namespace) {
        const pods = this.options.caches
            .pods(namespace)
            .map((pod) => readInjectedPod(pod, this.options.defaults))
            .filter((pod) => pod !== undefined);
        for (const service of this.options.caches.services(namespace))
            await this.reconcileService(service, pods);
        await this.reconcileConfigMap(namespace, pods);
    }
    /** The Service is gone: what we sent it no longer matters. */
    forgetService(namespace, name) {
        this.lastWrite.delete(`${namespace}/${name}`);
    }
    /** The template changed: if it is missing again, say so again. */
    templateChanged() {
        this.templateMissingReported = false;
        this.keysMissingReported.clear();
    }
    async reconcileService(service, pods) {
        const plan = planServicePort(service, pods);
        const metadata = service.metadata;
        const key = `Service/${metadata.namespace}/${metadata.name}`;
        switch (plan.kind) {
            case 'none':
                this.reported.delete(key);
                return;
            case 'conflict':
                return this.report('Service', metadata, plan.reason, plan.message);
            case 'apply': {
                this.reported.delete(key);
                const current = service.spec?.ports?.find((p) => p.name === plan.port.name);
                const unchanged = current && current.port === plan.port.port && current.targetPort === plan.port.targetPort && (current.protocol ?? 'TCP') === 'TCP';
                if (unchanged)
                    return;
                return this.applyService(metadata, [plan.port]);
            }
            case 'remove':
                this.reported.delete(key);
                this.options.log.info({ service: key, reason: plan.reason }, 'removing the promtail-http port sre-quero added');
                return this.applyService(metadata, []);
        }
    }
    async applyService(metadata, ports) {
        const { name, namespace, resourceVersion } = metadata;
        const key = `${namespace}/${name}`;
        const desired = JSON.stringify(ports);
        const previous = this.lastWrite.get(key);
        // Sent already for this very version of the Service: its watch event is on the way.
        if (previous?.desired === desired && previous.resourceVersion === resourceVersion)
            return;
        const outcome = await this.options.api.applyServicePorts(namespace, name, ports);
        if (outcome.ok) {
            this.lastWrite.set(key, { desired, resourceVersion });
            this.options.log.info({ service: key, ports: ports.map((p) => p.port) }, ports.length > 0 ? 'service port applied' : 'service port released');
            return;
        }
        if (outcome.status === 404)
            return; // deleted meanwhile
        return this.report('Service', metadata, outcome.status === 409 ? 'field_conflict' : 'rejected', outcome.message);
    }
    async reconcileConfigMap(namespace, pods) {
        const { defaults, caches, api, template } = this.options;
        const name = defaults.configMap;
        const users = pods.filter((pod) => pod.configMap === name);
        if (users.length === 0)
            return;
        const data = caches.template();
        if (data === undefined) {
            if (this.templateMissingReported)
                return;
            this.templateMissingReported = true;
            this.options.log.warn({ template: `${template.namespace}/${template.name}` }, 'promtail template ConfigMap missing; namespaces get no ConfigMap until it exists');
            return;
        }
        this.reportMissingKeys(namespace, users, data);
        // The cache holds only ConfigMaps labelled as ours; an unlabelled one of that name is a team's (a conflict).
        const existing = caches.managedConfigMap(namespace, name) ?? (await api.readConfigMap(namespace, name));
        const plan = planConfigMap(pods, name, existing, data);
        const subject = { name, namespace, uid: existing?.metadata?.uid };
        if (plan.kind === 'conflict')
            return this.report('ConfigMap', subject, 'not_managed', plan.message);
        if (plan.kind === 'none')
            return;
        const appliedAt = this.options.now();
        const outcome = await api.applyConfigMap(namespace, name, plan.data);
        if (!outcome.ok) {
            if (outcome.status === 409)
                return this.report('ConfigMap', subject, 'field_conflict', outcome.message);
            throw new Error(`applying ConfigMap ${namespace}/${name}: ${outcome.message}`);
        }
        this.options.log.info({ configMap: `${namespace}/${name}` }, existing ? 'promtail ConfigMap updated' : 'promtail ConfigMap created');
        if (existing !== undefined)
            this.requestReloads(namespace, users, existing.data ?? {}, plan.data, appliedAt);
    }
    /** An agent whose key the template lacks cannot start in this namespace: say so, once per key until the template changes. */
    reportMissingKeys(namespace, pods, data) {
        for (const agent of new Set(pods.map((pod) => pod.agent))) {
            const key = AGENT_PROFILES[agent].configKey;
            if (data[key] !== undefined || this.keysMissingReported.has(key))
                continue;
            this.keysMissingReported.add(key);
            const { template } = this.options;
            this.options.log.warn({ template: `${template.namespace}/${template.name}`, key, agent, namespace }, `the sidecar template has no key ${key}, which ${agent} sidecars read: they cannot start until it has one (deploy/base/promtail-template.yaml ships it)`);
        }
    }
    /**
     * Sidecars that started before this change run the old config: ask each to
     * reload once the kubelet has rewritten the file. Pods created since then
     * read the new one at start, and an agent whose own key did not change has
     * nothing new to read (promtail would answer "config has not changed" for
     * the whole window).
     */
    requestReloads(namespace, pods, before, after, changedAt) {
        const { requestReloads } = this.options;
        if (requestReloads === undefined)
            return;
        const hashes = new Map();
        const targets = [];
        for (const pod of pods) {
            const key = AGENT_PROFILES[pod.agent].configKey;
            const content = after[key];
            if (pod.ip === undefined || (pod.createdAt ?? 0) >= changedAt || content === undefined || before[key] === content)
                continue;
            let configHash = hashes.get(key);
            if (configHash === undefined)
                hashes.set(key, (configHash = alloyConfigHash(content)));
            targets.push({
                key: podKey({ namespace, name: pod.name, uid: pod.uid }),
                namespace,
                pod: pod.name,
                agent: pod.agent,
                base: `http://${pod.ip.includes(':') ? `[${pod.ip}]` : pod.ip}:${pod.metricsPort}`,
                configHash,
            });
        }
        if (targets.length > 0)
            requestReloads(targets);
    }
    /** A conflict is reported once per object and message: log, metric, and an Event on the object. */
    async report(kind, { name, namespace, uid }, reason, message) {
        const key = `${kind}/${namespace}/${name}`;
        if (this.reported.get(key) === message)
            return;
        this.reported.set(key, message);
        this.options.onConflict(kind, reason);
        this.options.log.warn({ object: key, reason, message }, 'left alone: conflict');
        try {
            await this.options.api.createEvent({ kind, name, namespace, uid, message });
        }
        catch (error) {
            this.options.log.warn({ object: key, err: error instanceof Error ? error.message : String(error) }, 'could not record the event');
        }
    }
}
//# sourceMappingURL=reconcile-namespace.js.map