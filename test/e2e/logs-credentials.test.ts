import { randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { TLSSocket } from 'node:tls';
import t, { type Test } from 'tap';
import { makeCertificates } from '../../src/certs.js';
import type { Json } from '../helpers/reviews.js';
import { waitFor } from './harness.js';
import { apps, lokiStreams, teamConfigMap } from './log-harness.js';
import { isReady, namespaceFor, nodeClusterOrSkip, type NodeCluster } from './node-harness.js';
import { freePort } from '../cluster/net.js';

// Loki behind authentication, as platform teams run it: the credentials live
// in a Secret the injector mounts read-only in the sidecar
// (`logging.sre-quero/credentials-secret`, or `credentialsSecret` in the
// settings) at /etc/promtail-credentials, and the promtail config names the
// files. A gateway of the test's own stands in front of the suite's real
// Loki, checks the credentials and forwards what passes.

const cluster = nodeClusterOrSkip();
const DIR = '/etc/promtail-credentials';

interface Gateway {
  url: string;
  /** Pushes refused, by reason. */
  refused: string[];
  accepted: number;
}

/** Forwards authorised pushes to the suite's Loki; `check` says why a request is refused, or undefined. */
async function gateway(t: Test, cluster: NodeCluster, check: (request: IncomingMessage) => string | undefined, tls?: { cert: string; key: string; ca: string }): Promise<Gateway> {
  const host = new URL(cluster.lokiUrl).hostname;
  const port = await freePort(host);
  const state: Gateway = { url: `${tls ? 'https' : 'http'}://${host}:${port}`, refused: [], accepted: 0 };
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const why = check(request);
      if (why !== undefined) {
        state.refused.push(why);
        response.writeHead(401).end(why);
        return;
      }
      state.accepted++;
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'content-encoding']) if (typeof request.headers[name] === 'string') headers[name] = request.headers[name];
      fetch(`${cluster.lokiUrl}${request.url}`, { method: 'POST', headers, body: Buffer.concat(chunks) })
        .then(async (reply) => response.writeHead(reply.status).end(await reply.text()))
        .catch((error: unknown) => response.writeHead(502).end(String(error)));
    });
  };
  const server: Server | HttpsServer = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: false }, handle)
    : createHttpServer(handle);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}

