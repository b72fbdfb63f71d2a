import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:https';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { FastifyBaseLogger } from 'fastify';
import { TlsInvalidError } from './errors.js';
import type { Metrics } from './metrics.js';

export interface TlsMaterial {
  cert: string;
  key: string;
}

/** Creates ca.crt, tls.crt and tls.key for localhost in `dir` unless they exist. */
export async function ensureDevCertificate(dir: string): Promise<boolean> {
  const files = ['ca.crt', 'tls.crt', 'tls.key'].map((name) => join(dir, name));
  if (files.every((file) => existsSync(file))) return false;
  // Loaded when used: a server with its certificate never needs node-forge (~10 MiB).
  const { makeCertificates } = await import('./certs.js');
  const bundle = makeCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], validDays: 365, caValidDays: 3650 });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ca.crt'), bundle.caCert);
  writeFileSync(join(dir, 'tls.crt'), bundle.cert);
  writeFileSync(join(dir, 'tls.key'), bundle.key, { mode: 0o600 });
  return true;
}

/** Reads a certificate and key and checks that they form a usable pair. */
export function readTls(certFile: string, keyFile: string): TlsMaterial {
  let material: TlsMaterial;
  try {
    material = { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  } catch (error) {
    throw new TlsInvalidError(`cannot read the serving certificate: ${(error as Error).message}`);
  }
  try {
    createSecureContext(material);
  } catch (error) {
    throw new TlsInvalidError(`${certFile} and ${keyFile} are not a usable certificate and key: ${(error as Error).message}`);
  }
  return material;
}

const fingerprint = (material: TlsMaterial): string => createHash('sha256').update(material.cert).update(material.key).digest('hex');

export interface CertificateWatch {
  /** Checks the files now; the timer calls it too. Resolves to true when the server got a new certificate. */
  check(): boolean;
  stop(): void;
}

/**
 * Re-reads the files on an interval and swaps the server's certificate for new
 * connections when they change (a Secret update rewrites the mounted files).
 * A half-written or mismatched pair is logged and the old one kept.
 */
/** When a PEM certificate (the first of a chain) expires, in epoch ms. */
export function notAfter(pem: string): number {
  return Date.parse(new X509Certificate(pem).validTo);
}

/**
 * Why the serving certificate cannot be valid for a Service in `namespace`,
 * or undefined. The API server calls the webhook at <service>.<namespace>.svc:
 * a certificate that names such Service names, none of them in this
 * namespace, is one made for another install namespace. That is what a
 * kustomize `namespace:` override without the example's patches ships
 * (deploy/overlays/example-namespace): the API server then fails every TLS
 * handshake and, the webhooks failing open, pods are created without the
 * sidecar and nothing says why. A certificate with no Service names at all
 * (the development one, or a `url:` webhook's) is not judged.
 */
export function certificateNamespaceProblem(pem: string, namespace: string): string | undefined {
  const names = (new X509Certificate(pem).subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice('DNS:'.length));
  const serviceNames = names.flatMap((name) => {
    const match = /^[^.]+\.([^.]+)\.svc(?:\.cluster\.local)?$/.exec(name);
    return match === null ? [] : [{ name, namespace: match[1] }];
  });
  if (serviceNames.length === 0 || serviceNames.some((service) => service.namespace === namespace)) return undefined;
  return (
    `the serving certificate names ${serviceNames.map((service) => service.name).join(', ')}, none in namespace ${namespace} where this server runs: ` +
    `the API server will fail TLS to this webhook and pods will be created without the sidecar. ` +
    `A kustomize namespace: override needs the certificate names, the CA injection and the excluded namespace to follow it (deploy/overlays/example-namespace); ` +
    `or re-issue the certificate for this namespace (sre-quero certs --namespace ${namespace})`
  );
}

export function watchCertificate(options: {
  server: Pick<Server, 'setSecureContext'>;
  certFile: string;
  keyFile: string;
  current: TlsMaterial;
  intervalMs: number;
  logger: FastifyBaseLogger;
  metrics: Metrics;
  /** The namespace the server runs in: a certificate made for another one is logged as an error (certificateNamespaceProblem). */
  namespace?: string;
}): CertificateWatch {
  let served = fingerprint(options.current);
  const judge = (pem: string): void => {
    const problem = options.namespace === undefined ? undefined : certificateNamespaceProblem(pem, options.namespace);
    if (problem !== undefined) options.logger.error({ certFile: options.certFile, namespace: options.namespace }, problem);
  };
  options.metrics.setCertificateNotAfter(notAfter(options.current.cert));
  judge(options.current.cert);
  const check = (): boolean => {
    let next: TlsMaterial;
    try {
      next = readTls(options.certFile, options.keyFile);
    } catch (error) {
      options.logger.warn({ err: (error as Error).message }, 'serving certificate unreadable; keeping the current one');
      options.metrics.certificateReloads.inc({ result: 'failed' });
      return false;
    }
    const nextFingerprint = fingerprint(next);
    if (nextFingerprint === served) return false;
    options.server.setSecureContext(next);
    served = nextFingerprint;
    options.metrics.setCertificateNotAfter(notAfter(next.cert));
    options.metrics.certificateReloads.inc({ result: 'reloaded' });
    options.logger.info({ certFile: options.certFile }, 'serving certificate reloaded');
    judge(next.cert);
    return true;
  };
  const timer = setInterval(check, options.intervalMs);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
