// record.js — the public record page's one-tap check (web/templates/audit/index.html).
//
// Tapping the button runs the check of record-check.js in module Web Workers (record-worker.js:
// the entries in one, the ballots' proofs spread over up to four) — or, where a browser has
// none, on the page in slices — with a progress bar, then shows the
// verdict in plain words.  A record that checks out is remembered in localStorage (store.js): its
// key and checkpoint, compared the next time (the record may only grow).  The verdict element
// gets data-state="ok" or "bad" and, for a bad record, data-seq = the first entry to blame.

import { checkRecord, finish } from './record-check.js';
import { beijing, messages, recall, remember } from './store.js';

const box = document.getElementById('record-check');
const t = messages();

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function showLast() {
  const last = document.getElementById('last-seen');
  const saved = recall(box.dataset.origin);
  if (!last) return;
  last.textContent = saved
    ? t('last_seen', { when: beijing(saved.checked), size: saved.size })
    : t('never_seen');
}

function problemText(p, saved) {
  switch (p.kind) {
    case 'prev': case 'root': case 'entry': case 'seq':
      return t('changed_entry', { seq: p.seq });
    case 'count':
      return p.seq !== null ? t('missing_entry', { seq: p.seq }) : t('too_many');
    case 'signature': case 'checkpoint':
      return t('bad_signature');
    case 'key':
      return t('bad_key');
    case 'consistency':
      return t('inconsistent', { size: saved ? saved.size : '?', when: saved ? beijing(saved.checked) : '' });
    case 'ballot':
      return t('bad_ballot', { seq: p.seq });
    default:
      return t('fetch_failed');
  }
}

function render(report, saved) {
  const out = document.getElementById('check-result');
  out.replaceChildren();
  out.hidden = false;
  out.className = 'verdict ' + (report.ok ? 'ok' : 'bad');
  out.dataset.state = report.ok ? 'ok' : 'bad';
  const first = report.problems.find((p) => p.seq !== null);
  if (first) out.dataset.seq = String(first.seq);
  else delete out.dataset.seq;
  out.append(el('h2', '', report.ok ? t('ok_title') : t('bad_title')));
  const steps = el('ul', 'steps');
  if (report.ok) {
    steps.append(el('li', 'ok', t('ok_signed', { size: report.size })));
    steps.append(el('li', 'ok', saved ? t('ok_consistent', { size: saved.size, when: beijing(saved.checked) })
      : t('ok_first')));
    const rounds = Object.keys(report.rounds);
    if (report.ballots) steps.append(el('li', 'ok', t('ok_ballots', { count: report.ballots, rounds: rounds.length })));
    else steps.append(el('li', 'ok', t('ok_no_ballots')));
    out.append(steps);
    const fp = report.root.slice(0, 12).toUpperCase().replace(/(.{4})(?=.)/g, '$1-');
    const line = el('p', '');
    line.append(t('fingerprint', { size: report.size }), ' ', el('span', 'tracking', fp));
    out.append(line, el('p', 'note', t('fingerprint_hint')));
    out.append(el('p', 'note', t('ok_remembered')));
  } else {
    const seen = new Set();
    for (const p of report.problems) {
      const text = problemText(p, saved);
      if (seen.has(text)) continue;
      seen.add(text);
      steps.append(el('li', 'bad', text));
    }
    out.append(steps);
    out.append(el('p', '', t('bad_advice')));
    const more = el('details', 'fold');
    more.append(el('summary', '', t('technical')));
    const list = el('ul');
    for (const p of report.problems) list.append(el('li', '', p.message));
    more.append(list);
    out.append(more);
  }
  out.focus();
}

function progress(p) {
  const bar = document.getElementById('check-progress');
  const phase = document.getElementById('check-phase');
  bar.hidden = false;
  bar.max = Math.max(1, p.total);
  bar.value = p.done;
  phase.textContent = t('phase_' + p.phase, { done: p.done, total: p.total });
}

const WORKER_URL = new URL('./record-worker.js', import.meta.url);

/** Start a module worker on `message`; onProgress for its progress; resolves with its answer. */
function task(message, onProgress) {
  return new Promise((resolve, reject) => {
    let worker;
    try {
      worker = new Worker(WORKER_URL, { type: 'module' });
    } catch (e) {
      reject(e);
      return;
    }
    worker.onmessage = (event) => {
      const m = event.data;
      if (m.progress) { onProgress(m.progress); return; }
      worker.terminate();
      if (m.error) reject(Object.assign(new Error(m.error.message), m.error, { fromWorker: true }));
      else resolve(m);
    };
    worker.onerror = (event) => {
      worker.terminate();
      event.preventDefault();
      reject(new Error(event.message || 'worker failed'));
    };
    worker.postMessage(message);
  });
}

/** The check in workers: the structure in one, then the ballots spread over a few. */
async function inWorkers(options) {
  const { structure } = await task({ task: 'structure', options }, progress);
  const { report, jobs, rounds } = structure;
  const cores = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1));
  const n = Math.max(1, Math.min(cores, Math.ceil(jobs.length / 8)));
  const done = new Array(n).fill(0);
  progress({ phase: 'ballots', done: 0, total: jobs.length });
  const slices = Array.from({ length: n }, (_, i) => jobs.filter((_, k) => k % n === i));
  const outcomes = await Promise.all(slices.map((slice, i) => task({ task: 'ballots', jobs: slice, rounds }, (p) => {
    done[i] = p.done;
    progress({ phase: 'ballots', done: done.reduce((a, b) => a + b, 0), total: jobs.length });
  }).then((m) => m.ballots)));
  return finish(report, outcomes);
}

async function run() {
  const button = document.getElementById('run-check');
  button.disabled = true;
  const origin = box.dataset.origin;
  const saved = recall(origin);
  const options = { base: box.dataset.base, origin, saved: saved ? { size: saved.size, root: saved.root } : null,
    pinnedKey: saved ? saved.vkey : null };
  let report;
  try {
    try {
      report = await inWorkers(options);
    } catch (e) {
      if (e.fromWorker) throw e;
      // no module workers here: run on the page, yielding to it between slices
      report = await checkRecord({ ...options, onProgress: progress,
        pause: () => new Promise((r) => setTimeout(r, 0)) });
    }
  } catch (e) {
    report = { ok: false, problems: [{ kind: 'fetch', seq: null, message: String(e.message || e) }], rounds: {} };
  }
  document.getElementById('check-progress').hidden = true;
  document.getElementById('check-phase').textContent = '';
  if (report.ok) remember(origin, report.vkey, { size: report.size, root: report.root, note: report.note });
  render(report, saved);
  showLast();
  button.disabled = false;
}

if (box) {
  showLast();
  const button = document.getElementById('run-check');
  button.hidden = false;
  button.addEventListener('click', run);
  document.documentElement.dataset.recordCheck = 'ready';
}
