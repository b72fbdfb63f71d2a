import { LAYOUT, portsWeOwn, selects, SERVICE_OPT_OUT_ANNOTATION } from './model.js';
export function planServicePort(service, pods) {
    const owned = portsWeOwn(service);
    const release = (reason) => owned.length > 0 ? { kind: 'remove', reason } : { kind: 'none' };
    if (service.metadata?.annotations?.[SERVICE_OPT_OUT_ANNOTATION] === 'false')
        return release('opted_out');
    const selector = service.spec?.selector;
    if (service.spec?.type === 'ExternalName' || !selector || Object.keys(selector).length === 0) {
        // Which pods it fronts is unknowable; worth a word only where injected pods live.
        if (owned.length > 0)
            return { kind: 'remove', reason: 'conflict' };
        if (pods.length === 0)
            return { kind: 'none' };
        return { kind: 'conflict', reason: 'no_selector', message: 'the Service has no selector, so sre-quero cannot tell whether it fronts injected pods; add the promtail-http port yourself if it does' };
    }
    const matching = pods.filter((pod) => selects(selector, pod.labels));
    if (matching.length === 0)
        return release('no_injected_pods');
    // The Service selects injected pods from here on: anything that stops us is worth reporting.
    if (service.spec?.clusterIP === 'None') {
        return { kind: 'conflict', reason: 'headless', message: 'the Service is headless (clusterIP: None); scrape the pods directly' };
    }
    const ports = [...new Set(matching.map((pod) => pod.metricsPort))].sort((a, b) => a - b);
    if (ports.length > 1) {
        return { kind: 'conflict', reason: 'ports_disagree', message: `the selected pods use different metrics ports (${ports.join(', ')})` };
    }
    const port = ports[0];
    const isOurs = (p) => owned.some((o) => o.port === p.port && o.protocol === (p.protocol ?? 'TCP'));
    for (const existing of service.spec?.ports ?? []) {
        if (isOurs(existing))
            continue;
        if (existing.port === port && (existing.protocol ?? 'TCP') === 'TCP') {
            return { kind: 'conflict', reason: 'port_in_use', message: `port ${port} is already used by the Service's port "${existing.name ?? '(unnamed)'}"` };
        }
        if (existing.name === LAYOUT.portName) {
            return { kind: 'conflict', reason: 'name_in_use', message: `a port named "${LAYOUT.portName}" (${existing.port}) already exists and was not added by sre-quero` };
        }
    }
    return { kind: 'apply', port: { name: LAYOUT.portName, port, targetPort: LAYOUT.portName, protocol: 'TCP' } };
}
//# sourceMappingURL=service-ports.js.map