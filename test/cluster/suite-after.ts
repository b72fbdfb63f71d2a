import { suiteDown } from './suite.js';

// tap's `after`: stops the shared cluster and undoes its host changes.
suiteDown((line) => process.stderr.write(`${line}\n`));
