import t from 'tap';
import { clip, decide, isInjected, MODES, type Mode } from '../../src/injection/decide.js';
import type { PodSpec } from '../../src/injection/pod.js';

const SIDECAR = 'logging.sre-quero/sidecar';
const STATUS = 'logging.sre-quero/status';
const OPT_OUT_WARNING = 'logging.sre-quero/sidecar: "false" is not honoured: this namespace enforces the logging sidecar';
const INVALID_YES = {
  kind: 'refused',
  reason: 'invalid_annotation',
  message: 'annotation logging.sre-quero/sidecar: "yes" is not valid; expected "true" or "false"',
};

const appSpec = (): PodSpec => ({ containers: [{ name: 'app', image: 'nginx:1.27' }] });
const injectedSpec = (): PodSpec => ({
  containers: [
    { name: 'app', image: 'nginx:1.27' },
    { name: 'promtail', image: 'grafana/promtail:3.6.11' },
  ],
});
const sidecar = (value: string | undefined): Record<string, string> => (value === undefined ? {} : { [SIDECAR]: value });

t.test('MODES lists the three webhook entries', async (t) => {
  t.strictSame(MODES, ['annotated', 'enabled', 'enforced']);
});

t.test('mode x sidecar annotation matrix', async (t) => {
  const expected: Record<Mode, Record<'absent' | 'true' | 'false' | 'yes', unknown>> = {
    annotated: {
      absent: { kind: 'skip', reason: 'not_requested' },
      true: { kind: 'inject', reason: 'annotation_opt_in', warnings: [] },
      false: { kind: 'skip', reason: 'opted_out' },
      yes: INVALID_YES,
    },
    enabled: {
      absent: { kind: 'inject', reason: 'namespace_enabled', warnings: [] },
      true: { kind: 'inject', reason: 'namespace_enabled', warnings: [] },
      false: { kind: 'skip', reason: 'opted_out' },
      yes: INVALID_YES,
    },
    enforced: {
      absent: { kind: 'inject', reason: 'namespace_enforced', warnings: [] },
      true: { kind: 'inject', reason: 'namespace_enforced', warnings: [] },
      false: { kind: 'inject', reason: 'namespace_enforced', warnings: [OPT_OUT_WARNING] },
      yes: INVALID_YES,
    },
  };
  for (const mode of MODES) {
    for (const value of ['absent', 'true', 'false', 'yes'] as const) {
      const annotations = sidecar(value === 'absent' ? undefined : value);
      t.strictSame(decide(annotations, appSpec(), mode), expected[mode][value], `${mode} / sidecar ${value}`);
    }
  }
});

t.test('enforced + "false" warns that the opt-out is not honoured', async (t) => {
  const decision = decide(sidecar('false'), appSpec(), 'enforced');
  t.equal(decision.kind, 'inject');
  if (decision.kind !== 'inject') return;
  t.equal(decision.warnings.length, 1);
  t.match(decision.warnings[0], /logging\.sre-quero\/sidecar/);
  t.match(decision.warnings[0], /not honoured/);
  t.match(decision.warnings[0], /enforces/);
});

t.test('other spellings of true/false are refused in every mode, naming the annotation and the accepted form', async (t) => {
  for (const mode of MODES) {
    for (const value of ['True', 'FALSE', 'yes', '1', '', ' true']) {
      t.strictSame(
        decide(sidecar(value), appSpec(), mode),
        {
          kind: 'refused',
          reason: 'invalid_annotation',
          message: `annotation logging.sre-quero/sidecar: "${value}" is not valid; expected "true" or "false"`,
        },
        `${mode} / ${JSON.stringify(value)}`,
      );
    }
  }
});

t.test('hostile sidecar values are escaped and clipped in the message', async (t) => {
  const newline = decide(sidecar('yes\n\u0007'), appSpec(), 'enabled');
  t.strictSame(newline, {
    kind: 'refused',
    reason: 'invalid_annotation',
    message: 'annotation logging.sre-quero/sidecar: "yes\\n\\u0007" is not valid; expected "true" or "false"',
  });
  const long = decide(sidecar('x'.repeat(10_000)), appSpec(), 'enabled');
  t.equal(long.kind, 'refused');
  if (long.kind !== 'refused') return;
  t.equal(long.message, `annotation logging.sre-quero/sidecar: "${'x'.repeat(64)}…" is not valid; expected "true" or "false"`);
});

t.test('clip', async (t) => {
  t.equal(clip('plain'), 'plain');
  t.equal(clip('a'.repeat(64)), 'a'.repeat(64), 'exactly 64 characters is kept whole');
  t.equal(clip('a'.repeat(65)), `${'a'.repeat(64)}…`);
  t.equal(clip('abcdef', 3), 'abc…');
  t.equal(clip('tab\there'), 'tab\\there');
  t.equal(clip('é'), '\u00e9', 'JSON.stringify leaves non-ASCII printable characters as they are');
});

t.test('an already injected pod is skipped in every mode, whatever it asks', async (t) => {
  for (const mode of MODES) {
    for (const value of [undefined, 'true', 'false']) {
      const annotations = { ...sidecar(value), [STATUS]: '{"sidecar":"promtail"}' };
      t.strictSame(
        decide(annotations, injectedSpec(), mode),
        { kind: 'skip', reason: 'already_injected' },
        `${mode} / sidecar ${String(value)}`,
      );
    }
  }
});

t.test('a status annotation without a promtail container is not treated as injected', async (t) => {
  const annotations = { [SIDECAR]: 'true', [STATUS]: '{"sidecar":"promtail"}' };
  t.equal(isInjected(annotations, appSpec()), false);
  t.strictSame(decide(annotations, appSpec(), 'annotated'), { kind: 'inject', reason: 'annotation_opt_in', warnings: [] });
  t.strictSame(decide({ [STATUS]: '' }, appSpec(), 'enabled'), { kind: 'inject', reason: 'namespace_enabled', warnings: [] });
});

t.test('a promtail container without the status annotation is not treated as injected', async (t) => {
  t.equal(isInjected({}, injectedSpec()), false);
  t.strictSame(decide({}, injectedSpec(), 'enforced'), { kind: 'inject', reason: 'namespace_enforced', warnings: [] });
});

t.test('a promtail init container does not count as the injected sidecar', async (t) => {
  const spec: PodSpec = { containers: [{ name: 'app' }], initContainers: [{ name: 'promtail' }] };
  t.equal(isInjected({ [STATUS]: '{}' }, spec), false);
});

t.test('isInjected: status annotation (any value) and a container named promtail', async (t) => {
  t.equal(isInjected({ [STATUS]: '' }, injectedSpec()), true);
  t.equal(isInjected({ 'logging.sre-quero/statuses': '{}' }, injectedSpec()), false);
});

t.test('clip escapes format characters too: bidi overrides, line separators, zero-width', async (t) => {
  t.equal(clip('a\u202eb'), 'a\\u202eb');
  t.equal(clip('a\u2028b\u2029c'), 'a\\u2028b\\u2029c');
  t.equal(clip('a\u200bb'), 'a\\u200bb');
  t.equal(clip('é ü 日本'), 'é ü 日本', 'printable text stays');
});
