import { readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:https';
import { join } from 'node:path';
import t from 'tap';
import { makeCertificates } from '../../src/certs.js';
import { TlsInvalidError } from '../../src/errors.js';
import { ensureDevCertificate, notAfter, readTls, watchCertificate } from '../../src/tls.js';
import { httpsPost } from '../helpers/https.js';
import { recipeReview, testApp } from '../helpers/reviews.js';
import { tempDir } from '../helpers/temp-dir.js';

const localhostBundle = () => makeCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1 });

t.test('the development certificate is made once, for localhost and 127.0.0.1', async (t) => {
  const dir = join(tempDir('dev'), 'certs/dev');
  t.equal(await ensureDevCertificate(dir), true, 'created');
  const first = readFileSync(join(dir, 'tls.crt'), 'utf8');
  t.equal(await ensureDevCertificate(dir), false, 'kept on the second call');
  t.equal(readFileSync(join(dir, 'tls.crt'), 'utf8'), first);
  const { X509Certificate } = await import('node:crypto');
  const cert = new X509Certificate(first);
  t.match(cert.subjectAltName, /DNS:localhost/);
  t.match(cert.subjectAltName, /IP Address:127\.0\.0\.1/);
  t.ok(cert.checkIssued(new X509Certificate(readFileSync(join(dir, 'ca.crt'), 'utf8'))), 'signed by ca.crt');
  t.notOk(cert.ca, 'the serving certificate is not a CA');
});

t.test('readTls refuses missing files and mismatched pairs with a clear error', async (t) => {
  const dir = tempDir('tls');
  const a = localhostBundle();
  const b = localhostBundle();
  writeFileSync(join(dir, 'a.crt'), a.cert);
  writeFileSync(join(dir, 'b.key'), b.key);
  t.throws(() => readTls(join(dir, 'missing.crt'), join(dir, 'b.key')), { name: 'TlsInvalidError', code: 'SQ_TLS_INVALID', message: /cannot read the serving certificate/ });
  t.throws(() => readTls(join(dir, 'a.crt'), join(dir, 'b.key')), { name: 'TlsInvalidError', code: 'SQ_TLS_INVALID', message: /are not a usable certificate and key/ });
  t.ok(new TlsInvalidError('x') instanceof Error);
});

t.test('real HTTPS: serves reviews, and swaps certificates without a restart', async (t) => {
  const dir = tempDir('reload');
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const first = localhostBundle();
  writeFileSync(certFile, first.cert);
  writeFileSync(keyFile, first.key);

  const material = readTls(certFile, keyFile);
  const { app, metrics, logLines } = testApp({ https: material });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const url = `https://127.0.0.1:${(app.server.address() as { port: number }).port}/mutate`;
  const watch = watchCertificate({
    server: app.server as unknown as Server,
    certFile,
    keyFile,
    current: material,
    intervalMs: 3_600_000,
    logger: app.log,
    metrics,
  });
  t.teardown(() => watch.stop());

  const review = recipeReview();
  const reply = await httpsPost(url, first.caCert, JSON.stringify(review));
  t.equal(reply.status, 200);
  t.equal(JSON.parse(reply.body).response.patchType, 'JSONPatch');
  t.equal(watch.check(), false, 'unchanged files: nothing to do');

  // A half-written pair (new cert, old key) is refused and the old one kept.
  const second = localhostBundle();
  writeFileSync(certFile, second.cert);
  t.equal(watch.check(), false, 'mismatched pair is not loaded');
  t.equal((await httpsPost(url, first.caCert, JSON.stringify(review))).status, 200, 'old certificate still served');

  writeFileSync(keyFile, second.key);
  t.equal(watch.check(), true, 'complete new pair is loaded');
  t.equal((await httpsPost(url, second.caCert, JSON.stringify(review))).status, 200, 'new connections get the new certificate');
  await t.rejects(httpsPost(url, first.caCert, JSON.stringify(review)), /self[- ]signed|unable to verify|certificate/i, 'the old CA no longer verifies');

  const reloads = await metrics.registry.getSingleMetricAsString('sre_quero_certificate_reloads_total');
  t.match(reloads, /result="failed"} 1$/m);
  t.match(reloads, /result="reloaded"} 1$/m);
  t.ok(logLines().some((line) => line.msg === 'serving certificate reloaded'));
  t.notMatch(JSON.stringify(logLines()), /PRIVATE KEY/, 'no key material in the log');
});

