import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runCerts } from '../../src/certs-command.js';
import { DEFAULT_SERVICE } from '../../src/webhook-contract.js';
import type { Json } from './reviews.js';

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

/**
 * Every field of rendered objects that still names namespace `old` where a
 * namespace belongs (not where "sre-quero" is a name), as `kind/name: where`.
 */
export function leftovers(objects: Json[], old: string): string[] {
  const found: string[] = [];
  const dns = new RegExp(`^[a-z0-9-]+\\.${old}(\\.svc(\\.cluster\\.local)?)?$`);
  const namespacedName = new RegExp(`^${old}/[a-z0-9-]+$`);
  const inText = new RegExp(`namespace ${old}\\b`);
  for (const object of objects) {
    const id = `${object.kind}/${object.metadata?.name}`;
    if (object.kind === 'Namespace' && object.metadata?.name === old) found.push(`${id}: metadata.name`);
    const walk = (value: unknown, path: string, key: string): void => {
      if (Array.isArray(value)) return value.forEach((item, i) => walk(item, `${path}[${i}]`, key));
      if (typeof value === 'object' && value !== null) {
        const record = value as Json;
        if (record.key === 'kubernetes.io/metadata.name' && Array.isArray(record.values) && record.values.includes(old)) found.push(`${id}: ${path}.values (excluded by name)`);
        for (const [k, v] of Object.entries(record)) walk(v, path ? `${path}.${k}` : k, k);
        return;
      }
      if (typeof value !== 'string') return;
      if ((key === 'namespace' || key === 'kubernetes.io/metadata.name') && value === old) found.push(`${id}: ${path}`);
      else if (dns.test(value) || namespacedName.test(value) || inText.test(value)) found.push(`${id}: ${path}`);
    };
    walk(object, '', '');
  }
  return found;
}
