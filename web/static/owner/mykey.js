// mykey.js — the owner's key check (docs/SPEC.md §4.7).
//
// Derives the credential key from the code the owner types, in the browser only (the booth
// module's deriveCredential, §4.3), and compares its fingerprint (first 16 hex digits of
// SHA-256 of the key, in groups of four) with the one the server registered for them. The code
// is never sent anywhere: this script makes no request, and the field has no name and is in no
// form. On a mismatch it points to the credential authority named on the page. The words come
// from the page (<script type="application/json" id="mykey-messages">, server-side gettext).

import { deriveCredential } from '../booth/gongjue-crypto.js';
import { sha256 } from '../vendor/noble-hashes/sha2.js';
import { localMessage } from './code.js';

/** SPEC §4.7 fingerprint of a public key given as 64 hex digits. */
export function fingerprint(publicKeyHex) {
  const bytes = new Uint8Array(publicKeyHex.match(/../g).map((h) => parseInt(h, 16)));
  const hex = Array.from(sha256(bytes), (b) => b.toString(16).padStart(2, '0')).join('').slice(0, 16);
  return hex.match(/..../g).join(' ');
}

function show(result, kind, text) {
  result.hidden = false;
  result.className = `result ${kind === 'match' ? 'flash' : 'error'}`;
  result.dataset.outcome = kind;
  result.textContent = text;
}

function fill(template, vars) {
  return template.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? '');
}

function check(box, messages) {
  const input = box.querySelector('#code');
  const result = box.querySelector('#result');
  let derived;
  try {
    derived = deriveCredential(input.value.replace(/[\uFF01-\uFF5E]/g,
      (ch) => String.fromCharCode(ch.charCodeAt(0) - 0xFEE0)), box.dataset.origin);
  } catch (e) {
    show(result, 'invalid', localMessage(e.message)); // the CodeError message (SPEC §4.2)
    return;
  }
  const mine = fingerprint(derived.publicKey);
  if (mine === box.dataset.fingerprint) {
    show(result, 'match', fill(messages.match, { mine }));
  } else {
    const contact = document.getElementById('contact');
    show(result, 'mismatch', `${fill(messages.mismatch, { mine, registered: box.dataset.fingerprint })} ` +
      `${contact ? contact.textContent.trim().replace(/\s+/g, ' ') : ''}`);
  }
}

const box = document.getElementById('keycheck');
if (box) {
  const messages = JSON.parse(document.getElementById('mykey-messages').textContent);
  box.querySelector('#check').addEventListener('click', () => check(box, messages));
  box.querySelector('#code').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); check(box, messages); }
  });
  box.dataset.ready = '1';
}
