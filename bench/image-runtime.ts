// How the image runs node, read from the Dockerfile's final stage, so the
// benchmarks measure what ships: the ENTRYPOINT's node flags (between "node"
// and the script) and the ENV lines (NODE_ENV, MALLOC_ARENA_MAX, ...).
// test/cluster/build/images.sh reads the same lines for the test image.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DOCKERFILE = fileURLToPath(new URL('../Dockerfile', import.meta.url));

function finalStage(): string[] {
  const lines = readFileSync(DOCKERFILE, 'utf8').split('\n');
  const from = lines.map((line, i) => (/^FROM\s/.test(line) ? i : -1)).filter((i) => i >= 0).pop();
  if (from === undefined) throw new Error(`no FROM line in ${DOCKERFILE}`);
  return lines.slice(from);
}

/** The node flags of the final stage's ENTRYPOINT ["node", <flags>..., <script>]. */
export function imageNodeFlags(): string[] {
  const line = finalStage().find((l) => l.startsWith('ENTRYPOINT '));
  const entrypoint = line === undefined ? undefined : (JSON.parse(line.slice('ENTRYPOINT '.length)) as string[]);
  if (entrypoint?.[0] !== 'node') throw new Error(`the Dockerfile's final stage has no ENTRYPOINT ["node", ...] line`);
  return entrypoint.slice(1, -1);
}

/** The final stage's `ENV NAME=value` lines (one variable per line, no quotes: the Dockerfile writes them so). */
export function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of finalStage()) {
    const match = /^ENV ([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/.exec(line);
    if (match) env[match[1] as string] = match[2] as string;
  }
  return env;
}

/** A space-separated flag list from the environment, or the image's flags when it is not set. */
export const nodeFlagsFrom = (value: string | undefined): string[] => (value === undefined ? imageNodeFlags() : value.split(' ').filter((flag) => flag !== ''));
