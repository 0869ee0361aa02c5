// check.js — "Check my ballot" (web/templates/audit/check.html, /estates/<slug>/check).
//
// Two ways in: the booth receipt's QR link #r=<seq>.<tracking> (the address bar keeps no more
// than that), or a receipt pasted or opened as a file (the JSON the booth downloads: SPEC §2.6
// plus tracking, short, voter, proxy).  Either way the browser:
//   1. fetches the record key (log.vkey) and checks it against entry 0 (its own receipt), following
//      the log.key entries' hand-overs when the key was rotated (SPEC §2.4: log-keys.json lists
//      them; each hand-over checkpoint must be signed by both keys and be a past state of today's
//      record), and against the key this browser saw first (store.js);
//   2. fetches entry <seq> with a fresh inclusion proof against the latest signed checkpoint
//      (…/audit/entries/<seq>/receipt.json) and verifies it: the checkpoint's Ed25519 signature,
//      the entry's hash, the RFC 9162 audit path to the signed root;
//   3. checks the entry is a ballot whose tracking code (SHA-256 of the signed ballot) is the one
//      on the receipt;
//   4. for a pasted receipt, also verifies the receipt itself and that the record today still holds
//      the same entry, and a consistency proof from the receipt's checkpoint to the latest;
//   5. compares with the checkpoint this browser verified last (consistency proof) and remembers
//      the newer one.
// The verdict element gets data-state="ok" or "bad".

import { RecordError, followRotations, openCheckpoint, parseVkey, toHex, trackingMatches, trackingOf, verifyConsistency,
  verifyReceipt } from './ledger.js';
import { beijing, messages, recall, remember } from './store.js';

const box = document.getElementById('ballot-check');
const t = messages();
const base = box ? box.dataset.base : '';
const origin = box ? box.dataset.origin : '';

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function getJson(url) {
  const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  if (res.status === 404) throw new RecordError('missing', `${url}: not found`);
  if (!res.ok) throw new RecordError('fetch', `${url}: HTTP ${res.status}`);
  return res.json();
}

async function getText(url) {
  const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  if (!res.ok) throw new RecordError('fetch', `${url}: HTTP ${res.status}`);
  return res.text();
}

/** The log.key entries' hand-overs from entry 0's key `firstText` to `vkey`, each hand-over checkpoint
 * consistent with today's signed checkpoint `now` (SPEC §2.4); [{from, key}] from entry 0's key on. */
async function keyChain(firstText, vkey, now) {
  const listed = await getJson(`${base}/log-keys.json`);
  const rotations = (Array.isArray(listed.rotations) ? listed.rotations : [])
    .filter((r) => r && Number.isSafeInteger(r.seq) && r.seq > 0 && r.seq < now.size && typeof r.vkey === 'string');
  const handovers = [];
  const last = await followRotations(firstText, rotations, base, origin, getJson, (cp) => handovers.push(cp));
  if (last.text !== vkey.text) {
    throw new RecordError('key', `the record is now signed by ${vkey.text}, not by the key entry 0 names ` +
      `(${firstText}) nor one its log.key entries hand it over to`);
  }
  for (const cp of handovers) {  // the old key's last signed state is a past state of today's record
    const proof = cp.size === now.size ? { proof: [] }
      : await getJson(`${base}/consistency.json?size1=${cp.size}&size2=${now.size}`);
    verifyConsistency(cp.size, now.size, cp.root, now.root, proof.proof);
  }
  return [{ from: 0, key: parseVkey(firstText) }, ...rotations.map((r) => ({ from: r.seq + 1, key: parseVkey(r.vkey) }))];
}

/** The record key, from entry 0's key (through the rotations), and checked against the key this
 * browser saw first; with `at(size)`, the key in force for a checkpoint of that size. */
async function recordKey() {
  const vkey = parseVkey(await getText(`${base}/log.vkey`));
  const saved = recall(origin);
  const first = verifyReceipt(await getJson(`${base}/entries/0/receipt.json`), vkey, origin);
  if (first.entry.type !== 'estate') throw new RecordError('key', 'entry 0 does not name the record key');
  const firstText = first.entry.body.log_key;
  const chain = firstText === vkey.text ? [{ from: 0, key: vkey }] : await keyChain(firstText, vkey, first.checkpoint);
  if (saved && saved.vkey && !chain.some((c) => c.key.text === saved.vkey)) {
    throw new RecordError('key', `the record is now signed by ${vkey.text}, not by the key this browser saw first ` +
      `(${saved.vkey}) nor one the record was handed over from`);
  }
  const at = (size) => chain.filter((c) => c.from <= size).pop().key;
  return { vkey, at };
}

/** Consistency from the checkpoint this browser verified last to `cp`; remembers `cp`. */
async function againstSaved(vkey, cp) {
  const saved = recall(origin);
  if (saved && Number.isSafeInteger(saved.size) && saved.size > 0) {
    if (saved.size > cp.size) throw new RecordError('consistency', `the record shrank from ${saved.size} to ${cp.size}`);
    const proof = saved.size === cp.size ? { proof: [] }
      : await getJson(`${base}/consistency.json?size1=${saved.size}&size2=${cp.size}`);
    const oldRoot = Uint8Array.from(saved.root.match(/../g).map((h) => parseInt(h, 16)));
    verifyConsistency(saved.size, cp.size, oldRoot, cp.root, proof.proof);
  }
  remember(origin, vkey.text, { size: cp.size, root: toHex(cp.root), note: cp.note });
  return saved;
}

