// consult.js — the owner answers a consultation and signs it in the browser (docs/SPEC.md §10.2).
//
// Reads #consult-data (web/consultations.py). The answers (a choice's option index, a rating 1–5,
// or null when left out) and the free text's commitment SHA-256(JCS({salt, text})) — a random
// salt made here, the text NFC-normalised and trimmed — form the statement
// {v: 1, type: "consult.response", consult: <announcement leaf hash>, answers, text}, signed with the
// credential key derived from the code (code.js: kept in this tab; else typed once on the page,
// never sent) as "gongjue/v1/consult.response" ‖ 0x00 ‖ JCS(statement), and posted as JSON with
// the owner session. The text and salt go to the server beside the ledger; the ledger keeps only
// the commitment. Words come from the page. Contract: documentElement.dataset.consult = "ready".

import { canonicalJson, toHex } from '../booth/gongjue-crypto.js';
import { sha256 } from '../vendor/noble-hashes/sha2.js';
import { localMessage } from './code.js';
import { outcomeLine, ownerCredential, signStatement } from './statement.js';

const data = JSON.parse(document.getElementById('consult-data').textContent);
const result = document.getElementById('consult-result');
const codeField = document.getElementById('consult-code-field');
const codeInput = document.getElementById('consult-code');
const textInput = document.getElementById('consult-text');
const button = document.getElementById('consult-submit');
const utf8 = new TextEncoder();

const say = outcomeLine(result);

function credential() {
  return ownerCredential(data, codeField, codeInput, () => say('error', data.messages.code_needed));
}

function answers() {
  return data.questions.map((q) => {
    const chosen = document.querySelector(`input[name="q-${q.id}"]:checked`);
    return chosen ? Number.parseInt(chosen.value, 10) : null;
  });
}

function randomHex(bytes) {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return toHex(b);
}

async function send() {
  let cred;
  try {
    cred = credential();
  } catch (e) {
    say('error', localMessage(e.message));
    return;
  }
  if (!cred) return;
  const text = textInput ? textInput.value.normalize('NFC').trim() : '';
  const payload = {};
  let commitment = null;
  if (data.free_text && text) {
    payload.salt = randomHex(16);
    payload.text = text;
    commitment = toHex(sha256(utf8.encode(canonicalJson({ salt: payload.salt, text }))));
  }
  const statement = { v: 1, type: 'consult.response', consult: data.hash, answers: answers(), text: commitment };
  payload.statement = statement;
  payload.key = cred.publicKey;
  payload.sig = signStatement('consult.response', statement, cred.seed);
  button.disabled = true;
  let response;
  let body = null;
  try {
    response = await fetch(data.url, {
      method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    body = await response.json().catch(() => null);
  } catch {
    say('error', data.refusals.unknown);
    button.disabled = false;
    return;
  }
  if (response.status === 201) {
    say('flash', data.messages.done.replace('%(seq)s', String(body.seq)));
    document.getElementById('consult-form').hidden = true;
    return;
  }
  const code = body && body.detail && body.detail.code;
  result.dataset.code = code || 'unknown';
  say('error', data.refusals[code] || data.refusals.unknown);
  button.disabled = false;
}

button.addEventListener('click', () => { send(); });
document.documentElement.dataset.consult = 'ready';
