import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { freePort } from '../cluster/net.js';
import { lokiSetup } from '../cluster/observability.js';
import { tempDir } from '../helpers/temp-dir.js';
import { parse } from 'yaml';
import type { Json } from '../helpers/reviews.js';
import { waitFor } from './harness.js';
import { httpGet, isReady, type NodeCluster } from './node-harness.js';

// What the tests of running pods share: Loki and Prometheus queries, a busybox
// app that writes only when told to, and where its sidecar's process is.

/** The streams Loki holds for `selector` with lines containing `needle`. */
export async function lokiStreams(lokiUrl: string, selector: string, needle: string, tenant?: string): Promise<{ stream: Record<string, string>; values: [string, string][] }[]> {
  const query = encodeURIComponent(`${selector} |= "${needle}"`);
  const start = (Date.now() - 10 * 60_000) * 1e6;
  const reply = await httpGet(`${lokiUrl}/loki/api/v1/query_range?query=${query}&start=${start}&limit=1000&direction=forward`, tenant ? { headers: { 'x-scope-orgid': tenant } } : {});
  if (reply.status !== 200) throw new Error(`Loki answered ${reply.status}: ${reply.body}`);
  return (JSON.parse(reply.body) as Json).data.result;
}

export async function prometheus(cluster: NodeCluster, query: string): Promise<Json[]> {
  const reply = await httpGet(`${cluster.prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  if (reply.status !== 200) throw new Error(`Prometheus answered ${reply.status}: ${reply.body}`);
  return (JSON.parse(reply.body) as Json).data.result as Json[];
}

/** The executable each agent's image runs (test/cluster/build/images.sh lays them out so). */
const AGENT_EXECUTABLES = { promtail: '/usr/bin/promtail', alloy: '/bin/alloy' } as const;

/** The host pid of the sidecar's agent process in pod `podName` (the test runs on the node, as root). */
export function sidecarPid(podName: string, agent: keyof typeof AGENT_EXECUTABLES = 'promtail'): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.startsWith(`${AGENT_EXECUTABLES[agent]}\0`)) continue;
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`POD_NAME=${podName}`)) return Number(entry);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** The TCP addresses a process listens on ("0.0.0.0:9080", "[::]:9080", "127.0.0.1:41234"), from its network namespace's tables and its own sockets. */
export function listeningAddresses(pid: number): string[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`)
      .map((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } })
      .map((target) => /^socket:\[(\d+)\]$/.exec(target)?.[1])
      .filter((inode): inode is string => inode !== undefined),
  );
  const addresses: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const row of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const fields = row.trim().split(/\s+/);
      if (fields[3] !== '0A' || !inodes.has(fields[9] as string)) continue; // 0A: LISTEN
      const [hex, portHex] = (fields[1] as string).split(':') as [string, string];
      const port = parseInt(portHex, 16);
      if (table === 'tcp') {
        const ip = [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
        addresses.push(`${ip}:${port}`);
      } else {
        addresses.push(/^0+$/.test(hex) ? `[::]:${port}` : /^0{20}FFFF0000/i.test(hex) ? `[::ffff]:${port}` : hex === '00000000000000000000000001000000' ? `[::1]:${port}` : `[${hex}]:${port}`);
      }
    }
  }
  return addresses.sort();
}

/** Every line of `lines` once in Loki, nothing else with `mark`. */
export async function exactlyOnce(lokiUrl: string, selector: string, mark: string, lines: string[], timeoutMs: number): Promise<string[]> {
  const want = JSON.stringify([...lines].sort());
  let last: string[] = [];
  try {
    return await waitFor('every line in Loki', async () => {
      last = (await lokiStreams(lokiUrl, selector, mark)).flatMap((s) => s.values.map(([, text]) => text)).sort();
      return JSON.stringify(last) === want ? last : undefined;
    }, timeoutMs);
  } catch {
    return last;
  }
}

