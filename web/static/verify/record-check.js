// record-check.js — the whole public record checked in the browser (issue #10; SPEC §2.8 items
// 1–6 and the ballots of §7.4 item 3's first part).  Runs in a Web Worker (record-worker.js) or,
// where module workers are missing, on the page in small slices (record.js).
//
// checkRecord({base, origin, saved, pinnedKey, onProgress, pause}) → report, in one thread; or
// checkStructure(same) → {report, jobs, rounds}, then verifyBallots(jobs, rounds) in slices (one
// per worker) and finish(report, outcomes).
//   base: URL of /estates/<slug>/audit; origin: "<site>/<slug>";
//   saved: {size, root (hex)} of the checkpoint this browser verified last, or null;
//   pinnedKey: the record key this browser saw first, or null;
//   onProgress({phase, done, total}); pause(): awaited now and then (lets a page breathe).
// The report: {ok, problems: [{kind, seq, message}], origin, size, root, vkey, note, entries,
//   types: {type: count}, rounds: {id: {ballots, verified}}, ballots, consistent: bool|null}.
// It checks, and names the first failing entry: the checkpoint's signature by the record key
// (the key of entry 0, or the key its log.key entries hand the record over to, each hand-over
// checkpoint signed by both keys — SPEC §2.4 — and the key pinned on this browser); every
// entry's exact bytes (strict canonical JSON, seq, prev = the hash of the entry before); the
// Merkle root of all entries = the signed root; the first `saved.size` entries give the root this
// browser saw last (the record only grew); and every ballot's signature and proofs
// (gongjue-crypto.js verifyBallot) against its round's announcement, paper ballots (§7.9)
// included.  When a hash does not match, inclusion proofs of the signed checkpoint find the
// entry the server changed.

import { verifyBallot } from '../booth/gongjue-crypto.js';
import {
  RecordError, bytesEqual, followRotations, fromHex, leafHash, openCheckpoint, parseEntryLine, parseVkey, rootFromInclusion, toHex,
  treeHash,
} from './ledger.js';

const CHUNK = 200;

async function fetchText(url) {
  const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  if (!res.ok) throw new RecordError('fetch', `${url}: HTTP ${res.status}`);
  return res.text();
}

async function fetchJson(url) {
  const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  if (!res.ok) throw new RecordError('fetch', `${url}: HTTP ${res.status}`);
  return res.json();
}

function splitLines(bytes) {
  const lines = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a) { lines.push(bytes.subarray(start, i)); start = i + 1; }
  }
  return { lines, tail: start < bytes.length };
}

/** The ballot shape of each agenda item (SPEC §7.1); paper ballots may leave a choice blank (§7.9). */
function itemsOf(agenda, paper = false) {
  return agenda.items.map((it) => {
    if (it.kind === 'motion') return { id: it.id, n: 3, lo: 1, hi: 1 };
    if (it.kind === 'choice') return { id: it.id, n: it.options.length, lo: paper ? 0 : 1, hi: 1 };
    return { id: it.id, n: it.candidates.length, lo: 0, hi: Math.min(it.seats, it.candidates.length) };
  });
}

/** Whether the server's entry `seq` (leaf hash `leaf`) is the one the checkpoint signed. */
async function signedLeaf(base, seq, size, leaf, root) {
  const receipt = await fetchJson(`${base}/entries/${seq}/receipt.json?size=${size}`);
  try {
    return bytesEqual(rootFromInclusion(seq, size, leaf, receipt.proof), root);
  } catch {
    return false;
  }
}

