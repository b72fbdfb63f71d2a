import t from 'tap';
import { injectPod, type PodTemplate } from '../../src/injection/index.js';
import { adversarialCase, checkCase, podProblems } from '../helpers/adversarial.js';

// A fixed sample of adversarial reviews (seeds 1..N): every answer is a clean
// allow, skip or refusal, and no applied patch makes the pod invalid or less
// restricted than it was. bench/adversarial.ts runs 10,000+ of the same.

const CASES = 3000;

t.test(`${CASES} adversarial reviews: no crash, no invalid pod, no unclipped message`, async (t) => {
  const counts: Record<string, number> = {};
  const failures: string[] = [];
  for (let seed = 1; seed <= CASES; seed++) {
    const { outcome, problems } = checkCase(adversarialCase(seed));
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    if (problems.length > 0 && failures.length < 10) failures.push(`seed ${seed}: ${problems.join('; ')}`);
  }
  t.same(failures, [], 'every case answered well');
  t.comment(JSON.stringify(counts));
  // The generator reaches every outcome, so the sample means something.
  for (const outcome of ['injected', 'skipped', 'refused']) t.ok((counts[outcome] ?? 0) > CASES / 50, `${outcome}: ${counts[outcome]}`);
});

t.test('the sample injects both agents and refuses bad agent annotations', async (t) => {
  const agents: Record<string, number> = {};
  let agentRefusals = 0;
  for (let seed = 1; seed <= CASES; seed++) {
    const { review, settings, mode, nodes } = adversarialCase(seed);
    const result = injectPod(structuredClone(review.request.object) as PodTemplate, settings, mode, nodes);
    if (result.kind === 'injected') agents[result.sidecar.agent] = (agents[result.sidecar.agent] ?? 0) + 1;
    if (result.kind === 'refused' && result.message.startsWith('annotation logging.sre-quero/agent:')) agentRefusals++;
  }
  t.comment(JSON.stringify({ ...agents, agentRefusals }));
  t.ok((agents.promtail ?? 0) > 10 && (agents.alloy ?? 0) > 10, 'both agents injected');
  t.ok(agentRefusals > 10, 'unknown or forbidden agents refused');
});

t.test('the same seed gives the same case', async (t) => {
  t.same(adversarialCase(42).review, adversarialCase(42).review);
  t.notSame(adversarialCase(42).review, adversarialCase(43).review);
});

t.test('podProblems finds what it claims to (a checker that cannot fail proves nothing)', async (t) => {
  const pod = (spec: object) => ({ spec: { containers: [{ name: 'a' }], ...spec } });
  t.same(podProblems(pod({}), false), []);
  t.match(podProblems(pod({ containers: [{ name: 'a' }, { name: 'a' }] }), false), [/duplicate container name a/]);
  t.match(podProblems(pod({ containers: [{ name: 'a', volumeMounts: [{ name: 'v', mountPath: '/x' }] }] }), false), [/missing volume v/]);
  t.match(podProblems(pod({ volumes: [{ name: 'v', emptyDir: {} }], containers: [{ name: 'a', volumeMounts: [{ name: 'v', mountPath: '/x' }, { name: 'v', mountPath: '/x/.' }] }] }), false), [/two mounts on \/x/]);
  t.match(podProblems(pod({ hostNetwork: true, containers: [{ name: 'a', ports: [{ containerPort: 80 }] }, { name: 'b', ports: [{ containerPort: 80 }] }] }), false), [/host port 80 used twice/]);
  const sidecar = { name: 'promtail', args: ['-config.file=/x'], ports: [{ name: 'promtail-http', containerPort: 9080 }] };
  t.match(podProblems(pod({ containers: [{ name: 'a', ports: [{ containerPort: 9080 }] }, sidecar] }), false), [/sidecar's port/]);
  const alloy = { name: 'promtail', args: ['run', '/etc/promtail/config.alloy'], ports: [{ name: 'promtail-http', containerPort: 9080 }] };
  t.match(podProblems(pod({ containers: [{ name: 'a', ports: [{ name: 'promtail-http', containerPort: 80 }] }, alloy] }), false), [/sidecar's port/], 'an alloy sidecar too');
  t.ok(podProblems(pod({}), true).some((p) => p.startsWith('restricted:')), 'an unconfined container is not restricted');
});
