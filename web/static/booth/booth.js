// booth.js — the owner's booth (issue #10; docs/SPEC.md §3.6, §7.2, §7.8).
//
// Reads the round from <script type="application/json" id="booth-data"> (web/booth.py), then:
// the credential code (owner/code.js: kept in this tab only, never sent) → the key derived here
// and compared with the key registered for the signed-in owner → the choices item by item →
// review → seal (encrypt and sign here, a progress indicator while it works) → the tracking code
// → cast (POST the signed ballot to the cast API) or audit (reveal the nonces, check that the
// sealed ballot holds the choices shown, throw it away, seal again) → the receipt (tracking code,
// QR of the check page's link, the inclusion proof in a download).
//
// Every word shown comes from the page (server-side gettext): data.messages and data.refusals.
// Contract: document.documentElement.dataset.booth = "ready" once it can encrypt.

import {
  canonicalJson, checkReveal, deriveCredential, encryptBallot, revealBallot, signOpenBallot, toHex, trackingCode,
} from './gongjue-crypto.js';
import { ed25519 } from '../vendor/noble-curves/ed25519.js';
import { forgetCode, localMessage, rememberCode, recallCode, takeCodeFromFragment } from '../owner/code.js';

const $ = (id) => document.getElementById(id);
const dataBlock = $('booth-data');

const state = {
  data: null,
  credential: null, // {seed, publicKey}; never leaves the page
  whom: '', // '' = myself, else the represented voter's pseudonym
  index: 0,
  choices: [], // per item: array of 0/1
  sealed: null, // {signed, tracking, secrets}
};

function show(id) {
  for (const el of document.querySelectorAll('.booth .step')) el.hidden = el.id !== id;
  const el = $(id);
  if (el) {
    const heading = el.querySelector('h2, legend, p');
    if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
    el.scrollIntoView({ block: 'start' });
  }
}

function say(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

function format(template, vars) {
  return template.replace(/%\((\w+)\)s/g, (_, k) => (k in vars ? String(vars[k]) : ''));
}

// --- the code -------------------------------------------------------------------------------

function useCode(code) {
  const derived = deriveCredential(code, state.data.origin);
  if (derived.publicKey !== state.data.key) {
    forgetCode(state.data.slug);
    throw new Error(state.data.messages.code_mismatch);
  }
  state.credential = { seed: derived.seed, publicKey: derived.publicKey };
}

function codeStep() {
  const input = $('booth-code');
  const error = $('code-error');
  const next = () => {
    try {
      const code = rememberCode(state.data.slug, input.value);
      useCode(code);
      input.value = '';
      say(error, '');
      afterCode();
    } catch (e) {
      say(error, localMessage(e.message || state.data.messages.code_needed));
    }
  };
  $('code-next').addEventListener('click', next);
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); next(); } });
}

function afterCode() {
  if ($('step-whom')) {
    show('step-whom');
  } else {
    startItems();
  }
}

// --- items ----------------------------------------------------------------------------------

function fieldsets() {
  return Array.from(document.querySelectorAll('#step-items fieldset.item'));
}

function marksOf(fieldset) {
  return Array.from(fieldset.querySelectorAll('input')).map((i) => (i.checked ? 1 : 0));
}

function startItems() {
  state.index = 0;
  show('step-items');
  showItem(0);
}

function showItem(i) {
  fieldsets().forEach((f, n) => { f.hidden = n !== i; });
  const f = fieldsets()[i];
  // the first item's Back leads to "whom" or to the code; with neither there is nowhere to go
  f.querySelector('.item-back').hidden = i === 0 && !$('step-whom') && Boolean(recallCode(state.data.slug));
  const legend = f.querySelector('legend');
  legend.tabIndex = -1;
  legend.focus({ preventScroll: true });
  f.scrollIntoView({ block: 'start' });
}

function itemStep() {
  fieldsets().forEach((f, i) => {
    f.querySelector('.item-next').addEventListener('click', () => {
      const marks = marksOf(f);
      const k = marks.reduce((a, b) => a + b, 0);
      const lo = Number(f.dataset.lo);
      const hi = Number(f.dataset.hi);
      const error = f.querySelector('.item-error');
      if (k < lo) { say(error, lo === 1 && hi === 1 ? state.data.messages.choose_one : state.data.messages.too_few); return; }
      if (k > hi) { say(error, state.data.messages.too_many); return; }
      say(error, '');
      state.choices[i] = marks;
      if (i + 1 < fieldsets().length) {
        state.index = i + 1;
        showItem(i + 1);
      } else {
        review();
      }
    });
    f.querySelector('.item-back').addEventListener('click', () => {
      if (i > 0) { showItem(i - 1); return; }
      if ($('step-whom')) show('step-whom');
      else show('step-code');
    });
  });
}

function describe(listEl, marksPerItem) {
  listEl.replaceChildren();
  state.data.items.forEach((item, i) => {
    const dt = document.createElement('dt');
    dt.textContent = item.title;
    const dd = document.createElement('dd');
    const chosen = item.labels.filter((_, j) => marksPerItem[i][j] === 1);
    dd.textContent = chosen.length ? chosen.join('、') : state.data.messages.nothing_chosen;
    listEl.append(dt, dd);
  });
}

function review() {
  describe($('review-list'), state.choices);
  const whom = $('review-whom');
  if (state.whom) say(whom, format(state.data.messages.for_other, { voter: state.whom }));
  else whom.hidden = true;
  show('step-review');
}

// --- seal, cast, audit ----------------------------------------------------------------------

const paint = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 30)));

