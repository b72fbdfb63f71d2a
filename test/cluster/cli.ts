import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isUp, upWithSreQuero } from './local-cluster.js';
import { stopCluster } from './node-cluster.js';

// npm run cluster:up / cluster:down. `up` prints only `export` lines on
// stdout (for eval); everything else goes to stderr.

const dir = process.env.SRE_QUERO_CLUSTER_DIR ?? join(tmpdir(), 'sre-quero-cluster');
const say = (line: string) => process.stderr.write(`${line}\n`);

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'up': {
      if (isUp(dir)) {
        say(`a cluster is already up in ${dir}; \`npm run cluster:down\` stops it`);
        return 1;
      }
      const cluster = await upWithSreQuero(dir, say);
      const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
      process.stdout.write(
        [
          `export KUBECONFIG=${quote(cluster.state.kubeconfig)}`,
          `export PATH=${quote(dirname(cluster.kubectl))}:"$PATH"`,
          `export SRE_QUERO_PROMTAIL_IMAGE=${quote(cluster.promtailImage)}`,
          `export SRE_QUERO_ALLOY_IMAGE=${quote(cluster.alloyImage)}`,
          `export SRE_QUERO_BUSYBOX_IMAGE=${quote(cluster.busyboxImage)}`,
          `export LOKI_URL=${quote(cluster.state.lokiUrl)}`,
          `export PROMETHEUS_URL=${quote(cluster.state.prometheusUrl)}`,
        ].join('\n') + '\n',
      );
      say(`cluster: Kubernetes v${cluster.state.version}, node ${cluster.state.node}; stop it with \`npm run cluster:down\``);
      return 0;
    }
    case 'down':
      for (const line of stopCluster(dir)) say(`cluster: ${line}`);
      return 0;
    default:
      say('usage: cli.ts up | down   (npm run cluster:up / cluster:down)');
      return 2;
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (error: Error) => {
    say(`cluster: ${error.message}`);
    process.exit(1);
  },
);
