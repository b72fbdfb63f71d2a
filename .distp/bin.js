#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { main } from './cli.js';
const code = await main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: () => readFileSync(0, 'utf8'),
});
// serve returns -1 and keeps the process alive through its server.
if (code >= 0)
    process.exitCode = code;
//# sourceMappingURL=bin.js.map