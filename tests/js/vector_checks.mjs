// The shared crypto vector checks (tests/vectors/crypto/*.json) against the browser module, for
// node (tests/js/check_vectors.mjs) and Chromium (tests/crypto_cross/test_browser_module.py).
// runChecks(gc, load): gc is the imported gongjue-crypto.js module, load(name) returns a vector
// file's parsed JSON.  Returns {counts: {group: {passed, failed}}, failures: [message…]}.

export function runChecks(gc, load) {
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
      const signed = gc.signOpenBallot({ fingerprint: v.fingerprint, items: v.items, choices: v.choices, signingKey: cred });
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

  return { counts: Object.fromEntries(counts), failures };
}
