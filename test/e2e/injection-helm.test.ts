import { injectionSuite } from './injection-suite.js';

// The injection suite (injection-suite.ts) through the Helm chart's webhook
// configuration and policy, rendered with its defaults: "the injection tests
// pass against the Helm install". (helm.test.ts installs the whole chart on
// the real node, next to the kustomize install.)
await injectionSuite('helm');
