// Names and paths of the layout itself: fixed, since the central template,
// the reconciler, the enforcement policy and Prometheus rely on them. They do
// not move with the agent (agents.ts): an alloy sidecar is still the
// container `promtail` with the port `promtail-http`, so switching agents
// changes nothing a Service, a scrape config or a policy matches on.
export const LAYOUT = Object.freeze({
    sidecarName: 'promtail',
    portName: 'promtail-http',
    logVolume: 'shared-logs',
    positionsVolume: 'promtail-positions',
    configVolume: 'promtail-config',
    configDir: '/etc/promtail',
    credentialsVolume: 'promtail-credentials',
    credentialsDir: '/etc/promtail-credentials',
    positionsDir: '/run/promtail',
    /** A writable /tmp for agents that need one under a read-only root filesystem (alloy). */
    tmpVolume: 'promtail-tmp',
    tmpDir: '/tmp',
    runAsUser: 10001,
});
//# sourceMappingURL=layout.js.map