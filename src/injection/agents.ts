import { LAYOUT } from './layout.js';
import type { ResourceSettings } from './settings.js';

// The log shippers the sidecar can run, and everything that differs between
// them: image, allowed repositories, default resources, the ConfigMap key
// each reads, its command line, the scratch volumes it needs and how a
// running one is told to reload. Everything else (container and port names,
// volumes, mounts, env, probe, securityContext) is the layout's and the same
// for both.

export const AGENTS = ['promtail', 'alloy'] as const;
export type Agent = (typeof AGENTS)[number];

export interface AgentProfile {
  /** The tag of the default image (also the example in messages). */
  tag: string;
  image: string;
  /** Repositories the `image` setting and annotation may name, by default. */
  repositories: readonly string[];
  /**
   * The sidecar's requests and limits unless the settings (`resources.<agent>`)
   * or the pod's annotations say otherwise. The one place in the code they
   * are written: DEFAULT_SETTINGS, the tests and test/e2e/logs-load.test.ts
   * read them here (deploy/base/settings.yaml and the chart's values restate
   * them; test/unit/helm-chart.test.ts holds them equal).
   */
  resources: ResourceSettings;
  /** The key of the central template (and of each namespace's copy) this agent reads. */
  configKey: string;
  args(metricsPort: number): string[];
  /** emptyDirs beyond the layout's own, each mounted in the sidecar only. */
  scratch: readonly { volume: string; mountPath: string }[];
  /**
   * How the reconciler makes a running sidecar re-read its file after a
   * template change (src/reconciler/sidecar-reload.ts): `answer`, the reload
   * answer says whether a new config was loaded; `config-hash`, it does not,
   * so the config hash the sidecar exports on /metrics is compared with the
   * new file's.
   */
  reload: { path: string; confirm: 'answer' | 'config-hash' };
}

/**
 * The last promtail release line before its end of life (2026-03-02). The
 * source goes on to v3.6.15, but 3.6.11 is the newest `grafana/promtail`
 * tag published as an image (pulls of later tags fail: manifest unknown).
 */
export const PROMTAIL_TAG = '3.6.11';
/** Grafana Alloy, promtail's successor. Its image tags carry the `v`. */
export const ALLOY_TAG = 'v1.19.2';

const frozenResources = (requests: ResourceSettings['requests'], limits: ResourceSettings['limits']): ResourceSettings =>
  Object.freeze({ requests: Object.freeze(requests), limits: Object.freeze(limits) });

const promtail: AgentProfile = {
  tag: PROMTAIL_TAG,
  image: `grafana/promtail:${PROMTAIL_TAG}`,
  repositories: ['grafana/promtail', 'docker.io/grafana/promtail'],
  // Measured at 1,000 lines/s on a real node (test/e2e/logs-load.test.ts,
  // README "What gets injected"): 23-31m CPU, at most 35 MiB of anonymous
  // memory; the page cache of its 86 MB binary fits under the limit beside it.
  resources: frozenResources({ cpu: '50m', memory: '64Mi' }, { cpu: '200m', memory: '128Mi' }),
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

const alloy: AgentProfile = {
  tag: ALLOY_TAG,
  image: `grafana/alloy:${ALLOY_TAG}`,
  repositories: ['grafana/alloy', 'docker.io/grafana/alloy'],
  // The page cache of the 400 MB binary counts against the container's
  // memory cgroup: under promtail's 128Mi limit the kernel kept reclaiming
  // those pages and Alloy kept reading them back, and its CPU rose to 76m
  // (over a 50m request). A limit with room for the pages it keeps using,
  // beside its own memory, stops the thrashing. Measured at 1,000 lines/s on
  // a real node (test/e2e/logs-load.test.ts, 2026-11-23): 13m CPU, 51 MiB
  // anonymous memory, cgroup peak 226 MiB with the binary's page cache.
  resources: frozenResources({ cpu: '100m', memory: '128Mi' }, { cpu: '500m', memory: '256Mi' }),
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

export const AGENT_PROFILES: Readonly<Record<Agent, AgentProfile>> = Object.freeze({ promtail, alloy });
