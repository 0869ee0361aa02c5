// signin.js — owner sign-in with the credential code (docs/SPEC.md §4.3, §4.6).
//
// The code (typed, or from the letter's QR link #c=…, taken and cleared from the address bar by
// code.js) is turned into the credential public key here; only the key goes into the form
// (hidden field "key"). The code's own field has no name, so it is never submitted; the code is
// kept in this tab (code.js) for the booth. Without this script the page offers the flat form.

import { deriveCredential } from '../booth/gongjue-crypto.js';
import { localMessage, recallCode, rememberCode, takeCodeFromFragment } from './code.js';

const form = document.getElementById('signin-code');
if (form) {
  const slug = form.dataset.slug;
  const input = document.getElementById('signin-credential');
  const error = document.getElementById('signin-code-error');
  const keyField = document.getElementById('signin-key');
  const fold = document.getElementById('signin-flat-fold');
  form.hidden = false;
  if (fold) fold.open = false;
  let fromLink = null;
  try {
    fromLink = takeCodeFromFragment(slug);
  } catch (e) {
    error.textContent = localMessage(e.message);
    error.hidden = false;
  }
  const known = fromLink || recallCode(slug);
  if (known) input.value = known.match(/.{4}/g).join('-');
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') { event.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener('submit', (event) => {
    try {
      const code = rememberCode(slug, input.value);
      keyField.value = deriveCredential(code, form.dataset.origin).publicKey;
      error.hidden = true;
    } catch (e) {
      event.preventDefault();
      keyField.value = '';
      error.textContent = localMessage(e.message);
      error.hidden = false;
      input.focus();
    }
  });
  form.dataset.ready = '1';
}
