// petition.js — the owner co-signs a proposal, or withdraws the signature, in the browser
// (docs/SPEC.md §9.2).
//
// The statement {v: 1, type, petition: <the proposal's hash>, voter: <me>} is signed with the
// credential key derived here from the code (code.js: kept in this tab; else typed once on the
// page, never sent) as "gongjue/v1/" ‖ type ‖ 0x00 ‖ JCS(statement), then posted as JSON to the
// petitions API with the owner session. Words come from the page (#petition-data).

import { localMessage } from './code.js';
import { outcomeLine, ownerCredential, signStatement } from './statement.js';

const data = JSON.parse(document.getElementById('petition-data').textContent);
const result = document.getElementById('petition-result');
const codeField = document.getElementById('petition-code-field');
const codeInput = document.getElementById('petition-code');

const say = outcomeLine(result);

function credential() {
  return ownerCredential(data, codeField, codeInput);
}

async function act(button) {
  const type = button.dataset.petitionAction;
  let cred;
  try {
    cred = credential();
  } catch (e) {
    say('error', localMessage(e.message));
    return;
  }
  if (!cred) return;
  const statement = { v: 1, type, petition: data.hash, voter: data.me };
  const sig = signStatement(type, statement, cred.seed);
  button.disabled = true;
  let response;
  let body = null;
  try {
    response = await fetch(data.url, {
      method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type, voter: data.me, key: cred.publicKey, sig }),
    });
    body = await response.json().catch(() => null);
  } catch {
    say('error', data.refusals.network);
    button.disabled = false;
    return;
  }
  if (response.status === 201) {
    say('flash', type === 'petition.sign' ? data.messages.signed : data.messages.withdrawn);
    window.location.assign(data.page);
    return;
  }
  const detail = body && body.detail;
  say('error', (detail && detail.message && localMessage(detail.message)) || data.refusals.unknown);
  button.disabled = false;
}

for (const button of document.querySelectorAll('[data-petition-action]')) {
  button.addEventListener('click', () => { act(button); });
}
document.documentElement.dataset.petition = 'ready';
