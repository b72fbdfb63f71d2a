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

t.test('an injection names its agent and who chose it', async (t) => {
  t.equal(explain(injectPod(pod({ [ANNOTATIONS.sidecar]: 'true' }), DEFAULT_SETTINGS, 'annotated')).agent, 'promtail, chosen by the settings (agent)');
  t.equal(
    explain(injectPod(pod({ [ANNOTATIONS.sidecar]: 'true', [ANNOTATIONS.agent]: 'alloy' }), DEFAULT_SETTINGS, 'annotated')).agent,
    "alloy, chosen by the pod template's logging.sre-quero/agent annotation",
  );
  t.equal(explain(injectPod(pod(), { ...DEFAULT_SETTINGS, agent: 'alloy' }, 'enabled')).agent, 'alloy, chosen by the settings (agent)');
  t.notOk('agent' in explain(injectPod(pod(), DEFAULT_SETTINGS, 'annotated')), 'only when injected');
});

t.test('an already injected template that now asks for another agent says how to switch', async (t) => {
  const injected = injectPod(pod({ [ANNOTATIONS.sidecar]: 'true' }), DEFAULT_SETTINGS, 'annotated');
  if (injected.kind !== 'injected') throw new Error('expected an injection');
  const annotations = { ...injected.pod.metadata?.annotations, [ANNOTATIONS.agent]: 'alloy' };
  const asksAlloy: PodTemplate = { ...injected.pod, metadata: { ...injected.pod.metadata, annotations } };
  const result = injectPod(asksAlloy, DEFAULT_SETTINGS, 'annotated');
  t.match(result, { kind: 'skipped', reason: 'already_injected' }, 'the webhook leaves it as it is');
  const explained = explain(result, { annotations, settings: DEFAULT_SETTINGS });
  t.equal(explained.why, 'it already carries the promtail sidecar and its logging.sre-quero/status annotation, but asks for alloy');
  t.match(explained.change, /^injection never replaces a sidecar that is there: a pod gets alloy when it is created again \(kubectl rollout restart on its workload\); a template injected offline/);

  const settingsAlloy = { ...DEFAULT_SETTINGS, agent: 'alloy' as const };
  const plain = injected.pod.metadata?.annotations ?? {};
  t.match(explain(injectPod(injected.pod, settingsAlloy, 'annotated'), { annotations: plain, settings: settingsAlloy }).why, /but asks for alloy$/, 'the settings moved to alloy');
  t.equal(explain(result, { annotations: plain, settings: DEFAULT_SETTINGS }).change, 'nothing: injection is idempotent', 'the agent it runs is the one it asks for');
  const forbidden = { ...annotations, [ANNOTATIONS.agent]: 'vector' };
  t.equal(explain(result, { annotations: forbidden, settings: DEFAULT_SETTINGS }).change, 'nothing: injection is idempotent', 'an agent it cannot have: nothing to switch to');
});