/** Check ballot `seq` with tracking `tracking` (and, when given, the receipt the voter kept). */
async function check(seq, tracking, kept = null) {
  const steps = [];
  const { vkey, at } = await recordKey();
  let keptResult = null;
  if (kept) {
    keptResult = verifyReceipt(kept, Number.isSafeInteger(kept.tree_size) ? at(kept.tree_size) : vkey, origin);
    steps.push(t('step_receipt', { size: keptResult.checkpoint.size }));
  }
  const fresh = await getJson(`${base}/entries/${seq}/receipt.json`);
  const now = verifyReceipt(fresh, vkey, origin);
  if (kept && fresh.entry !== kept.entry) throw new RecordError('changed', `entry ${seq} differs from your receipt`, seq);
  if (now.entry.type !== 'ballot' || !now.entry.body.ballot) throw new RecordError('not_ballot', `entry ${seq} is not a ballot`, seq);
  const tc = trackingOf(now.entry.body.ballot);
  if (!trackingMatches(tracking, tc)) throw new RecordError('tracking', `entry ${seq} has another tracking code`, seq);
  if (kept) {
    if (kept.tracking !== undefined && !trackingMatches(kept.tracking, tc)) {
      throw new RecordError('tracking', 'the receipt names another tracking code', seq);
    }
    const a = keptResult.checkpoint, b = now.checkpoint;
    const proof = a.size === b.size ? { proof: [] } : await getJson(`${base}/consistency.json?size1=${a.size}&size2=${b.size}`);
    verifyConsistency(a.size, b.size, a.root, b.root, proof.proof);
    steps.push(t('step_still'));
  }
  steps.push(t('step_included', { seq, size: now.checkpoint.size }));
  const saved = await againstSaved(vkey, now.checkpoint);
  steps.push(saved ? t('step_consistent', { when: beijing(saved.checked), size: saved.size }) : t('step_first'));
  return { entry: now.entry, tracking: tc, steps };
}

function why(e) {
  switch (e.kind) {
    case 'missing': return t('bad_missing');
    case 'changed': case 'proof': return t('bad_changed');
    case 'tracking': return t('bad_tracking');
    case 'not_ballot': return t('bad_not_ballot');
    case 'signature': case 'checkpoint': return t('bad_signature');
    case 'key': return t('bad_key');
    case 'consistency': return t('bad_consistency');
    case 'receipt': case 'entry': case 'seq': case 'encoding': return t('bad_receipt');
    case 'fetch': return t('bad_fetch');
    default: return t('bad_receipt');
  }
}

function show(state, title, lines, technical = null) {
  const out = document.getElementById('ballot-result');
  out.replaceChildren();
  out.hidden = false;
  out.className = 'verdict ' + state;
  out.dataset.state = state;
  out.append(el('h2', '', title));
  for (const node of lines) out.append(node);
  if (technical) {
    const more = el('details', 'fold');
    more.append(el('summary', '', t('technical')), el('p', '', technical));
    out.append(more);
  }
  out.focus();
}

async function run(seq, tracking, kept) {
  show('wait', t('checking'), []);
  try {
    const done = await check(seq, tracking, kept);
    const code = el('p', '');
    code.append(t('your_code'), ' ', el('span', 'tracking', done.tracking.short));
    const list = el('ul', 'steps');
    for (const s of done.steps) list.append(el('li', 'ok', s));
    const when = el('p', '', t('cast_at', { when: beijing(done.entry.time), round: done.entry.body.round, seq }));
    show('ok', t('ok_title'), [code, when, list, el('p', 'note', t('ok_secret'))]);
  } catch (e) {
    const code = tracking ? [el('p', '', t('looked_for', { code: String(tracking).slice(0, 14), seq }))] : [];
    show('bad', t('bad_title'), [...code, el('p', '', why(e)), el('p', '', t('bad_advice'))], e.message);
  }
}

function fromHash() {
  // #r=<seq>.<tracking> (the receipt's QR link); ?r= too, for apps that drop the fragment
  const m = /^#r=(\d{1,16})\.([0-9A-Fa-f-]{12,64})$/.exec(location.hash)
    || /^\?r=(\d{1,16})\.([0-9A-Fa-f-]{12,64})$/.exec(location.search);
  if (!m) return false;
  run(Number(m[1]), m[2], null);
  return true;
}

function fromText(text) {
  let receipt;
  try {
    receipt = JSON.parse(text);
    if (!receipt || typeof receipt !== 'object' || !Number.isSafeInteger(receipt.seq)) throw new Error('not a receipt');
  } catch {
    show('bad', t('bad_title'), [el('p', '', t('bad_paste'))]);
    return;
  }
  let tracking = receipt.tracking;
  if (typeof tracking !== 'string') {
    try { tracking = trackingOf(JSON.parse(receipt.entry).body.ballot).full; } catch { tracking = ''; }
  }
  run(receipt.seq, tracking, receipt);
}

if (box) {
  const form = document.getElementById('receipt-form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    fromText(document.getElementById('receipt-text').value);
  });
  document.getElementById('receipt-file').addEventListener('change', async (event) => {
    const file = event.target.files && event.target.files[0];
    if (file) fromText(await file.text());
  });
  window.addEventListener('hashchange', fromHash);
  fromHash();
  document.documentElement.dataset.ballotCheck = 'ready';
}

export { check, openCheckpoint };
