// Check every shared crypto vector (tests/vectors/crypto/*.json) against the browser module
// web/static/booth/gongjue-crypto.js.  Prints one line per group and a summary; exits 1 on any
// mismatch.  Run: node tests/js/check_vectors.mjs [vector dir]

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as gc from '../../web/static/booth/gongjue-crypto.js';
import { runChecks } from './vector_checks.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dir = resolve(process.argv[2] ?? join(here, '..', 'vectors', 'crypto'));
const load = (name) => JSON.parse(readFileSync(join(dir, name), 'utf8'));

// --- summary --------------------------------------------------------------------------------

let passed = 0, failed = 0;
const { counts, failures } = runChecks(gc, load);
for (const [group, c] of Object.entries(counts)) {
  console.log(`${group.padEnd(12)} ${c.passed} passed, ${c.failed} failed`);
  passed += c.passed; failed += c.failed;
}
for (const f of failures) console.log(`FAIL ${f}`);
console.log(`gongjue-crypto.js vectors: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
