// The exact bytes the webhook answers, for reviews that cover every shape of
// patch: parents added whole (no labels, annotations, volumes, mounts), the
// sidecar appended (classic) or put first among existing init containers
// (native), reused volumes, overrides, warnings, a refusal, a skip, v1beta1,
// and the large pod of the benchmarks. The hot path builds its answer without
// a generic diff; these files pin that it says byte for byte what it said when
// it did. Regenerate with `npm run test:update-golden` and review every diff.
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { largeReview } from '../../bench/reviews.js';
import { ANNOTATIONS } from '../../src/injection/index.js';
import { fixtureUrl, recipeReview, testApp, type Json } from '../helpers/reviews.js';

type Case = { name: string; url?: string; review: () => Json };

const annotated = (annotations: Record<string, string>, edit: (pod: Json) => void = () => {}): (() => Json) => () => {
  const review = recipeReview();
  const pod = review.request.object;
  pod.metadata.annotations = { [ANNOTATIONS.sidecar]: 'true', ...annotations };
  edit(pod);
  return review;
};

const INIT = [
  { name: 'migrate', image: 'busybox:1.36', command: ['sh', '-c', 'echo migrated >> /var/log/app/migrate.log'] },
  { name: 'warm-cache', image: 'busybox:1.36', volumeMounts: [{ name: 'default-token-7x2kq', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }] },
];

const CASES: Case[] = [
  { name: 'recipe-v1', review: recipeReview },
  {
    name: 'recipe-v1beta1',
    review: () => ({ ...recipeReview(), apiVersion: 'admission.k8s.io/v1beta1' }),
  },
  {
    name: 'bare-pod-enabled',
    url: '/mutate/enabled',
    review: () => {
      const review = recipeReview();
      const pod = review.request.object;
      delete pod.metadata.labels;
      delete pod.metadata.annotations;
      delete pod.spec.volumes;
      delete pod.spec.containers[0].volumeMounts;
      return review;
    },
  },
  {
    name: 'no-metadata-enabled',
    url: '/mutate/enabled',
    review: () => {
      const review = recipeReview();
      delete review.request.object.metadata;
      return review;
    },
  },
  { name: 'native-no-init', review: annotated({ [ANNOTATIONS.sidecarMode]: 'native' }) },
  {
    name: 'native-with-init',
    review: annotated({ [ANNOTATIONS.sidecarMode]: 'native', [ANNOTATIONS.containers]: 'main-application,migrate' }, (pod) => {
      pod.spec.initContainers = structuredClone(INIT);
    }),
  },
  {
    name: 'classic-with-init',
    review: annotated({}, (pod) => {
      pod.spec.initContainers = structuredClone(INIT);
    }),
  },
  {
    name: 'all-overrides',
    review: annotated({
      [ANNOTATIONS.logPath]: '/srv/logs/',
      [ANNOTATIONS.logGlob]: '*.json',
      [ANNOTATIONS.job]: 'shop-web',
      [ANNOTATIONS.image]: 'grafana/promtail:3.6.0',
      [ANNOTATIONS.metricsPort]: '9099',
      [ANNOTATIONS.configMap]: 'team-promtail',
      [ANNOTATIONS.credentialsSecret]: 'loki-credentials',
      [ANNOTATIONS.cpuRequest]: '20m',
      [ANNOTATIONS.memoryLimit]: '256Mi',
    }),
  },
  {
    name: 'reuses-shared-logs',
    review: annotated({}, (pod) => {
      pod.spec.volumes.push({ name: 'shared-logs', emptyDir: {} });
      pod.spec.containers[0].volumeMounts.push({ name: 'shared-logs', mountPath: '/var/log/app/' });
    }),
  },
  {
    name: 'warnings',
    review: annotated({ 'logging.sre-quero/sidecar-image': 'typo' }, (pod) => {
      pod.spec.hostNetwork = true;
    }),
  },
  {
    name: 'refused-port',
    review: annotated({}, (pod) => {
      pod.spec.containers[0].ports.push({ containerPort: 9080 });
    }),
  },
  { name: 'skipped-opt-out', review: annotated({ [ANNOTATIONS.sidecar]: 'false' }) },
  { name: 'large', review: () => JSON.parse(largeReview().body) },
];

for (const c of CASES) {
  t.test(`answer bytes: ${c.name}`, async (t) => {
    const { app } = testApp();
    const reply = await app.inject({ method: 'POST', url: c.url ?? '/mutate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(c.review()) });
    t.equal(reply.statusCode, 200);
    t.equal(reply.headers['content-type'], 'application/json; charset=utf-8');
    const golden = fixtureUrl(`answers/${c.name}.json`);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, `${reply.payload}\n`);
    t.equal(`${reply.payload}\n`, readFileSync(golden, 'utf8'), 'the answer is byte for byte the reviewed golden file');
  });
}
