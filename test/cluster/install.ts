import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runCerts } from '../../src/certs-command.js';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE } from '../../src/webhook-contract.js';

// sre-quero installed the way users install it: deploy/overlays/self-signed
// with the certificate `sre-quero certs` makes, applied with kubectl. The
// local changes are the ones a platform team makes too: the settings' sidecar
// images (the promtail and alloy images built and imported by provisioning,
// no registry here) and the central template's Loki URL, in both keys (the cluster's Loki).

export const repoRoot = new URL('../../', import.meta.url).pathname;

export interface InstallOptions {
  kubectl: string;
  kubeconfig: string;
  /** Where the copy of deploy/ with the generated certificate goes. */
  workdir: string;
  promtailImage: string;
  /** The Alloy image provisioning built and imported. */
  alloyImage: string;
  /** Where the central template sends the sidecars' lines. */
  lokiPushUrl: string;
}

type AgentMap<T> = Record<'promtail' | 'alloy', T>;

/** The settings' image (and its repository) for one agent replaced by a local one. */
function useImage(settings: Record<string, unknown>, agent: 'promtail' | 'alloy', image: string): void {
  const images = settings.images as AgentMap<string>;
  const repositories = settings.allowedImageRepositories as AgentMap<string[]>;
  settings.images = { ...images, [agent]: image };
  settings.allowedImageRepositories = { ...repositories, [agent]: [...new Set([...repositories[agent], image.replace(/:[^:/]+$/, '')])] };
}

/** Writes the overlay and returns its directory. */
function writeLocalOverlay(options: Pick<InstallOptions, 'workdir' | 'promtailImage' | 'alloyImage' | 'lokiPushUrl'>): string {
  const deploy = join(options.workdir, 'deploy');
  cpSync(join(repoRoot, 'deploy'), deploy, { recursive: true });
  runCerts(['--service', DEFAULT_SERVICE, '--namespace', DEFAULT_NAMESPACE, '--out', join(deploy, 'overlays/self-signed/generated')]);

  const base = parse(readFileSync(join(deploy, 'base/settings.yaml'), 'utf8')) as { data: Record<string, string> };
  const settings = parse(base.data['settings.yaml'] as string) as Record<string, unknown>;
  useImage(settings, 'promtail', options.promtailImage);
  useImage(settings, 'alloy', options.alloyImage);

  const overlay = join(deploy, 'overlays/local-node');
  mkdirSync(overlay, { recursive: true });
  writeFileSync(
    join(overlay, 'settings.yaml'),
    stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'sre-quero-settings', namespace: DEFAULT_NAMESPACE }, data: { 'settings.yaml': stringify(settings) } }),
  );
  // The central template, as shipped, with the cluster's Loki as the client of both agents.
  const template = parse(readFileSync(join(deploy, 'base/promtail-template.yaml'), 'utf8')) as { metadata: Record<string, unknown>; data: Record<string, string> };
  const promtail = parse(template.data['promtail.yaml'] as string) as { clients: { url: string }[] };
  promtail.clients = [{ ...promtail.clients[0], url: options.lokiPushUrl }];
  const alloy = (template.data['config.alloy'] as string).replace(/^(\s*url\s*=\s*")[^"]*(")/m, `$1${options.lokiPushUrl}$2`);
  writeFileSync(
    join(overlay, 'promtail-template.yaml'),
    stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: template.metadata.name, namespace: DEFAULT_NAMESPACE }, data: { 'promtail.yaml': stringify(promtail), 'config.alloy': alloy } }),
  );
  writeFileSync(
    join(overlay, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['../self-signed'],
      patches: [{ path: 'settings.yaml' }, { path: 'promtail-template.yaml' }],
    }),
  );
  return overlay;
}

function kubectl(options: InstallOptions, args: string[]): string {
  const result = spawnSync(options.kubectl, ['--kubeconfig', options.kubeconfig, ...args], { encoding: 'utf8', timeout: 300_000 });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Applies the overlay and waits for the webhook Deployment's replicas to be Ready. */
export function installSreQuero(options: InstallOptions): void {
  const overlay = writeLocalOverlay(options);
  kubectl(options, ['apply', '-k', overlay]);
  kubectl(options, ['-n', DEFAULT_NAMESPACE, 'rollout', 'status', `deployment/${DEFAULT_SERVICE}`, '--timeout=180s']);
}
