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
