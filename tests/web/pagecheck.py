"""One call that checks a page the way issue #10 asks: ``check_page(page, name)``.

For a Playwright ``page`` that has loaded (and settled) the page under test:

1. a full-page screenshot to ``test-artifacts/screenshots/<name>-<width>.png`` (taken first, so a
   failing page is still there to look at; the directory is gitignored);
2. axe-core (vendored, ``tests/vendor/axe-core/``, see its VERSION) with every rule it runs by
   default: no violation of impact *serious* or *critical*;
3. every visible tap target at least 44 × 44 CSS px (the MIIT elderly-friendly guideline and
   WCAG 2.5.5): ``a[href]``, ``button``, ``input`` (not hidden), ``select``, ``textarea``,
   ``summary``, ``[role=button]`` and ``label`` with a control.  Excepted: a link inside running
   text (an inline link whose block also holds words that are not other controls' text, like
   "read the <a>guide</a>."), a visually hidden control (1 px or less: its label is the target
   and is checked instead), a checkbox or radio whose label is itself ≥ 44 × 44, and the label
   of a text-like control (the control itself is the target and is checked).

On any failure it raises ``AssertionError`` listing every offending element with a CSS selector
and its size (tap targets) or axe's rule, help text and the nodes' selectors.

``allow``: strings that excuse findings.  An axe rule id (``"color-contrast"``) excuses that
rule's violations; any other string is a CSS selector, and an element matching it is excused
from both checks.  Use it sparingly, with a comment saying why.

axe-core is injected with ``page.evaluate`` (DevTools protocol), not a ``<script>`` element,
because the CSP (``script-src 'self'``) refuses injected scripts — as it should.

``problems(page, allow=())`` returns the findings as a list of lines without raising, for
sweeps that collect every page before failing; ``PHONE`` and ``DESKTOP`` are the two viewports
every page is checked at.  Usage::

    from tests.web.pagecheck import check_page
    page.goto(f"{base}/estates/{slug}/audit")
    check_page(page, "audit")                       # → test-artifacts/screenshots/audit-390.png
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
MIN_TARGET = 44
PHONE = {"width": 390, "height": 844}  # the plan's phone viewport (Chromium's iPhone 12-ish)
DESKTOP = {"width": 1280, "height": 800}
FAILING_IMPACTS = ("serious", "critical")

_RULE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# The tap-target scan, run in the page.  Returns [{selector, tag, text, width, height, why}].
_TARGETS_JS = r"""
({minimum, allow}) => {
  const CONTROLS = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], label';
  const TEXTLIKE = new Set(['text', 'email', 'tel', 'number', 'password', 'search', 'url', 'date',
                            'datetime-local', 'month', 'time', 'week', 'file', 'color', 'range']);
  const matchesAllowed = (el) => allow.some((sel) => { try { return el.matches(sel) || !!el.closest(sel); }
                                                         catch (e) { throw new Error('bad allow selector ' + sel); } });
  const box = (el) => el.getBoundingClientRect();
  const shown = (el) => {
    const r = box(el);
    if (r.width === 0 && r.height === 0) return false;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || s.visibility === 'collapse' || s.display === 'none') return false;
    for (let e = el; e; e = e.parentElement) if (parseFloat(getComputedStyle(e).opacity) === 0) return false;
    return el.getClientRects().length > 0;
  };
  const tiny = (el) => { const r = box(el); return r.width <= 1 || r.height <= 1; };
  const big = (el) => { const r = box(el); return r.width >= minimum - 0.5 && r.height >= minimum - 0.5; };
  const isInline = (el) => getComputedStyle(el).display === 'inline';
  const blockOf = (el) => {
    let e = el.parentElement;
    while (e && getComputedStyle(e).display.startsWith('inline')) e = e.parentElement;
    return e || document.body;
  };
  // Words of the block that are not inside any control: running text around an inline link.
  const ownWords = (block) => {
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    let text = '';
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const p = n.parentElement;
      if (p && p.closest('a[href], button, [role=button], select, textarea, summary, label, script, style, template')) continue;
      text += n.data;
    }
    return /[\p{L}\p{N}]/u.test(text);
  };
  const cssPath = (el) => {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && e !== document.documentElement; e = e.parentElement) {
      if (e.id) { parts.unshift('#' + CSS.escape(e.id)); break; }
      let part = e.localName;
      const classes = [...e.classList].slice(0, 2).map((c) => '.' + CSS.escape(c)).join('');
      part += classes;
      const parent = e.parentElement;
      if (parent) {
        const same = [...parent.children].filter((c) => c.localName === e.localName);
        if (same.length > 1) part += `:nth-of-type(${same.indexOf(e) + 1})`;
      }
      parts.unshift(part);
      if (e.localName === 'main' || e.localName === 'header' || e.localName === 'footer' || e.localName === 'nav') {
        if (document.querySelectorAll(e.localName).length === 1) break;
      }
    }
    return parts.join(' > ');
  };
  const out = [];
  for (const el of document.querySelectorAll(CONTROLS)) {
    if (!shown(el) || matchesAllowed(el)) continue;
    const tag = el.localName;
    let why = null;
    if (tag === 'label') {
      const control = el.control;
      if (!control) continue;                       // a label of nothing is not a target
      const type = control.localName === 'input' ? (control.type || 'text') : control.localName;
      const controlHidden = !shown(control) || tiny(control);
      if (!controlHidden && (TEXTLIKE.has(type) || type === 'select' || type === 'textarea')) continue;
      if (!big(el)) why = 'label (the tap target of its ' + type + ')';
    } else if (tag === 'input' && (el.type === 'checkbox' || el.type === 'radio')) {
      if (tiny(el)) continue;                       // visually hidden: its label is checked
      const labels = [...(el.labels || [])].filter(shown);
      if (labels.some(big)) continue;
      if (!big(el)) why = el.type + ' without a 44 px label';
    } else {
      if (tiny(el)) continue;                       // a visually hidden control (skip link before focus)
      if (tag === 'a' && isInline(el) && ownWords(blockOf(el))) continue;  // a link in running text
      if (!big(el)) why = 'tap target';
    }
    if (why) {
      const r = box(el);
      out.push({selector: cssPath(el), tag, why, width: Math.round(r.width * 10) / 10,
                height: Math.round(r.height * 10) / 10,
                text: (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().replace(/\s+/g, ' ').slice(0, 40)});
    }
  }
  return out;
}
"""

_AXE_RUN_JS = r"""
async ({impacts, allowSelectors}) => {
  const result = await window.axe.run(document, {resultTypes: ['violations']});
  const excused = (target) => {
    const el = typeof target === 'string' ? document.querySelector(target) : null;
    return !!el && allowSelectors.some((sel) => el.matches(sel) || !!el.closest(sel));
  };
  return result.violations
    .filter((v) => impacts.includes(v.impact))
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.filter((n) => !excused(n.target[n.target.length - 1]))
                                .map((n) => ({target: n.target.join(' '), summary: (n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 300)}))}))
    .filter((v) => v.nodes.length > 0);
}
"""


@functools.cache
def _axe_source() -> str:
    return AXE.read_text("utf-8")


def _split_allow(allow: Iterable[str]) -> tuple[set[str], list[str]]:
    rules, selectors = set(), []
    for entry in allow:
        if _RULE_ID.match(entry) and "-" in entry or entry in _SINGLE_WORD_RULES:
            rules.add(entry)
        else:
            selectors.append(entry)
    return rules, selectors


# axe rule ids without a hyphen (so not to be read as an element selector).
_SINGLE_WORD_RULES = {"accesskeys", "blink", "bypass", "list", "listitem", "marquee", "region", "tabindex"}


def inject_axe(page) -> None:
    """Load axe-core into ``page`` through the DevTools protocol (the CSP refuses a script tag)."""
    if page.evaluate("typeof window.axe === 'object' && typeof window.axe.run === 'function'"):
        return
    page.evaluate(_axe_source() + "\n;0")
    if not page.evaluate("typeof window.axe === 'object' && typeof window.axe.run === 'function'"):
        raise AssertionError("axe-core did not load into the page")


def axe_violations(page, allow: Iterable[str] = ()) -> list[str]:
    """axe-core's serious and critical violations, one line per offending node."""
    rules, selectors = _split_allow(allow)
    inject_axe(page)
    found = page.evaluate(_AXE_RUN_JS, {"impacts": list(FAILING_IMPACTS), "allowSelectors": selectors})
    lines = []
    for v in found:
        if v["id"] in rules:
            continue
        for node in v["nodes"]:
            lines.append(f"axe {v['id']} ({v['impact']}): {v['help']} — {node['target']}: {node['summary']}")
    return lines


