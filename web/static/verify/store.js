// store.js — what this browser remembers of a record (localStorage, per origin): the record key it
// saw first and the last checkpoint it verified ({size, root (hex), note, checked (ISO time)}).
// Nothing personal: the same public values the record page shows.  A browser that refuses
// storage (private mode) simply remembers nothing.

const PREFIX = 'gongjue.record.';

export function recall(origin) {
  try {
    const raw = localStorage.getItem(PREFIX + origin);
    const v = raw ? JSON.parse(raw) : null;
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

/** Remember checkpoint `cp` ({size, root hex, note}) and key `vkey`, unless an older one is newer. */
export function remember(origin, vkey, cp) {
  const before = recall(origin);
  if (before && before.size > cp.size) return before;
  const now = { vkey: before?.vkey || vkey, size: cp.size, root: cp.root, note: cp.note, checked: new Date().toISOString() };
  try {
    localStorage.setItem(PREFIX + origin, JSON.stringify(now));
  } catch {
    // storage refused: nothing remembered
  }
  return now;
}

/** The page's translated messages (a <script type="application/json" id="verify-text"> block). */
export function messages() {
  const el = document.getElementById('verify-text');
  const table = el ? JSON.parse(el.textContent) : {};
  return (key, vars = {}) => String(table[key] ?? key).replace(/%\((\w+)\)s/g, (_, k) => String(vars[k] ?? ''));
}

/** A time "YYYY-MM-DDTHH:MM:SSZ" (or a Date) in Beijing time, in the page's language. */
export function beijing(when) {
  const d = when instanceof Date ? when : new Date(when);
  if (Number.isNaN(d.getTime())) return '';
  const zh = document.documentElement.lang !== 'en';
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(d).map((p) => [p.type, p.value]));
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return zh ? `${parts.year}年${Number(parts.month)}月${Number(parts.day)}日 ${parts.hour}:${parts.minute}`
    : `${Number(parts.day)} ${months[Number(parts.month) - 1]} ${parts.year}, ${parts.hour}:${parts.minute} (Beijing time)`;
}
