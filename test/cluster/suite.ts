import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isUp, upWithSreQuero } from './local-cluster.js';
import { stopCluster } from './node-cluster.js';
import { clusterRequired, ENABLE_HINT, findBinaries } from './versions.js';

// The test suite's shared cluster with a real node: started once by tap's
// `before` (suite-before.ts), stopped by its `after`, found by the test files
// through a status file. One node per machine, so the files share it.
//
// Several tap runs may overlap on one machine (a unit-test run while the full
// suite runs): each has its own status file, and the cluster belongs to the
// run that started it (the owner file), so no other run's before or after
// step ever takes it down.

const SUITE_DIR = join(tmpdir(), 'sre-quero-suite');
const OWNER_FILE = `${SUITE_DIR}.owner`;
/** This tap run: tap spawns its before and after steps and every test file itself. */
const RUN = process.ppid;
export const STATUS_FILE = `${SUITE_DIR}.status.${RUN}.json`;

function owner(): number | undefined {
  try {
    return Number(readFileSync(OWNER_FILE, 'utf8')) || undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type SuiteStatus =
  | {
      ok: true;
      kubeconfig: string;
      server: string;
      caFile: string;
      token: string;
      kubectlPath: string;
      node: string;
      version: string;
      busyboxImage: string;
      /** The alloy image the settings name for logging.sre-quero/agent: alloy. */
      alloyImage: string;
      lokiUrl: string;
      prometheusUrl: string;
      /** The Loki binary, for tests that run a Loki of their own. */
      loki: string;
    }
  | { ok: false; reason: string };

export async function suiteUp(log: (line: string) => void): Promise<SuiteStatus> {
  // Status files of runs that were killed before their after step.
  for (const name of readdirSync(tmpdir())) {
    const pid = /^sre-quero-suite\.status\.(\d+)\.json$/.exec(name)?.[1];
    if (pid !== undefined && !alive(Number(pid))) rmSync(join(tmpdir(), name), { force: true });
  }
  let status: SuiteStatus;
  const holder = owner();
  if (findBinaries() === undefined && !clusterRequired()) {
    status = { ok: false, reason: ENABLE_HINT };
  } else if (holder !== undefined && holder !== RUN && alive(holder)) {
    status = { ok: false, reason: `another test run (tap, pid ${holder}) is using this machine's one node; run again when it has finished` };
  } else {
    try {
      if (isUp(SUITE_DIR)) stopCluster(SUITE_DIR); // left by a killed run
      writeFileSync(OWNER_FILE, String(RUN));
      const cluster = await upWithSreQuero(SUITE_DIR, log, 2);
      const { state } = cluster;
      status = {
        ok: true,
        kubeconfig: state.kubeconfig,
        server: state.server,
        caFile: state.caFile,
        token: state.adminToken,
        kubectlPath: cluster.kubectl,
        node: state.node,
        version: state.version,
        busyboxImage: cluster.busyboxImage,
        alloyImage: cluster.alloyImage,
        lokiUrl: state.lokiUrl,
        prometheusUrl: state.prometheusUrl,
        loki: cluster.provisioned.loki,
      };
    } catch (error) {
      status = { ok: false, reason: `the cluster with a real node did not start: ${(error as Error).message}` };
    }
  }
  writeFileSync(STATUS_FILE, JSON.stringify(status));
  return status;
}

export function suiteDown(log: (line: string) => void): void {
  rmSync(STATUS_FILE, { force: true });
  if (owner() !== RUN) return; // another run's cluster, or none
  for (const line of stopCluster(SUITE_DIR)) log(`cluster: ${line}`);
  rmSync(OWNER_FILE, { force: true });
}

export function suiteStatus(): SuiteStatus {
  if (!existsSync(STATUS_FILE)) return { ok: false, reason: 'no cluster with a real node: run the suite with `npm test` (tap starts it in its `before` step)' };
  return JSON.parse(readFileSync(STATUS_FILE, 'utf8')) as SuiteStatus;
}
