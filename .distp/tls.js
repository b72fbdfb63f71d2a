import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { TlsInvalidError } from './errors.js';
/** Creates ca.crt, tls.crt and tls.key for localhost in `dir` unless they exist. */
export async function ensureDevCertificate(dir) {
    const files = ['ca.crt', 'tls.crt', 'tls.key'].map((name) => join(dir, name));
    if (files.every((file) => existsSync(file)))
        return false;
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
export function readTls(certFile, keyFile) {
    let material;
    try {
        material = { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
    }
    catch (error) {
        throw new TlsInvalidError(`cannot read the serving certificate: ${error.message}`);
    }
    try {
        createSecureContext(material);
    }
    catch (error) {
        throw new TlsInvalidError(`${certFile} and ${keyFile} are not a usable certificate and key: ${error.message}`);
    }
    return material;
}
const fingerprint = (material) => createHash('sha256').update(material.cert).update(material.key).digest('hex');
/**
 * Re-reads the files on an interval and swaps the server's certificate for new
 * connections when they change (a Secret update rewrites the mounted files).
 * A half-written or mismatched pair is logged and the old one kept.
 */
/** When a PEM certificate (the first of a chain) expires, in epoch ms. */
export function notAfter(pem) {
    return Date.parse(new X509Certificate(pem).validTo);
}
export function watchCertificate(options) {
    let served = fingerprint(options.current);
    options.metrics.setCertificateNotAfter(notAfter(options.current.cert));
    const check = () => {
        let next;
        try {
            next = readTls(options.certFile, options.keyFile);
        }
        catch (error) {
            options.logger.warn({ err: error.message }, 'serving certificate unreadable; keeping the current one');
            options.metrics.certificateReloads.inc({ result: 'failed' });
            return false;
        }
        const nextFingerprint = fingerprint(next);
        if (nextFingerprint === served)
            return false;
        options.server.setSecureContext(next);
        served = nextFingerprint;
        options.metrics.setCertificateNotAfter(notAfter(next.cert));
        options.metrics.certificateReloads.inc({ result: 'reloaded' });
        options.logger.info({ certFile: options.certFile }, 'serving certificate reloaded');
        return true;
    };
    const timer = setInterval(check, options.intervalMs);
    timer.unref();
    return { check, stop: () => clearInterval(timer) };
}
//# sourceMappingURL=tls.js.map