/** The first entry whose bytes the signed checkpoint does not cover (entries from it on all differ). */
async function firstChanged(base, leaves, size, root, lo = 0, hi = size - 1) {
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (await signedLeaf(base, mid, size, leaves[mid], root)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Everything but the ballots' proofs; returns {report, jobs, rounds} — the ballots to verify
 * (verifyBallots, possibly in several workers) and their rounds' settings.
 */
export async function checkStructure({ base, origin, saved = null, pinnedKey = null, onProgress = () => {}, pause = async () => {} }) {
  const problems = [];
  const jobs = [];
  const fail = (kind, message, seq = null) => problems.push({ kind, seq, message });
  const report = { ok: false, problems, origin, size: null, root: null, vkey: null, note: null, entries: 0, types: {},
    rounds: {}, ballots: 0, consistent: null };
  onProgress({ phase: 'download', done: 0, total: 1 });
  let vkey, cp;
  try {
    const [vkeyText, note] = await Promise.all([fetchText(`${base}/log.vkey`), fetchText(`${base}/checkpoint`)]);
    vkey = parseVkey(vkeyText);
    report.vkey = vkey.text;
    cp = openCheckpoint(note, vkey, origin);
    report.size = cp.size;
    report.root = toHex(cp.root);
    report.note = note;
  } catch (e) {
    fail(e.kind || 'fetch', e.message);
    return { report, jobs, rounds: {} };
  }
  const res = await fetch(`${base}/entries.jsonl?size=${cp.size}`, { cache: 'no-store', credentials: 'same-origin' });
  if (!res.ok) {
    fail('fetch', `entries: HTTP ${res.status}`);
    return { report, jobs, rounds: {} };
  }
  const { lines, tail } = splitLines(new Uint8Array(await res.arrayBuffer()));
  if (tail) fail('entry', 'the last entry does not end with a newline', lines.length);
  report.entries = lines.length;
  // 1. each entry: canonical, seq, prev chain
  const leaves = new Array(lines.length);
  const parsed = new Array(lines.length);
  let chainBreak = null;
  for (let i = 0; i < lines.length; i++) {
    leaves[i] = leafHash(lines[i]);
    try {
      parsed[i] = parseEntryLine(lines[i], i);
      report.types[parsed[i].type] = (report.types[parsed[i].type] || 0) + 1;
      const want = i === 0 ? '0'.repeat(64) : toHex(leaves[i - 1]);
      if (parsed[i].prev !== want && chainBreak === null) chainBreak = i - 1;
    } catch (e) {
      fail(e.kind || 'entry', e.message, i);
    }
    if (i % CHUNK === 0) {
      onProgress({ phase: 'entries', done: i, total: lines.length });
      await pause();
    }
  }
  onProgress({ phase: 'entries', done: lines.length, total: lines.length });
  if (lines.length < cp.size) fail('count', `entry ${lines.length} is missing: the checkpoint signed ${cp.size} entries`, lines.length);
  if (lines.length > cp.size) fail('count', `the server sent ${lines.length} entries for a checkpoint of ${cp.size}`);
  // 2. the root, and which entry changed when it differs
  const rootOk = lines.length === cp.size && bytesEqual(treeHash(leaves, cp.size), cp.root);
  if (chainBreak !== null && chainBreak >= 0) {
    // entry chainBreak+1 recorded another hash for entry chainBreak: one of the two was changed
    const seq = lines.length === cp.size && await signedLeaf(base, chainBreak, cp.size, leaves[chainBreak], cp.root)
      ? chainBreak + 1 : chainBreak;
    fail('prev', `entry ${seq} was changed: it is not the entry the signed checkpoint covers`, seq);
  } else if (chainBreak === -1) {
    fail('prev', 'entry 0 does not start the record', 0);
  } else if (!rootOk && lines.length === cp.size) {
    const seq = await firstChanged(base, leaves, cp.size, cp.root);
    fail('root', `entry ${seq} was changed: the Merkle root of the entries is not the signed root`, seq);
  }
  // 3. entry 0 names the record key, or log.key entries hand it over to the key in force (SPEC §2.4)
  const rotations = parsed.filter((e) => e && e.type === 'log.key' && e.seq < cp.size)
    .map((e) => ({ seq: e.seq, vkey: e.body.vkey }));
  const keysSeen = new Set([vkey.text]);
  if (parsed[0] && (parsed[0].type !== 'estate' || parsed[0].body.origin !== origin)) {
    fail('key', 'entry 0 does not name this record and its key', 0);
  } else if (parsed[0] && !rotations.length && parsed[0].body.log_key !== vkey.text) {
    fail('key', 'entry 0 does not name this record and its key', 0);
  } else if (parsed[0] && rotations.length) {
    report.rotations = rotations.map((r) => r.seq);
    try {
      const last = await followRotations(parsed[0].body.log_key, rotations, base, origin, fetchJson);
      if (last.text !== vkey.text) {
        fail('key', `the record is signed by ${vkey.text}, not by the key its last log.key entry ` +
          `(${rotations[rotations.length - 1].seq}) names`, rotations[rotations.length - 1].seq);
      }
      keysSeen.add(parsed[0].body.log_key);
      for (const r of rotations) keysSeen.add(r.vkey);
    } catch (e) {
      fail(e.kind || 'key', e.message, e.seq ?? null);
    }
  }
  if (pinnedKey && !keysSeen.has(pinnedKey)) {
    fail('key', 'the record key is not the one this browser saw before' +
      (rotations.length ? ', nor one the log.key entries hand the record over from' : ''));
  }
  // 4. the checkpoint this browser saw last: the record only grew from it
  if (saved && Number.isSafeInteger(saved.size) && typeof saved.root === 'string') {
    if (saved.size > cp.size) {
      report.consistent = false;
      fail('consistency', `the record is shorter than before: this browser saw ${saved.size} entries, now ${cp.size}`);
    } else if (saved.size > 0 && lines.length >= saved.size) {
      report.consistent = bytesEqual(treeHash(leaves, saved.size), fromHex(saved.root));
      if (!report.consistent) {
        fail('consistency', `the first ${saved.size} entries are not the ones this browser saw before`);
      }
    }
  }
  // 5. ballots: what to verify, each against its round's announcement (verifyBallots)
  const rounds = {};
  for (const e of parsed) {
    if (!e) continue;
    if (e.type === 'round' && typeof e.body.round === 'string' && !(e.body.round in rounds)) {
      const b = e.body;
      try {
        rounds[b.round] = { secrecy: b.secrecy, fingerprint: b.fingerprint, joint_key: b.joint_key,
          items: itemsOf(b.agenda), paper: itemsOf(b.agenda, true) };
      } catch {
        rounds[b.round] = null;  // an announcement without a readable agenda: its ballots cannot verify
      }
      report.rounds[b.round] = { ballots: 0, verified: 0 };
    } else if ((e.type === 'ballot' || e.type === 'paper.ballot') && e.body) {
      const known = typeof e.body.round === 'string' && e.body.round in rounds;
      if (!known) fail('ballot', `ballot entry ${e.seq} is for a round that was not announced before it`, e.seq);
      else jobs.push({ seq: e.seq, paper: e.type === 'paper.ballot', round: e.body.round, signed: e.body.ballot });
    }
  }
  report.ballots = jobs.length + problems.filter((x) => x.kind === 'ballot').length;
  for (const j of jobs) report.rounds[j.round].ballots++;
  return { report, jobs, rounds };
}

/**
 * Verify ballot jobs ({seq, paper, round, signed}) against `rounds` (from checkStructure):
 * gongjue-crypto.js verifyBallot, the signature and every proof.  Returns {verified: {round: n},
 * problems}.  onProgress(done) after each.
 */
export async function verifyBallots(jobs, rounds, { onProgress = () => {}, pause = async () => {} } = {}) {
  const problems = [];
  const verified = {};
  for (let k = 0; k < jobs.length; k++) {
    const j = jobs[k];
    const rnd = rounds[j.round];
    try {
      if (!rnd) throw new Error('its round announcement cannot be read');
      verifyBallot({ signed: j.signed, secrecy: rnd.secrecy, fingerprint: rnd.fingerprint, jointKey: rnd.joint_key,
        items: j.paper ? rnd.paper : rnd.items });
      verified[j.round] = (verified[j.round] || 0) + 1;
    } catch (err) {
      problems.push({ kind: 'ballot', seq: j.seq, message: `ballot entry ${j.seq} does not verify: ${err.message}` });
    }
    onProgress(k + 1);
    await pause();
  }
  return { verified, problems };
}

/** Fold the ballots' outcome into the report; sorts the problems and sets ok. */
export function finish(report, outcomes) {
  for (const { verified, problems } of outcomes) {
    for (const [id, n] of Object.entries(verified)) report.rounds[id].verified += n;
    report.problems.push(...problems);
  }
  report.problems.sort((a, b) => (a.seq ?? -1) - (b.seq ?? -1));
  report.ok = report.problems.length === 0;
  return report;
}

/** The whole check in one thread (the fallback, and tests): structure, then every ballot. */
export async function checkRecord(options) {
  const { onProgress = () => {}, pause = async () => {} } = options;
  const { report, jobs, rounds } = await checkStructure(options);
  onProgress({ phase: 'ballots', done: 0, total: jobs.length });
  const outcome = await verifyBallots(jobs, rounds, { pause,
    onProgress: (done) => onProgress({ phase: 'ballots', done, total: jobs.length }) });
  return finish(report, [outcome]);
}
