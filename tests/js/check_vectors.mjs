// Check every shared crypto vector (tests/vectors/crypto/*.json) against the browser module
// web/static/booth/gongjue-crypto.js, and the tampered-proof checks (altered proofs re-signed
// with the vendored noble ed25519).  Prints one line per group and a summary; exits 1 on any
// mismatch.  Run: node tests/js/check_vectors.mjs [vector dir]

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as gc from '../../web/static/booth/gongjue-crypto.js';
import { ed25519 } from '../../web/static/vendor/noble-curves/ed25519.js';
import { runChecks } from './vector_checks.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dir = resolve(process.argv[2] ?? join(here, '..', 'vectors', 'crypto'));
const load = (name) => JSON.parse(readFileSync(join(dir, name), 'utf8'));

// --- summary --------------------------------------------------------------------------------

// The last line counts the vectors' checks; the line before it the tampered proofs (not vectors:
// altered from the module's own ballots, so their number does not follow the vector files).
let passed = 0, failed = 0;
const { counts, failures } = runChecks(gc, load, { sign: ed25519.sign });
for (const [group, c] of Object.entries(counts)) {
  console.log(`${group.padEnd(12)} ${c.passed} passed, ${c.failed} failed`);
  if (group !== 'tampered') { passed += c.passed; failed += c.failed; }
}
for (const f of failures) console.log(`FAIL ${f}`);
const tampered = counts.tampered ?? { passed: 0, failed: 0 };
console.log(`tampered proofs: ${tampered.passed} passed, ${tampered.failed} failed`);
console.log(`gongjue-crypto.js vectors: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 && tampered.failed === 0 && tampered.passed > 0 ? 0 : 1);
