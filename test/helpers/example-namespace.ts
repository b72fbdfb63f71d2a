import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runCerts } from '../../src/certs-command.js';
import { DEFAULT_SERVICE } from '../../src/webhook-contract.js';

// deploy/overlays/example-namespace made to follow a namespace on top of one
// of the overlays, exactly as its kustomization.yaml and deploy/README.md
// ("Another namespace") tell a user to: replace every `logging-system`,
// point `bases` at the overlay, and for the self-signed ones make the
// certificate with `sre-quero certs --namespace` and drop the cert-manager
// patches (legacy: add the validator's patch, drop the policy's). The unit
// test renders what this writes; the e2e files install it.

export const repoRoot = new URL('../../', import.meta.url).pathname;
/** The namespace the shipped example names. */
export const EXAMPLE_NAMESPACE = 'logging-system';
export const EXAMPLE_VARIANTS = ['cert-manager', 'self-signed', 'legacy-self-signed'] as const;
export type ExampleVariant = (typeof EXAMPLE_VARIANTS)[number];

interface Json6902 {
  target: { group?: string; version: string; kind: string; name: string };
  path: string;
}

/**
 * Copies deploy/ into `workdir/deploy` (once) and writes the example for
 * `namespace` over `variant` into `workdir/deploy/overlays/<name>`; returns
 * that directory. `service`: the Service name the self-signed certificate is
 * for (a namePrefix on top changes it).
 */
export function writeExample(workdir: string, options: { namespace: string; variant: ExampleVariant; name?: string; service?: string }): string {
  const { namespace, variant } = options;
  const deploy = join(workdir, 'deploy');
  if (!existsSync(deploy)) cpSync(join(repoRoot, 'deploy'), deploy, { recursive: true });
  const dir = join(deploy, 'overlays', options.name ?? `example-${variant}-${namespace}`);
  cpSync(join(repoRoot, 'deploy/overlays/example-namespace'), dir, { recursive: true });
  // "replace every logging-system in it"
  for (const file of readdirSync(dir)) {
    const path = join(dir, file);
    writeFileSync(path, readFileSync(path, 'utf8').replaceAll(EXAMPLE_NAMESPACE, namespace));
  }
  if (variant === 'cert-manager') return dir;

  runCerts(['--service', options.service ?? DEFAULT_SERVICE, '--namespace', namespace, '--out', join(deploy, 'overlays', variant, 'generated')]);
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { bases: string[]; patchesJson6902: Json6902[] };
  kustomization.bases = [`../${variant}`];
  kustomization.patchesJson6902 = kustomization.patchesJson6902.filter(
    (patch) => !patch.path.startsWith('cert-manager') && !(variant === 'legacy-self-signed' && patch.path.startsWith('policy')),
  );
  if (variant === 'legacy-self-signed') {
    kustomization.patchesJson6902.push({
      target: { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingWebhookConfiguration', name: 'sre-quero' },
      path: 'legacy-validator.yaml',
    });
  }
  writeFileSync(join(dir, 'kustomization.yaml'), stringify(kustomization));
  return dir;
}
