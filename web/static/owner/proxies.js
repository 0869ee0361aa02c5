// proxies.js — the owner signs a proxy grant or revocation in the browser (docs/SPEC.md §7.8).
//
// The statement {v: 1, type, round: <fingerprint>, voter: <me>, proxy_ref} is signed with the
// credential key derived here from the code (code.js: kept in this tab; else typed once on the
// page, never sent) as "gongjue/v1/" ‖ type ‖ 0x00 ‖ JCS(statement), then posted as JSON to the
// proxies API with the owner session. proxy_ref is the reference the page was given for the
// flat the owner named: the browser never learns the other owner's voter number (the server
// resolves it and adds the salt). Words come from the page (#proxy-data).

import { localMessage } from './code.js';
import { outcomeLine, ownerCredential, signStatement } from './statement.js';

const data = JSON.parse(document.getElementById('proxy-data').textContent);
const result = document.getElementById('proxy-result');
const codeField = document.getElementById('proxy-code-field');
const codeInput = document.getElementById('proxy-code');

const say = outcomeLine(result);

function credential() {
  return ownerCredential(data, codeField, codeInput);
}

async function act(button) {
  const type = button.dataset.proxyAction;
  const ref = button.dataset.proxyRef;
  let cred;
  try {
    cred = credential();
  } catch (e) {
    say('error', localMessage(e.message));
    return;
  }
  if (!cred) return;
  const statement = { v: 1, type, round: data.fingerprint, voter: data.me, proxy_ref: ref };
  const sig = signStatement(type, statement, cred.seed);
  button.disabled = true;
  let response;
  let body = null;
  try {
    response = await fetch(data.url, {
      method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type, voter: data.me, proxy_ref: ref, authorisation: { kind: 'signed', key: cred.publicKey, sig } }),
    });
    body = await response.json().catch(() => null);
  } catch {
    say('error', data.refusals.network);
    button.disabled = false;
    return;
  }
  if (response.status === 201) {
    say('flash', data.messages.done);
    window.location.assign(`/estates/${data.slug}/owner/proxies?round=${encodeURIComponent(data.round)}`);
    return;
  }
  const code = body && body.detail && body.detail.code;
  say('error', data.refusals[code] || data.refusals.unknown);
  button.disabled = false;
}

for (const button of document.querySelectorAll('[data-proxy-action]')) {
  button.addEventListener('click', () => { act(button); });
}
document.documentElement.dataset.proxies = 'ready';
