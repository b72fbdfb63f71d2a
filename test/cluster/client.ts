import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

// How tests talk to a real API server: raw HTTPS calls (status, body and
// Warning headers as they are) and kubectl, for both the per-file control
// planes and the shared cluster with a node.

export interface ApiReply<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  /** The API server's Warning headers, e.g. admission webhook warnings. */
  warnings: string[];
}

export interface Identity {
  user: string;
  token: string;
  groups: string[];
}

export type Api = <T = any>(method: string, path: string, body?: unknown, options?: { as?: Identity; contentType?: string }) => Promise<ApiReply<T>>;
export type Kubectl = (args: string[], options?: { input?: string; as?: Identity }) => Promise<{ status: number | null; stdout: string; stderr: string }>;

function parseWarnings(header: string | string[] | undefined): string[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  // Warning: 299 - "text"
  return values.flatMap((value) => [...value.matchAll(/299 - "((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] as string).replace(/\\(.)/g, '$1')));
}

/** Raw API calls as `token`'s user (or `as`). */
export function apiClient(target: { server: string; caFile: string; token: string }): Api {
  return <T = any>(method: string, path: string, body?: unknown, callOptions: { as?: Identity; contentType?: string } = {}): Promise<ApiReply<T>> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = request(
        `${target.server}${path}`,
        {
          method,
          ca: readFileSync(target.caFile),
          agent: false,
          headers: {
            authorization: `Bearer ${callOptions.as?.token ?? target.token}`,
            accept: 'application/json',
            ...(payload === undefined ? {} : { 'content-type': callOptions.contentType ?? 'application/json' }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* not JSON (e.g. /readyz) */
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T, warnings: parseWarnings(res.headers.warning) });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
}

/** Runs kubectl without blocking the event loop (the webhook under test may live in this process). */
export interface Captured {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the event loop (the suite's other work goes on) and captures its output. */
export function runCaptured(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs: number }): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'], timeout: options.timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

export function kubectlRunner(kubectl: string, kubeconfig: string): Kubectl {
  return (args, callOptions = {}) =>
    runCaptured(kubectl, ['--kubeconfig', kubeconfig, ...(callOptions.as ? ['--token', callOptions.as.token] : []), ...args], { input: callOptions.input, timeoutMs: 120_000 });
}
