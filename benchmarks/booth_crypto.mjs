// Speed of the browser booth module (web/static/booth/gongjue-crypto.js) under node.
// Prints milliseconds per operation; no thresholds (targets live in DESIGN.md).
// Run: node benchmarks/booth_crypto.mjs [repetitions]

import * as gc from '../web/static/booth/gongjue-crypto.js';

const reps = Number(process.argv[2] ?? 20);
const origin = 'gongjue.local/maple-court';
const code = '2'.repeat(24);
const K = gc.pointHex(gc.baseMul(gc.randomScalar()));
const fingerprint = 'ab'.repeat(32);
const cases = {
  'motion (3 selections)': { items: [{ id: 'm', n: 3, lo: 1, hi: 1 }], choices: { m: [1, 0, 0] } },
  'election 7 candidates, 5 seats': { items: [{ id: 'e', n: 7, lo: 0, hi: 5 }], choices: { e: [1, 1, 0, 1, 0, 0, 1] } },
};

function time(label, fn) {
  fn(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  const ms = (performance.now() - t0) / reps;
  console.log(`${label.padEnd(52)} ${ms.toFixed(2).padStart(8)} ms`);
}

console.log(`node ${process.version}, ${reps} repetitions`);
time('deriveCredential (HKDF + Ed25519 public key)', () => gc.deriveCredential(code, origin));
const cred = gc.deriveCredential(code, origin);
for (const [name, c] of Object.entries(cases)) {
  let signed;
  time(`encryptBallot: ${name}`, () => {
    signed = gc.encryptBallot({ fingerprint, jointKey: K, items: c.items, choices: c.choices, signingKey: cred }).signed;
  });
  const text = JSON.stringify(signed);
  time(`verifyBallot:  ${name} (text)`, () =>
    gc.verifyBallot({ signed: text, secrecy: 'secret', fingerprint, jointKey: K, items: c.items }));
}
