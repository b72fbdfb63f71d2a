import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { makeCertificates, serviceDnsNames } from './certs.js';
import { UsageError } from './errors.js';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE, MUTATING_WEBHOOKS, TLS_SECRET_NAME, VALIDATING_WEBHOOKS, WEBHOOK_CONFIGURATION_NAME, } from './webhook-contract.js';
/**
 * `sre-quero certs`: a CA and a serving certificate for <service>.<namespace>.svc,
 * the TLS Secret, and kustomize patches that put the CA into every webhook
 * entry (`caBundle`). Offline; the self-signed overlay and the tests use it.
 */
export function runCerts(argv) {
    const { values } = parseArgs({
        args: [...argv],
        options: {
            service: { type: 'string', default: DEFAULT_SERVICE },
            namespace: { type: 'string', default: DEFAULT_NAMESPACE },
            out: { type: 'string' },
            days: { type: 'string', default: '365' },
            'ca-days': { type: 'string', default: '3650' },
            ip: { type: 'string', multiple: true, default: [] },
            'ca-cert': { type: 'string' },
            'ca-key': { type: 'string' },
        },
        strict: true,
        allowPositionals: false,
    });
    if (values.out === undefined)
        throw new UsageError('certs needs --out <dir>');
    const days = Number(values.days);
    if (!Number.isInteger(days) || days < 1 || days > 3650)
        throw new UsageError('--days must be a whole number from 1 to 3650');
    const caDays = Number(values['ca-days']);
    if (!Number.isInteger(caDays) || caDays < days || caDays > 36500)
        throw new UsageError('--ca-days must be a whole number from --days to 36500: the CA must outlive the certificate');
    const name = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
    if (!name.test(values.service) || !name.test(values.namespace))
        throw new UsageError('--service and --namespace must be DNS labels');
    if ((values['ca-cert'] === undefined) !== (values['ca-key'] === undefined))
        throw new UsageError('give both --ca-cert and --ca-key, or neither');
    const bundle = makeCertificates({
        commonName: `${values.service}.${values.namespace}.svc`,
        dnsNames: serviceDnsNames(values.service, values.namespace),
        ipAddresses: values.ip,
        validDays: days,
        caValidDays: caDays,
        ...(values['ca-cert'] && values['ca-key']
            ? { ca: { cert: readFileSync(values['ca-cert'], 'utf8'), key: readFileSync(values['ca-key'], 'utf8') } }
            : {}),
    });
    const caBundle = Buffer.from(bundle.caCert).toString('base64');
    const secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: TLS_SECRET_NAME, namespace: values.namespace },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': Buffer.from(bundle.cert).toString('base64'), 'tls.key': Buffer.from(bundle.key).toString('base64'), 'ca.crt': caBundle },
    };
    const caPatch = (kind, webhooks) => ({
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind,
        metadata: { name: WEBHOOK_CONFIGURATION_NAME },
        webhooks: webhooks.map((webhook) => ({ name: webhook.name, clientConfig: { caBundle } })),
    });
    mkdirSync(values.out, { recursive: true });
    const files = [
        ['ca.crt', bundle.caCert, 0o644],
        ['tls.crt', bundle.cert, 0o644],
        ['tls.key', bundle.key, 0o600],
        ['secret.yaml', stringify(secret), 0o600],
        ['webhooks-ca-bundle.yaml', stringify(caPatch('MutatingWebhookConfiguration', MUTATING_WEBHOOKS)), 0o644],
        // Only for overlays/legacy-self-signed (clusters without ValidatingAdmissionPolicy).
        ['validator-ca-bundle.yaml', stringify(caPatch('ValidatingWebhookConfiguration', VALIDATING_WEBHOOKS)), 0o644],
    ];
    if (!values['ca-key'])
        files.push(['ca.key', bundle.caKey, 0o600]);
    for (const [file, content, mode] of files) {
        const path = join(values.out, file);
        writeFileSync(path, content, { mode });
        chmodSync(path, mode);
    }
    return { dir: values.out, files: files.map(([file]) => file) };
}
//# sourceMappingURL=certs-command.js.map