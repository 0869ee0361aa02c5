// record-worker.js — the record check off the page's thread (record-check.js), so a phone stays
// responsive while thousands of ballots are verified.  Messages in:
//   {task: 'structure', options}  → {progress: {phase, done, total}} …, then {structure: {report, jobs, rounds}}
//   {task: 'ballots', jobs, rounds} → {progress: {done}} …, then {ballots: {verified, problems}}
// and {error: {kind, message, seq}} when something throws.

import { checkStructure, verifyBallots } from './record-check.js';

self.onmessage = async (event) => {
  const m = event.data;
  let last = 0;
  const throttled = (payload, final) => {
    const now = Date.now();
    if (final || now - last > 100) { last = now; self.postMessage({ progress: payload }); }
  };
  try {
    if (m.task === 'structure') {
      const structure = await checkStructure({ ...m.options, onProgress: (p) => throttled(p, p.done === p.total) });
      self.postMessage({ structure });
    } else if (m.task === 'ballots') {
      const ballots = await verifyBallots(m.jobs, m.rounds, { onProgress: (done) => throttled({ done }, done === m.jobs.length) });
      self.postMessage({ ballots });
    }
  } catch (e) {
    self.postMessage({ error: { kind: e.kind || 'error', message: String(e.message || e), seq: e.seq ?? null } });
  }
};
