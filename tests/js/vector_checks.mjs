// The shared crypto vector checks (tests/vectors/crypto/*.json) against the browser module, for
// node (tests/js/check_vectors.mjs) and Chromium (tests/crypto_cross/test_browser_module.py).
// runChecks(gc, load, {sign}): gc is the imported gongjue-crypto.js module, load(name) returns a
// vector file's parsed JSON; sign(message, seed) → 64-byte Ed25519 signature (the vendored noble
// ed25519.sign), if given, adds the "tampered" group: ballots whose commitment-carrying proofs
// (SPEC §3.4–§3.5) are altered and re-signed, each refused for the altered part.
// Returns {counts: {group: {passed, failed}}, failures: [message…]}.

export function runChecks(gc, load, { sign } = {}) {
  const counts = new Map();
  const failures = [];

  function check(group, name, fn) {
    const c = counts.get(group) ?? { passed: 0, failed: 0 };
    counts.set(group, c);
    try {
      const problem = fn();
      if (problem) throw new Error(problem);
      c.passed++;
    } catch (e) {
      c.failed++;
      failures.push(`${group} / ${name}: ${e.message}`);
    }
  }

  function eq(what, got, want) {
    if (got === want) return null;
    const g = String(got), w = String(want);
    if (g.length + w.length < 200) return `${what}: got ${g}, want ${w}`;
    let i = 0;
    while (i < g.length && g[i] === w[i]) i++;
    return `${what}: differs at character ${i}: got …${g.slice(Math.max(0, i - 40), i + 40)}…, ` +
      `want …${w.slice(Math.max(0, i - 40), i + 40)}…`;
  }
  const first = (...problems) => problems.find((p) => p) ?? null;

  function refuses(fn, kind) {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof gc.CryptoError)) return `threw ${e.name}: ${e.message}, want CryptoError(${kind})`;
      return e.kind === kind ? null : `refused as ${e.kind} (${e.message}), want ${kind}`;
    }
    return `accepted, want refusal (${kind})`;
  }

  // --- credentials ----------------------------------------------------------------------------

  const creds = load('credentials.json');
  check('credentials', 'alphabet', () => eq('alphabet', gc.ALPHABET, creds.alphabet));
  for (const v of creds.derivations) {
    check('credentials', JSON.stringify(v.input), () => {
      const d = gc.deriveCredential(v.input, v.origin);
      return first(eq('code', d.code, v.code), eq('printed', gc.formatCode(v.input), v.printed),
        eq('seed', gc.toHex(d.seed), v.seed), eq('public key', d.publicKey, v.public_key));
    });
  }
  for (const v of creds.refusals) {
    check('credentials', `refuse ${JSON.stringify(v.input)}`, () => {
      try {
        gc.normaliseCode(v.input);
      } catch (e) {
        if (!(e instanceof gc.CodeError)) return `threw ${e.name}`;
        return first(eq('kind', e.kind, v.kind), eq('message', e.message, v.message));
      }
      return 'accepted';
    });
  }

  // --- group ----------------------------------------------------------------------------------

  const grp = load('group.json');
  for (const v of grp.drbg) {
    check('group', `drbg ${v.seed}`, () => {
      const rand = gc.testDrbg(v.seed);
      return first(...v.scalars.map((s, i) => eq(`scalar ${i}`, gc.scalarHex(rand()), s)));
    });
  }
  const fieldBytes = (f) => {
    if ('text' in f) return new TextEncoder().encode(f.text);
    if ('int' in f) return new Uint8Array([f.int >>> 24, (f.int >>> 16) & 255, (f.int >>> 8) & 255, f.int & 255]);
    return gc.fromHex(f.bytes);
  };
  for (const v of grp.challenges) {
    check('group', `challenge ${v.tag}/${v.fields.length}`, () =>
      eq('c', gc.scalarHex(gc.challenge(v.tag, ...v.fields.map(fieldBytes))), v.c));
  }
  for (const v of grp.base_mul) {
    check('group', `k·G ${v.k.slice(0, 8)}`, () => eq('point', gc.pointHex(gc.baseMul(gc.decodeScalar(v.k))), v.point));
  }
  for (const v of grp.points) {
    check('group', `point ${v.why}`, () => {
      let ok = true;
      try {
        gc.decodePoint(v.hex, { allowIdentity: v.allow_identity });
      } catch (e) {
        if (!(e instanceof gc.CryptoError)) return `threw ${e.name}: ${e.message}`;
        ok = false;
      }
      return eq('valid', ok, v.valid);
    });
  }
  for (const v of grp.scalars) {
    check('group', `scalar ${v.hex.slice(0, 8)}…`, () => {
      let ok = true;
      try { gc.decodeScalar(v.hex); } catch { ok = false; }
      return eq('valid', ok, v.valid);
    });
  }
  for (const v of grp.elgamal) {
    check('group', `elgamal m=${v.m}`, () => {
      const { alpha, beta } = gc.encrypt(v.m, gc.decodeScalar(v.r), gc.decodePoint(v.joint_key));
      return first(eq('alpha', gc.pointHex(alpha), v.alpha), eq('beta', gc.pointHex(beta), v.beta));
    });
  }

  // --- ballots --------------------------------------------------------------------------------

  const ballots = load('ballots.json');
  const fingerprintOf = (r) => gc.roundFingerprint({ origin: r.origin, roundId: r.round_id, secrecy: r.secrecy,
    agenda: r.agenda, rules: r.rules, roll: r.roll, jointKey: r.joint_key });
  for (const r of ballots.fingerprints) {
    check('ballots', `fingerprint ${r.origin} ${r.round_id} ${r.secrecy}`, () => eq('fingerprint', fingerprintOf(r), r.fingerprint));
  }
  for (const v of [...ballots.secret, ...ballots.open]) {
    check('ballots', `${v.name}: fingerprint`, () => eq('fingerprint', fingerprintOf(v.round), v.fingerprint));
  }
  for (const v of ballots.secret) {
    check('ballots', `${v.name}: encrypt`, () => {
      const cred = gc.deriveCredential(v.code, v.origin);
      const out = gc.encryptBallot({ fingerprint: v.fingerprint, jointKey: v.joint_key, items: v.items,
        choices: v.choices, signingKey: cred, rand: gc.testDrbg(v.drbg_seed) });
      return first(eq('voter key', cred.publicKey, v.voter_key),
        eq('signed ballot', gc.canonicalJson(out.signed), gc.canonicalJson(v.signed)),
        eq('tracking', out.tracking.full, v.tracking.full), eq('short', out.tracking.short, v.tracking.short),
        eq('reveal', gc.canonicalJson(gc.revealBallot(out)), gc.canonicalJson(v.reveal)));
    });
    check('ballots', `${v.name}: verify`, () => {
      gc.verifyBallot({ signed: JSON.stringify(v.signed), secrecy: 'secret', fingerprint: v.fingerprint,
        jointKey: v.joint_key, items: v.items, voterKey: v.voter_key });
      return eq('tracking', gc.trackingCode(v.signed).short, v.tracking.short);
    });
    check('ballots', `${v.name}: reveal`, () =>
      eq('checkReveal', gc.checkReveal({ signed: v.signed, reveal: v.reveal, jointKey: v.joint_key }), true));
  }
  for (const v of ballots.open) {
    check('ballots', `${v.name}: sign`, () => {
      const cred = gc.deriveCredential(v.code, v.origin);
      const signed = gc.signOpenBallot({ fingerprint: v.fingerprint, items: v.items, choices: v.choices, signingKey: cred,
        forVoter: v.for });
      return first(eq('signed ballot', gc.canonicalJson(signed), gc.canonicalJson(v.signed)),
        eq('tracking', gc.trackingCode(signed).full, v.tracking.full));
    });
    check('ballots', `${v.name}: verify`, () =>
      eq('verify', gc.verifyBallot({ signed: JSON.stringify(v.signed), secrecy: 'open', fingerprint: v.fingerprint,
        jointKey: null, items: v.items }), true));
  }

  // --- invalid --------------------------------------------------------------------------------

  const invalid = load('invalid.json');
  for (const v of invalid.ballots) {
    check('invalid', v.name, () => refuses(() => gc.verifyBallot({ signed: v.text, secrecy: v.secrecy,
      fingerprint: v.fingerprint, jointKey: v.joint_key, items: v.items, voterKey: v.voter_key }), v.reason));
  }
  for (const v of invalid.reveals) {
    check('invalid', `reveal: ${v.name}`, () =>
      refuses(() => gc.checkReveal({ signed: v.signed, reveal: v.reveal, jointKey: v.joint_key }), 'reveal'));
  }

  if (sign) tamperedChecks(gc, ballots.secret, sign, check, refuses, eq);

  return { counts: Object.fromEntries(counts), failures };
}

