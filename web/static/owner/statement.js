// statement.js — what the owner's signed statements share (proxies.js, SPEC §7.8; petition.js,
// §9.2; consult.js, §10.2): the credential key derived from the code kept in this tab (code.js;
// else typed once on the page, never sent) and checked against the owner's registered key; the
// signature "gongjue/v1/" ‖ type ‖ 0x00 ‖ JCS(statement); the page's outcome line.

import { canonicalJson, deriveCredential, toHex } from '../booth/gongjue-crypto.js';
import { ed25519 } from '../vendor/noble-curves/ed25519.js';
import { recallCode, rememberCode } from './code.js';

/** A function showing (kind, text) in the page's outcome element ``result``. */
export function outcomeLine(result) {
  return (kind, text) => {
    result.className = kind;
    result.dataset.outcome = kind;
    result.textContent = text;
    result.hidden = false;
  };
}

/**
 * The owner's credential {seed, publicKey} for the page's ``data`` (slug, origin, key,
 * messages.code_mismatch); null when the code must first be typed — the field is then shown and
 * ``onNeeded`` called. Throws Error(code_mismatch) when the code gives another key.
 */
export function ownerCredential(data, codeField, codeInput, onNeeded) {
  let code = recallCode(data.slug);
  if (!code) {
    if (codeField.hidden || !codeInput.value.trim()) {
      codeField.hidden = false;
      if (onNeeded) onNeeded();
      codeInput.focus();
      return null;
    }
    code = rememberCode(data.slug, codeInput.value);
  }
  const derived = deriveCredential(code, data.origin);
  if (derived.publicKey !== data.key) throw new Error(data.messages.code_mismatch);
  return derived;
}

/** Hex Ed25519 signature by ``seed`` of "gongjue/v1/" ‖ type ‖ 0x00 ‖ JCS(statement). */
export function signStatement(type, statement, seed) {
  const message = new TextEncoder().encode(`gongjue/v1/${type}\x00${canonicalJson(statement)}`);
  return toHex(ed25519.sign(message, seed));
}
