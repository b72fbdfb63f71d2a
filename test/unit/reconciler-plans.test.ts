import t from 'tap';
import { planConfigMap, type ConfigMapLike, type Template } from '../../src/reconciler/config-maps.js';
import { backoffMs, statusOf } from '../../src/reconciler/kube.js';
import {
  INJECTED_SELECTOR,
  portsWeOwn,
  readInjectedPod,
  selects,
  SERVICE_OPT_OUT_ANNOTATION,
  type InjectedPod,
  type ObjectMeta,
  type PodLike,
  type ServiceLike,
  type ServicePort,
} from '../../src/reconciler/model.js';
import { planServicePort } from '../../src/reconciler/service-ports.js';
import { FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/webhook-contract.js';

// The reconciler's pure decisions: what it reads from pods and Services, and
// what it plans for Service ports and the namespace's promtail ConfigMap.

const A = (name: string) => `logging.sre-quero/${name}`;
const STATUS = A('status');
const INJECTED_LABEL = A('injected');
const OPT_OUT = A('service-port');
const DEFAULT_CONFIG_MAP = 'promtail-sidecar-config';
const DEFAULTS = { metricsPort: 9080, configMap: DEFAULT_CONFIG_MAP };
const NO_SELECTOR_MESSAGE =
  'the Service has no selector, so sre-quero cannot tell whether it fronts injected pods; add the promtail-http port yourself if it does';

/** The port sre-quero applies, written out in full. */
const ourPort = (port = 9080): ServicePort => ({ name: 'promtail-http', port, targetPort: 'promtail-http', protocol: 'TCP' });

// ---------------------------------------------------------------- helpers

interface PodOptions {
  name?: string | undefined;
  labels?: Record<string, string> | undefined;
  status?: string | undefined;
  deletionTimestamp?: unknown;
}

/** A pod the webhook injected (label set), with app: web and an optional status annotation. */
function makePod(options: PodOptions = {}): PodLike {
  const metadata: ObjectMeta = {
    namespace: 'shop',
    labels: 'labels' in options ? options.labels : { app: 'web', [INJECTED_LABEL]: 'true' },
  };
  if (!('name' in options)) metadata.name = 'web-0';
  else if (options.name !== undefined) metadata.name = options.name;
  if (options.status !== undefined) metadata.annotations = { [STATUS]: options.status };
  if (options.deletionTimestamp !== undefined) metadata.deletionTimestamp = options.deletionTimestamp;
  return { metadata };
}

/** An InjectedPod as readInjectedPod returns it. */
const injected = (name: string, labels: Record<string, string> = { app: 'web' }, metricsPort = 9080, configMap = DEFAULT_CONFIG_MAP): InjectedPod => ({
  name,
  labels: { ...labels, [INJECTED_LABEL]: 'true' },
  agent: 'promtail',
  metricsPort,
  configMap,
});

/** A managedFields entry owning the given spec.ports keys. */
const managed = (keys: string[], manager = 'sre-quero', operation = 'Apply') => ({
  manager,
  operation,
  fieldsV1: { 'f:spec': { 'f:ports': Object.fromEntries(keys.map((key) => [key, { '.': {}, 'f:name': {}, 'f:port': {} }])) } },
});
const portKey = (port: number, protocol = 'TCP') => `k:{"port":${port},"protocol":"${protocol}"}`;

interface ServiceOptions {
  selector?: Record<string, string> | undefined;
  ports?: ServicePort[];
  type?: string;
  clusterIP?: string;
  annotations?: Record<string, string>;
  /** Ports our field manager owns (an Apply entry in managedFields). */
  owned?: number[];
}

/** Service `web` in `shop` selecting app: web, with one app port `http` 80 unless told otherwise. */
function makeService(options: ServiceOptions = {}): ServiceLike {
  const metadata: ObjectMeta = { name: 'web', namespace: 'shop' };
  if (options.annotations) metadata.annotations = options.annotations;
  if (options.owned) metadata.managedFields = [managed(options.owned.map((port) => portKey(port)))];
  const spec: NonNullable<ServiceLike['spec']> = {
    type: options.type ?? 'ClusterIP',
    clusterIP: options.clusterIP ?? '10.96.0.10',
    ports: options.ports ?? [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
  };
  if (!('selector' in options)) spec.selector = { app: 'web' };
  else if (options.selector !== undefined) spec.selector = options.selector;
  return { metadata, spec };
}

// ---------------------------------------------------------------- constants

t.test('the constants the reconciler writes and selects on', async (t) => {
  t.equal(FIELD_MANAGER, 'sre-quero');
  t.equal(MANAGED_BY_LABEL, 'app.kubernetes.io/managed-by');
  t.equal(MANAGED_BY_VALUE, 'sre-quero');
  t.equal(SERVICE_OPT_OUT_ANNOTATION, OPT_OUT);
  t.equal(INJECTED_SELECTOR, 'logging.sre-quero/injected=true');
});

// ---------------------------------------------------------------- readInjectedPod

t.test('readInjectedPod', async (t) => {
  const read = (pod: PodLike) => readInjectedPod(pod, DEFAULTS);
  const labels = { app: 'web', [INJECTED_LABEL]: 'true' };

  t.test('reads the metrics port and ConfigMap from the status annotation', async (t) => {
    t.strictSame(read(makePod({ status: JSON.stringify({ metricsPort: 9180, configMap: 'team-promtail', image: 'x' }) })), {
      name: 'web-0',
      labels,
      agent: 'promtail',
      metricsPort: 9180,
      configMap: 'team-promtail',
    });
  });

  t.test('reads the agent from the status annotation; promtail when it names none (pods from before the choice)', async (t) => {
    t.equal(read(makePod({ status: JSON.stringify({ agent: 'alloy', metricsPort: 9180 }) }))?.agent, 'alloy');
    t.equal(read(makePod({ status: JSON.stringify({ metricsPort: 9180 }) }))?.agent, 'promtail');
    t.equal(read(makePod({ status: JSON.stringify({ agent: 'vector' }) }))?.agent, 'promtail');
  });

  t.test('falls back to the defaults for what the status lacks', async (t) => {
    const expected = (metricsPort: number, configMap: string) => ({ name: 'web-0', labels, agent: 'promtail', metricsPort, configMap });
    t.strictSame(read(makePod()), expected(9080, DEFAULT_CONFIG_MAP), 'no annotations at all');
    t.strictSame(read(makePod({ status: '{}' })), expected(9080, DEFAULT_CONFIG_MAP), 'empty status');
    t.strictSame(read(makePod({ status: '{"metricsPort":9180}' })), expected(9180, DEFAULT_CONFIG_MAP), 'port only');
    t.strictSame(read(makePod({ status: '{"configMap":"mine"}' })), expected(9080, 'mine'), 'ConfigMap only');
    t.strictSame(read(makePod({ status: 'not json {' })), expected(9080, DEFAULT_CONFIG_MAP), 'unparsable JSON');
    t.strictSame(read(makePod({ status: '{"metricsPort":"9180","configMap":42}' })), expected(9080, DEFAULT_CONFIG_MAP), 'wrong types');
    t.strictSame(read(makePod({ status: '{"metricsPort":null,"configMap":["a"]}' })), expected(9080, DEFAULT_CONFIG_MAP), 'null and array');
    t.strictSame(read(makePod({ status: '[1,2]' })), expected(9080, DEFAULT_CONFIG_MAP), 'a JSON array');
    t.strictSame(read(makePod({ status: '7' })), expected(9080, DEFAULT_CONFIG_MAP), 'a JSON number');
  });

  t.test('a status of JSON null falls back to the defaults', async (t) => {
    // JSON.parse('null') succeeds, then `status.metricsPort` throws outside the try:
    // one hand-edited pod makes every reconcile of its namespace fail.
    let result: unknown;
    let thrown: unknown;
    try {
      result = read(makePod({ status: 'null' }));
    } catch (error) {
      thrown = error;
    }
    t.equal(thrown, undefined, 'does not throw');
    t.strictSame(result, { name: 'web-0', labels, agent: 'promtail', metricsPort: 9080, configMap: DEFAULT_CONFIG_MAP }, 'defaults');
  });

  t.test('keeps all the pod labels as they are', async (t) => {
    const pod = makePod({ labels: { app: 'web', tier: 'front', [INJECTED_LABEL]: 'true' } });
    t.strictSame(read(pod), { name: 'web-0', labels: { app: 'web', tier: 'front', [INJECTED_LABEL]: 'true' }, agent: 'promtail', metricsPort: 9080, configMap: DEFAULT_CONFIG_MAP });
  });

  t.test('is undefined for pods that are not (or no longer) ours', async (t) => {
    t.equal(read(makePod({ labels: { app: 'web' } })), undefined, 'no injected label');
    t.equal(read(makePod({ labels: undefined })), undefined, 'no labels at all');
    t.equal(read(makePod({ labels: { app: 'web', [INJECTED_LABEL]: 'false' } })), undefined, 'label not "true"');
    t.equal(read(makePod({ labels: { app: 'web', [INJECTED_LABEL]: 'True' } })), undefined, 'label "True"');
    t.equal(read(makePod({ name: undefined })), undefined, 'no name');
    t.equal(read(makePod({ deletionTimestamp: '2025-01-01T00:00:00Z' })), undefined, 'being deleted');
    t.equal(read(makePod({ deletionTimestamp: new Date(0) })), undefined, 'being deleted (Date)');
    t.equal(read({}), undefined, 'no metadata');
  });
});

// ---------------------------------------------------------------- selects

t.test('selects: every selector label must match', async (t) => {
  const labels = { app: 'web', tier: 'front' };
  t.equal(selects({}, labels), true, 'empty selector selects everything');
  t.equal(selects({}, {}), true, 'empty selector, no labels');
  t.equal(selects({ app: 'web' }, labels), true, 'subset');
  t.equal(selects({ app: 'web', tier: 'front' }, labels), true, 'all');
  t.equal(selects({ app: 'web', zone: 'a' }, labels), false, 'a selector label the pod lacks');
  t.equal(selects({ app: 'api' }, labels), false, 'different value');
  t.equal(selects({ app: 'web' }, {}), false, 'pod without labels');
});

// ---------------------------------------------------------------- portsWeOwn

t.test('portsWeOwn', async (t) => {
  const withFields = (managedFields: NonNullable<ObjectMeta['managedFields']>): ServiceLike => ({ metadata: { name: 'web', managedFields } });

  t.strictSame(portsWeOwn({}), [], 'no metadata');
  t.strictSame(portsWeOwn(makeService()), [], 'no managedFields');

  t.strictSame(portsWeOwn(withFields([managed([portKey(9080)])])), [{ port: 9080, protocol: 'TCP' }], 'one port');
  t.strictSame(
    portsWeOwn(withFields([managed([portKey(9080), portKey(9180, 'UDP')]), managed([portKey(9280)])])),
    [
      { port: 9080, protocol: 'TCP' },
      { port: 9180, protocol: 'UDP' },
      { port: 9280, protocol: 'TCP' },
    ],
    'several ports over several Apply entries, in order',
  );
  t.strictSame(portsWeOwn(withFields([managed(['k:{"port":9080}'])])), [{ port: 9080, protocol: 'TCP' }], 'protocol defaults to TCP');
  t.strictSame(portsWeOwn(withFields([managed(['k:{"port":9080,"protocol":6}'])])), [{ port: 9080, protocol: 'TCP' }], 'non-string protocol → TCP');

  t.strictSame(
    portsWeOwn(
      withFields([
        managed([portKey(80)], 'kubectl-client-side-apply', 'Update'),
        managed([portKey(81)], 'helm', 'Apply'),
        managed([portKey(82)], 'sre-quero', 'Update'),
        managed([portKey(83)], 'sre-quero-other', 'Apply'),
        { operation: 'Apply', fieldsV1: managed([portKey(84)]).fieldsV1 },
      ]),
    ),
    [],
    'other managers, Update operations and unnamed managers are not ours',
  );

  t.strictSame(
    portsWeOwn(
      withFields([
        managed([
          '.',
          'f:name',
          'v:"x"',
          'k:',
          'k:{not json',
          'k:null',
          'k:"9080"',
          'k:{"port":"9080","protocol":"TCP"}',
          'k:{"protocol":"TCP"}',
          portKey(9080),
        ]),
      ]),
    ),
    [{ port: 9080, protocol: 'TCP' }],
    'malformed and non-k: keys are skipped',
  );

  t.strictSame(
    portsWeOwn(
      withFields([
        { manager: 'sre-quero', operation: 'Apply' },
        { manager: 'sre-quero', operation: 'Apply', fieldsV1: null },
        { manager: 'sre-quero', operation: 'Apply', fieldsV1: {} },
        { manager: 'sre-quero', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:labels': {} } } },
        { manager: 'sre-quero', operation: 'Apply', fieldsV1: { 'f:spec': {} } },
        { manager: 'sre-quero', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:selector': {} } } },
      ]),
    ),
    [],
    'Apply entries without ports own nothing',
  );
});

// ---------------------------------------------------------------- planServicePort

t.test('planServicePort', async (t) => {
  const web = [injected('web-0'), injected('web-1')];

  t.test('opt-out annotation', async (t) => {
    const optOut = { [OPT_OUT]: 'false' };
    t.strictSame(planServicePort(makeService({ annotations: optOut, owned: [9080], ports: [ourPort()] }), web), { kind: 'remove', reason: 'opted_out' }, 'ours there: remove');
    t.strictSame(planServicePort(makeService({ annotations: optOut }), web), { kind: 'none' }, 'nothing of ours: none');
    t.strictSame(planServicePort(makeService({ annotations: optOut, selector: undefined }), web), { kind: 'none' }, 'checked before the selector');
    t.strictSame(planServicePort(makeService({ annotations: { [OPT_OUT]: 'true' } }), web), { kind: 'apply', port: ourPort() }, '"true" does not opt out');
    t.strictSame(planServicePort(makeService({ annotations: { [OPT_OUT]: 'False' } }), web), { kind: 'apply', port: ourPort() }, 'only exactly "false" opts out');
  });

  t.test('no usable selector', async (t) => {
    const conflict = { kind: 'conflict', reason: 'no_selector', message: NO_SELECTOR_MESSAGE };
    const cases: [string, ServiceOptions][] = [
      ['no selector', { selector: undefined }],
      ['empty selector', { selector: {} }],
      ['ExternalName (even with a selector)', { type: 'ExternalName' }],
    ];
    for (const [what, options] of cases) {
      t.strictSame(planServicePort(makeService({ ...options, owned: [9080], ports: [ourPort()] }), web), { kind: 'remove', reason: 'conflict' }, `${what}, ours there: remove`);
      t.strictSame(planServicePort(makeService(options), []), { kind: 'none' }, `${what}, no injected pods in the namespace: none`);
      t.strictSame(planServicePort(makeService(options), [injected('api-0', { app: 'api' })]), conflict, `${what}, injected pods in the namespace: conflict`);
    }
  });

  t.test('no injected pod matches', async (t) => {
    const others = [injected('api-0', { app: 'api' })];
    t.strictSame(planServicePort(makeService({ owned: [9080], ports: [ourPort()] }), others), { kind: 'remove', reason: 'no_injected_pods' }, 'ours there: remove');
    t.strictSame(planServicePort(makeService({ owned: [9080], ports: [ourPort()] }), []), { kind: 'remove', reason: 'no_injected_pods' }, 'no pods at all, ours there: remove');
    t.strictSame(planServicePort(makeService(), others), { kind: 'none' }, 'nothing of ours: none');
    t.strictSame(planServicePort(makeService({ clusterIP: 'None' }), others), { kind: 'none' }, 'headless without matching pods: none');
    t.strictSame(planServicePort(makeService({ selector: { app: 'web', tier: 'front' } }), web), { kind: 'none' }, 'pods lack a selector label');
  });

  t.test('headless', async (t) => {
    t.strictSame(planServicePort(makeService({ clusterIP: 'None' }), web), {
      kind: 'conflict',
      reason: 'headless',
      message: 'the Service is headless (clusterIP: None); scrape the pods directly',
    });
  });

  t.test('pods disagree on the metrics port', async (t) => {
    const pods = [injected('web-0', { app: 'web' }, 9280), injected('web-1', { app: 'web' }, 9080), injected('web-2', { app: 'web' }, 9180), injected('web-3', { app: 'web' }, 9080)];
    t.strictSame(planServicePort(makeService(), pods), {
      kind: 'conflict',
      reason: 'ports_disagree',
      message: 'the selected pods use different metrics ports (9080, 9180, 9280)',
    });
    const unselected = [injected('web-0', { app: 'web' }, 9180), injected('api-0', { app: 'api' }, 9080)];
    t.strictSame(planServicePort(makeService(), unselected), { kind: 'apply', port: ourPort(9180) }, 'only selected pods count');
    t.strictSame(planServicePort(makeService({ clusterIP: 'None' }), pods), { kind: 'conflict', reason: 'headless', message: 'the Service is headless (clusterIP: None); scrape the pods directly' }, 'headless is reported first');
  });

  t.test('an app port already uses the number', async (t) => {
    t.strictSame(planServicePort(makeService({ ports: [{ name: 'http', port: 80 }, { name: 'metrics', port: 9080, targetPort: 9090 }] }), web), {
      kind: 'conflict',
      reason: 'port_in_use',
      message: 'port 9080 is already used by the Service\'s port "metrics"',
    });
    t.strictSame(planServicePort(makeService({ ports: [{ port: 9080 }] }), web), {
      kind: 'conflict',
      reason: 'port_in_use',
      message: 'port 9080 is already used by the Service\'s port "(unnamed)"',
    });
    t.strictSame(
      planServicePort(makeService({ ports: [{ name: 'promtail-http', port: 9080, targetPort: 'promtail-http', protocol: 'TCP' }] }), web),
      { kind: 'conflict', reason: 'port_in_use', message: 'port 9080 is already used by the Service\'s port "promtail-http"' },
      'our exact port, added by someone else (not in managedFields)',
    );
    t.strictSame(
      planServicePort(makeService({ ports: [{ name: 'dns', port: 9080, protocol: 'UDP' }] }), web),
      { kind: 'apply', port: { name: 'promtail-http', port: 9080, targetPort: 'promtail-http', protocol: 'TCP' } },
      'the same number over UDP does not clash with our TCP port',
    );
  });

  t.test('an app port already has our name', async (t) => {
    t.strictSame(planServicePort(makeService({ ports: [{ name: 'http', port: 80 }, { name: 'promtail-http', port: 3101, targetPort: 3101 }] }), web), {
      kind: 'conflict',
      reason: 'name_in_use',
      message: 'a port named "promtail-http" (3101) already exists and was not added by sre-quero',
    });
  });

  t.test('apply', async (t) => {
    t.strictSame(planServicePort(makeService(), web), { kind: 'apply', port: ourPort() }, 'the exact port object');
    t.strictSame(planServicePort(makeService({ ports: [] }), web), { kind: 'apply', port: ourPort() }, 'Service without ports');
    t.strictSame(planServicePort({ metadata: { name: 'web' }, spec: { selector: { app: 'web' } } }, web), { kind: 'apply', port: ourPort() }, 'no ports, no type, no clusterIP');
    t.strictSame(planServicePort(makeService({ type: 'NodePort' }), web), { kind: 'apply', port: ourPort() }, 'NodePort');
    t.strictSame(planServicePort(makeService({ type: 'LoadBalancer' }), web), { kind: 'apply', port: ourPort() }, 'LoadBalancer');
    t.strictSame(planServicePort(makeService({ owned: [9080], ports: [{ name: 'http', port: 80 }, ourPort()] }), web), { kind: 'apply', port: ourPort() }, 'our own port is no conflict');
    t.strictSame(
      planServicePort(makeService({ owned: [9080], ports: [{ name: 'promtail-http', port: 9080, targetPort: 'promtail-http' }] }), web),
      { kind: 'apply', port: ourPort() },
      'our own port, protocol omitted (TCP)',
    );
    const moved = [injected('web-0', { app: 'web' }, 9180), injected('web-1', { app: 'web' }, 9180)];
    t.strictSame(planServicePort(makeService(), moved), { kind: 'apply', port: ourPort(9180) }, 'the pods\' non-default metrics port');
    t.strictSame(planServicePort(makeService({ owned: [9080], ports: [ourPort(9080)] }), moved), { kind: 'apply', port: ourPort(9180) }, 'our old port moves to the new number');
    t.strictSame(
      planServicePort(makeService({ ports: [{ name: 'metrics', port: 9080 }] }), moved),
      { kind: 'apply', port: ourPort(9180) },
      'an app port on the default number does not matter when the pods use another',
    );
    const wide = [injected('web-0', { app: 'web', tier: 'front' }), injected('api-0', { app: 'api' })];
    t.strictSame(planServicePort(makeService({ selector: { tier: 'front' } }), wide), { kind: 'apply', port: ourPort() }, 'any selector label subset');
  });
});

// ---------------------------------------------------------------- planConfigMap

t.test('planConfigMap', async (t) => {
  const template: Template = { 'promtail.yaml': 'server:\n  http_listen_port: 9080\n', 'config.alloy': 'loki.write "default" { }\n' };
  const data = { ...template };
  const labelled = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };
  const existing = (labels: Record<string, string> | undefined, configData?: Record<string, string>): ConfigMapLike => ({
    metadata: { name: DEFAULT_CONFIG_MAP, namespace: 'shop', ...(labels ? { labels } : {}) },
    ...(configData ? { data: configData } : {}),
  });
  const usesDefault = [injected('web-0'), injected('api-0', { app: 'api' }, 9080, 'team-promtail')];
  const plan = (pods: readonly InjectedPod[], current: ConfigMapLike | undefined) => planConfigMap(pods, DEFAULT_CONFIG_MAP, current, template);

  t.test('none when no pod uses the default ConfigMap', async (t) => {
    t.strictSame(plan([], undefined), { kind: 'none' }, 'no pods');
    t.strictSame(plan([injected('api-0', { app: 'api' }, 9080, 'team-promtail')], undefined), { kind: 'none' }, 'only pods with their own ConfigMap');
    t.strictSame(plan([injected('api-0', { app: 'api' }, 9080, 'team-promtail')], existing({ team: 'a' }, { x: 'y' })), { kind: 'none' }, 'not even a conflict with a foreign one');
  });

  t.test('apply when absent', async (t) => {
    t.strictSame(plan(usesDefault, undefined), { kind: 'apply', data });
    t.strictSame(planConfigMap([injected('web-0', { app: 'web' }, 9080, 'other-name')], 'other-name', undefined, template), { kind: 'apply', data }, 'the name comes from the caller');
  });

  t.test('conflict when present and not ours', async (t) => {
    const conflict = { kind: 'conflict', message: 'ConfigMap promtail-sidecar-config exists and is not managed by sre-quero; it is left as it is' };
    t.strictSame(plan(usesDefault, existing(undefined, data)), conflict, 'no labels, even with identical data');
    t.strictSame(plan(usesDefault, existing({ [MANAGED_BY_LABEL]: 'helm' }, data)), conflict, 'managed by someone else');
    t.strictSame(plan(usesDefault, existing({ app: 'promtail' })), conflict, 'other labels only');
    t.strictSame(plan(usesDefault, {}), conflict, 'no metadata');
  });

  t.test('ours: none when identical, apply when it differs', async (t) => {
    t.strictSame(plan(usesDefault, existing(labelled, data)), { kind: 'none' }, 'identical');
    t.strictSame(plan(usesDefault, existing({ ...labelled, extra: 'x' }, data)), { kind: 'none' }, 'extra labels do not matter');
    t.strictSame(plan(usesDefault, existing(labelled, { ...data, 'promtail.yaml': 'old' })), { kind: 'apply', data }, 'content differs');
    t.strictSame(plan(usesDefault, existing(labelled, { ...data, 'config.alloy': 'old' })), { kind: 'apply', data }, 'either key');
    t.strictSame(plan(usesDefault, existing(labelled, { 'promtail.yaml': template['promtail.yaml'] as string })), { kind: 'apply', data }, 'a key missing (a copy from before config.alloy)');
    t.strictSame(plan(usesDefault, existing(labelled, { ...data, 'extra.yaml': 'x' })), { kind: 'apply', data }, 'extra key');
    t.strictSame(plan(usesDefault, existing(labelled, { 'other.yaml': template['promtail.yaml'] as string, 'config.alloy': template['config.alloy'] as string })), { kind: 'apply', data }, 'content under another key');
    t.strictSame(plan(usesDefault, existing(labelled, {})), { kind: 'apply', data }, 'empty data');
    t.strictSame(plan(usesDefault, existing(labelled)), { kind: 'apply', data }, 'no data');
  });
});

// ---------------------------------------------------------------- kube helpers

t.test('backoffMs', async (t) => {
  t.test('always within [0, min(cap, base * 2^attempt)]', async (t) => {
    const check = (base: number, cap: number, call: (attempt: number) => number) => {
      const bad: string[] = [];
      for (let attempt = 0; attempt <= 20; attempt++) {
        const bound = Math.min(cap, base * 2 ** attempt);
        for (let i = 0; i < 1000; i++) {
          const delay = call(attempt);
          if (!(delay >= 0 && delay <= bound)) bad.push(`attempt ${attempt}: ${delay} not in [0, ${bound}]`);
        }
      }
      return bad;
    };
    t.strictSame(check(500, 30_000, (attempt) => backoffMs(attempt)), [], 'defaults');
    t.strictSame(check(100, 5_000, (attempt) => backoffMs(attempt, 100, 5_000)), [], 'base 100, cap 5000');
  });

  t.test('exact values with a fixed random', async (t) => {
    const random = Math.random;
    t.teardown(() => {
      Math.random = random;
    });
    Math.random = () => 0.5;
    t.strictSame(
      [0, 1, 2, 3, 5, 6, 7, 20].map((attempt) => backoffMs(attempt)),
      [250, 500, 1000, 2000, 8000, 15_000, 15_000, 15_000],
      'half of 500 * 2^attempt, capped at 30000',
    );
    t.equal(backoffMs(2, 100, 300), 150, 'base and cap are honoured');
    Math.random = () => 0;
    t.equal(backoffMs(20), 0, 'lower end is 0');
    Math.random = () => 1 - Number.EPSILON;
    t.ok(backoffMs(20) < 30_000 && backoffMs(20) > 29_999, 'upper end stays below the cap');
    t.ok(backoffMs(2) < 2000 && backoffMs(2) > 1999, 'upper end stays below base * 2^attempt');
  });

  t.test('caps at capMs and jitters', async (t) => {
    const samples = Array.from({ length: 1000 }, () => backoffMs(20));
    t.ok(Math.max(...samples) <= 30_000, 'never above the cap');
    t.ok(Math.max(...samples) > 27_000, 'reaches close to the cap');
    t.ok(Math.min(...samples) < 3_000, 'reaches close to 0');
    t.ok(new Set(samples).size > 990, 'not constant');
    const early = Array.from({ length: 1000 }, () => backoffMs(0));
    t.ok(Math.max(...early) <= 500, 'attempt 0 stays within the base');
    t.ok(new Set(early).size > 990, 'attempt 0 jitters too');
  });
});

t.test('statusOf', async (t) => {
  t.equal(statusOf({ code: 404 }), 404, 'numeric code');
  t.equal(statusOf(Object.assign(new Error('conflict'), { code: 409 })), 409, 'an Error with a numeric code');
  t.equal(statusOf({ code: '404' }), undefined, 'string code');
  t.equal(statusOf(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), undefined, 'a Node error code');
  t.equal(statusOf({}), undefined, 'missing');
  t.equal(statusOf(new Error('boom')), undefined, 'a plain Error');
  t.equal(statusOf('boom'), undefined, 'a string');
});
