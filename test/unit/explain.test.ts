import t from 'tap';
import { explain } from '../../src/injection/explain.js';
import { ANNOTATIONS, DEFAULT_SETTINGS, injectPod, type Mode, type PodTemplate } from '../../src/injection/index.js';
import { INJECT_REASONS, SKIP_REASONS } from '../../src/injection/reasons.js';

// Every reason code the core can give has words and a way to change it.

const pod = (annotations: Record<string, string> = {}, spec: Partial<PodTemplate['spec']> = {}): PodTemplate => ({
  metadata: { name: 'p', annotations },
  spec: { containers: [{ name: 'app', image: 'nginx' }], ...spec },
});

t.test('each outcome of the core, explained', async (t) => {
  const cases: [PodTemplate, Mode, string, string][] = [
    [pod({ [ANNOTATIONS.sidecar]: 'true' }), 'annotated', 'injected', 'annotation_opt_in'],
    [pod(), 'enabled', 'injected', 'namespace_enabled'],
    [pod({ [ANNOTATIONS.sidecar]: 'false' }), 'enforced', 'injected', 'namespace_enforced'],
    [pod(), 'annotated', 'skipped', 'not_requested'],
    [pod({ [ANNOTATIONS.sidecar]: 'false' }), 'enabled', 'skipped', 'opted_out'],
    [pod({ [ANNOTATIONS.sidecar]: 'true' }, { os: { name: 'windows' } }), 'annotated', 'skipped', 'windows_pod'],
    [pod({ [ANNOTATIONS.sidecar]: 'true', [ANNOTATIONS.metricsPort]: 'x' }), 'annotated', 'refused', 'invalid_annotation'],
  ];
  const seen = new Set<string>();
  for (const [input, mode, decision, reason] of cases) {
    const explained = explain(injectPod(input, DEFAULT_SETTINGS, mode));
    t.match(explained, { decision, reason, why: /\S/, change: /\S/ }, `${mode}: ${reason}`);
    seen.add(reason);
  }
  const injected = injectPod(pod({ [ANNOTATIONS.sidecar]: 'true' }), DEFAULT_SETTINGS, 'annotated');
  if (injected.kind !== 'injected') throw new Error('expected an injection');
  const again = explain(injectPod(injected.pod, DEFAULT_SETTINGS, 'annotated'));
  t.match(again, { decision: 'skipped', reason: 'already_injected', change: 'nothing: injection is idempotent' });
  seen.add(again.reason);
  t.same([...INJECT_REASONS, ...SKIP_REASONS].filter((reason) => !seen.has(reason)), [], 'every inject and skip reason covered');
});