if (cluster !== undefined) {
  const { api } = cluster;
  const { deployOne, write } = apps(cluster);

  const secret = async (namespace: string, name: string, data: Record<string, string>) => {
    const reply = await api('POST', `/api/v1/namespaces/${namespace}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: data });
    if (reply.status !== 201) throw new Error(`creating Secret ${namespace}/${name}: ${reply.status}`);
  };

  /** A team whose promtail config sends to `url` with `client` settings, its Secret mounted; returns its pod. */
  const team = async (t: Test, ns: string, url: string, client: Json) => {
    await teamConfigMap(cluster, ns, 'promtail-auth', (config) => {
      config.clients = [{ url: `${url}/loki/api/v1/push`, ...client }];
    });
    return deployOne(t, ns, 'web', {
      'logging.sre-quero/sidecar': 'true',
      'logging.sre-quero/config-map': 'promtail-auth',
      'logging.sre-quero/credentials-secret': 'loki-credentials',
    });
  };

  const arrives = async (ns: string, line: string, timeoutMs = 30_000) =>
    waitFor(`${ns}'s line in Loki`, async () => {
      const found = await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, line);
      return found.length > 0 ? found.flatMap((s) => s.values.map(([, text]) => text)) : undefined;
    }, timeoutMs);

  t.test('basic auth from the Secret: username_file and password_file', async (t) => {
    const password = randomBytes(12).toString('hex');
    const expected = `Basic ${Buffer.from(`team-a:${password}`).toString('base64')}`;
    const gate = await gateway(t, cluster, (request) => (request.headers.authorization === expected ? undefined : `bad authorization: ${request.headers.authorization ?? 'none'}`));
    const ns = await namespaceFor(cluster, 'creds-basic');
    await secret(ns, 'loki-credentials', { username: 'team-a', password });
    const pod = await team(t, ns, gate.url, { basic_auth: { username_file: `${DIR}/username`, password_file: `${DIR}/password` } });
    const promtail = pod.spec.containers.find((c: Json) => c.name === 'promtail');
    t.same(promtail.volumeMounts.find((m: Json) => m.name === 'promtail-credentials'), { name: 'promtail-credentials', mountPath: DIR, readOnly: true });
    t.notOk(pod.spec.containers.find((c: Json) => c.name === 'web').volumeMounts?.some((m: Json) => m.name === 'promtail-credentials'), 'the app does not see the Secret');
    const line = `basic ${randomUUID()}`;
    await write(t, pod, '/var/log/app/access.log', line);
    t.same(await arrives(ns, line), [line], 'the line passed the gateway into Loki');
    t.same(gate.refused, [], 'no push went without the right credentials');
    t.ok(gate.accepted > 0);
  });

  t.test('a bearer token from the Secret: bearer_token_file', async (t) => {
    const token = randomBytes(24).toString('base64url');
    const gate = await gateway(t, cluster, (request) => (request.headers.authorization === `Bearer ${token}` ? undefined : 'bad token'));
    const ns = await namespaceFor(cluster, 'creds-bearer');
    await secret(ns, 'loki-credentials', { token });
    const pod = await team(t, ns, gate.url, { bearer_token_file: `${DIR}/token` });
    const line = `bearer ${randomUUID()}`;
    await write(t, pod, '/var/log/app/access.log', line);
    t.same(await arrives(ns, line), [line]);
    t.same(gate.refused, []);
  });

  t.test('TLS to Loki with a client certificate from the Secret: tls_config', async (t) => {
    const host = new URL(cluster.lokiUrl).hostname;
    const server = makeCertificates({ commonName: 'loki-gateway', dnsNames: [], ipAddresses: [host], validDays: 1, caValidDays: 2 });
    const client = makeCertificates({ commonName: 'team-tls', dnsNames: [], ipAddresses: [], validDays: 1, purpose: 'client', ca: { cert: server.caCert, key: server.caKey } });
    const gate = await gateway(
      t,
      cluster,
      (request) => {
        const socket = request.socket as TLSSocket;
        return socket.authorized && socket.getPeerCertificate().subject?.CN === 'team-tls' ? undefined : `client certificate refused: ${socket.authorizationError ?? 'none'}`;
      },
      { cert: server.cert, key: server.key, ca: server.caCert },
    );
    const ns = await namespaceFor(cluster, 'creds-tls');
    await secret(ns, 'loki-credentials', { 'ca.crt': server.caCert, 'tls.crt': client.cert, 'tls.key': client.key });
    const pod = await team(t, ns, gate.url, { tls_config: { ca_file: `${DIR}/ca.crt`, cert_file: `${DIR}/tls.crt`, key_file: `${DIR}/tls.key` } });
    const line = `mtls ${randomUUID()}`;
    await write(t, pod, '/var/log/app/access.log', line);
    t.same(await arrives(ns, line), [line], 'promtail trusted the gateway and the gateway its certificate');
    t.same(gate.refused, []);
  });

  t.test('the Secret missing at start: the pod runs and turns Ready; lines written meanwhile arrive once it exists', async (t) => {
    const password = randomBytes(12).toString('hex');
    const expected = `Basic ${Buffer.from(`team-late:${password}`).toString('base64')}`;
    const gate = await gateway(t, cluster, (request) => (request.headers.authorization === expected ? undefined : 'bad authorization'));
    const ns = await namespaceFor(cluster, 'creds-late');
    // Retries every few seconds (promtail's default backoff grows to 5 minutes), so the test waits for the kubelet, not the backoff.
    const backoff_config = { min_period: '500ms', max_period: '5s', max_retries: 100 };
    const pod = await team(t, ns, gate.url, { basic_auth: { username_file: `${DIR}/username`, password_file: `${DIR}/password` }, backoff_config });
    t.ok(isReady(pod), 'Ready without the Secret: logging never keeps the app from running');
    const line = `late ${randomUUID()}`;
    await write(t, pod, '/var/log/app/access.log', line);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    t.equal(gate.accepted, 0, 'nothing sent without credentials');
    await secret(ns, 'loki-credentials', { username: 'team-late', password });
    const created = Date.now();
    // The kubelet fills the optional volume at its next sync of the pod; promtail retries the batch meanwhile.
    t.same(await arrives(ns, line, 150_000), [line], 'the line written before the Secret existed');
    t.comment(`arrived ${((Date.now() - created) / 1000).toFixed(1)} s after the Secret was created`);
    t.same(gate.refused, [], 'no push went out with wrong credentials');
    const now = (await api('GET', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`)).body as Json;
    t.same(now.status.containerStatuses.map((c: Json) => [c.name, c.restartCount]), [['promtail', 0], ['web', 0]], 'nothing restarted');
  });
}
