import { LAYOUT } from './layout.js';
// The log shippers the sidecar can run, and everything that differs between
// them: image, allowed repositories, the ConfigMap key each reads, its
// command line, the scratch volumes it needs and how a running one is told
// to reload. Everything else (container and port names, volumes, mounts,
// env, probe, securityContext) is the layout's and the same for both.
export const AGENTS = ['promtail', 'alloy'];
/**
 * The last promtail release line before its end of life (2026-03-02). The
 * source goes on to v3.6.15, but 3.6.11 is the newest `grafana/promtail`
 * tag published as an image (pulls of later tags fail: manifest unknown).
 */
export const PROMTAIL_TAG = '3.6.11';
/** Grafana Alloy, promtail's successor. Its image tags carry the `v`. */
export const ALLOY_TAG = 'v1.19.2';
const promtail = {
    tag: PROMTAIL_TAG,
    image: `grafana/promtail:${PROMTAIL_TAG}`,
    repositories: ['grafana/promtail', 'docker.io/grafana/promtail'],
    configKey: 'promtail.yaml',
    // Flags win over the config file in promtail, so the port and positions
    // contract holds even with a user's own ConfigMap.
    args: (port) => [
        `-config.file=${LAYOUT.configDir}/promtail.yaml`,
        '-config.expand-env=true',
        `-server.http-listen-port=${port}`,
        // promtail always opens a gRPC listener (port 0: a random one); keep it
        // off the pod network, so the sidecar listens on its metrics port only.
        '-server.grpc-listen-address=127.0.0.1',
        // POST /reload: the reconciler asks running sidecars to re-read the
        // config after a template change (the kubelet rewrites the file, but
        // promtail only reads it at start).
        '-server.enable-runtime-reload',
        // promtail watches a folder only once a file in it matches; before
        // that, new files are found at each resync (10 s by default). A Job
        // that writes its first file and exits within 10 s shipped nothing
        // (seen on a real node). A glob of one folder each second is cheap.
        '-target.sync-period=1s',
        `-positions.file=${LAYOUT.positionsDir}/positions.yaml`,
    ],
    scratch: [],
    // promtail answers 500 "config has not changed" until the kubelet rewrote the file.
    reload: { path: '/reload', confirm: 'answer' },
};
const alloy = {
    tag: ALLOY_TAG,
    image: `grafana/alloy:${ALLOY_TAG}`,
    repositories: ['grafana/alloy', 'docker.io/grafana/alloy'],
    // Native Alloy syntax, not promtail.yaml through `--config.format=promtail`:
    // that converter refuses -config.expand-env, so ${POD_NAME} and the others
    // would stay literal; the template's config.alloy reads them with sys.env().
    configKey: 'config.alloy',
    // The image's ENTRYPOINT is /bin/alloy (its CMD, replaced here, is `run
    // /etc/alloy/config.alloy --storage.path=/var/lib/alloy/data`). As with
    // promtail, the port and the state folder are flags, so they hold whatever
    // the config file says.
    args: (port) => [
        'run',
        `${LAYOUT.configDir}/config.alloy`,
        // Alloy listens on 127.0.0.1:12345 by default, out of reach of
        // Prometheus and the reconciler. No host: every address of the pod, IPv4
        // and IPv6, as promtail listens (0.0.0.0 would miss an IPv6-only pod).
        `--server.http.listen-addr=:${port}`,
        // Positions (<dir>/loki.source.file.<name>/positions.yml) and Alloy's own
        // state, on the positions emptyDir: a sidecar restart neither re-ships
        // nor drops lines, as with promtail.
        `--storage.path=${LAYOUT.positionsDir}`,
        // No usage report to Grafana from every application pod.
        '--disable-reporting',
        // /-/support would hand whoever reaches the metrics port a bundle of the
        // config, logs and profiles; the port is for /metrics and reloads.
        '--server.http.disable-support-bundle',
    ],
    // With a read-only root filesystem, Alloy and the libraries it uses find
    // no writable /tmp (renameio, which writes the positions file, probes it
    // first); a small emptyDir of its own, named like the layout's volumes.
    scratch: [{ volume: LAYOUT.tmpVolume, mountPath: LAYOUT.tmpDir }],
    // /-/reload answers 200 "config reloaded" whether or not the file changed:
    // only alloy_config_hash on /metrics tells which file it runs.
    reload: { path: '/-/reload', confirm: 'config-hash' },
};
export const AGENT_PROFILES = Object.freeze({ promtail, alloy });
//# sourceMappingURL=agents.js.map