import { loadSettings } from '../config.js';
import { ReadForbiddenError } from '../errors.js';
import { DEFAULT_SETTINGS, type InjectorSettings } from '../injection/index.js';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE, SETTINGS_CONFIGMAP_SUFFIX, SETTINGS_KEY, WEBHOOK_CONFIGURATION_NAME } from '../webhook-contract.js';
import type { ExplainReads } from './cluster-reads.js';
import type { EntryCheck } from './webhook-routing.js';

// The settings the installed webhook runs with, for `explain` to decide as
// it would: ConfigMap <Service>-settings beside the Service its webhook
// entries call (webhook-contract.ts), or a file given with --settings. When
// the ConfigMap cannot be read (a team's user may not read sre-quero's
// namespace), the built-in defaults, and the answer says so.

export interface InstallSettings {
  settings: InjectorSettings;
  /** Where they came from, in words. */
  from: string;
  /** The namespace sre-quero runs in (never injected; escaped pods are not counted there). */
  installNamespace: string;
}

/**
 * Where the settings are read: the Service of the entry that serves the pod
 * (`preferred`), else of the configuration deploy/ names, else of any entry.
 * Two installs may coexist (a second release scoped to some namespaces).
 */
export async function installSettings(
  reads: Pick<ExplainReads, 'configMapData'>,
  checks: readonly EntryCheck[],
  options: { installNamespace?: string | undefined; settingsFile?: string | undefined },
  preferred?: EntryCheck,
): Promise<InstallSettings> {
  const service =
    preferred?.service ??
    checks.find((check) => check.configuration === WEBHOOK_CONFIGURATION_NAME && check.service !== undefined)?.service ??
    checks.find((check) => check.service !== undefined)?.service;
  const installNamespace = options.installNamespace ?? service?.namespace ?? DEFAULT_NAMESPACE;
  if (options.settingsFile !== undefined) return { settings: loadSettings(options.settingsFile), from: `--settings ${options.settingsFile}`, installNamespace };
  const name = `${service?.name ?? DEFAULT_SERVICE}${SETTINGS_CONFIGMAP_SUFFIX}`;
  const where = `ConfigMap ${installNamespace}/${name}`;
  let data: Record<string, string> | undefined;
  try {
    data = await reads.configMapData(installNamespace, name);
  } catch (error) {
    if (!(error instanceof ReadForbiddenError)) throw error;
    return { settings: DEFAULT_SETTINGS, from: `the built-in defaults: not allowed to read ${where} (give --settings <file> for the installed ones)`, installNamespace };
  }
  const text = data?.[SETTINGS_KEY];
  if (text === undefined) return { settings: DEFAULT_SETTINGS, from: `the built-in defaults: ${where} ${data === undefined ? 'not found' : `has no ${SETTINGS_KEY}`}`, installNamespace };
  return { settings: loadSettings(`${where} (${SETTINGS_KEY})`, () => text), from: where, installNamespace };
}