def small_targets(page, allow: Iterable[str] = ()) -> list[str]:
    """Visible tap targets smaller than 44 × 44 px, one line each (selector, size, text)."""
    _, selectors = _split_allow(allow)
    found = page.evaluate(_TARGETS_JS, {"minimum": MIN_TARGET, "allow": selectors})
    return [f"tap target {t['width']}×{t['height']} px < {MIN_TARGET}×{MIN_TARGET}: {t['selector']}"
            f" <{t['tag']}> “{t['text']}” ({t['why']})" for t in found]


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/screenshots/<name>-<width>.png."""
    width = (page.viewport_size or {}).get("width") or page.evaluate("window.innerWidth")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def problems(page, allow: Iterable[str] = ()) -> list[str]:
    """Every finding of axe-core and of the tap-target check, without raising."""
    allow = tuple(allow)
    return axe_violations(page, allow) + small_targets(page, allow)


def check_page(page, name: str, *, allow: Iterable[str] = (), shot: bool = True) -> Path | None:
    """Screenshot, then axe-core and tap targets; AssertionError listing every problem.

    Returns the screenshot's path (None with ``shot=False``)."""
    page.evaluate("() => document.fonts.ready.then(() => true)")  # measure and draw with the real glyphs
    path = screenshot(page, name) if shot else None
    found = problems(page, allow)
    if found:
        width = (page.viewport_size or {}).get("width")
        raise AssertionError(f"page {name!r} at {width} px ({page.url}) has {len(found)} problem(s):\n  "
                             + "\n  ".join(found))
    return path
