// Paper ballot entry and written proxies (web/templates/staff/paper.html, staff/proxy.html): the
// SHA-256 of a scan is computed in this browser and typed into the field named by
// data-hash-into; the scan itself is not uploaded (a named file input loses its name once hashed,
// so without this script the server hashes the upload instead and keeps nothing of it).
const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");

export async function sha256File(file) {
  return hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
}

for (const input of document.querySelectorAll("input[type=file][data-hash-into]")) {
  const target = document.getElementById(input.dataset.hashInto);
  const status = document.getElementById("scan-status");
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file || !target) return;
    if (status) status.textContent = status.dataset.working || "…";
    try {
      target.value = await sha256File(file);
      input.removeAttribute("name");
      target.dispatchEvent(new Event("input", { bubbles: true }));
      if (status) status.textContent = status.dataset.done || "✓";
      document.documentElement.dataset.scanHashed = target.value;
    } catch (err) {
      if (status) status.textContent = String(err);
    }
  });
}

// The scrutineers' station in a secret round: the agreed marks are encrypted here, under the
// round's joint key, with a fresh station key made for this ballot alone and forgotten after
// signing (SPEC §7.9).  The signed ballot and its reveal (selections and nonces, so the server
// can check the ballot is exactly the entered marks: voting/paper_station.py) go with the entry.
const MOTION = ["agree", "oppose", "abstain"];

export function paperSelections(items, form) {
  const out = {};
  for (const item of items) {
    const name = `m:${item.id}`;
    if (item.kind === "motion") {
      const picked = form.querySelector(`input[name="${CSS.escape(name)}"]:checked`);
      const value = picked ? picked.value || "abstain" : null;
      if (value === null) return null;
      out[item.id] = MOTION.map((m) => (m === value ? 1 : 0));
    } else if (item.kind === "choice") {
      const picked = form.querySelector(`input[name="${CSS.escape(name)}"]:checked`);
      if (!picked) return null;
      out[item.id] = item.choices.map((c) => (c === picked.value ? 1 : 0));
    } else {
      const ticked = new Set(Array.from(form.querySelectorAll(`input[name="${CSS.escape(name)}"]:checked`), (i) => i.value));
      const over = ticked.size > item.seats;
      out[item.id] = item.choices.map((c) => (!over && ticked.has(c) ? 1 : 0));
    }
  }
  return out;
}

const roundData = document.getElementById("paper-round");
const paperForm = document.getElementById("paper-form");
if (roundData && paperForm) {
  const round = JSON.parse(roundData.textContent);
  const stationField = document.getElementById("paper-station");
  const status = document.getElementById("paper-status");
  let sending = false;
  paperForm.addEventListener("submit", async (event) => {
    if (round.secrecy !== "secret" || sending) return;
    event.preventDefault();
    const choices = paperSelections(round.items, paperForm);
    if (!choices) return;
    if (status) status.textContent = status.dataset.working || "…";
    const button = paperForm.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      const { encryptBallot, revealBallot } = await import("../booth/gongjue-crypto.js");
      const seed = crypto.getRandomValues(new Uint8Array(32));
      const made = encryptBallot({ fingerprint: round.fingerprint, jointKey: round.joint_key, items: round.shapes,
                                   choices, signingKey: seed });
      seed.fill(0);  // the station key signs this ballot only
      stationField.value = JSON.stringify({ signed: made.signed, reveal: revealBallot(made) });
      document.documentElement.dataset.paperStation = made.tracking.short;
    } catch (err) {
      stationField.value = "";  // the server will act as the station
      if (status) status.textContent = String(err);
    }
    sending = true;
    if (button) button.disabled = false;
    paperForm.submit();
  });
}
