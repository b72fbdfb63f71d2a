import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { DEFAULT_SETTINGS } from '../../src/injection/index.js';
import { injectManifests } from '../../src/manifests/inject-manifests.js';

// Golden files: <name>.yaml is the input, <name>.yaml.injected what
// `sre-quero inject` prints for it. Regenerate with `npm run test:update-golden`
// and review every diff of the .injected files before committing.
const dir = new URL('../fixtures/golden/', import.meta.url);
const update = process.env.UPDATE_GOLDEN === '1';
const inputs = readdirSync(dir).filter((name) => name.endsWith('.yaml'));

t.ok(inputs.length >= 6, 'golden inputs are present');

for (const name of inputs) {
  t.test(name, async (t) => {
    const input = readFileSync(new URL(name, dir), 'utf8');
    const { output } = injectManifests(input, DEFAULT_SETTINGS);
    const goldenUrl = new URL(`${name}.injected`, dir);
    if (update) writeFileSync(goldenUrl, output);
    t.equal(output, readFileSync(goldenUrl, 'utf8'), 'output matches the golden file');
    t.equal(injectManifests(output, DEFAULT_SETTINGS).output, output, 'injecting the output again changes nothing');
  });
}
