import t from 'tap';
import { PROMTAIL_TAG } from '../../src/injection/agents.js';
import {
  oneOf,
  parseAgent,
  parseBoolean,
  parseConfigMapName,
  parseContainerList,
  parseCpu,
  parseImage,
  parseJob,
  parseLogGlob,
  parseLogPath,
  parseMemory,
  parsePort,
  type Parsed,
} from '../../src/injection/values.js';

/** The type of the `t` a subtest callback receives. */
type Test = Parameters<Extract<Parameters<typeof t.test>[0], (...args: never[]) => unknown>>[0];

const ALLOWED = ['grafana/promtail', 'docker.io/grafana/promtail'] as const;
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

const LOG_PATH_FORM =
  'an absolute folder such as /var/log/app (letters, digits, . _ -; no "..", not / and not a system folder like /etc)';
const GLOB_FORM = 'a relative file pattern such as *.log or **/*.log (letters, digits, . _ - * ? [ ] { } , and /; no "..")';
const LIST_FORM = 'a comma-separated list of container names such as app,worker';
const JOB_FORM = 'a label value of at most 63 characters: letters, digits, - _ . , starting and ending with a letter or digit';
const IMAGE_FORM =
  'an image of grafana/promtail or docker.io/grafana/promtail pinned by tag or digest, such as grafana/promtail:3.6.11';
const PORT_FORM = 'a port number from 1024 to 65535 (the sidecar runs without privileges)';
const CONFIG_MAP_FORM = 'a ConfigMap name: lower-case letters, digits, - and ., at most 253 characters';
const CPU_FORM = 'a CPU quantity from 1m to 4, such as 50m or 0.5';
const MEMORY_FORM = 'a memory quantity from 16Mi to 4Gi, such as 64Mi';

/** Each `[raw, value]` must parse to exactly `value`. */
function accepts<T>(t: Test, parse: (raw: string) => Parsed<T>, cases: readonly (readonly [string, T])[]): void {
  for (const [raw, value] of cases) {
    t.strictSame(parse(raw), { ok: true, value }, `accepts ${JSON.stringify(raw)}`);
  }
}

