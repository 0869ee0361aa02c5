// ledger.js — the record's checks in the browser (docs/SPEC.md §2): RFC 9162 Merkle hashing,
// inclusion and consistency proofs, C2SP signed notes and checkpoints, canonical entries, receipts.
//
// Pure functions (no DOM, no storage), so the same module runs in a page and in a Web Worker.
// It agrees with the Python implementation in ledger/ (tree.py, proof.py, note.py, checkpoint.py,
// entry.py, receipt.py).  Every refusal throws RecordError with a `kind` and, when an entry is
// to blame, its `seq`.
//
//   leafHash(bytes) → Uint8Array(32);  nodeHash(l, r);  treeHash(leaves, size)
//   rootFromInclusion(index, size, leaf, proof) → root;  verifyConsistency(m, n, root1, root2, proof)
//   parseVkey(text) → {name, keyId, publicKey, text};  openCheckpoint(note, vkey, origin?) → {origin, size, root, note}
//   parseEntryLine(bytes, seq?) → {seq, prev, type, time, body, text}
//   verifyReceipt(receipt, vkey, origin?) → {entry, checkpoint}
//   followRotations(firstVkeyText, [{seq, vkey}], base, origin, getJson) → the key in force after log.key entries (§2.4)
//   trackingOf(signedBallot) → {full, short}

import { sha256 } from '../vendor/noble-hashes/sha2.js';
import { canonicalJson, parseStrictJson, toHex, fromHex, trackingCode, verifySignature } from '../booth/gongjue-crypto.js';

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });
const HEX64 = /^[0-9a-f]{64}$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const TYPE = /^[a-z][a-z0-9_.-]{0,63}$/;
const DASH = '\u2014';
export const EMPTY_ROOT = sha256(new Uint8Array(0));

/** A check that failed: `kind` names it (signature, root, prev, entry, …); `seq` the entry, if one. */
export class RecordError extends Error {
  constructor(kind, message, seq = null) {
    super(message);
    this.name = 'RecordError';
    this.kind = kind;
    this.seq = seq;
  }
}

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
export { equal as bytesEqual, toHex, fromHex };

export function b64decode(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new RecordError('encoding', 'not base64');
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64encode(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

// ---------------------------------------------------------------------------------------------
// RFC 9162 §2.1

const ZERO = new Uint8Array([0]);
const ONE = new Uint8Array([1]);

export function leafHash(bytes) {
  return sha256(concat(ZERO, bytes));
}

export function nodeHash(left, right) {
  return sha256(concat(ONE, left, right));
}

/** MTH of the first `size` of `leaves` (leaf hashes), RFC 9162 §2.1.1, without recursion depth issues. */
export function treeHash(leaves, size = leaves.length) {
  if (size === 0) return EMPTY_ROOT;
  // Fold complete subtrees left to right on a stack (sizes are powers of two, decreasing).
  const stack = [];
  for (let i = 0; i < size; i++) {
    let h = leaves[i];
    let width = 1;
    while (stack.length && stack[stack.length - 1].width === width) {
      h = nodeHash(stack.pop().hash, h);
      width *= 2;
    }
    stack.push({ hash: h, width });
  }
  let h = stack.pop().hash;
  while (stack.length) h = nodeHash(stack.pop().hash, h);
  return h;
}

function checkPath(proof) {
  return proof.map((p, i) => {
    const b = typeof p === 'string' ? (HEX64.test(p) ? fromHex(p) : null) : p;
    if (!(b instanceof Uint8Array) || b.length !== 32) throw new RecordError('proof', `proof element ${i} is not 32 bytes of hex`);
    return b;
  });
}

/** RFC 9162 §2.1.3.2 steps 1–5: the root the audit path implies for leaf `index` of a tree of `size`. */
export function rootFromInclusion(index, size, leaf, proof) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || size <= 0 || index >= size) {
    throw new RecordError('proof', `leaf index ${index} is outside a tree of size ${size}`);
  }
  if (!(leaf instanceof Uint8Array) || leaf.length !== 32) throw new RecordError('proof', 'the leaf hash is not 32 bytes');
  const path = checkPath(proof);
  let fn = BigInt(index), sn = BigInt(size - 1);
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) throw new RecordError('proof', 'inclusion proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new RecordError('proof', 'inclusion proof is too short');
  return r;
}

