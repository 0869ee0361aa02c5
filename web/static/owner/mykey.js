// mykey.js — the owner's key check (docs/SPEC.md §4.7).
//
// Derives the credential key from the code the owner types, in the browser only (the booth
// module's deriveCredential, §4.3), and compares its fingerprint (first 16 hex digits of
// SHA-256 of the key, in groups of four) with the one the server registered for them. The code
// is never sent anywhere: this script makes no request, and the field has no name and is in no
// form. On a mismatch it points to the credential authority named on the page.

import { deriveCredential } from '../booth/gongjue-crypto.js';
import { sha256 } from '../vendor/noble-hashes/sha2.js';

/** SPEC §4.7 fingerprint of a public key given as 64 hex digits. */
export function fingerprint(publicKeyHex) {
  const bytes = new Uint8Array(publicKeyHex.match(/../g).map((h) => parseInt(h, 16)));
  const hex = Array.from(sha256(bytes), (b) => b.toString(16).padStart(2, '0')).join('').slice(0, 16);
  return hex.match(/..../g).join(' ');
}

function show(result, kind, text) {
  result.hidden = false;
  result.className = `result ${kind}`;
  result.dataset.outcome = kind;
  result.textContent = text;
}

function check(box) {
  const input = box.querySelector('#code');
  const result = box.querySelector('#result');
  let derived;
  try {
    derived = deriveCredential(input.value, box.dataset.origin);
  } catch (e) {
    show(result, 'invalid', e.message); // the bilingual CodeError message (SPEC §4.2)
    return;
  }
  const mine = fingerprint(derived.publicKey);
  if (mine === box.dataset.fingerprint) {
    show(result, 'match', `一致：登记的就是您这封信的凭证（${mine}）。/ Match: the registered key is the one your code gives.`);
  } else {
    const contact = document.getElementById('contact');
    show(result, 'mismatch', `不一致！您的凭证码得出 ${mine}，而系统登记的是 ${box.dataset.fingerprint}。` +
      `请勿投票，立即联系凭证机构。/ MISMATCH: the key registered for you is not the one your code gives; ` +
      `do not vote, contact the credential authority. ${contact ? contact.textContent.trim() : ''}`);
  }
}

const box = document.getElementById('keycheck');
if (box) {
  box.querySelector('#check').addEventListener('click', () => check(box));
  box.querySelector('#code').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); check(box); }
  });
  box.dataset.ready = '1';
}
