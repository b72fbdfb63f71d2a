import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Test } from 'tap';
import { makeCertificates, type CertificateBundle } from '../../src/certs.js';
import type { Json } from './reviews.js';
import { tempDir } from './temp-dir.js';

// `sre-quero serve` (or the image's dist/bin.js) as a real child process, for
// the tests that need one: its JSON log lines, its address, its exit.

export const SERVING_MESSAGE = 'sre-quero webhook serving';

export interface ServerProcess {
  child: ChildProcess;
  /** Every log line so far, parsed. */
  lines: Json[];
  /** The `address` of the serving line, e.g. https://127.0.0.1:PORT. */
  address: string;
  exited: Promise<number | null>;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
}

/** A localhost serving certificate in `dir` (made if missing): tls.crt and tls.key. */
export function writeLocalhostCertificate(dir = tempDir('cert')): CertificateBundle & { dir: string; certFile: string; keyFile: string } {
  mkdirSync(dir, { recursive: true });
  const bundle = makeCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1 });
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  writeFileSync(certFile, bundle.cert);
  writeFileSync(keyFile, bundle.key);
  return { ...bundle, dir, certFile, keyFile };
}

/**
 * Spawns `node <args>`, resolves once it logs that it serves, and kills it in
 * teardown. Rejects with its stderr if it exits first or prints a non-JSON line.
 */
export async function startServerProcess(t: Test, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  const lines: Json[] = [];
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Json;
      try {
        entry = JSON.parse(line) as Json;
      } catch {
        return reject(new Error(`not a JSON log line: ${line}`));
      }
      lines.push(entry);
      if (entry.msg === SERVING_MESSAGE) resolve(entry.address as string);
    });
    void exited.then((code) => reject(new Error(`the server exited with ${code}: ${stderr}`)));
  });
  return { child, lines, address, exited, stderr: () => stderr };
}