/** RFC 9162 §2.1.4.2; throws RecordError('consistency') unless the tree of m is a prefix of the tree of n. */
export function verifyConsistency(m, n, root1, root2, proof) {
  const path = checkPath(proof);
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 0 || n < 0) {
    throw new RecordError('consistency', 'a tree size is not a whole number');
  }
  if (m > n) throw new RecordError('consistency', `the record shrank from ${m} to ${n} entries`);
  if (m === n) {
    if (path.length) throw new RecordError('consistency', 'sizes are equal but the proof is not empty');
    if (m === 0 && !(equal(root1, EMPTY_ROOT) && equal(root2, EMPTY_ROOT))) {
      throw new RecordError('consistency', 'a tree of size 0 has the empty-tree root');
    }
    if (!equal(root1, root2)) throw new RecordError('consistency', 'sizes are equal but the roots differ');
    return;
  }
  if (m === 0) throw new RecordError('consistency', 'consistency with the empty tree proves nothing');
  if (!path.length) throw new RecordError('consistency', 'empty consistency proof');
  if ((m & (m - 1)) === 0) path.unshift(root1);
  let fn = BigInt(m - 1), sn = BigInt(n - 1);
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new RecordError('consistency', 'consistency proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new RecordError('consistency', 'consistency proof is too short');
  if (!equal(fr, root1)) throw new RecordError('consistency', 'the earlier checkpoint is not a prefix of this one');
  if (!equal(sr, root2)) throw new RecordError('consistency', 'the consistency proof does not lead to the new root');
}

// ---------------------------------------------------------------------------------------------
// Signed notes and checkpoints (SPEC §2.3, §2.4)

function keyId(name, alg, publicKey) {
  return sha256(concat(utf8.encode(name), new Uint8Array([0x0a, alg]), publicKey)).subarray(0, 4);
}

/** `<name>+<8 hex id>+<base64(0x01 ‖ key)>`; the id must match. */
export function parseVkey(text) {
  const t = String(text).trim();
  const a = t.indexOf('+');
  const b = a < 0 ? -1 : t.indexOf('+', a + 1);  // base64 may hold '+': split at the first two only
  if (a <= 0 || b < 0 || /\s/.test(t.slice(0, a))) throw new RecordError('key', 'the record key is malformed');
  const [name, hexId, material] = [t.slice(0, a), t.slice(a + 1, b), t.slice(b + 1)];
  const raw = b64decode(material);
  if (raw.length !== 33 || raw[0] !== 0x01) throw new RecordError('key', 'the record key is not an Ed25519 note key');
  const publicKey = raw.subarray(1);
  if (toHex(keyId(name, 0x01, publicKey)) !== hexId) throw new RecordError('key', 'the record key id does not match its key');
  return { name, keyId: fromHex(hexId), publicKey, text: t };
}

/** Open a signed checkpoint: body `<origin>\n<size>\n<root b64>\n`, a signature by `vkey`. */
export function openCheckpoint(note, vkey, origin = null) {
  if (typeof note !== 'string' || !note.endsWith('\n')) throw new RecordError('checkpoint', 'the checkpoint is not a signed note');
  const cut = note.indexOf('\n\n');
  if (cut < 0) throw new RecordError('checkpoint', 'the checkpoint has no signature');
  const text = note.slice(0, cut + 1);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== 3) throw new RecordError('checkpoint', 'a checkpoint has exactly three lines');
  const [cpOrigin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText)) throw new RecordError('checkpoint', 'the checkpoint size is malformed');
  const root = b64decode(rootText);
  if (root.length !== 32) throw new RecordError('checkpoint', 'the checkpoint root is not 32 bytes');
  if (origin !== null && cpOrigin !== origin) {
    throw new RecordError('checkpoint', `the checkpoint is for ${cpOrigin}, not ${origin}`);
  }
  const sigLines = note.slice(cut + 2, -1).split('\n');
  let good = false;
  for (const line of sigLines) {
    if (!line.startsWith(DASH + ' ')) throw new RecordError('checkpoint', 'a signature line is malformed');
    const fields = line.slice(2).split(' ');
    if (fields.length !== 2) throw new RecordError('checkpoint', 'a signature line is malformed');
    if (fields[0] !== vkey.name) continue;
    let raw;
    try { raw = b64decode(fields[1]); } catch { throw new RecordError('checkpoint', 'a signature line is malformed'); }
    if (raw.length !== 68 || !equal(raw.subarray(0, 4), vkey.keyId)) continue;
    if (!verifySignature(vkey.publicKey, utf8.encode(text), raw.subarray(4))) {
      throw new RecordError('signature', "the checkpoint's signature does not verify: it was not signed with the record's key");
    }
    good = true;
  }
  if (!good) throw new RecordError('signature', "the checkpoint carries no signature by the record's key");
  return { origin: cpOrigin, size: Number(sizeText), root, note };
}

/**
 * Follow the record's key rotations (SPEC §2.4) from entry 0's key `firstText` through each
 * log.key entry of `rotations` ([{seq, vkey}], in log order).  Each hand-over is proved by the
 * receipt of the log.key entry at size seq + 1 (`getJson(url)` fetches it): its checkpoint must
 * carry a signature by the key in force before it and one by the key it names.  Returns the key
 * in force after the last rotation (parsed); throws a RecordError naming the log.key entry.
 * `onHandover(checkpoint)`, when given, gets each verified hand-over checkpoint ({size, root}).
 */
