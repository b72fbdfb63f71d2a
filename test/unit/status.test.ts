import t from 'tap';
import { hasStatus, readStatus, withStatus, type InjectionStatus } from '../../src/injection/index.js';

// The status annotation's one home: what the core writes, the reconciler reads.

const status: InjectionStatus = {
  sidecar: 'promtail',
  sidecarMode: 'native',
  sidecarModeFrom: 'settings',
  image: 'grafana/promtail:3.6.11',
  metricsPort: 9180,
  logPath: '/var/log/app',
  containers: ['web'],
  configMap: 'team',
  reusedVolumes: [],
};

t.test('written by the core, read back by the reconciler', async (t) => {
  const annotations = withStatus({ keep: 'me' }, status);
  t.equal(annotations.keep, 'me', 'other annotations kept');
  t.ok(hasStatus(annotations));
  t.notOk(hasStatus({ keep: 'me' }));
  t.same(readStatus(annotations), { metricsPort: 9180, configMap: 'team' });
  t.same(JSON.parse(annotations['logging.sre-quero/status'] as string), status, 'the whole status, as JSON');
});

t.test('a hand-edited or foreign status gives only its well-formed fields', async (t) => {
  const read = (text: string) => readStatus({ 'logging.sre-quero/status': text });
  t.same(read('not json'), {});
  t.same(read('null'), {});
  t.same(read('[9080]'), {});
  t.same(read('{"metricsPort":0,"configMap":7}'), {});
  t.same(read('{"metricsPort":65536}'), {});
  t.same(read('{"metricsPort":9080.5,"configMap":"x"}'), { configMap: 'x' });
  t.same(readStatus(undefined), {});
});