/** A busybox app that serves HTTP and writes nothing until the test makes it. */
function app(name: string, namespace: string, annotations: Record<string, string>, replicas = 1): Json {
  return parse(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata:
      labels: {app: ${name}}
      annotations: ${JSON.stringify(annotations)}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: web
          image: IMAGE
          imagePullPolicy: Never
          command: [sh, -c, 'mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
`) as Json;
}


export interface OwnLoki {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A Loki of the test's own beside the suite's (which other files share), on
 * the pod gateway so pods reach it; stopped when the test file ends.
 */
export async function ownLoki(t: Test, cluster: NodeCluster, options: { multiTenant?: boolean } = {}): Promise<OwnLoki> {
  const dir = tempDir('loki');
  const loki = lokiSetup(dir, new URL(cluster.lokiUrl).hostname, await freePort(), await freePort(), options);
  let child: ChildProcess | undefined;
  const stop = async () => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  t.teardown(stop);
  const start = async () => {
    const log = openSync(join(dir, 'loki.log'), 'a');
    child = spawn(cluster.loki, loki.args, { stdio: ['ignore', log, log] });
    await waitFor('Loki ready', async () => ((await httpGet(`${loki.url}/ready`).catch(() => ({ status: 0 }))).status === 200 ? true : undefined), 90_000);
  };
  await start();
  return { url: loki.url, start, stop };
}

/** A team ConfigMap: the central template with `change` applied (e.g. another Loki); returns the config written. */
export async function teamConfigMap(cluster: NodeCluster, namespace: string, name: string, change: (config: Json) => void): Promise<Json> {
  const central = parse(((await cluster.api('GET', '/api/v1/namespaces/sre-quero/configmaps/sre-quero-promtail-template')).body as Json).data['promtail.yaml']) as Json;
  change(central);
  const reply = await cluster.api('POST', `/api/v1/namespaces/${namespace}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { 'promtail.yaml': JSON.stringify(central) } });
  if (reply.status !== 201) throw new Error(`creating ConfigMap ${namespace}/${name}: ${reply.status}`);
  return central;
}

/** Deploys apps (with a Service) and writes their lines, as a team would. */
export function apps(cluster: NodeCluster) {
  const { api, kubectl } = cluster;
  const deploy = async (t: Test, namespace: string, name: string, annotations: Record<string, string>, replicas = 1) => {
    const manifest = app(name, namespace, annotations, replicas);
    manifest.spec.template.spec.containers[0].image = cluster.busyboxImage;
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } };
    const applied = await kubectl(['apply', '-f', '-'], { input: `${JSON.stringify(manifest)}\n${JSON.stringify(service)}` });
    t.equal(applied.status, 0, `apply ${namespace}/${name}`, { stderr: applied.stderr });
    const podsOf = async () => {
      const pods = ((await api('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=app%3D${name}`)).body as Json).items as Json[];
      return pods.filter((p) => !p.metadata.deletionTimestamp);
    };
    try {
      return await waitFor(
        `${namespace}/${name} Ready`,
        async () => {
          const live = await podsOf();
          return live.length === replicas && live.every(isReady) ? live : undefined;
        },
        // A node busy with the suite's other files: the first pod of an agent
        // maps its binary cold (alloy's is 400 MB) and has taken over a minute.
        120_000,
      );
    } catch (error) {
      // Say what the pods were doing, so a failure here can be understood afterwards.
      const states = (await podsOf().catch(() => [])).map((p) => ({
        pod: p.metadata.name,
        phase: p.status?.phase,
        conditions: (p.status?.conditions ?? []).map((c: Json) => `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}`),
        containers: [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].map((c: Json) => ({ name: c.name, ready: c.ready, started: c.started, restarts: c.restartCount, state: c.state })),
      }));
      throw new Error(`${(error as Error).message}: ${JSON.stringify(states)}`);
    }
  };
  const deployOne = async (t: Test, namespace: string, name: string, annotations: Record<string, string>): Promise<Json> =>
    (await deploy(t, namespace, name, annotations))[0] as Json;
  const write = async (t: Test, pod: Json, file: string, line: string) => {
    const exec = await kubectl(['-n', pod.metadata.namespace, 'exec', pod.metadata.name, '-c', 'web', '--', 'sh', '-c', `mkdir -p "$(dirname ${file})" && echo '${line}' >> ${file}`]);
    t.equal(exec.status, 0, `${pod.metadata.name} writes to ${file}`, { stderr: exec.stderr });
  };
  return { deploy, deployOne, write };
}
