// code.js — the owner's credential code, kept in this browser tab only (docs/SPEC.md §4.3, §4.6).
//
// The booth, the key check and the proxies page need the code from the owner's letter to derive
// the signing key in the browser.  The owner types it once (or opens the letter's QR link,
// /estates/<slug>/vote#c=<24 symbols>) and these functions keep it in sessionStorage: this tab
// only, gone when the tab closes, forgotten on sign-out.  The code is never sent anywhere: no
// function here makes a request, and the code is never put in a form field with a name.
//
//   rememberCode(slug, code) → the normalised 24 symbols (throws CodeError when mistyped)
//   recallCode(slug)         → the 24 symbols, or null
//   forgetCode(slug)         → removes it (every estate's when slug is omitted)
//   takeCodeFromFragment(slug) → the code of a "#c=…" address, remembered, and the fragment
//                                cleared from the address bar at once; null when none
//   foldWidth(text)          → full-width ASCII (Ａ-Ｚ, ０-９, －, ＿…) from Chinese input methods
//                                mapped to ASCII, before normaliseCode

import { normaliseCode } from '../booth/gongjue-crypto.js';

const PREFIX = 'gongjue.code.';

function store() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: the owner types the code on each page
  }
}

/** Full-width forms U+FF01…U+FF5E → ASCII; the ideographic space stays (normaliseCode drops it). */
export function foldWidth(text) {
  return String(text).replace(/[\uFF01-\uFF5E]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) - 0xFEE0));
}

/** Keep the code for ``slug`` in this tab; returns the 24 symbols (CodeError when mistyped). */
export function rememberCode(slug, code) {
  const normal = normaliseCode(foldWidth(code));
  const s = store();
  if (s) s.setItem(PREFIX + slug, normal);
  return normal;
}

/** The code kept for ``slug`` in this tab, or null. */
export function recallCode(slug) {
  const s = store();
  const found = s ? s.getItem(PREFIX + slug) : null;
  if (!found) return null;
  try {
    return normaliseCode(found);
  } catch {
    s.removeItem(PREFIX + slug);
    return null;
  }
}

/** Forget the code of ``slug`` (of every estate when ``slug`` is omitted). */
export function forgetCode(slug) {
  const s = store();
  if (!s) return;
  if (slug !== undefined) {
    s.removeItem(PREFIX + slug);
    return;
  }
  for (let i = s.length - 1; i >= 0; i--) {
    const key = s.key(i);
    if (key && key.startsWith(PREFIX)) s.removeItem(key);
  }
}

/**
 * The letter's QR link carries the code in the fragment (#c=…), which browsers never send.
 * Take it, clear it from the address bar (and the history entry) at once, and remember it.
 * Returns the normalised code, or null when there is none; a mistyped code throws CodeError
 * (the fragment is cleared all the same).
 */
export function takeCodeFromFragment(slug) {
  const hash = window.location.hash || '';
  const match = /^#c=([^&]*)/.exec(hash);
  if (!match) return null;
  history.replaceState(history.state, '', window.location.pathname + window.location.search);
  let typed = match[1];
  try { typed = decodeURIComponent(typed); } catch { /* keep it as it is */ }
  return rememberCode(slug, typed);
}

// Sign-out forms carry data-forget-code="<slug>": the code goes with the session.
if (typeof document !== 'undefined') {
  for (const form of document.querySelectorAll('form[data-forget-code]')) {
    form.addEventListener('submit', () => forgetCode(form.dataset.forgetCode || undefined));
  }
}

/** The page's half of a bilingual "中文 / English" message (CodeError's), by <html lang>. */
export function localMessage(message) {
  const text = String(message);
  const cut = text.indexOf(' / ');
  if (cut < 0) return text;
  return document.documentElement.lang === 'en' ? text.slice(cut + 3) : text.slice(0, cut);
}
