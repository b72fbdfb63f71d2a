import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettings, PROJECT_ROOT, SERVE_FLAGS_HELP } from './config.js';
import { isCodedError, ManifestRefusedError, ManifestUnreadableError, UsageError } from './errors.js';
import { MODES } from './injection/index.js';
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
  certs --out <dir>           make a CA, a serving certificate for <service>.<namespace>.svc,
        [--service sre-quero] [--namespace sre-quero] [--days 365] [--ip <addr>]...
        [--ca-days 3650 | --ca-cert <file> --ca-key <file>]
                              a new CA outlives the certificate (renew the certificate from
                              the same CA with --ca-cert/--ca-key: the caBundle stays)
                              the TLS Secret (secret.yaml) and the webhooks' caBundle patch
                              (webhooks-ca-bundle.yaml), for deploy/overlays/self-signed
  help                        this text (also: <command> --help)
  version                     the version (also: --version)

serve flags:
${SERVE_FLAGS_HELP}
`;
/** The flags `inject` and `explain` share: the manifests, the settings, the namespace's mode. */
function readManifestArgs(command, argv, io) {
    const { values } = parseArgs({
        args: [...argv],
        options: { file: { type: 'string', short: 'f' }, settings: { type: 'string' }, mode: { type: 'string' } },
        strict: true,
        allowPositionals: false,
    });
    if (values.file === undefined)
        throw new UsageError(`${command} needs -f <file> (or -f - for standard input)`);
    const mode = (values.mode ?? 'annotated');
    if (!MODES.includes(mode))
        throw new UsageError(`--mode must be one of ${MODES.join(', ')}`);
    const settings = loadSettings(values.settings);
    try {
        return { text: values.file === '-' ? io.readStdin() : readFileSync(values.file, 'utf8'), settings, mode };
    }
    catch (error) {
        throw new ManifestUnreadableError(`cannot read ${values.file}`, error.message);
    }
}
/** `explain -f`: what the webhook would decide for each pod template, why, and what to change. Always exit 0: it reports. */
export function runExplain(argv, io) {
    const { text, settings, mode } = readManifestArgs('explain', argv, io);
    io.stdout(formatExplained(explainManifests(text, settings, mode), mode));
    return 0;
}
export function runInject(argv, io) {
    const { text, settings, mode } = readManifestArgs('inject', argv, io);
    const result = injectManifests(text, settings, mode);
    for (const warning of result.warnings)
        io.stderr(`warning: ${warning}\n`);
    io.stdout(result.output);
    return 0;
}
/** The version in the package.json next to dist/ (the image ships it). */
export function version() {
    return JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'package.json'), 'utf8')).version;
}
const COMMANDS = new Set(['serve', 'reconcile', 'inject', 'explain', 'certs']);
export async function main(argv, io) {
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
            case 'explain':
                return runExplain(rest, io);
            case 'certs': {
                // Loaded when used: node-forge is only needed to make certificates.
                const { runCerts } = await import('./certs-command.js');
                const { dir, files } = runCerts(rest);
                io.stdout(`wrote ${files.join(', ')} to ${dir}\n`);
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
    }
    catch (error) {
        if (error instanceof UsageError || error.code?.startsWith('ERR_PARSE_ARGS_')) {
            io.stderr(`sre-quero: ${error.message}\n\n${USAGE}`);
            return 2;
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
//# sourceMappingURL=cli.js.map