/** Each raw value must be refused with exactly the accepted form `expected`. */
function refuses<T>(t: Test, parse: (raw: string) => Parsed<T>, raws: readonly string[], expected: string): void {
  for (const raw of raws) {
    t.strictSame(parse(raw), { ok: false, expected }, `refuses ${JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}…` : raw)}`);
  }
}

t.test('parseLogPath', async (t) => {
  t.test('accepts absolute folders and drops one trailing slash', async (t) => {
    accepts(t, parseLogPath, [
      ['/var/log/app', '/var/log/app'],
      ['/var/log/app/', '/var/log/app'],
      ['/var/log/nginx', '/var/log/nginx'],
      ['/data/logs', '/data/logs'],
      ['/app/log_dir-2.d', '/app/log_dir-2.d'],
      ['/tmp/app', '/tmp/app'],
      ['/home/app/logs', '/home/app/logs'],
      ['/var/lib/app', '/var/lib/app'],
      [`/${'a'.repeat(199)}`, `/${'a'.repeat(199)}`],
    ]);
  });

  t.test('refuses /, relative, traversal and non-printable paths', async (t) => {
    refuses(
      t,
      parseLogPath,
      [
        '',
        '/',
        '//',
        'var/log/app',
        './var/log/app',
        '/var/log/../etc',
        '/var/log/app/..',
        '/var/./log',
        '/var//log',
        '/var/log/app//',
        '/var/log/app\n',
        '/var/log/app\u0000',
        '/var/log/my app',
        '/var/log/app;rm',
        '/var/log/$(id)',
        '/var/log/ä',
        '\\var\\log',
      ],
      LOG_PATH_FORM,
    );
  });

  t.test('refuses system folders and their subtrees', async (t) => {
    refuses(
      t,
      parseLogPath,
      [
        '/etc',
        '/etc/',
        '/etc/nginx',
        '/proc/1',
        '/proc',
        '/sys/fs',
        '/dev/shm',
        '/usr/local/app',
        '/bin',
        '/sbin',
        '/lib/x',
        '/lib64',
        '/boot',
        '/run',
        '/run/promtail',
        '/var/run',
        '/var/run/secrets',
        '/tmp',
        '/tmp/',
        '/var',
        '/var/log',
        '/var/log/',
        '/var/lib',
        '/home',
        '/root',
        '/opt',
        '/mnt',
        '/srv',
      ],
      LOG_PATH_FORM,
    );
  });

  t.test('refuses paths longer than 200 characters', async (t) => {
    refuses(t, parseLogPath, [`/${'a'.repeat(200)}`, `/var/log/${'a'.repeat(291)}`], LOG_PATH_FORM);
  });

  t.test('an /etc lookalike outside the tree is accepted', async (t) => {
    accepts(t, parseLogPath, [
      ['/etcetera', '/etcetera'],
      ['/variable/log', '/variable/log'],
    ]);
  });
});

t.test('parseLogGlob', async (t) => {
  t.test('accepts relative patterns unchanged', async (t) => {
    accepts(t, parseLogGlob, [
      ['*.log', '*.log'],
      ['**/*.log', '**/*.log'],
      ['access.log', 'access.log'],
      ['{access,error}.log', '{access,error}.log'],
      ['app-?.[0-9].log', 'app-?.[0-9].log'],
      ['a'.repeat(100), 'a'.repeat(100)],
    ]);
  });

  t.test('refuses empty, absolute, traversal, newline and over-long patterns', async (t) => {
    refuses(
      t,
      parseLogGlob,
      ['', '/abs/*.log', '../x', 'logs/../../etc/*', './*.log', 'logs/', 'a//b', '*.log\n', '*.log\nx', '* .log', '$HOME/*.log', 'a'.repeat(101)],
      GLOB_FORM,
    );
  });
});

t.test('parseContainerList', async (t) => {
  t.test('accepts names, trimming blanks around commas', async (t) => {
    accepts(t, parseContainerList, [
      ['app', ['app']],
      ['app,worker', ['app', 'worker']],
      [' app , worker ', ['app', 'worker']],
      ['a-1,b2', ['a-1', 'b2']],
      ['a'.repeat(63), ['a'.repeat(63)]],
    ]);
  });

  t.test('refuses empty items, bad names and names over 63 characters', async (t) => {
    refuses(t, parseContainerList, ['', ',', 'app,', ',app', 'app,,worker', 'App', 'app,Worker', 'app_1', '-app', 'app-', 'a.b', 'a'.repeat(64)], LIST_FORM);
  });

  t.test('refuses duplicates, saying each name once', async (t) => {
    refuses(t, parseContainerList, ['app,app', 'app,worker, app'], `${LIST_FORM}, each named once`);
  });
});

t.test('parseJob', async (t) => {
  t.test('accepts label values up to 63 characters', async (t) => {
    accepts(t, parseJob, [
      ['web', 'web'],
      ['Shop_Front.v2-a', 'Shop_Front.v2-a'],
      ['x', 'x'],
      ['a'.repeat(63), 'a'.repeat(63)],
    ]);
  });

  t.test('refuses spaces, bad edges, empty and 64 characters', async (t) => {
    refuses(t, parseJob, ['my job', '', '-web', 'web-', '.web', 'web_', 'web\n', 'web/1', 'a'.repeat(64)], JOB_FORM);
  });
});

t.test('parseImage', async (t) => {
  t.test('accepts allowed repositories pinned by tag or digest', async (t) => {
    const ok = (raw: string) => t.strictSame(parseImage(raw, ALLOWED, PROMTAIL_TAG), { ok: true, value: raw }, `accepts ${raw}`);
    ok('grafana/promtail:3.6.11');
    ok('grafana/promtail:3.5.1-amd64');
    ok('docker.io/grafana/promtail:3.6.11');
    ok(`grafana/promtail@${DIGEST}`);
    ok(`grafana/promtail:3.6.11@${DIGEST}`);
    ok(`grafana/promtail:latest@${DIGEST}`);
  });

  t.test('refuses unpinned, :latest, other repositories and malformed references', async (t) => {
    const refused = (raw: string) => t.strictSame(parseImage(raw, ALLOWED, PROMTAIL_TAG), { ok: false, expected: IMAGE_FORM }, `refuses ${JSON.stringify(raw)}`);
    refused('grafana/promtail');
    refused('docker.io/grafana/promtail');
    refused('grafana/promtail:latest');
    refused('evil.example.com/grafana/promtail:3.6.11');
    refused('ghcr.io/grafana/promtail:3.6.11');
    refused('grafana/promtail-evil:3.6.0');
    refused('grafana/loki:3.6.0');
    refused('promtail:3.6.0');
    refused('index.docker.io/grafana/promtail:3.6.11');
    refused('grafana/Promtail:3.6.0');
    refused('GRAFANA/PROMTAIL:3.6.0');
    refused('grafana/promtail:3.6.11 ');
    refused('grafana/promtail:3.6.11\n');
    refused('grafana/promtail:');
    refused('grafana/promtail@sha256:abc');
    refused(`grafana/promtail@sha512:${'a'.repeat(64)}`);
    refused('');
    refused(`grafana/promtail:${'a'.repeat(129)}`);
  });

  t.test('an uppercase path component is refused even when the allow-list names it', async (t) => {
    t.equal(parseImage('grafana/Promtail:3.6.0', ['grafana/Promtail'], PROMTAIL_TAG).ok, false);
    t.equal(parseImage('registry.local/team/Promtail:1', ['registry.local/team/Promtail'], PROMTAIL_TAG).ok, false);
  });

  t.test('a registry with a port is part of the repository', async (t) => {
    const allowed = ['registry.local:5000/mirror/promtail'];
    t.strictSame(parseImage('registry.local:5000/mirror/promtail:3.6.0', allowed, PROMTAIL_TAG), { ok: true, value: 'registry.local:5000/mirror/promtail:3.6.0' });
    t.equal(parseImage('registry.local:5001/mirror/promtail:3.6.0', allowed, PROMTAIL_TAG).ok, false);
  });

  t.test('references longer than 255 characters are refused', async (t) => {
    const repository = `registry.local/${'a'.repeat(230)}`;
    const raw = `${repository}:${'1'.repeat(30)}`;
    t.ok(raw.length > 255);
    t.equal(parseImage(raw, [repository], PROMTAIL_TAG).ok, false);
    t.equal(parseImage(`${repository}:1`, [repository], PROMTAIL_TAG).ok, true, 'the same repository with a short tag is accepted');
  });

  t.test('the accepted form names the allowed repositories, falling back to grafana/promtail', async (t) => {
    t.strictSame(parseImage('x', ['registry.local/promtail'], PROMTAIL_TAG), {
      ok: false,
      expected: 'an image of registry.local/promtail pinned by tag or digest, such as registry.local/promtail:3.6.11',
    });
    t.strictSame(parseImage('grafana/promtail:3.6.11', [], PROMTAIL_TAG), {
      ok: false,
      expected: 'an image of  pinned by tag or digest, such as grafana/promtail:3.6.11',
    });
  });
});

t.test('parsePort', async (t) => {
  accepts(t, parsePort, [
    ['9080', 9080],
    ['1024', 1024],
    ['65535', 65535],
  ]);
  refuses(t, parsePort, ['abc', '80', '0', '1023', '65536', '99999', '100000', '9080x', ' 9080', '9080 ', '-9080', '+9080', '9080.0', '0x2378', ''], PORT_FORM);
});

t.test('parseConfigMapName', async (t) => {
  accepts(t, parseConfigMapName, [
    ['promtail-sidecar-config', 'promtail-sidecar-config'],
    ['my.config-1', 'my.config-1'],
    ['a', 'a'],
    ['a'.repeat(253), 'a'.repeat(253)],
  ]);
  refuses(
    t,
    parseConfigMapName,
    ['', 'Promtail', 'my_config', '-cfg', 'cfg-', 'a..b', '.cfg', 'cfg/other', '../cfg', 'cfg\n', 'a'.repeat(254)],
    CONFIG_MAP_FORM,
  );
});

t.test('parseAgent: the agents by their exact names', async (t) => {
  t.strictSame(parseAgent('promtail'), { ok: true, value: 'promtail' });
  t.strictSame(parseAgent('alloy'), { ok: true, value: 'alloy' });
  for (const raw of ['', 'Alloy', 'ALLOY', ' alloy', 'alloy\n', 'grafana-alloy', 'fluent-bit', 'promtail,alloy']) {
    t.strictSame(parseAgent(raw), { ok: false, expected: '"promtail" or "alloy"' }, JSON.stringify(raw));
  }
  t.equal(oneOf(['alloy']), '"alloy"');
  t.equal(oneOf(['a', 'b', 'c']), '"a", "b" or "c"');
});

t.test('parseBoolean', async (t) => {
  accepts(t, parseBoolean, [
    ['true', true],
    ['false', false],
  ]);
  refuses(t, parseBoolean, ['True', 'FALSE', 'yes', 'no', '1', '0', 'on', '', ' true', 'true\n'], '"true" or "false"');
});

t.test('parseCpu', async (t) => {
  t.test('accepts 1m to 4 cores, keeping the text as written', async (t) => {
    accepts(t, parseCpu, [
      ['50m', { text: '50m', amount: 50 }],
      ['0.5', { text: '0.5', amount: 500 }],
      ['1m', { text: '1m', amount: 1 }],
      ['0.001', { text: '0.001', amount: 1 }],
      ['1', { text: '1', amount: 1000 }],
      ['4', { text: '4', amount: 4000 }],
      ['4000m', { text: '4000m', amount: 4000 }],
    ]);
  });

  t.test('refuses zero, out of range, and malformed quantities', async (t) => {
    refuses(t, parseCpu, ['0', '0m', '0.5m', '5', '4001m', '1000Ti', '1k', '', 'abc', '-1', '+1', '.5', '1e3', '50 m', ' 50m', '50mi', '1Ki'], CPU_FORM);
  });
});

t.test('parseMemory', async (t) => {
  t.test('accepts 16Mi to 4Gi, keeping the text as written', async (t) => {
    accepts(t, parseMemory, [
      ['64Mi', { text: '64Mi', amount: 64 * 2 ** 20 }],
      ['16Mi', { text: '16Mi', amount: 16 * 2 ** 20 }],
      ['4Gi', { text: '4Gi', amount: 4 * 2 ** 30 }],
      ['4096Mi', { text: '4096Mi', amount: 4 * 2 ** 30 }],
      ['128M', { text: '128M', amount: 128e6 }],
      ['65536Ki', { text: '65536Ki', amount: 64 * 2 ** 20 }],
      ['0.5Gi', { text: '0.5Gi', amount: 2 ** 29 }],
      ['1G', { text: '1G', amount: 1e9 }],
      ['100000k', { text: '100000k', amount: 1e8 }],
      ['67108864', { text: '67108864', amount: 64 * 2 ** 20 }],
    ]);
  });

  t.test('refuses zero, below 16Mi, above 4Gi and malformed quantities', async (t) => {
    refuses(t, parseMemory, ['0', '5', '10Mi', '15Mi', '16M', '50m', '1000Ti', '5Gi', '4097Mi', '1T', '', 'abc', '64MB', '64mi', '-64Mi', '64 Mi'], MEMORY_FORM);
  });
});

t.test('hostile inputs are refused quickly (no catastrophic backtracking)', async (t) => {
  const hostile = ['a-'.repeat(50_000), 'a.'.repeat(50_000), 'a/'.repeat(50_000), `${'a'.repeat(100_000)}!`, '0.'.repeat(50_000)];
  const parsers: ((raw: string) => Parsed<unknown>)[] = [
    parseLogPath,
    parseLogGlob,
    parseContainerList,
    parseJob,
    (raw) => parseImage(raw, ALLOWED, PROMTAIL_TAG),
    parsePort,
    parseConfigMapName,
    parseCpu,
    parseMemory,
  ];
  const started = performance.now();
  for (const raw of hostile) for (const parse of parsers) t.equal(parse(raw).ok, false);
  t.ok(performance.now() - started < 2000, 'all refused within 2s');
});
