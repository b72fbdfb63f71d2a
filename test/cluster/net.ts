import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';

// Small network helpers shared by the cluster harnesses.

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP port nothing listens on right now (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** One GET (HTTP, or HTTPS with a CA and a bearer token); never throws for an HTTP status. */
export function httpGet(url: string, options: { ca?: string; token?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers, ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) };
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { ca: options.ca, agent: false, timeout: 5000, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** etcd on loopback with its data in `dataDir`. */
export const etcdArgs = (dataDir: string, clientPort: number, peerPort: number): string[] => [
  '--data-dir', dataDir,
  '--listen-client-urls', `http://127.0.0.1:${clientPort}`,
  '--advertise-client-urls', `http://127.0.0.1:${clientPort}`,
  '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
  '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
  '--initial-cluster', `default=http://127.0.0.1:${peerPort}`,
];
