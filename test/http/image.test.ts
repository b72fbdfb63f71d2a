import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { childEnv } from '../helpers/child-env.js';
import { parseAllDocuments } from 'yaml';
import { httpsPost } from '../helpers/https.js';
import { decodePatch, recipeReview, type Json } from '../helpers/reviews.js';
import { SERVING_MESSAGE, startServerProcess, writeLocalhostCertificate } from '../helpers/server-process.js';

// The container image's file tree, without Docker: compile, assemble it with
// deploy/image/assemble.sh (what the Dockerfile's final stage copies to /app),
// then run the server from that tree the way the Deployment does, with the
// settings shipped in deploy/base. Proves the tree is complete without
// devDependencies and that the server writes nothing into it.

const repoRoot = new URL('../../', import.meta.url).pathname;
const assemble = join(repoRoot, 'deploy/image/assemble.sh');

// Compiling and `npm ci --omit=dev` (registry or npm cache) take a while.
t.setTimeout(300_000);

/** Every path under `dir` with its type and content (files) or target (links), hashed. */
function snapshot(dir: string): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (relative: string): void => {
    for (const name of readdirSync(join(dir, relative)).sort()) {
      const path = relative ? `${relative}/${name}` : name;
      const full = join(dir, path);
      const stat = lstatSync(full);
      if (stat.isSymbolicLink()) entries.set(path, `link ${readlinkSync(full)}`);
      else if (stat.isDirectory()) {
        entries.set(path, 'dir');
        walk(path);
      } else entries.set(path, `file ${stat.mode.toString(8)} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`);
    }
  };
  walk('');
  return entries;
}

/** The settings.yaml key of ConfigMap sre-quero-settings in deploy/base. */
function shippedSettings(): string {
  const docs = parseAllDocuments(readFileSync(join(repoRoot, 'deploy/base/settings.yaml'), 'utf8')).map((doc) => doc.toJS() as Json);
  const configMap = docs.find((doc) => doc?.kind === 'ConfigMap' && doc.metadata?.name === 'sre-quero-settings');
  const settings = configMap?.data?.['settings.yaml'];
  if (typeof settings !== 'string') throw new Error('deploy/base/settings.yaml has no ConfigMap sre-quero-settings with key settings.yaml');
  return settings;
}

function httpsGet(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { ca, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

t.test('assemble.sh refuses a source without dist/', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'sq-image-empty-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const result = spawnSync('sh', [assemble, empty, join(empty, 'out')], { encoding: 'utf8' });
  t.equal(result.status, 1, 'exit code');
  t.match(result.stderr, /dist\/bin\.js is missing: build first/);
  t.notOk(existsSync(join(empty, 'out')), 'nothing created');
});

t.test('the image tree serves with the shipped settings and stays unchanged', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'sq-image-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  // A build context like the Dockerfile's: lock files, installed packages and
  // a fresh compile (into the temp dir, so a parallel test run never sees
  // dist/ half-written).
  const source = join(work, 'source');
  mkdirSync(source);
  for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(repoRoot, file), join(source, file));
  symlinkSync(join(repoRoot, 'node_modules'), join(source, 'node_modules'));
  const tsc = spawnSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', join(source, 'dist')], {
    encoding: 'utf8',
    env: childEnv({ NODE_ENV: 'production' }, { dropServerSettings: true }),
  });
  t.equal(tsc.status, 0, `tsc: ${tsc.stdout}${tsc.stderr}`);

  const tree = join(work, 'app');
  const assembled = spawnSync('sh', [assemble, source, tree], { encoding: 'utf8', env: childEnv({ NODE_ENV: 'production' }, { dropServerSettings: true }) });
  t.equal(assembled.status, 0, `assemble.sh: ${assembled.stderr}`);
  t.same(readdirSync(tree).sort(), ['dist', 'package.json'], 'only what the image needs: no node_modules, no sources');
  t.same(readdirSync(join(tree, 'dist')), ['bin.js'], 'the server and its dependencies in one bundle');
  const manifest = JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8')) as Json;
  t.equal(manifest.type, 'module', 'package.json makes dist/bin.js an ES module');
  t.notOk('dependencies' in manifest || 'devDependencies' in manifest, 'nothing left to install');
  // With no node_modules, the server below can only run if every runtime dependency is in the bundle.
  const before = snapshot(tree);

  // Outside the tree, like the mounted Secret and ConfigMap.
  const mounts = join(work, 'mounts');
  mkdirSync(mounts);
  const bundle = writeLocalhostCertificate(mounts);
  writeFileSync(join(mounts, 'settings.yaml'), shippedSettings());

  const { child, lines, address, exited, stderr } = await startServerProcess(
    t,
    [join(tree, 'dist/bin.js'), 'serve', '--listen', '127.0.0.1:0', '--tls-cert', bundle.certFile, '--tls-key', bundle.keyFile, '--settings', join(mounts, 'settings.yaml')],
    // The image's WORKDIR is /app: the tree itself.
    { cwd: tree, env: childEnv({ NODE_ENV: 'production' }, { dropServerSettings: true }) },
  );
  const serving = lines.find((line) => line.msg === SERVING_MESSAGE);
  t.equal(serving?.settingsFile, join(mounts, 'settings.yaml'), 'runs on the shipped settings');
  t.equal(serving?.devCertificate, false, 'no development certificate');

  t.equal(await httpsGet(`${address}/readyz`, bundle.caCert), 200, 'ready');
  const review = recipeReview();
  const reply = await httpsPost(`${address}/mutate`, bundle.caCert, JSON.stringify(review));
  t.equal(reply.status, 200);
  const response = (JSON.parse(reply.body) as Json).response as Json;
  t.equal(response.uid, review.request.uid, 'uid echoed');
  t.equal(response.allowed, true);
  t.equal(response.patchType, 'JSONPatch');
  const patch = decodePatch(response);
  t.ok(
    patch.some((op) => op.op === 'add' && op.path === '/spec/containers/1' && (op as { value: Json }).value.image === 'grafana/promtail:3.6.11'),
    'adds the promtail sidecar from the shipped settings',
  );

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: clean exit');
  t.equal(stderr(), '', 'nothing on stderr');
  t.ok(lines.some((line) => line.msg === 'shutting down' && line.signal === 'SIGTERM'));
  t.same(Object.fromEntries(snapshot(tree)), Object.fromEntries(before), 'the tree is unchanged: nothing written at runtime');
});
