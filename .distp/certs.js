import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { CertOutlivesCaError } from './errors.js';
function newKeyPair() {
    // Node's native RSA is much faster than forge's pure-JS generator.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const forgeKey = forge.pki.privateKeyFromPem(pem);
    return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}
function newCertificate(publicKey, validDays, now) {
    const cert = forge.pki.createCertificate();
    cert.publicKey = publicKey;
    // Positive, 16 random bytes: unique serials without keeping state.
    cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
    cert.validity.notBefore = new Date(now - 5 * 60 * 1000);
    cert.validity.notAfter = new Date(now + validDays * 24 * 60 * 60 * 1000);
    return cert;
}
export function makeCertificates(request) {
    // One instant for both: a new CA and a certificate of the same lifetime end together.
    const now = Date.now();
    let caCert;
    let caKey;
    let caKeyPem;
    if (request.ca) {
        caCert = forge.pki.certificateFromPem(request.ca.cert);
        caKey = forge.pki.privateKeyFromPem(request.ca.key);
        caKeyPem = request.ca.key;
    }
    else {
        const pair = newKeyPair();
        caKey = pair.privateKey;
        caKeyPem = pair.pem;
        caCert = newCertificate(pair.publicKey, request.caValidDays ?? request.validDays, now);
        const caSubject = [{ name: 'commonName', value: `sre-quero CA for ${request.commonName}` }];
        caCert.setSubject(caSubject);
        caCert.setIssuer(caSubject);
        caCert.setExtensions([
            { name: 'basicConstraints', cA: true, critical: true },
            { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
            { name: 'subjectKeyIdentifier' },
        ]);
        caCert.sign(caKey, forge.md.sha256.create());
    }
    const leaf = newKeyPair();
    const cert = newCertificate(leaf.publicKey, request.validDays, now);
    // A certificate that outlives its CA stops verifying when the CA expires, earlier than it says.
    if (cert.validity.notAfter > caCert.validity.notAfter) {
        const caDaysLeft = Math.floor((caCert.validity.notAfter.getTime() - now) / 86_400_000);
        throw new CertOutlivesCaError(request.validDays, caCert.validity.notAfter.toISOString(), caDaysLeft);
    }
    cert.setSubject([{ name: 'commonName', value: request.commonName }]);
    cert.setIssuer(caCert.subject.attributes);
    cert.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        request.purpose === 'client' ? { name: 'extKeyUsage', clientAuth: true } : { name: 'extKeyUsage', serverAuth: true },
        {
            name: 'subjectAltName',
            altNames: [
                ...request.dnsNames.map((value) => ({ type: 2, value })),
                ...request.ipAddresses.map((ip) => ({ type: 7, ip })),
            ],
        },
    ]);
    cert.sign(caKey, forge.md.sha256.create());
    return {
        caCert: forge.pki.certificateToPem(caCert),
        caKey: caKeyPem,
        cert: forge.pki.certificateToPem(cert),
        key: leaf.pem,
    };
}
/** SANs for a webhook Service, as the API server dials it. */
export function serviceDnsNames(service, namespace) {
    return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}
//# sourceMappingURL=certs.js.map