// --- tampered proofs ----------------------------------------------------------------------------
// A ballot from the test DRBG (the vector's inputs), altered, then re-signed with the voter's
// credential so that only the proof check can refuse it.  A commitment moved without touching c
// fails the challenge; moved with c_v rebalanced (Σ c ≡ challenge again) it fails its own
// verification equation, which the message names; for B_v, z_v is rebalanced too (with the
// nonce) so that A_v still holds.

function tamperedChecks(gc, secretVectors, sign, check, refuses, eq) {
  const utf8 = new TextEncoder();
  const be32 = (n) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const mod = (k) => ((k % gc.L) + gc.L) % gc.L;
  const G = gc.baseMul(1n);
  const pt = (hex) => gc.decodePoint(hex, { allowIdentity: true });
  const sc = gc.decodeScalar;
  const shx = (k) => gc.scalarHex(mod(k));
  const moved = (hex) => gc.pointHex(pt(hex).add(G)); // another valid point
  const IDENTITY = '00'.repeat(32);
  const NOT_CANONICAL = 'ff'.repeat(32); // ≥ p: no ristretto255 encoding

  // the widest count range, and the first vector (a motion)
  const widest = secretVectors.reduce((a, v) => (span(v) > span(a) ? v : a));
  function span(v) { return Math.max(...v.items.map((it) => gc.itemShape(it).hi - gc.itemShape(it).lo)); }
  const chosen = [...new Set([secretVectors[0], widest])];

  for (const v of chosen) {
    const cred = gc.deriveCredential(v.code, v.origin);
    const made = gc.encryptBallot({ fingerprint: v.fingerprint, jointKey: v.joint_key, items: v.items,
      choices: v.choices, signingKey: cred, rand: gc.testDrbg(v.drbg_seed) });
    const n = v.items.findIndex((it) => gc.itemShape(it).hi - gc.itemShape(it).lo === span(v));
    const shape = gc.itemShape(v.items[n]);
    const nonces = made.secrets.items[n].nonces.map(sc);
    const marks = made.secrets.items[n].selections;
    const K = gc.fromHex(v.joint_key);

    const bitChallenge = (body, index) => {
      const item = body.items[n], sel = item.selections[index], p = sel.proof;
      return gc.challenge('gongjue/v1/bit', gc.fromHex(body.round), gc.fromHex(body.voter), utf8.encode(item.id),
        be32(index), K, gc.fromHex(sel.alpha), gc.fromHex(sel.beta),
        ...[p.a[0], p.b[0], p.a[1], p.b[1]].map(gc.fromHex));
    };
    const countChallenge = (body) => {
      const item = body.items[n], p = item.count_proof;
      const parts = item.selections.flatMap((s) => [gc.fromHex(s.alpha), gc.fromHex(s.beta)]);
      const commitments = [];
      for (let i = 0; i < p.a.length; i++) commitments.push(gc.fromHex(p.a[i]), gc.fromHex(p.b[i]));
      return gc.challenge('gongjue/v1/count', gc.fromHex(body.round), gc.fromHex(body.voter), utf8.encode(item.id),
        be32(shape.lo), be32(shape.hi), K, ...parts, ...commitments);
    };
    // Σ c ≡ challenge again, by changing c_i (and z_i by the same δ times the nonce, if `nonce`)
    const rebalance = (p, i, total, nonce) => {
      const rest = p.c.reduce((acc, c, j) => (j === i ? acc : acc + sc(c)), 0n);
      const delta = mod(total - rest - sc(p.c[i]));
      p.c[i] = shx(sc(p.c[i]) + delta);
      if (nonce !== undefined) p.z[i] = shx(sc(p.z[i]) + delta * nonce);
    };
    const R = mod(nonces.reduce((a, b) => a + b, 0n));
    const k = marks.reduce((a, b) => a + b, 0);
    const sel0 = (body) => body.items[n].selections[0].proof;
    const cnt = (body) => body.items[n].count_proof;
    const other = 1 - marks[0]; // selection 0's simulated branch
    const fake = shape.lo === k ? shape.hi : shape.lo; // a simulated branch of the count proof

    const cases = [
      ['unchanged (re-signed)', null, null, () => {}],
      ['0/1 proof: commitment A_0 moved, c unchanged', 'proof', 'c_0 + c_1 ≠ challenge', (b) => {
        sel0(b).a[0] = moved(sel0(b).a[0]);
      }],
      ['0/1 proof: commitment A_1 moved, c_1 rebalanced', 'proof', 'A_1 ≠ z_1·G − c_1·α', (b) => {
        sel0(b).a[1] = moved(sel0(b).a[1]);
        rebalance(sel0(b), 1, bitChallenge(b, 0));
      }],
      [`0/1 proof: commitment B_${other} moved, c_${other} and z_${other} rebalanced`, 'proof',
        `B_${other} ≠ z_${other}·K − c_${other}·(β − ${other}·G)`, (b) => {
          sel0(b).b[other] = moved(sel0(b).b[other]);
          rebalance(sel0(b), other, bitChallenge(b, 0), nonces[0]);
        }],
      ['0/1 proof: response z_1 changed', 'proof', 'A_1 ≠ z_1·G − c_1·α', (b) => {
        sel0(b).z[1] = shx(sc(sel0(b).z[1]) + 1n);
      }],
      ['0/1 proof: response z_0 changed', 'proof', 'A_0 ≠ z_0·G − c_0·α', (b) => {
        sel0(b).z[0] = shx(sc(sel0(b).z[0]) + 1n);
      }],
      ['0/1 proof: commitment b[0] the identity', 'identity', 'commitment b[0]', (b) => { sel0(b).b[0] = IDENTITY; }],
      ['0/1 proof: commitment a[1] not an encoding', 'point', 'commitment a[1]', (b) => { sel0(b).a[1] = NOT_CANONICAL; }],
      ['0/1 proof: commitment a[0] upper-case hex', 'point', 'commitment a[0]', (b) => {
        sel0(b).a[0] = sel0(b).a[0].toUpperCase();
      }],
      ['0/1 proof: compact (no commitments)', 'proof', 'expected exactly', (b) => {
        delete sel0(b).a; delete sel0(b).b;
      }],
      ['0/1 proof: three commitments in a', 'proof', 'commitments', (b) => { sel0(b).a.push(sel0(b).a[0]); }],
      ['0/1 proof: commitments of selection 1', 'proof', 'does not verify', (b) => {
        const s = b.items[n].selections;
        [sel0(b).a, sel0(b).b] = [s[1].proof.a, s[1].proof.b];
      }],
      ['count proof: commitment moved, c unchanged', 'proof', 'Σ c_v ≠ challenge', (b) => {
        cnt(b).b[0] = moved(cnt(b).b[0]);
      }],
      [`count proof: commitment A'_${fake} moved, c_${fake} rebalanced`, 'proof',
        `A'_${fake} ≠ z_${fake}·G − c_${fake}·A`, (b) => {
          const i = fake - shape.lo;
          cnt(b).a[i] = moved(cnt(b).a[i]);
          rebalance(cnt(b), i, countChallenge(b));
        }],
      [`count proof: commitment B'_${fake} moved, c_${fake} and z_${fake} rebalanced`, 'proof',
        `B'_${fake} ≠ z_${fake}·K − c_${fake}·(B − ${fake}·G)`, (b) => {
          const i = fake - shape.lo;
          cnt(b).b[i] = moved(cnt(b).b[i]);
          rebalance(cnt(b), i, countChallenge(b), R);
        }],
      [`count proof: response z_${k} changed`, 'proof', `A'_${k} ≠ z_${k}·G − c_${k}·A`, (b) => {
        const i = k - shape.lo;
        cnt(b).z[i] = shx(sc(cnt(b).z[i]) + 1n);
      }],
      ['count proof: last commitment the identity', 'identity', `commitment a[${shape.hi - shape.lo}]`, (b) => {
        cnt(b).a[shape.hi - shape.lo] = IDENTITY;
      }],
      ['count proof: commitments missing', 'proof', 'expected exactly', (b) => { delete cnt(b).b; }],
    ];
    for (const [what, kind, text, alter] of cases) {
      check('tampered', `${v.name} item ${shape.id}: ${what}`, () => {
        const body = structuredClone(made.signed.ballot);
        alter(body);
        const signed = { ballot: body, sig: gc.toHex(sign(gc.ballotMessage(body), cred.seed)) };
        const verify = () => gc.verifyBallot({ signed: JSON.stringify(signed), secrecy: 'secret',
          fingerprint: v.fingerprint, jointKey: v.joint_key, items: v.items, voterKey: cred.publicKey });
        if (kind === null) return eq('verify', verify(), true);
        const refused = refuses(verify, kind);
        if (refused) return refused;
        try { verify(); } catch (e) {
          if (!e.message.includes(text)) return `message ${JSON.stringify(e.message)} does not name ${JSON.stringify(text)}`;
        }
        return null;
      });
    }
  }
}
