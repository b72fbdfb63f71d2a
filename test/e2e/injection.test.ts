import { injectionSuite } from './injection-suite.js';

// The injection suite (injection-suite.ts) through deploy/base's webhook
// configurations and policy, deploy/legacy-validator's too.
await injectionSuite({ kustomize: 'deploy/base' });