export async function followRotations(firstText, rotations, base, origin, getJson, onHandover = null) {
  let current = parseVkey(firstText);
  for (const { seq, vkey } of rotations) {
    let next;
    try { next = parseVkey(String(vkey)); } catch (e) { throw new RecordError('key', `log.key entry ${seq}: ${e.message}`, seq); }
    if (next.name !== current.name) {
      throw new RecordError('key', `log.key entry ${seq} names a key called ${next.name}, not ${current.name}`, seq);
    }
    let got;
    try {
      got = verifyReceipt(await getJson(`${base}/entries/${seq}/receipt.json?size=${seq + 1}`), current, origin);
      openCheckpoint(got.checkpoint.note, next, origin);
    } catch (e) {
      throw new RecordError('key', `log.key entry ${seq} hands the record over to ${next.text}, but its hand-over ` +
        `checkpoint (size ${seq + 1}) is not signed by both the old key ${current.text} and the new key: ${e.message}`, seq);
    }
    if (got.entry.type !== 'log.key' || got.entry.body.vkey !== vkey) {
      throw new RecordError('key', `entry ${seq} is not the log.key entry the record holds`, seq);
    }
    if (onHandover) onHandover(got.checkpoint);
    current = next;
  }
  return current;
}

// ---------------------------------------------------------------------------------------------
// Entries (SPEC §2.1)

/** Decode one entry's exact bytes: strict, canonical JSON with exactly seq, prev, type, time, body. */
export function parseEntryLine(bytes, seq = null) {
  let text, value;
  try {
    text = utf8d.decode(bytes);
    value = parseStrictJson(text);
  } catch (e) {
    throw new RecordError('entry', `entry ${seq} is not valid JSON (${e.message})`, seq);
  }
  const keys = value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value).sort().join(',') : '';
  if (keys !== 'body,prev,seq,time,type') throw new RecordError('entry', `entry ${seq} does not have the five members of an entry`, seq);
  let canonical;
  try { canonical = canonicalJson(value); } catch { canonical = null; }
  if (canonical !== text) throw new RecordError('entry', `entry ${seq} is not in its canonical form`, seq);
  if (!Number.isSafeInteger(value.seq) || (seq !== null && value.seq !== seq)) {
    throw new RecordError('seq', `entry ${seq} says it is entry ${value.seq}`, seq);
  }
  if (typeof value.prev !== 'string' || !HEX64.test(value.prev) || typeof value.type !== 'string' || !TYPE.test(value.type) ||
      typeof value.time !== 'string' || !TIME.test(value.time) || !value.body || typeof value.body !== 'object' ||
      Array.isArray(value.body)) {
    throw new RecordError('entry', `entry ${value.seq} is malformed`, value.seq);
  }
  return { seq: value.seq, prev: value.prev, type: value.type, time: value.time, body: value.body, text };
}

// ---------------------------------------------------------------------------------------------
// Receipts (SPEC §2.6) and tracking codes (§3.6)

/** Check a receipt against the record key; returns {entry, checkpoint}. */
export function verifyReceipt(receipt, vkey, origin = null) {
  if (!receipt || typeof receipt !== 'object') throw new RecordError('receipt', 'not a receipt');
  for (const k of ['origin', 'seq', 'entry', 'leaf_hash', 'tree_size', 'proof', 'checkpoint']) {
    if (!(k in receipt)) throw new RecordError('receipt', `the receipt has no ${k}`);
  }
  if (!Array.isArray(receipt.proof)) throw new RecordError('receipt', 'the receipt proof is not a list');
  const cp = openCheckpoint(receipt.checkpoint, vkey, origin ?? receipt.origin);
  if (cp.size !== receipt.tree_size) throw new RecordError('receipt', 'the receipt tree size is not its checkpoint size');
  if (typeof receipt.entry !== 'string') throw new RecordError('receipt', 'the receipt entry is not text');
  const bytes = utf8.encode(receipt.entry);
  const entry = parseEntryLine(bytes, receipt.seq);
  const leaf = leafHash(bytes);
  if (toHex(leaf) !== receipt.leaf_hash) throw new RecordError('receipt', 'the entry in the receipt does not match its hash', receipt.seq);
  const root = rootFromInclusion(receipt.seq, cp.size, leaf, receipt.proof);
  if (!equal(root, cp.root)) {
    throw new RecordError('proof', `entry ${receipt.seq} is not in the signed record: the proof leads to another root`, receipt.seq);
  }
  return { entry, checkpoint: cp, leaf };
}

/** Tracking code of a signed ballot (SPEC §3.6): SHA-256 of its canonical JSON. */
export function trackingOf(signed) {
  return trackingCode(signed);
}

/** Whether `given` (full 64 hex, or the short code with or without dashes) names tracking `t`. */
export function trackingMatches(given, t) {
  const g = String(given || '').toLowerCase().replace(/[^0-9a-f]/g, '');
  return g.length >= 12 && t.full.startsWith(g);
}
