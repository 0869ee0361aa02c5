"""Printable notice (公告) and results announcement (结果公告) of a round: A4, with a QR code.

Public pages (no personal data: what the round's ledger entries state):

- ``GET /estates/{slug}/rounds/{id}/notice.html`` — the notice of an announced round: matters and
  the thresholds they need in plain words, candidates, scope, the voting window in Beijing time,
  the notice date and period (and the reason of a short notice), extensions, policies,
  attachments with their SHA-256, totals, the record's entry and fingerprint; a QR code of the
  round's public page ``/estates/{slug}/rounds/{id}``.  A draft is not public (404); its
  supervisors print a preview from ``/estates/{slug}/staff/rounds/{id}/notice-preview``.
- ``GET /estates/{slug}/rounds/{id}/announcement.html`` — the results announcement: each item's
  outcome with the exact numbers (heads and area, 0.01 m²) and the inequalities that decided it,
  participation against the quorum, elected / alternates / runoff, the objection window, the final
  announcement; a QR code of the public results page ``/estates/{slug}/rounds/{id}/result``.
  Before the result it says that the count is not published yet.

QR codes are segno SVG inlined in the page (no script, no request); the stylesheet
``/static/css/print.css`` lays the page out on A4 for printing.
"""

from __future__ import annotations

import segno
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from markupsafe import Markup

from identity.area import format_area_grouped
from ledger.db import reading
from voting import count_round, rounds
from voting.rules import RULE_SETS, rule_set
from web import i18n
from web.templating import templates

router = APIRouter(include_in_schema=False)


def qr_svg(url: str, title: str) -> Markup:
    """The QR code of ``url`` as an inline ``<svg>`` (segno; medium error correction)."""
    svg = segno.make(url, error="m").svg_inline(scale=1, omitsize=True, title=title, svgclass="qr-code",
                                                 lineclass="qr-line")
    return Markup(svg)


