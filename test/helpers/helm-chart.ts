import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import type { Json } from './reviews.js';

export interface TemplateOptions {
  release?: string;
  namespace?: string;
  values?: Json;
  flags?: string[];
}

/**
 * `helm` with its own state (repositories, plugins, cache) in a throw-away
 * home removed when `t` ends, no cluster (KUBECONFIG points nowhere), and
 * `helm template` of `chart` with values written to a file.
 */
export function helmRunner(t: Test, helm: string, chart: string) {
  const home = mkdtempSync(join(tmpdir(), 'sre-quero-helm-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { ...process.env, HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data'), KUBECONFIG: join(home, 'none') };
  let files = 0;
  /** A file in the throw-away home, for values or configs a test writes. */
  const scratch = (name: string): string => join(home, `${files++}-${name}`);
  const run = (args: string[]) => spawnSync(helm, args, { encoding: 'utf8', env, timeout: 60_000 });
  const template = (options: TemplateOptions = {}) => {
    const args = ['template', options.release ?? 'sre-quero', chart, '--namespace', options.namespace ?? 'sre-quero', ...(options.flags ?? [])];
    if (options.values !== undefined) {
      const file = scratch('values.json');
      writeFileSync(file, JSON.stringify(options.values));
      args.push('--values', file);
    }
    return run(args);
  };
  /** `helm template`'s objects; throws with Helm's message when it fails. */
  const render = (options: TemplateOptions = {}): Json[] => {
    const result = template(options);
    if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
    return parseAllDocuments(result.stdout).map((doc) => doc.toJS() as Json).filter(Boolean);
  };
  return { home, env, scratch, run, template, render };
}