t.test('sre_quero_certificate_expiry_seconds counts down to the served certificate, and follows a reload', async (t) => {
  const dir = tempDir('expiry');
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const first = makeCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1, caValidDays: 2 });
  writeFileSync(certFile, first.cert);
  writeFileSync(keyFile, first.key);
  const { app, metrics } = testApp();
  const watch = watchCertificate({ server: { setSecureContext: () => {} }, certFile, keyFile, current: readTls(certFile, keyFile), intervalMs: 3_600_000, logger: app.log, metrics });
  t.teardown(() => watch.stop());
  const expirySeconds = async () => {
    const text = await metrics.registry.getSingleMetricAsString('sre_quero_certificate_expiry_seconds');
    return Number(/^sre_quero_certificate_expiry_seconds\{certificate="serving"\} (\S+)$/m.exec(text)?.[1]);
  };
  const expected = (pem: string) => (notAfter(pem) - Date.now()) / 1000;
  t.ok(Math.abs((await expirySeconds()) - expected(first.cert)) < 5, 'one day, counted at the scrape');
  t.throws(
    () => makeCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 30, ca: { cert: first.caCert, key: first.caKey } }),
    { code: 'SQ_CERT_OUTLIVES_CA' },
    'a 30-day certificate from a 2-day CA is refused',
  );
  const renewed = makeCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1, ca: { cert: first.caCert, key: first.caKey } });
  writeFileSync(keyFile, renewed.key);
  writeFileSync(certFile, renewed.cert);
  t.equal(watch.check(), true);
  t.ok(Math.abs((await expirySeconds()) - expected(renewed.cert)) < 5, 'the renewed certificate');
  t.ok(notAfter(renewed.cert) >= notAfter(first.cert), 'issued later, expires later');
});

t.test('rotation under load: a certificate renewed from the same CA, five times, fails no admission', async (t) => {
  const dir = tempDir('rotation');
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const issue = (days: number, ca?: { cert: string; key: string }) =>
    makeCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: days, caValidDays: 30, ...(ca ? { ca } : {}) });
  const first = issue(1);
  const ca = { cert: first.caCert, key: first.caKey };
  writeFileSync(certFile, first.cert);
  writeFileSync(keyFile, first.key);
  const material = readTls(certFile, keyFile);
  const { app, metrics } = testApp({ https: material });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const url = `https://127.0.0.1:${(app.server.address() as { port: number }).port}/mutate`;
  const watch = watchCertificate({ server: app.server as unknown as Server, certFile, keyFile, current: material, intervalMs: 3_600_000, logger: app.log, metrics });
  t.teardown(() => watch.stop());

  // Clients trust the CA (the caBundle), and each request opens a new connection, as the API server's do after a rotation.
  const body = JSON.stringify(recipeReview());
  let running = true;
  const outcomes = { allowed: 0, failed: [] as string[] };
  const client = async () => {
    while (running) {
      try {
        const reply = await httpsPost(url, first.caCert, body);
        if (reply.status === 200 && JSON.parse(reply.body).response.patchType === 'JSONPatch') outcomes.allowed++;
        else outcomes.failed.push(`${reply.status} ${reply.body.slice(0, 200)}`);
      } catch (error) {
        outcomes.failed.push((error as Error).message);
      }
    }
  };
  const clients = Array.from({ length: 6 }, client);
  const served: string[] = [first.cert];
  for (let day = 2; day <= 6; day++) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const next = issue(day, ca);
    writeFileSync(keyFile, next.key);
    writeFileSync(certFile, next.cert);
    t.equal(watch.check(), true, `renewal ${day - 1} loaded`);
    served.push(next.cert);
  }
  await new Promise((resolve) => setTimeout(resolve, 150));
  running = false;
  await Promise.all(clients);
  t.same(outcomes.failed, [], 'no admission failed');
  t.ok(outcomes.allowed > 20, `${outcomes.allowed} reviews answered across five renewals`);
  const reloads = await metrics.registry.getSingleMetricAsString('sre_quero_certificate_reloads_total');
  t.match(reloads, /result="reloaded"} 5$/m);
  const expiry = Number(/certificate="serving"\} (\S+)$/m.exec(await metrics.registry.getSingleMetricAsString('sre_quero_certificate_expiry_seconds'))?.[1]);
  t.ok(Math.abs(expiry - (notAfter(served.at(-1) as string) - Date.now()) / 1000) < 5, 'the gauge follows the renewed certificate (6 days)');
});