async function seal() {
  const d = state.data;
  say($('working-text'), d.secrecy === 'secret' ? d.messages.working_secret : d.messages.working_open);
  show('step-working');
  await paint();
  const items = d.items.map((it) => ({ id: it.id, n: it.n, lo: it.lo, hi: it.hi }));
  if (d.secrecy === 'secret') {
    state.sealed = encryptBallot({ fingerprint: d.fingerprint, jointKey: d.joint_key, items,
      choices: state.choices, signingKey: state.credential.seed });
  } else {
    const signed = signOpenBallot({ fingerprint: d.fingerprint, items, choices: state.choices,
      signingKey: state.credential.seed, forVoter: state.whom || undefined });
    state.sealed = { signed, tracking: trackingCode(signed), secrets: null };
  }
  $('sealed-tracking').textContent = state.sealed.tracking.short;
  say($('cast-error'), '');
  show('step-sealed');
}

function forSig(tracking) {
  const d = state.data;
  const statement = { v: 1, type: 'proxy.ballot', round: d.fingerprint, for: state.whom, tracking };
  const bytes = new TextEncoder().encode(`gongjue/v1/proxy.ballot\x00${canonicalJson(statement)}`);
  return toHex(ed25519.sign(bytes, state.credential.seed));
}

function refusal(code) {
  const r = state.data.refusals;
  return r[code] || r.unknown;
}

async function cast() {
  const d = state.data;
  const button = $('cast');
  button.disabled = true;
  say($('cast-error'), '');
  let url = d.cast_url;
  if (state.whom) {
    url += `?for=${encodeURIComponent(state.whom)}&for_sig=${forSig(state.sealed.tracking.full)}`;
  }
  let response;
  let body = null;
  try {
    response = await fetch(url, {
      method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(state.sealed.signed),
    });
    body = await response.json().catch(() => null);
  } catch {
    say($('cast-error'), refusal('network'));
    button.disabled = false;
    return;
  }
  if (response.status !== 201 || !body) {
    const code = body && body.detail && body.detail.code;
    const error = $('cast-error');
    error.dataset.code = code || 'unknown';
    say(error, refusal(code));
    button.disabled = false;
    return;
  }
  receipt(body);
}

function download(anchor, name, value) {
  const blob = new Blob([JSON.stringify(value, null, 2)], { type: 'application/json' });
  if (anchor.href.startsWith('blob:')) URL.revokeObjectURL(anchor.href);
  anchor.href = URL.createObjectURL(blob);
  anchor.download = name;
}

function receipt(body) {
  const d = state.data;
  const r = `${body.seq}.${body.tracking}`;
  $('receipt-tracking').textContent = body.short;
  $('receipt-seq').textContent = String(body.seq);
  if (state.whom) say($('receipt-for'), format(d.messages.for_other, { voter: state.whom }));
  const qr = $('receipt-qr');
  qr.src = `${d.qr_url}?r=${r}`;
  qr.hidden = false;
  $('receipt-check').href = `${d.check_url}#r=${r}`;
  download($('receipt-download'), `${d.messages.download_name}-${body.short}.json`, body);
  state.sealed = null;
  show('step-receipt');
}

function audit() {
  const d = state.data;
  const reveal = revealBallot({ signed: state.sealed.signed, secrets: state.sealed.secrets });
  const result = $('audit-result');
  $('audit-tracking').textContent = state.sealed.tracking.short;
  describe($('audit-list'), reveal.items.map((it) => it.selections));
  try {
    checkReveal({ signed: state.sealed.signed, reveal, jointKey: d.joint_key });
    const same = reveal.items.every((it, i) => it.selections.every((m, j) => m === state.choices[i][j]));
    if (!same) throw new Error('choices differ');
    result.className = 'flash';
    result.dataset.outcome = 'ok';
    result.textContent = d.messages.audit_ok;
  } catch {
    result.className = 'error';
    result.dataset.outcome = 'bad';
    result.textContent = d.messages.audit_bad;
  }
  download($('audit-download'), 'gongjue-audit.json', { ballot: state.sealed.signed, reveal });
  state.sealed = null; // an audited ballot is never cast
  show('step-audit');
}

// --- start ----------------------------------------------------------------------------------

function start() {
  if (!dataBlock) return;
  state.data = JSON.parse(dataBlock.textContent);
  const d = state.data;
  state.choices = d.items.map((it) => new Array(it.n).fill(0));
  codeStep();
  itemStep();
  $('seal').addEventListener('click', () => { seal().catch((e) => { say($('cast-error'), e.message); show('step-sealed'); }); });
  $('change').addEventListener('click', () => startItems());
  $('cast').addEventListener('click', () => { cast(); });
  if ($('audit')) $('audit').addEventListener('click', audit);
  $('again').addEventListener('click', review);
  if ($('whom-next')) {
    $('whom-next').addEventListener('click', () => {
      const chosen = document.querySelector('input[name="whom"]:checked');
      state.whom = chosen ? chosen.value : '';
      startItems();
    });
  }
  $('booth-loading').hidden = true;
  let code = null;
  try {
    code = takeCodeFromFragment(d.slug) || recallCode(d.slug);
  } catch (e) {
    say($('code-error'), localMessage(e.message));
  }
  if (code) {
    try {
      useCode(code);
      document.documentElement.dataset.booth = 'ready';
      afterCode();
      return;
    } catch (e) {
      say($('code-error'), localMessage(e.message));
    }
  }
  document.documentElement.dataset.booth = 'ready';
  show('step-code');
}

start();
