import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettings, PROJECT_ROOT, SERVE_FLAGS_HELP } from './config.js';
import { isCodedError, ManifestRefusedError, ManifestUnreadableError, UninstallFailedError, UsageError } from './errors.js';
import { MODES, type Mode } from './injection/index.js';
import { explainManifests, formatExplained } from './manifests/explain-manifests.js';
import { injectManifests } from './manifests/inject-manifests.js';

const USAGE = `usage: sre-quero <command> [flags]

commands:
  serve                       run the admission webhook over HTTPS, and the reconciler: in a pod,
                              with --kubeconfig, or with --reconciler on (KUBECONFIG from the shell)
  reconcile                   run the reconciler alone (same flags as serve)
  inject -f <file|->          print manifests with the logging sidecar injected
         [--settings <file>]  injector settings (YAML or JSON); built-in defaults otherwise
         [--mode annotated|enabled|enforced]
                              which pods ask for injection (default: annotated pods only)
  explain -f <file|->         for each pod template: injected, skipped or refused, the reason
          [--settings <file>] [--mode ...]   code, why, and what to change (offline)
  explain pod <name> [-n <namespace>]     live: the sidecar it carries now, which webhook entry
          [--kubeconfig <file>]           the API server calls for it, the decision today (reason,
          [--namespace-of-install <ns>]   why, what to change); also deployment, statefulset,
          [--settings <file>]             daemonset, replicaset, job, cronjob (a refused pod
                                          never exists: ask about its workload)
  explain cluster [-n <namespace>]        live: running pods that escaped injection (no sidecar in
          [--kubeconfig <file>] ...       an enabled/enforced namespace, or an older sidecar), by
                                          workload, with the command that replaces them
  certs --out <dir>           make a CA, a serving certificate for <service>.<namespace>.svc,
        [--service sre-quero] [--namespace sre-quero] [--days 365] [--ip <addr>]...
        [--ca-days 3650 | --ca-cert <file> --ca-key <file>]
                              a new CA outlives the certificate (renew the certificate from
                              the same CA with --ca-cert/--ca-key: the caBundle stays)
                              the TLS Secret (secret.yaml) and the webhooks' caBundle patch
                              (webhooks-ca-bundle.yaml), for deploy/overlays/self-signed
  uninstall [--namespace sre-quero] [--kubeconfig <file>] [--dry-run]
            [--app-namespaces <label selector>]
                              remove the install in that namespace: webhooks first, the policy,
                              the server, the Service ports and ConfigMaps its reconciler added
                              (only in those namespaces with --app-namespaces), the rest of the
                              namespace; prints each step; running it again is harmless
  help                        this text (also: <command> --help)
  version                     the version (also: --version)

serve flags:
${SERVE_FLAGS_HELP}
`;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readStdin: () => string;
}

/** The flags `inject` and `explain` share: the manifests, the settings, the namespace's mode. */
function readManifestArgs(command: string, argv: readonly string[], io: Io): { text: string; settings: ReturnType<typeof loadSettings>; mode: Mode } {
  const { values } = parseArgs({
    args: [...argv],
    options: { file: { type: 'string', short: 'f' }, settings: { type: 'string' }, mode: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  if (values.file === undefined) throw new UsageError(`${command} needs -f <file> (or -f - for standard input)`);
  const mode = (values.mode ?? 'annotated') as Mode;
  if (!MODES.includes(mode)) throw new UsageError(`--mode must be one of ${MODES.join(', ')}`);
  const settings = loadSettings(values.settings);
  try {
    return { text: values.file === '-' ? io.readStdin() : readFileSync(values.file, 'utf8'), settings, mode };
  } catch (error) {
    throw new ManifestUnreadableError(`cannot read ${values.file}`, (error as Error).message);
  }
}

/** `explain -f`: what the webhook would decide for each pod template, why, and what to change. Always exit 0: it reports. */
export function runExplain(argv: readonly string[], io: Io): number {
  const { text, settings, mode } = readManifestArgs('explain', argv, io);
  io.stdout(formatExplained(explainManifests(text, settings, mode), mode));
  return 0;
}

export function runInject(argv: readonly string[], io: Io): number {
  const { text, settings, mode } = readManifestArgs('inject', argv, io);
  const result = injectManifests(text, settings, mode);
  for (const warning of result.warnings) io.stderr(`warning: ${warning}\n`);
  io.stdout(result.output);
  return 0;
}

/** The version in the package.json next to dist/ (the image ships it). */
export function version(): string {
  return (JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

const COMMANDS = new Set(['serve', 'reconcile', 'inject', 'explain', 'certs', 'uninstall']);

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  // `<command> --help` answers before the command parses its flags (or starts a server).
  if (command !== undefined && COMMANDS.has(command) && (rest.includes('--help') || rest.includes('-h'))) {
    io.stdout(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case undefined:
        // Serving is never a surprise: the image and npm start say `serve`.
        throw new UsageError('a command is needed');
      case 'serve': {
        const { serve } = await import('./main.js');
        await serve(rest, process.env);
        return -1; // keeps running
      }
      case 'reconcile': {
        const { reconcile } = await import('./main.js');
        await reconcile(rest, process.env);
        return -1; // keeps running
      }
      case 'inject':
        return runInject(rest, io);
      case 'explain': {
        // The live forms name a kind (or cluster) first; the offline one starts with its flags.
        if (rest[0] === undefined || rest[0].startsWith('-')) return runExplain(rest, io);
        const { runLiveExplain } = await import('./explain-command.js');
        return await runLiveExplain(rest, io, process.env);
      }
      case 'certs': {
        // Loaded when used: node-forge is only needed to make certificates.
        const { runCerts } = await import('./certs-command.js');
        const { dir, files } = runCerts(rest);
        io.stdout(`wrote ${files.join(', ')} to ${dir}\n`);
        return 0;
      }
      case 'uninstall': {
        // Loaded when used: client-node is only needed to talk to a cluster.
        const { runUninstall } = await import('./uninstall/command.js');
        await runUninstall(rest, process.env, (line) => io.stdout(`${line}\n`));
        return 0;
      }
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return 0;
      case 'version':
      case '--version':
      case '-v':
        io.stdout(`sre-quero ${version()}\n`);
        return 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS_')) {
      io.stderr(`sre-quero: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    // The cluster refused or failed a call: what was done stays done (exit 1; usage and kubeconfig errors exit 2 below).
    if (error instanceof UninstallFailedError) {
      io.stderr(`sre-quero uninstall: ${error.code}: ${error.message}\n`);
      return 1;
    }
    if (error instanceof ManifestRefusedError || error instanceof ManifestUnreadableError) {
      io.stderr(`sre-quero ${command}: ${error.message}\n`);
      return error instanceof ManifestRefusedError ? 1 : 2;
    }
    // The rest of the catalogue (config, settings, TLS): the code, then the message.
    if (isCodedError(error)) {
      io.stderr(`sre-quero: ${error.code}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
