import { resolve } from 'node:path';
import t from 'tap';
import { DEV_CERT_DIR, loadServeConfig, loadSettings, reconcilerTarget, SERVE_FLAGS_HELP } from '../../src/config.js';
import { ConfigInvalidError, KubeconfigInvalidError, SettingsInvalidError, SettingsUnreadableError } from '../../src/errors.js';
import { DEFAULT_SETTINGS } from '../../src/injection/index.js';

/** The type of the `t` a subtest callback receives. */
type Test = Parameters<Extract<Parameters<typeof t.test>[0], (...args: never[]) => unknown>>[0];

/** A readFile that serves `files` by path and records what was read. */
function fakeFiles(files: Record<string, string> = {}) {
  const reads: string[] = [];
  const readFile = (path: string): string => {
    reads.push(path);
    const content = files[path];
    if (content === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return content;
  };
  return { readFile, reads };
}

const noFiles = (path: string): string => {
  throw new Error(`unexpected read of ${path}`);
};

function isDeepFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

/** The catalogue errors config.ts throws, by code. */
const CONFIG_ERRORS = {
  SQ_CONFIG_INVALID: ConfigInvalidError,
  SQ_SETTINGS_UNREADABLE: SettingsUnreadableError,
  SQ_SETTINGS_INVALID: SettingsInvalidError,
  SQ_KUBECONFIG_INVALID: KubeconfigInvalidError,
} as const;

/** Asserts `fn` throws the catalogue error for `code`, with a message that contains every fragment. */
function expectConfigError(t: Test, fn: () => unknown, code: keyof typeof CONFIG_ERRORS, ...fragments: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  const expected = CONFIG_ERRORS[code];
  if (!(caught instanceof expected)) {
    t.fail(`expected a ${expected.name} (${code})`, { found: caught });
    return;
  }
  t.equal(caught.code, code, `code ${code}`);
  t.equal(caught.name, expected.name);
  for (const fragment of fragments) {
    t.ok(caught.message.includes(fragment), `message names ${JSON.stringify(fragment)}`, { message: caught.message });
  }
}

const serve = (argv: string[], env: Record<string, string> = {}, readFile = noFiles) => loadServeConfig(argv, env, readFile, () => false);
const settingsFrom = (content: string, path = '/etc/sre-quero/settings.yaml') =>
  loadSettings(path, fakeFiles({ [path]: content }).readFile);

t.test('loadServeConfig', async (t) => {
  t.test('defaults', async (t) => {
    const config = serve([]);
    t.strictSame(config, {
      listen: { host: '127.0.0.1', port: 8443 },
      tls: { certFile: resolve(DEV_CERT_DIR, 'tls.crt'), keyFile: resolve(DEV_CERT_DIR, 'tls.key'), dev: true },
      settingsFile: undefined,
      settings: DEFAULT_SETTINGS,
      logLevel: 'info',
      bodyLimitBytes: 8 * 1024 * 1024,
      shutdownTimeoutMs: 10_000,
      certReloadIntervalMs: 10_000,
      reconciler: { mode: 'auto', cluster: undefined, inPod: false, namespace: 'sre-quero', templateConfigMap: 'sre-quero-promtail-template', leaseDurationMs: 15_000 },
    });
    t.equal(config.settings, DEFAULT_SETTINGS, 'no settings file: the defaults themselves');
    t.ok(isDeepFrozen(config), 'deeply frozen');
    t.ok(DEV_CERT_DIR.endsWith('/certs/dev'));
  });

  t.test('every option from the environment', async (t) => {
    const files = fakeFiles({ '/cfg/settings.yaml': 'metricsPort: 9100\n' });
    const config = loadServeConfig(
      [],
      {
        SRE_QUERO_LISTEN: '0.0.0.0:9443',
        SRE_QUERO_TLS_CERT: '/tls/tls.crt',
        SRE_QUERO_TLS_KEY: '/tls/tls.key',
        SRE_QUERO_SETTINGS: '/cfg/settings.yaml',
        SRE_QUERO_LOG_LEVEL: 'debug',
        SRE_QUERO_BODY_LIMIT_BYTES: '2097152',
        SRE_QUERO_SHUTDOWN_TIMEOUT_MS: '30000',
        SRE_QUERO_CERT_RELOAD_INTERVAL_MS: '60000',
        SRE_QUERO_RECONCILER: 'off',
        KUBECONFIG: '/home/me/.kube/config',
        SRE_QUERO_NAMESPACE: 'logging',
        SRE_QUERO_TEMPLATE_CONFIGMAP: 'promtail-central',
        SRE_QUERO_LEASE_DURATION_MS: '30000',
      },
      files.readFile,
    );
    t.strictSame(config, {
      listen: { host: '0.0.0.0', port: 9443 },
      tls: { certFile: '/tls/tls.crt', keyFile: '/tls/tls.key', dev: false },
      settingsFile: '/cfg/settings.yaml',
      settings: { ...DEFAULT_SETTINGS, metricsPort: 9100 },
      logLevel: 'debug',
      bodyLimitBytes: 2 * 1024 * 1024,
      shutdownTimeoutMs: 30_000,
      certReloadIntervalMs: 60_000,
      reconciler: { mode: 'off', cluster: { kind: 'kubeconfig', path: '/home/me/.kube/config', from: 'environment' }, inPod: false, namespace: 'logging', templateConfigMap: 'promtail-central', leaseDurationMs: 30_000 },
    });
    t.strictSame(files.reads, ['/cfg/settings.yaml'], 'the settings file is read through the injected readFile');
  });

  t.test('flags beat the environment', async (t) => {
    const env = {
      SRE_QUERO_LISTEN: '0.0.0.0:9443',
      SRE_QUERO_LOG_LEVEL: 'debug',
      SRE_QUERO_BODY_LIMIT_BYTES: '2097152',
      SRE_QUERO_TLS_CERT: '/env/tls.crt',
      SRE_QUERO_TLS_KEY: '/env/tls.key',
      SRE_QUERO_SETTINGS: '/env/settings.yaml',
    };
    const files = fakeFiles({ '/flag/settings.yaml': 'logGlob: "*.txt"\n' });
    const config = loadServeConfig(
      [
        '--listen',
        '127.0.0.1:10443',
        '--log-level=warn',
        '--body-limit-bytes',
        '4194304',
        '--tls-cert',
        '/flag/tls.crt',
        '--tls-key',
        '/flag/tls.key',
        '--settings',
        '/flag/settings.yaml',
        '--shutdown-timeout-ms',
        '1000',
        '--cert-reload-interval-ms',
        '3600000',
      ],
      env,
      files.readFile,
    );
    t.strictSame(config.listen, { host: '127.0.0.1', port: 10443 });
    t.equal(config.logLevel, 'warn');
    t.equal(config.bodyLimitBytes, 4 * 1024 * 1024);
    t.strictSame(config.tls, { certFile: '/flag/tls.crt', keyFile: '/flag/tls.key', dev: false });
    t.equal(config.settings.logGlob, '*.txt');
    t.strictSame(files.reads, ['/flag/settings.yaml']);
    t.equal(config.shutdownTimeoutMs, 1000);
    t.equal(config.certReloadIntervalMs, 3_600_000);
    t.equal(serve([], env, fakeFiles({ '/env/settings.yaml': '' }).readFile).listen.port, 9443, 'the environment beats the default');
  });

  t.test('listen addresses', async (t) => {
    t.strictSame(serve(['--listen', '[::1]:9443']).listen, { host: '::1', port: 9443 }, 'IPv6 in brackets');
    t.strictSame(serve(['--listen', 'webhook.local:443']).listen, { host: 'webhook.local', port: 443 });
    t.strictSame(serve(['--listen', '0.0.0.0:0']).listen, { host: '0.0.0.0', port: 0 }, 'port 0 means any free port');
    t.strictSame(serve(['--listen', '0.0.0.0:65535']).listen, { host: '0.0.0.0', port: 65535 });
    for (const listen of ['nope', ':8443', '127.0.0.1', '127.0.0.1:', 'host:port', '127.0.0.1:123456', '::1:8443', 'a b:80', '127.0.0.1:8443\n']) {
      expectConfigError(t, () => serve(['--listen', listen]), 'SQ_CONFIG_INVALID', 'listen must be host:port, such as 0.0.0.0:8443');
    }
    for (const listen of ['127.0.0.1:65536', '127.0.0.1:99999']) {
      expectConfigError(t, () => serve(['--listen', listen]), 'SQ_CONFIG_INVALID', 'listen port must be from', '65535');
    }
  });

  t.test('log level', async (t) => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
      t.equal(serve(['--log-level', level]).logLevel, level);
    }
    for (const level of ['loud', 'INFO', 'verbose']) {
      expectConfigError(
        t,
        () => serve([], { SRE_QUERO_LOG_LEVEL: level }),
        'SQ_CONFIG_INVALID',
        'logLevel: log level must be one of fatal, error, warn, info, debug, trace, silent',
      );
    }
  });

  t.test('numeric limits', async (t) => {
    t.equal(serve(['--body-limit-bytes', '1048576']).bodyLimitBytes, 1024 * 1024);
    t.equal(serve(['--body-limit-bytes', '67108864']).bodyLimitBytes, 64 * 1024 * 1024);
    expectConfigError(t, () => serve(['--body-limit-bytes', '1048575']), 'SQ_CONFIG_INVALID', 'bodyLimitBytes: body limit must be at least 1048576');
    expectConfigError(t, () => serve(['--body-limit-bytes', '67108865']), 'SQ_CONFIG_INVALID', 'bodyLimitBytes: body limit must be at most 67108864');
    for (const bad of ['abc', '1.5', '8MiB']) {
      expectConfigError(t, () => serve(['--body-limit-bytes', bad]), 'SQ_CONFIG_INVALID', 'body limit must be a whole number');
    }
    expectConfigError(t, () => serve(['--shutdown-timeout-ms', '999']), 'SQ_CONFIG_INVALID', 'shutdownTimeoutMs: shutdown timeout must be at least 1000');
    expectConfigError(t, () => serve(['--shutdown-timeout-ms', '120001']), 'SQ_CONFIG_INVALID', 'shutdown timeout must be at most 120000');
    expectConfigError(
      t,
      () => serve([], { SRE_QUERO_CERT_RELOAD_INTERVAL_MS: '100' }),
      'SQ_CONFIG_INVALID',
      'certReloadIntervalMs: certificate reload interval must be at least 1000',
    );
  });

  t.test('several problems are reported together', async (t) => {
    expectConfigError(
      t,
      () => serve(['--listen', 'nope', '--log-level', 'loud']),
      'SQ_CONFIG_INVALID',
      'listen: listen must be host:port',
      '; logLevel: log level must be one of',
    );
  });

  t.test('TLS certificate and key come together or not at all', async (t) => {
    const message = 'give both --tls-cert and --tls-key, or neither for a development certificate';
    expectConfigError(t, () => serve(['--tls-cert', '/tls/tls.crt']), 'SQ_CONFIG_INVALID', message);
    expectConfigError(t, () => serve(['--tls-key', '/tls/tls.key']), 'SQ_CONFIG_INVALID', message);
    expectConfigError(t, () => serve([], { SRE_QUERO_TLS_CERT: '/tls/tls.crt' }), 'SQ_CONFIG_INVALID', message);
    expectConfigError(t, () => serve(['--tls-cert', '']), 'SQ_CONFIG_INVALID', 'tlsCert');
  });

  t.test('command-line mistakes', async (t) => {
    expectConfigError(t, () => serve(['--foo']), 'SQ_CONFIG_INVALID', "Unknown option '--foo'");
    expectConfigError(t, () => serve(['--listen=0.0.0.0:8443', '--tls']), 'SQ_CONFIG_INVALID', "Unknown option '--tls'");
    expectConfigError(t, () => serve(['extra']), 'SQ_CONFIG_INVALID', "Unexpected argument 'extra'");
    expectConfigError(t, () => serve(['--listen']), 'SQ_CONFIG_INVALID', "Option '--listen <value>' argument missing");
  });

  t.test('settings problems surface with their own codes', async (t) => {
    expectConfigError(t, () => serve(['--settings', '/missing.yaml'], {}, fakeFiles().readFile), 'SQ_SETTINGS_UNREADABLE', '/missing.yaml', 'ENOENT');
    expectConfigError(
      t,
      () => serve(['--settings', '/s.yaml'], {}, fakeFiles({ '/s.yaml': 'logPath: /etc\n' }).readFile),
      'SQ_SETTINGS_INVALID',
      'settings file /s.yaml: logPath: expected an absolute folder',
    );
  });

  t.test('the cluster: an explicit kubeconfig first, then the pod\'s own service account', async (t) => {
    const token = (path: string) => path === '/var/run/secrets/kubernetes.io/serviceaccount/token';
    const inPod = { KUBERNETES_SERVICE_HOST: '10.0.0.1' };
    const cluster = (argv: string[], env: Record<string, string>, fileExists: (path: string) => boolean) =>
      loadServeConfig(argv, env, noFiles, fileExists).reconciler.cluster;
    t.strictSame(cluster(['--kubeconfig', '/flag'], { ...inPod, KUBECONFIG: '/env' }, token), { kind: 'kubeconfig', path: '/flag', from: 'flag' });
    t.strictSame(cluster([], { ...inPod, KUBECONFIG: '/env' }, token), { kind: 'kubeconfig', path: '/env', from: 'environment' });
    t.strictSame(cluster([], inPod, token), { kind: 'in-cluster' });
    t.equal(cluster([], inPod, () => false), undefined, 'no token file: not in a pod');
    t.equal(cluster([], {}, token), undefined, 'no service host: not in a pod');
    t.strictSame(cluster(['--reconciler', 'off'], inPod, token), { kind: 'in-cluster' }, 'found, even when turned off (reconcilerTarget decides)');
    expectConfigError(t, () => cluster([], { KUBECONFIG: '/a:/b' }, token), 'SQ_KUBECONFIG_INVALID', 'kubeconfig KUBECONFIG=/a:/b: it lists several files; sre-quero reads one: give --kubeconfig <file>');
    expectConfigError(t, () => cluster(['--reconciler', 'on'], {}, token), 'SQ_CONFIG_INVALID', '--reconciler on needs a cluster: give --kubeconfig or KUBECONFIG, or run in a pod');
  });

  t.test('reconcilerTarget: serve reconciles a cluster from the shell\'s KUBECONFIG only when asked', async (t) => {
    const token = (path: string) => path === '/var/run/secrets/kubernetes.io/serviceaccount/token';
    const target = (argv: string[], env: Record<string, string>, fileExists: (path: string) => boolean = () => false) =>
      reconcilerTarget(loadServeConfig(argv, env, noFiles, fileExists).reconciler);
    const workstation = { KUBECONFIG: '/home/me/.kube/config' };
    t.strictSame(target([], workstation), {
      cluster: undefined,
      notStarted:
        'reconciler not started: KUBECONFIG=/home/me/.kube/config points at a cluster, but serve reconciles one from the shell\'s KUBECONFIG only when asked: --reconciler on (or --kubeconfig /home/me/.kube/config)',
    });
    t.strictSame(target(['--reconciler', 'on'], workstation).cluster, { kind: 'kubeconfig', path: '/home/me/.kube/config', from: 'environment' }, 'asked for');
    t.strictSame(target(['--kubeconfig', '/k'], {}).cluster, { kind: 'kubeconfig', path: '/k', from: 'flag' }, 'a kubeconfig given on the command line is asking');
    t.strictSame(target([], { ...workstation, KUBERNETES_SERVICE_HOST: '10.0.0.1' }, token).cluster, { kind: 'kubeconfig', path: '/home/me/.kube/config', from: 'environment' }, 'in a pod, a KUBECONFIG is the manifest\'s choice');
    t.strictSame(target([], { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, token).cluster, { kind: 'in-cluster' }, 'the Deployment: in-cluster');
    t.strictSame(target(['--reconciler', 'off', '--kubeconfig', '/k'], {}), { cluster: undefined }, 'off is off');
    t.strictSame(target([], {}), { cluster: undefined }, 'nothing found');
  });

  t.test('SERVE_FLAGS_HELP lists every flag with its variable and default', async (t) => {
    const lines = SERVE_FLAGS_HELP.split('\n');
    t.equal(lines.length, 13);
    t.match(SERVE_FLAGS_HELP, /--listen\s+env SRE_QUERO_LISTEN \(default 127\.0\.0\.1:8443\)/);
    t.match(SERVE_FLAGS_HELP, /--tls-cert\s+env SRE_QUERO_TLS_CERT$/m);
    t.match(SERVE_FLAGS_HELP, /--body-limit-bytes\s+env SRE_QUERO_BODY_LIMIT_BYTES \(default 8388608\)/);
    t.match(SERVE_FLAGS_HELP, /--reconciler\s+env SRE_QUERO_RECONCILER \(default auto\)/);
    for (const flag of ['tls-key', 'settings', 'log-level', 'shutdown-timeout-ms', 'cert-reload-interval-ms', 'kubeconfig', 'namespace', 'template-configmap', 'lease-duration-ms']) {
      t.ok(SERVE_FLAGS_HELP.includes(`--${flag} `), flag);
    }
  });
});

