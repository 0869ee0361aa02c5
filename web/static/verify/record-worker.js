// record-worker.js — runs checkRecord (record-check.js) off the page's thread, so a phone stays
// responsive while thousands of ballots are verified.  Message in: the checkRecord options
// (without callbacks); messages out: {progress: {phase, done, total}} …, then {report} or {error}.

import { checkRecord } from './record-check.js';

self.onmessage = async (event) => {
  try {
    let last = 0;
    const report = await checkRecord({
      ...event.data,
      onProgress: (p) => {
        const now = Date.now();
        if (now - last > 100 || p.done === p.total) { last = now; self.postMessage({ progress: p }); }
      },
    });
    self.postMessage({ report });
  } catch (e) {
    self.postMessage({ error: { kind: e.kind || 'error', message: String(e.message || e), seq: e.seq ?? null } });
  }
};