t.test('a certificate made for another install namespace is logged as an error, at start and on reload (a kustomize namespace: override)', async (t) => {
  const { certificateNamespaceProblem } = await import('../../src/tls.js');
  const { serviceDnsNames } = await import('../../src/certs.js');
  const forNamespace = (namespace: string) =>
    makeCertificates({ commonName: `sre-quero.${namespace}.svc`, dnsNames: serviceDnsNames('sre-quero', namespace), ipAddresses: [], validDays: 1 });
  const own = forNamespace('sre-quero');
  t.equal(certificateNamespaceProblem(own.cert, 'sre-quero'), undefined, 'names this namespace: fine');
  t.equal(certificateNamespaceProblem(localhostBundle().cert, 'elsewhere'), undefined, 'no Service names (development, url webhooks): not judged');
  const problem = certificateNamespaceProblem(own.cert, 'elsewhere');
  t.match(problem, /names sre-quero\.sre-quero\.svc, sre-quero\.sre-quero\.svc\.cluster\.local, none in namespace elsewhere where this server runs/);
  const fullNameOnly = makeCertificates({ commonName: 'sre-quero', dnsNames: ['sre-quero.sre-quero.svc.cluster.local'], ipAddresses: [], validDays: 1 });
  t.match(certificateNamespaceProblem(fullNameOnly.cert, 'elsewhere'), /names sre-quero\.sre-quero\.svc\.cluster\.local, none in namespace elsewhere/, 'the .cluster.local form alone is judged and named too');
  t.match(problem, /example-namespace/);
  t.match(problem, /sre-quero certs --namespace elsewhere/);

  const dir = tempDir('namespace');
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  writeFileSync(certFile, own.cert);
  writeFileSync(keyFile, own.key);
  const { app, metrics, logLines } = testApp({ https: readTls(certFile, keyFile) });
  const errors = () => logLines().filter((line) => line.level === 50);
  const watch = watchCertificate({ server: { setSecureContext: () => {} }, certFile, keyFile, current: readTls(certFile, keyFile), intervalMs: 3_600_000, logger: app.log, metrics, namespace: 'elsewhere' });
  t.teardown(() => watch.stop());
  t.equal(errors().length, 1, 'one error at start');
  t.match(errors()[0], { namespace: 'elsewhere', msg: /none in namespace elsewhere/ });
  const fixed = forNamespace('elsewhere');
  writeFileSync(certFile, fixed.cert);
  writeFileSync(keyFile, fixed.key);
  t.equal(watch.check(), true, 'the re-issued certificate is loaded');
  t.equal(errors().length, 1, 'no new error for a certificate of this namespace');
  writeFileSync(certFile, own.cert);
  writeFileSync(keyFile, own.key);
  t.equal(watch.check(), true);
  t.equal(errors().length, 2, 'a reload to a wrong one is reported again');
});