t.test('loadSettings', async (t) => {
  t.test('no file: the frozen defaults, nothing read', async (t) => {
    t.equal(loadSettings(undefined, noFiles), DEFAULT_SETTINGS);
    t.ok(isDeepFrozen(DEFAULT_SETTINGS));
  });

  t.test('a YAML file overriding image, logPath and resources merges over the defaults, frozen', async (t) => {
    const settings = settingsFrom(
      [
        '# platform settings',
        'image: docker.io/grafana/promtail:3.5.0',
        'logPath: /srv/app/logs',
        'resources:',
        '  requests:',
        '    memory: 32Mi',
        '  limits:',
        '    cpu: 500m',
        '',
      ].join('\n'),
    );
    t.strictSame(settings, {
      agent: 'promtail',
      allowedAgents: ['promtail', 'alloy'],
      images: { promtail: 'docker.io/grafana/promtail:3.5.0', alloy: 'grafana/alloy:v1.19.2' },
      sidecarMode: 'classic',
      allowedImageRepositories: { promtail: ['grafana/promtail', 'docker.io/grafana/promtail'], alloy: ['grafana/alloy', 'docker.io/grafana/alloy'] },
      logPath: '/srv/app/logs',
      logGlob: '*.log',
      metricsPort: 9080,
      configMap: 'promtail-sidecar-config',
      // The form from before the choice of agent: promtail's; alloy keeps its defaults.
      resources: { promtail: { requests: { cpu: '50m', memory: '32Mi' }, limits: { cpu: '500m', memory: '128Mi' } }, alloy: DEFAULT_SETTINGS.resources.alloy },
    });
    t.ok(isDeepFrozen(settings), 'deeply frozen');
    t.throws(() => {
      (settings.resources.promtail.limits as { cpu: string }).cpu = '4';
    }, TypeError);
    t.equal(DEFAULT_SETTINGS.resources.promtail.limits.cpu, '200m', 'the defaults are untouched');
  });

  t.test('JSON is YAML too; every field can be set', async (t) => {
    const settings = settingsFrom(
      JSON.stringify({
        agent: 'alloy',
        allowedAgents: ['alloy'],
        images: { promtail: 'registry.local/promtail:3.6.0', alloy: 'registry.local/alloy:v1.19.2' },
        sidecarMode: 'native',
        allowedImageRepositories: { promtail: ['registry.local/promtail'], alloy: ['registry.local/alloy'] },
        logPath: '/data/logs',
        logGlob: '**/*.json',
        metricsPort: 9100,
        configMap: 'central-promtail',
        credentialsSecret: 'loki-credentials',
        resources: {
          promtail: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '1', memory: '1Gi' } },
          alloy: { requests: { cpu: '20m', memory: '32Mi' }, limits: { cpu: '2', memory: '2Gi' } },
        },
      }),
      '/s.json',
    );
    t.strictSame(settings, {
      agent: 'alloy',
      allowedAgents: ['alloy'],
      images: { promtail: 'registry.local/promtail:3.6.0', alloy: 'registry.local/alloy:v1.19.2' },
      sidecarMode: 'native',
      allowedImageRepositories: { promtail: ['registry.local/promtail'], alloy: ['registry.local/alloy'] },
      logPath: '/data/logs',
      logGlob: '**/*.json',
      metricsPort: 9100,
      configMap: 'central-promtail',
      credentialsSecret: 'loki-credentials',
      resources: {
        promtail: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '1', memory: '1Gi' } },
        alloy: { requests: { cpu: '20m', memory: '32Mi' }, limits: { cpu: '2', memory: '2Gi' } },
      },
    });
    t.ok(isDeepFrozen(settings));
  });

  t.test('agents: the default agent, the ones pods may pick, and an image and repositories per agent', async (t) => {
    const alloy = settingsFrom('agent: alloy\n');
    t.equal(alloy.agent, 'alloy');
    t.strictSame(alloy.allowedAgents, ['promtail', 'alloy'], 'both allowed by default');
    t.strictSame(alloy.images, { promtail: 'grafana/promtail:3.6.11', alloy: 'grafana/alloy:v1.19.2' }, 'the pinned images by default');
    t.strictSame(settingsFrom('allowedAgents: [alloy, promtail, alloy]\n').allowedAgents, ['promtail', 'alloy'], 'duplicates and order do not matter');
    t.strictSame(settingsFrom('agent: alloy\nallowedAgents: [alloy]\n').allowedAgents, ['alloy'], 'promtail forbidden: only alloy pods');

    const mirrored = settingsFrom(['images:', '  alloy: registry.local/grafana/alloy:v1.19.2', 'allowedImageRepositories:', '  alloy: [registry.local/grafana/alloy]', ''].join('\n'));
    t.strictSame(mirrored.images, { promtail: 'grafana/promtail:3.6.11', alloy: 'registry.local/grafana/alloy:v1.19.2' }, 'one agent set, the other keeps its default');
    t.strictSame(mirrored.allowedImageRepositories, { promtail: ['grafana/promtail', 'docker.io/grafana/promtail'], alloy: ['registry.local/grafana/alloy'] });
    t.ok(isDeepFrozen(mirrored));
  });

  t.test('the form from before alloy still works: image and a list of repositories are promtail\'s', async (t) => {
    const settings = settingsFrom('image: registry.local/promtail:3.6.0\nallowedImageRepositories: [registry.local/promtail]\n');
    t.strictSame(settings.images, { promtail: 'registry.local/promtail:3.6.0', alloy: 'grafana/alloy:v1.19.2' });
    t.strictSame(settings.allowedImageRepositories, { promtail: ['registry.local/promtail'], alloy: ['grafana/alloy', 'docker.io/grafana/alloy'] });
    t.equal(settings.agent, 'promtail');
    t.equal(settingsFrom('image: grafana/promtail:3.6.0\nimages: {promtail: grafana/promtail:3.6.0}\n').images.promtail, 'grafana/promtail:3.6.0', 'both, naming the same image');
    expectConfigError(
      t,
      () => settingsFrom('image: grafana/promtail:3.6.0\nimages: {promtail: grafana/promtail:3.6.11}\n'),
      'SQ_SETTINGS_INVALID',
      'image and images.promtail name different images; image is the older name of images.promtail: keep one',
    );
  });

  t.test('resources per agent: each merged over its own defaults; the older form is promtail\'s', async (t) => {
    const { promtail, alloy } = DEFAULT_SETTINGS.resources;
    const perAgent = settingsFrom(['resources:', '  alloy:', '    limits:', '      memory: 512Mi', '  promtail:', '    requests: {cpu: 10m}', ''].join('\n'));
    t.strictSame(perAgent.resources, {
      promtail: { requests: { ...promtail.requests, cpu: '10m' }, limits: promtail.limits },
      alloy: { requests: alloy.requests, limits: { ...alloy.limits, memory: '512Mi' } },
    });
    t.ok(isDeepFrozen(perAgent));
    t.strictSame(settingsFrom('resources:\n  alloy: {requests: {cpu: 200m}}\n').resources.promtail, promtail, 'an agent left out keeps its defaults');
    t.strictSame(settingsFrom('resources: {}\n').resources, DEFAULT_SETTINGS.resources, 'an empty map: the defaults');
    const legacy = settingsFrom('resources:\n  requests: {memory: 100Mi}\n  limits: {memory: 300Mi}\n');
    t.strictSame(legacy.resources, { promtail: { requests: { ...promtail.requests, memory: '100Mi' }, limits: { ...promtail.limits, memory: '300Mi' } }, alloy }, "requests and limits alone: promtail's; alloy keeps its own");
    t.strictSame(settingsFrom('agent: alloy\nresources:\n  limits: {memory: 300Mi}\n').resources.alloy, alloy, 'even when alloy is the default agent');
  });

  t.test('resources: the form is told from the keys, and messages say what each form takes', async (t) => {
    const forms = "expected resources per agent (promtail, alloy: each with requests and limits) or, the form from before the choice of agent, promtail's alone (requests and limits)";
    const cases: [string, string][] = [
      ['resources:\n  request: {cpu: 1}', `resources: unrecognized key "request"; ${forms}`],
      ['resources:\n  promtial: {}\n  alloy: {}', `resources: unrecognized key "promtial"; ${forms}`],
      ['resources:\n  cpu: 100m\n  memory: 128Mi', `resources: unrecognized keys "cpu", "memory"; ${forms}`],
      ['resources:\n  requests: {cpu: 10m}\n  alloy: {}', `resources: both forms at once (requests, alloy); ${forms}, not both`],
      ['resources:\n  alloy:\n    request: {cpu: 10m}', 'resources.alloy: unrecognized key "request"; expected requests and limits'],
      ['resources:\n  alloy: 3', 'resources.alloy: Invalid input: expected object, received number'],
      ['resources:\n  requests: {cpu: 3}', 'resources.requests.cpu: Invalid input: expected string, received number'],
      ['resources:\n  alloy:\n    requests: {cpu: "0"}', 'resources.alloy.requests.cpu: expected a CPU quantity from 1m to 4'],
      ['resources:\n  promtail:\n    limits: {memory: 1000Ti}', 'resources.promtail.limits.memory: expected a memory quantity from 16Mi to 4Gi'],
      ['resources: 256Mi', 'resources: Invalid input: expected object, received string'],
      ['resources: [promtail]', 'resources: Invalid input: expected object, received array'],
    ];
    for (const [content, message] of cases) {
      expectConfigError(t, () => settingsFrom(`${content}\n`), 'SQ_SETTINGS_INVALID', `settings file /etc/sre-quero/settings.yaml: ${message}`);
    }
    // One message per problem, not a union's "Invalid input" for both forms.
    let message = '';
    try {
      settingsFrom('resources:\n  alloy:\n    requests: {gpu: 1}\n');
    } catch (error) {
      message = (error as Error).message;
    }
    t.equal(message, 'settings file /etc/sre-quero/settings.yaml: resources.alloy.requests: Unrecognized key: "gpu"', 'the whole message');
  });

  t.test('agent settings are checked: known agents, the default among the allowed, each image from its own repositories', async (t) => {
    const cases: [string, string][] = [
      ['agent: fluent-bit', 'agent: expected "promtail" or "alloy"'],
      ['agent: Alloy', 'agent: expected "promtail" or "alloy"'],
      ['allowedAgents: []', 'allowedAgents'],
      ['allowedAgents: [alloy, vector]', 'allowedAgents.1: expected "promtail" or "alloy"'],
      ['allowedAgents: alloy', 'allowedAgents'],
      ['allowedAgents: [alloy]', 'agent: promtail is not among allowedAgents (alloy); add it there or pick one of those'],
      ['agent: alloy\nallowedAgents: [promtail]', 'agent: alloy is not among allowedAgents (promtail)'],
      ['images: {fluentbit: x:1}', 'images'],
      ['images: {alloy: 3}', 'images.alloy'],
      ['images: {alloy: grafana/promtail:3.6.11}', 'images.alloy: expected an image of grafana/alloy or docker.io/grafana/alloy pinned by tag or digest, such as grafana/alloy:v1.19.2 (allowedImageRepositories.alloy)'],
      ['images: {alloy: grafana/alloy:latest}', 'images.alloy: expected an image of grafana/alloy'],
      ['images: {promtail: grafana/alloy:v1.19.2}', 'images.promtail: expected an image of grafana/promtail or docker.io/grafana/promtail'],
      ['allowedImageRepositories: {alloy: [registry.local/alloy]}', 'images.alloy: expected an image of registry.local/alloy pinned by tag or digest, such as registry.local/alloy:v1.19.2'],
      ['allowedImageRepositories: {alloy: []}', 'allowedImageRepositories.alloy: Too small: expected array to have >=1 items'],
      ['allowedImageRepositories: {vector: [x]}', 'allowedImageRepositories: unrecognized key "vector"; expected repositories per agent (promtail, alloy: each a list) or, the form from before the choice of agent, promtail\'s list alone'],
      // Each form's own mistake, not a complaint that it is not the other form.
      ['allowedImageRepositories: {alloy: grafana/alloy}', 'allowedImageRepositories.alloy: Invalid input: expected array, received string'],
      ['allowedImageRepositories: grafana/promtail', 'allowedImageRepositories: expected repositories per agent'],
    ];
    for (const [content, fragment] of cases) {
      expectConfigError(t, () => settingsFrom(`${content}\n`), 'SQ_SETTINGS_INVALID', 'settings file /etc/sre-quero/settings.yaml: ', fragment);
    }
  });

  t.test('an empty or comment-only file gives the defaults', async (t) => {
    for (const content of ['', '# nothing yet\n', '---\n']) {
      const settings = settingsFrom(content);
      t.strictSame(settings, DEFAULT_SETTINGS);
      t.ok(isDeepFrozen(settings));
    }
  });

  t.test('a log path is stored normalised, as the annotation would be', async (t) => {
    t.equal(settingsFrom('logPath: /srv/app/logs/\n').logPath, '/srv/app/logs', 'trailing slash dropped');
  });

  t.test('unknown keys are refused', async (t) => {
    expectConfigError(t, () => settingsFrom('logpath: /var/log/app\n'), 'SQ_SETTINGS_INVALID', 'settings file /etc/sre-quero/settings.yaml', 'Unrecognized key', 'logpath');
    expectConfigError(t, () => settingsFrom('resources:\n  requests:\n    gpu: 1\n'), 'SQ_SETTINGS_INVALID', 'resources.requests: Unrecognized key: "gpu"');
    expectConfigError(t, () => settingsFrom('resources:\n  alloy:\n    limits:\n      gpu: 1\n'), 'SQ_SETTINGS_INVALID', 'resources.alloy.limits: Unrecognized key: "gpu"');
  });

  t.test('hostile or malformed values are refused with the field and the accepted form', async (t) => {
    const cases: [string, string][] = [
      ['logPath: /etc', 'logPath: expected an absolute folder such as /var/log/app'],
      ['logPath: /', 'logPath: expected an absolute folder'],
      ['logPath: /var/log/../etc', 'logPath: expected an absolute folder'],
      ['logPath: var/log/app', 'logPath: expected an absolute folder'],
      ['logGlob: ../x', 'logGlob: expected a relative file pattern'],
      ['configMap: Bad_Name', 'configMap: expected a ConfigMap name'],
      ['credentialsSecret: Bad_Name', 'credentialsSecret: expected a Secret name'],
      ['credentialsSecret: ""', 'credentialsSecret: expected a Secret name'],
      ['sidecarMode: automatic', 'sidecarMode: expected "classic", "native" or "auto"'],
      ['sidecarMode: Native', 'sidecarMode: expected "classic", "native" or "auto"'],
      ['metricsPort: 80', 'metricsPort'],
      ['metricsPort: 65536', 'metricsPort'],
      ['metricsPort: 9080.5', 'metricsPort'],
      ['metricsPort: "9100"', 'metricsPort'],
      ['allowedImageRepositories: []', 'allowedImageRepositories'],
      ['allowedImageRepositories: [""]', 'allowedImageRepositories.0'],
      ['resources:\n  requests:\n    cpu: "0"', 'resources.requests.cpu: expected a CPU quantity from 1m to 4'],
      ['resources:\n  limits:\n    memory: 1000Ti', 'resources.limits.memory: expected a memory quantity from 16Mi to 4Gi'],
      ['image: 3', 'image'],
      ['hello', '(top level)'],
      ['- a\n- b', '(top level)'],
    ];
    for (const [content, fragment] of cases) {
      expectConfigError(t, () => settingsFrom(content), 'SQ_SETTINGS_INVALID', 'settings file /etc/sre-quero/settings.yaml: ', fragment);
    }
  });

  t.test('the image must be pinned and come from an allowed repository', async (t) => {
    const form = 'image: expected an image of grafana/promtail or docker.io/grafana/promtail pinned by tag or digest';
    expectConfigError(t, () => settingsFrom('image: evil.example.com/promtail:3.6.0\n'), 'SQ_SETTINGS_INVALID', form);
    expectConfigError(t, () => settingsFrom('image: grafana/promtail\n'), 'SQ_SETTINGS_INVALID', form);
    expectConfigError(t, () => settingsFrom('image: grafana/promtail:latest\n'), 'SQ_SETTINGS_INVALID', form);
    expectConfigError(
      t,
      () => settingsFrom('allowedImageRepositories: [registry.local/promtail]\n'),
      'SQ_SETTINGS_INVALID',
      'image: expected an image of registry.local/promtail',
    );
  });

  t.test('a request above its limit is refused', async (t) => {
    expectConfigError(
      t,
      () => settingsFrom('resources:\n  requests:\n    cpu: 300m\n'),
      'SQ_SETTINGS_INVALID',
      'resources.requests.cpu exceeds resources.limits.cpu (300m > 200m)',
    );
    expectConfigError(
      t,
      () => settingsFrom('resources:\n  requests:\n    memory: 1Gi\n  limits:\n    memory: 512Mi\n'),
      'SQ_SETTINGS_INVALID',
      'resources.requests.memory exceeds resources.limits.memory',
    );
    t.strictSame(
      settingsFrom('resources:\n  requests:\n    cpu: 200m\n    memory: 128Mi\n').resources.promtail,
      { requests: { cpu: '200m', memory: '128Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
      'equal is fine',
    );
    // Per agent, checked against that agent's own limits and named in that form.
    const { alloy } = DEFAULT_SETTINGS.resources;
    expectConfigError(
      t,
      () => settingsFrom(`resources:\n  alloy:\n    requests:\n      memory: 4Gi\n`),
      'SQ_SETTINGS_INVALID',
      `resources.alloy.requests.memory exceeds resources.alloy.limits.memory (4Gi > ${alloy.limits.memory})`,
    );
    expectConfigError(
      t,
      () => settingsFrom('resources:\n  promtail:\n    limits:\n      cpu: 10m\n'),
      'SQ_SETTINGS_INVALID',
      'resources.promtail.requests.cpu exceeds resources.promtail.limits.cpu (50m > 10m)',
    );
    expectConfigError(
      t,
      () => settingsFrom('resources:\n  limits:\n    cpu: 10m\n'),
      'SQ_SETTINGS_INVALID',
      'resources.requests.cpu exceeds resources.limits.cpu (50m > 10m)',
    );
    t.equal(settingsFrom(`resources:\n  alloy:\n    requests:\n      cpu: ${alloy.limits.cpu}\n`).resources.alloy.requests.cpu, alloy.limits.cpu, "alloy's request up to its own limit");
  });

  t.test('an equal request and limit in different units are accepted', async (t) => {
    let error: unknown;
    try {
      settingsFrom('resources:\n  requests:\n    cpu: 700m\n  limits:\n    cpu: "0.7"\n');
    } catch (caught) {
      error = caught;
    }
    t.equal(error, undefined, '700m == 0.7');
  });

  t.test('unreadable files', async (t) => {
    expectConfigError(t, () => settingsFrom('a: [\n'), 'SQ_SETTINGS_UNREADABLE', 'settings file /etc/sre-quero/settings.yaml: ');
    expectConfigError(t, () => settingsFrom('image: a\n---\nimage: b\n'), 'SQ_SETTINGS_UNREADABLE', 'settings file');
    expectConfigError(t, () => settingsFrom('key: "unterminated\n'), 'SQ_SETTINGS_UNREADABLE');
    const throwing = () => {
      throw new Error('EACCES: permission denied');
    };
    expectConfigError(t, () => loadSettings('/s.yaml', throwing), 'SQ_SETTINGS_UNREADABLE', 'settings file /s.yaml: EACCES: permission denied');
  });

  t.test('the default reader: a missing file is unreadable, not a crash', async (t) => {
    const path = '/nonexistent-sre-quero-test-dir/settings.yaml';
    expectConfigError(t, () => loadSettings(path), 'SQ_SETTINGS_UNREADABLE', `settings file ${path}: ENOENT`);
  });
});
