import t from 'tap';
import { hasStatus, readStatus, withStatus, type InjectionStatus } from '../../src/injection/index.js';

// The status annotation's one home: what the core writes, the reconciler reads.

const status: InjectionStatus = {
  sidecar: 'promtail',
  agent: 'alloy',
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
  t.strictSame(readStatus(annotations), { agent: 'alloy', metricsPort: 9180, configMap: 'team', image: 'grafana/promtail:3.6.11', sidecarMode: 'native' });
  t.same(JSON.parse(annotations['logging.sre-quero/status'] as string), status, 'the whole status, as JSON');
});

t.test('a hand-edited or foreign status gives only its well-formed fields; the agent defaults to promtail', async (t) => {
  const read = (text: string) => readStatus({ 'logging.sre-quero/status': text });
  const promtail = { agent: 'promtail' };
  t.strictSame(read('not json'), promtail);
  t.strictSame(read('null'), promtail);
  t.strictSame(read('[9080]'), promtail);
  t.strictSame(read('{"metricsPort":0,"configMap":7}'), promtail);
  t.strictSame(read('{"metricsPort":65536}'), promtail);
  t.strictSame(read('{"metricsPort":9080.5,"configMap":"x"}'), { agent: 'promtail', configMap: 'x' });
  t.strictSame(readStatus(undefined), promtail);
  t.strictSame(read('{"agent":"fluent-bit"}'), promtail, 'an unknown agent: promtail, the only one before there was a choice');
  t.strictSame(read('{"agent":["alloy"]}'), promtail);
  t.strictSame(read('{"image":"","sidecarMode":"sideways"}'), promtail, 'an empty image, an unknown mode: left out');
  t.strictSame(read('{"image":7,"sidecarMode":"classic"}'), { agent: 'promtail', sidecarMode: 'classic' });
});

t.test('a status written before there was a choice of agent reads as promtail', async (t) => {
  // As sre-quero wrote it before the agent field existed (test/fixtures/golden before alloy).
  const old = '{"sidecar":"promtail","sidecarMode":"classic","sidecarModeFrom":"settings","image":"grafana/promtail:3.6.11","metricsPort":9080,"logPath":"/var/log/app","containers":["web"],"configMap":"promtail-sidecar-config","reusedVolumes":[]}';
  t.strictSame(readStatus({ 'logging.sre-quero/status': old }), { agent: 'promtail', metricsPort: 9080, configMap: 'promtail-sidecar-config', image: 'grafana/promtail:3.6.11', sidecarMode: 'classic' });
  t.strictSame(readStatus({ 'logging.sre-quero/status': old.replace('"sidecar":"promtail",', '"sidecar":"promtail","agent":"alloy",') }).agent, 'alloy');
});
