import type { Mode } from './injection/index.js';
export { NAMESPACE_LABEL } from './injection/annotations.js';

// Every name deploy/ depends on, in one place: the server's paths, the
// objects it reads and writes, the reconciler's Lease, field manager and
// labels. deploy/ (webhooks.yaml, RBAC, the settings) must match; the certs
// command, the reconciler and the tests take them from here.

/** URL path per webhook entry; the entry's namespaceSelector decides which applies. */
export const MUTATE_PATHS: Readonly<Record<Mode, string>> = Object.freeze({
  annotated: '/mutate',
  enabled: '/mutate/enabled',
  enforced: '/mutate/enforced',
});
/** The validating check for enforced namespaces (the legacy validator; the policy needs no path). */
export const VALIDATE_ENFORCED_PATH = '/validate/enforced';

export const DEFAULT_NAMESPACE = 'sre-quero';
export const DEFAULT_SERVICE = 'sre-quero';
export const WEBHOOK_CONFIGURATION_NAME = 'sre-quero';
export const TLS_SECRET_NAME = 'sre-quero-tls';
/**
 * The injector's settings: ConfigMap `<Service name>-settings` (key
 * settings.yaml) beside the Service, in both installs (kustomize: sre-quero /
 * sre-quero-settings; Helm: <fullname> / <fullname>-settings). `explain`
 * reads it from the webhook entry's Service reference.
 */
export const SETTINGS_CONFIGMAP_SUFFIX = '-settings';
export const SETTINGS_KEY = 'settings.yaml';
/** The central promtail config the reconciler copies into namespaces. */
export const TEMPLATE_CONFIGMAP_NAME = 'sre-quero-promtail-template';
/** The Lease (in the install namespace) whose holder runs the reconciler; RBAC grants get/create/update on it. */
export const LEASE_NAME = 'sre-quero-reconciler';
/** The field manager of the reconciler's server-side applies: it changes or removes only what this manager owns. */
export const FIELD_MANAGER = 'sre-quero';
/** On the ConfigMaps the reconciler creates, and the only ones it changes. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'sre-quero';

/**
 * On every object deploy/ (and the Helm chart, and `sre-quero certs`) creates:
 * how `sre-quero uninstall` tells the install's objects from others.
 */
export const INSTALL_LABEL = 'app.kubernetes.io/name';
export const INSTALL_LABEL_VALUE = 'sre-quero';
/** The ValidatingAdmissionPolicy and its binding: `<install name>` + this (deploy/base, Helm's `<fullname>`). */
export const POLICY_NAME_SUFFIX = '-enforced-logging';
/** The reconciler's ClusterRole and ClusterRoleBinding: `<install name>` + this. */
export const RECONCILER_RBAC_SUFFIX = '-reconciler';

export const MUTATING_WEBHOOKS = [
  { name: 'annotated.injector.sre-quero.io', path: MUTATE_PATHS.annotated },
  { name: 'enabled.injector.sre-quero.io', path: MUTATE_PATHS.enabled },
  { name: 'enforced.injector.sre-quero.io', path: MUTATE_PATHS.enforced },
] as const;

export const VALIDATING_WEBHOOKS = [{ name: 'enforced.validator.sre-quero.io', path: VALIDATE_ENFORCED_PATH }] as const;