def absolute(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + path


def render_notice(request: Request, context: dict) -> Response:
    url = absolute(request, f"/estates/{context['slug']}/rounds/{context['round_id']}")
    return templates.TemplateResponse(request, "print/notice.html",
                                      {**context, "n": context, "public_url": url,
                                       "qr": qr_svg(url, i18n.t(request, "The round's page"))})


def _public_view(session, slug: str, round_id: str) -> rounds.RoundView:
    try:
        view = rounds.load(session, slug, round_id)
    except rounds.RoundError as e:
        raise HTTPException(e.status, e.message) from None
    if view.announcement is None:
        raise HTTPException(404, f"没有轮次 {round_id} / no round {round_id!r}")
    return view


@router.get("/estates/{slug}/rounds/{round_id}/notice.html")
def notice(request: Request, slug: str, round_id: str) -> Response:
    from web.staff_rounds import notice_context

    with reading(request.app.state.engine) as session:
        view = _public_view(session, slug, round_id)
        context = notice_context(request, session, slug, view, draft=False)
    return render_notice(request, context)


OUTCOMES = {"passed": "Outcome: passed", "failed": "Outcome: not passed",
            "no_quorum": "Outcome: not decided, too few took part",
            "void": "Outcome: void, an item it requires did not pass", "elected": "Outcome: elected",
            "partial": "Outcome: partly elected, fewer qualified than seats",
            "runoff": "Outcome: runoff needed, a tie at the cutoff"}
MOTION_MARKS = (("agree", "Marked agree"), ("oppose", "Marked oppose"), ("abstain", "Marked abstain"))


def _ineq(threshold, value: int, base: int, measure: str) -> dict:
    """One inequality with its numbers: ``d × value ≥ n × base`` (or ``>``)."""
    op = ">" if threshold.strict else "≥"
    show = (lambda x: format_area_grouped(x) + " m²") if measure == "area" else str
    return {"text": f"{threshold.denominator} × {show(value)} {op} {threshold.numerator} × {show(base)}",
            "holds": threshold.holds(value, base), "measure": measure}


def _area_int(text: str) -> int:
    whole, _, frac = str(text).partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def result_context(request: Request, session, slug: str, view: rounds.RoundView) -> dict:
    """What the results announcement shows (the published ``round.result``; empty before it)."""
    from web.staff_rounds import estate_name, matter_text, threshold_text

    t = lambda m, **kw: i18n.t(request, m, **kw)
    try:
        pub = count_round.published(session, slug, view.round_id)
    except count_round.CountError as e:
        raise HTTPException(e.status, e.message) from None
    out = {"slug": slug, "round_id": view.round_id, "estate_name": estate_name(session, slug), "published": pub,
           "result": None, "items": [], "secrecy": view.secrecy, "closes": view.closes, "opens": view.opens,
           "announced_seq": view.seq, "rules": view.agenda.rules.name}
    if pub["result"] is None:
        return out
    res = pub["result"]
    tally = res["tally"]
    rules = view.agenda.rules if view.agenda.rules.name == tally["rules"] else (
        RULE_SETS.get(tally["rules"]) or rule_set(tally["rules"]))
    total = (tally["totals"]["heads"], _area_int(tally["totals"]["area"]))
    part = (tally["participation"]["heads"], _area_int(tally["participation"]["area"]))
    measures = rules.quorum.measures
    base_of = lambda th: total if th.against == "totals" else part
    out["participation"] = {"heads": part[0], "area": part[1], "total_heads": total[0], "total_area": total[1],
                            "quorum": tally["quorum"],
                            "checks": [_ineq(rules.quorum, part[i], total[i], m)
                                       for i, m in ((0, "heads"), (1, "area")) if m in measures],
                            "rule": threshold_text(request, rules.quorum, t("Valid when those taking part"))}
    counts = {c["id"]: c for c in res["counts"]}
    items = []
    for it in view.agenda.items:
        got = tally["items"][it.id]
        c = counts[it.id]
        th = rules.threshold(it.matter) if it.kind != "election" else rules.ordinary
        base = base_of(th)
        if it.kind == "motion":
            rows = [{"label": t(label), "heads": c["heads"][k], "area": c["area"][k]}
                    for k, (_, label) in enumerate(MOTION_MARKS)]
            decisive = [_ineq(th, c["heads"][0], base[0], "heads"), _ineq(th, c["area"][0], base[1], "area")]
        else:
            rows = [{"label": name, "heads": c["heads"][k], "area": c["area"][k],
                     "qualified": got.get("candidates", {}).get(name, {}).get("qualified")}
                    for k, name in enumerate(it.choices)]
            decisive = []
        decisive = [d for d in decisive if d["measure"] in th.measures]
        items.append({"id": it.id, "title": it.title or it.id, "kind": it.kind, "matter": matter_text(request, it.matter),
                      "outcome": got["outcome"], "outcome_text": t(OUTCOMES.get(got["outcome"], got["outcome"])),
                      "rows": rows, "decisive": decisive,
                      "threshold": threshold_text(request, th, t("Passes when the agreeing")),
                      "adopted": got.get("adopted"), "elected": got.get("elected", []),
                      "alternates": got.get("alternates", []), "runoff": got.get("runoff", []), "seats": it.seats})
    out["items"] = items
    out["result"] = res
    out["objection_until"] = rounds.parse_time(res["objection_until"], "objection_until")
    out["deemed"] = res.get("deemed") is not None
    return out


@router.get("/estates/{slug}/rounds/{round_id}/announcement.html")
def announcement(request: Request, slug: str, round_id: str) -> Response:
    with reading(request.app.state.engine) as session:
        view = _public_view(session, slug, round_id)
        context = result_context(request, session, slug, view)
    url = absolute(request, f"/estates/{slug}/rounds/{round_id}/result")
    return templates.TemplateResponse(request, "print/announcement.html",
                                      {**context, "qr": qr_svg(url, i18n.t(request, "The results page")),
                                       "public_url": url})
