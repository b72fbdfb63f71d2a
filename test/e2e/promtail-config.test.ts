import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { freePort } from '../cluster/net.js';
import { clusterRequired, readProvisioned } from '../cluster/versions.js';
import type { Json } from '../helpers/reviews.js';
import { tempDir } from '../helpers/temp-dir.js';

// The config the sidecars really run, checked by the real agents: the
// central template of deploy/base with the environment each injected sidecar
// gets, for every settings variant the golden files cover (promtail
// -check-syntax; alloy validate for the alloy sidecars, on config.alloy), and
// one promtail sidecar run for real on a folder of lines (-dry-run prints
// what it would push, labels included).

const promtail = readProvisioned()?.promtail;
const alloy = readProvisioned()?.alloy;
const root = new URL('../../', import.meta.url).pathname;

if (promtail === undefined || !existsSync(promtail) || alloy === undefined || !existsSync(alloy)) {
  const hint = 'agent config tests not run: no promtail or alloy built; `bash test/cluster/provision.sh` builds them';
  if (clusterRequired()) t.fail(`SRE_QUERO_REQUIRE_CLUSTER=1 but ${hint}`);
  else t.plan(0, hint);
} else {
  const work = tempDir('promtail');
  const template = parse(readFileSync(join(root, 'deploy/base/promtail-template.yaml'), 'utf8')) as Json;
  const config = join(work, 'promtail.yaml');
  writeFileSync(config, template.data['promtail.yaml']);
  const alloyConfig = join(work, 'config.alloy');
  writeFileSync(alloyConfig, template.data['config.alloy']);

  /** Every injected promtail sidecar in the golden files, with the file it came from (alloy's apart: `alloy run ...`). */
  const sidecars: { from: string; container: Json }[] = [];
  const alloySidecars: { from: string; container: Json }[] = [];
  const goldenDir = join(root, 'test/fixtures/golden');
  for (const file of readdirSync(goldenDir).filter((name) => name.endsWith('.injected'))) {
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        const object = node as Json;
        for (const list of [object.containers, object.initContainers]) {
          if (!Array.isArray(list)) continue;
          for (const c of list as Json[]) if (c.name === 'promtail') (c.args?.[0] === 'run' ? alloySidecars : sidecars).push({ from: file, container: c });
        }
        Object.values(object).forEach(walk);
      }
    };
    for (const doc of parseAllDocuments(readFileSync(join(goldenDir, file), 'utf8'))) walk(doc.toJS());
  }

  /** The sidecar's environment as the kubelet would set it (downward API values made up). */
  const envOf = (container: Json, overrides: Record<string, string> = {}): Record<string, string> => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    for (const variable of container.env as Json[]) env[variable.name] = variable.value ?? `test-${variable.valueFrom.fieldRef.fieldPath.replace(/\W/g, '-')}`;
    return { ...env, ...overrides };
  };
  const argsOf = (container: Json, extra: Record<string, string>) =>
    (container.args as string[]).map((arg) => {
      const flag = arg.split('=')[0] as string;
      return flag in extra ? `${flag}=${extra[flag]}` : arg;
    });

  t.test('the template with every golden variant\'s sidecar environment passes promtail -check-syntax', async (t) => {
    t.ok(sidecars.length >= 6, `${sidecars.length} sidecars found in the golden files`);
    for (const { from, container } of sidecars) {
      const result = spawnSync(promtail, [...argsOf(container, { '-config.file': config }), '-check-syntax'], { env: envOf(container), encoding: 'utf8' });
      t.equal(result.status, 0, `${from}: ${result.stdout.trim()}`);
    }
  });

  t.test("the template's config.alloy with every golden alloy sidecar's environment passes alloy validate", async (t) => {
    t.ok(alloySidecars.length >= 2, `${alloySidecars.length} alloy sidecars found in the golden files`);
    for (const { from, container } of alloySidecars) {
      t.equal(container.args[1], '/etc/promtail/config.alloy', `${from}: runs the ConfigMap's config.alloy`);
      const result = spawnSync(alloy, ['validate', alloyConfig], { env: envOf(container), encoding: 'utf8' });
      t.equal(result.status, 0, `${from}: ${result.stdout.trim()}${result.stderr.trim()}`);
    }
    const broken = join(work, 'broken.alloy');
    writeFileSync(broken, template.data['config.alloy'].replace('loki.write.default.receiver', 'loki.write.missing.receiver'));
    t.not(spawnSync(alloy, ['validate', broken], { env: envOf(alloySidecars[0]?.container as Json), encoding: 'utf8' }).status, 0, 'alloy validate can fail: a reference to a missing component');
  });

  t.test('-check-syntax can fail: a broken config is refused', async (t) => {
    const broken = join(work, 'broken.yaml');
    writeFileSync(broken, `${template.data['promtail.yaml']}\nscrape_configs: {not: [a list\n`);
    const [first] = sidecars;
    const result = spawnSync(promtail, [...argsOf(first?.container as Json, { '-config.file': broken }), '-check-syntax'], { env: envOf(first?.container as Json), encoding: 'utf8' });
    t.not(result.status, 0, result.stdout.trim());
  });

  t.test('a sidecar run with -dry-run reads the log folder and labels each line as the template promises', async (t) => {
    const sidecar = sidecars.find((s) => s.from === 'pod-simple-webapp.yaml.injected')?.container as Json;
    const logs = join(work, 'app-logs');
    mkdirSync(logs);
    writeFileSync(join(logs, 'access.log'), 'GET / 200\nGET /cart 404\n');
    writeFileSync(join(logs, 'ignored.txt'), 'not in the glob\n');
    const port = await freePort();
    const child = spawn(
      promtail,
      [...argsOf(sidecar, { '-config.file': config, '-server.http-listen-port': String(port), '-positions.file': join(work, 'positions.yaml') }), '-dry-run', '-server.http-listen-address=127.0.0.1'],
      { env: envOf(sidecar, { LOG_FILES: `${logs}/*.log` }), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.teardown(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    const deadline = Date.now() + 20_000;
    while (!out.includes('GET /cart 404') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const lines = out.split('\n').filter((line) => line.includes('GET '));
    t.equal(lines.length, 2, 'both lines, once each');
    for (const line of lines) {
      t.match(line, /job="main-application"/);
      t.match(line, /namespace="test-metadata-namespace"/);
      t.match(line, /pod="test-metadata-name"/);
      t.match(line, /container="main-application"/);
      t.match(line, /filename="[^"]*\/access\.log"/);
    }
    t.notMatch(out, /not in the glob/, 'files outside the glob are not read');
  });
}
