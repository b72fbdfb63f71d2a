import { MUTATE_PATHS, VALIDATE_ENFORCED_PATH } from './admission/routes.js';

// Names shared by deploy/ and the code that writes or checks it (certs
// command, tests). The webhook configurations in deploy/base/webhooks.yaml
// must match.

export const DEFAULT_NAMESPACE = 'sre-quero';
export const DEFAULT_SERVICE = 'sre-quero';
export const WEBHOOK_CONFIGURATION_NAME = 'sre-quero';
export const TLS_SECRET_NAME = 'sre-quero-tls';
/** The central promtail config the reconciler copies into namespaces. */
export const TEMPLATE_CONFIGMAP_NAME = 'sre-quero-promtail-template';

export const MUTATING_WEBHOOKS = [
  { name: 'annotated.injector.sre-quero.io', path: MUTATE_PATHS.annotated },
  { name: 'enabled.injector.sre-quero.io', path: MUTATE_PATHS.enabled },
  { name: 'enforced.injector.sre-quero.io', path: MUTATE_PATHS.enforced },
] as const;

export const VALIDATING_WEBHOOKS = [{ name: 'enforced.validator.sre-quero.io', path: VALIDATE_ENFORCED_PATH }] as const;
