import type { Mode } from '../injection/index.js';
import { MUTATE_PATHS, MUTATING_WEBHOOKS } from '../webhook-contract.js';

// Which of sre-quero's webhook entries the API server would call for a pod,
// read from the MutatingWebhookConfigurations as installed: each entry's
// rules, namespaceSelector, objectSelector and matchConditions, in the API
// server's order. Pure. matchConditions are CEL; the forms sre-quero's own
// entries use (has(...) and 'key' in ... on the pod's annotations or labels,
// joined by &&) are evaluated here; anything else is reported as not
// evaluated and assumed to match, and the answer says so.

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface WebhookEntry {
  name?: string;
  clientConfig?: { url?: string; service?: { namespace?: string; name?: string; path?: string } };
  rules?: { operations?: string[]; apiGroups?: string[]; apiVersions?: string[]; resources?: string[] }[];
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  matchConditions?: { name?: string; expression?: string }[];
}

export interface WebhookConfigurationLike {
  metadata?: { name?: string };
  webhooks?: WebhookEntry[];
}

/** What the CEL of a matchCondition sees of the pod. */
export interface PodMeta {
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

export interface EntryCheck {
  configuration: string;
  entry: string;
  /** The mode its path serves; undefined for a path sre-quero does not serve. */
  mode: Mode | undefined;
  /** Where the entry sends: the install's Service, when it names one. */
  service?: { namespace: string; name: string };
  /** namespaceSelector (and rules) match: the namespace is this entry's. */
  namespaceMatches: boolean;
  /** The API server would call it for this pod. */
  sent: boolean;
  /** What left it out, when it is not called. */
  failedOn?: 'rules' | 'namespaceSelector' | 'objectSelector' | 'matchCondition';
  /** Why it would or would not; condition names that could not be evaluated are in `unevaluated`. */
  why: string;
  unevaluated: string[];
}

const OUR_ENTRIES: ReadonlySet<string> = new Set(MUTATING_WEBHOOKS.map((entry) => entry.name));
const MODE_BY_PATH = new Map(Object.entries(MUTATE_PATHS).map(([mode, path]) => [path, mode as Mode]));

/** The Kubernetes label selector semantics: every term must hold; an empty selector selects everything. */
export function selectorMatches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    switch (operator) {
      case 'In':
        if (!has || !values.includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** The selector in kubectl's words, for messages. */
export function describeSelector(selector: LabelSelector | undefined): string {
  const terms = [
    ...Object.entries(selector?.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`),
    ...(selector?.matchExpressions ?? []).map(({ key, operator, values = [] }) =>
      operator === 'Exists' ? key : operator === 'DoesNotExist' ? `!${key}` : `${key} ${operator === 'In' ? 'in' : 'notin'} (${values.join(',')})`,
    ),
  ];
  return terms.length === 0 ? '(everything)' : terms.join(', ');
}

const TERM_HAS = /^has\(object\.metadata\.(annotations|labels)\)$/;
const TERM_IN = /^(['"])(.*)\1 in object\.metadata\.(annotations|labels)$/;

/** A matchCondition's value for the pod, or undefined when its CEL is not one of the forms read here. */
export function evaluateCondition(expression: string, pod: PodMeta): boolean | undefined {
  let unknown = false;
  for (const raw of expression.split('&&')) {
    const term = raw.trim();
    const has = TERM_HAS.exec(term);
    const within = TERM_IN.exec(term);
    let value: boolean | undefined;
    // The API server stores an empty map as absent, where has() is false.
    if (has) value = Object.keys(pod[has[1] as 'labels' | 'annotations']).length > 0;
    else if (within) value = Object.hasOwn(pod[within[3] as 'labels' | 'annotations'], within[2] as string);
    // All terms must hold: one false decides, whatever the others.
    if (value === false) return false;
    if (value === undefined) unknown = true;
  }
  return unknown ? undefined : true;
}

function pathOf(url: string): string | undefined {
  try {
    return new URL(url).pathname;
  } catch {
    return undefined;
  }
}

/** The mode the entry's path serves (the server tells modes apart by path only). */
function modeOf(entry: WebhookEntry): Mode | undefined {
  const { url, service } = entry.clientConfig ?? {};
  const path = service?.path ?? (url === undefined ? undefined : pathOf(url));
  return path === undefined ? undefined : MODE_BY_PATH.get(path);
}

const coversPodCreate = (entry: WebhookEntry): boolean =>
  (entry.rules ?? []).some(
    (rule) =>
      (rule.operations ?? []).some((op) => op === 'CREATE' || op === '*') &&
      (rule.resources ?? []).some((resource) => resource === 'pods' || resource === '*') &&
      (rule.apiGroups ?? []).some((group) => group === '' || group === '*'),
  );

/**
 * Every sre-quero entry (by name, in every configuration that has one), and
 * whether the API server would call it for a pod with these labels and
 * annotations in a namespace with these labels.
 */
export function checkEntries(configurations: readonly WebhookConfigurationLike[], namespaceLabels: Readonly<Record<string, string>>, pod: PodMeta): EntryCheck[] {
  const checks: EntryCheck[] = [];
  for (const configuration of configurations) {
    for (const entry of configuration.webhooks ?? []) {
      if (entry.name === undefined || !OUR_ENTRIES.has(entry.name)) continue;
      const { service } = entry.clientConfig ?? {};
      const base = {
        configuration: configuration.metadata?.name ?? '(unnamed)',
        entry: entry.name,
        mode: modeOf(entry),
        ...(service?.namespace && service.name ? { service: { namespace: service.namespace, name: service.name } } : {}),
        unevaluated: [] as string[],
      };
      if (!coversPodCreate(entry)) {
        checks.push({ ...base, namespaceMatches: false, sent: false, failedOn: 'rules', why: 'its rules do not cover pod creation' });
        continue;
      }
      if (!selectorMatches(entry.namespaceSelector, namespaceLabels)) {
        checks.push({ ...base, namespaceMatches: false, sent: false, failedOn: 'namespaceSelector', why: `its namespaceSelector (${describeSelector(entry.namespaceSelector)}) does not select the namespace` });
        continue;
      }
      if (!selectorMatches(entry.objectSelector, pod.labels)) {
        checks.push({ ...base, namespaceMatches: true, sent: false, failedOn: 'objectSelector', why: `its objectSelector (${describeSelector(entry.objectSelector)}) does not select the pod's labels` });
        continue;
      }
      const failed = (entry.matchConditions ?? []).find((condition) => evaluateCondition(condition.expression ?? '', pod) === false);
      if (failed !== undefined) {
        checks.push({ ...base, namespaceMatches: true, sent: false, failedOn: 'matchCondition', why: `its matchCondition ${failed.name ?? '(unnamed)'} is false for the pod: ${failed.expression}` });
        continue;
      }
      const unevaluated = (entry.matchConditions ?? []).filter((condition) => evaluateCondition(condition.expression ?? '', pod) === undefined).map((condition) => condition.name ?? '(unnamed)');
      checks.push({
        ...base,
        unevaluated,
        namespaceMatches: true,
        sent: true,
        why: `its namespaceSelector selects the namespace${entry.objectSelector ? ', its objectSelector the pod' : ''}${entry.matchConditions?.length ? `, and its matchConditions hold${unevaluated.length ? ` (not evaluated here, assumed: ${unevaluated.join(', ')})` : ''}` : ''}`,
      });
    }
  }
  return checks;
}
