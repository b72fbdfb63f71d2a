import { readFileSync, writeFileSync } from 'node:fs';
import { STATUS_FILE, suiteUp } from './suite.js';

// tap's `before`: starts the shared cluster. Always exits 0 (a failing
// `before` would abort tap); the status file tells the node tests why there
// is no cluster, and they fail or skip on it.
//
// A run of chosen files with no end-to-end file among them (`npx tap
// test/unit/x.test.ts`, `npm run test:update-golden`) needs no cluster. tap
// retitles its own process, so its files are read from the command line
// that started it: the nearest ancestor naming any.
function tapFiles(): string[] {
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
    const files = args.filter((arg) => /\.test\.[cm]?[jt]s'?$/.test(arg));
    if (files.length > 0) return files;
    pid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
  }
  return [];
}
const files = tapFiles();
if (files.length > 0 && !files.some((file) => file.includes('test/e2e/'))) {
  writeFileSync(STATUS_FILE, JSON.stringify({ ok: false, reason: 'this run has no end-to-end test file' }));
} else {
  const status = await suiteUp((line) => process.stderr.write(`${line}\n`));
  if (!status.ok) process.stderr.write(`real-node suite: ${status.reason}\n`);
}
