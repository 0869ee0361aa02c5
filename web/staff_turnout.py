"""Live turnout of a round for its staff (supervisor, scrutineer): both two-thirds lines, places,
timeline, non-voters.

- ``GET /estates/{slug}/staff/rounds/{id}/turnout`` — two progress bars (heads, area) with the
  two-thirds line marked and the exact figures (participating, total, needed, still missing;
  ``3·P ≥ 2·T`` in integers, areas in 0.01 m²), the round's own quorum under its rule set, the
  same per building and per stairwell, a server-rendered SVG timeline of participation, and the
  list of flats whose owners have not taken part (with the owners' names: staff only).
- ``GET /estates/{slug}/staff/rounds/{id}/non-voters.csv`` — that list as CSV (UTF-8 with a BOM,
  formula prefixes neutralised: ``voting.turnout.non_voters_csv``).

The bars and the chart are inline SVG with geometry in attributes (the CSP forbids style
attributes); every figure is also written out as text.  Percentages are truncated and decide
nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from identity.store import RollTampered
from ledger.db import reading
from voting import rounds
from voting import turnout as turnout_
from voting.lifecycle import parse_time
from web import i18n, security
from web.staff_rounds import estate_name, now_of, scope_text
from web.templating import templates

router = APIRouter(include_in_schema=False)
STAFF = ("supervisor", "scrutineer")
BAR_WIDTH = 1000  # the bars' viewBox width
CHART = {"w": 640, "h": 300, "left": 76, "right": 620, "top": 20, "bottom": 240}


def bar(line: turnout_.Line) -> dict:
    """The geometry of one progress bar: filled width (capped) and the two-thirds mark."""
    filled = 0 if line.total == 0 else min(BAR_WIDTH, line.participating * BAR_WIDTH // line.total)
    return {"filled": filled, "mark": round(BAR_WIDTH * 2 / 3, 2), "width": BAR_WIDTH}


def chart(steps: list[turnout_.Step], figures: turnout_.Figures, opens: datetime, closes: datetime,
          now: datetime) -> dict:
    """The timeline's geometry: step lines of heads and area (share of the totals) from the
    opening to now (or the close), the two-thirds line, the axis labels' times."""
    c = CHART
    start = opens
    if steps:
        start = min(start, parse_time(steps[0].time, "time"))
    end = min(max(now, start), closes)
    if steps:
        end = max(end, parse_time(steps[-1].time, "time"))
    span = max(1.0, (end - start).total_seconds())

    def x(t: datetime) -> float:
        return round(c["left"] + (c["right"] - c["left"]) * (t - start).total_seconds() / span, 1)

    def y(value: int, total: int) -> float:
        share = 0 if total == 0 else min(1.0, value / total)
        return round(c["bottom"] - (c["bottom"] - c["top"]) * share, 1)

    lines = {}
    for measure, total in (("heads", figures.heads.total), ("area", figures.area.total)):
        points = [(c["left"], c["bottom"])]
        last_y = c["bottom"]
        for s in steps:
            px = x(parse_time(s.time, "time"))
            points.append((px, last_y))
            last_y = y(getattr(s, measure), total)
            points.append((px, last_y))
        points.append((x(end), last_y))
        lines[measure] = " ".join(f"{a},{b}" for a, b in points)
    return {**c, "heads": lines["heads"], "area": lines["area"], "two_thirds": round(
        c["bottom"] - (c["bottom"] - c["top"]) * 2 / 3, 1), "start": start, "end": end, "steps": len(steps)}


def _turnout(request: Request, slug: str, round_id: str):
    try:
        with reading(request.app.state.engine) as session:
            name = estate_name(session, slug)
            view = rounds.load(session, slug, round_id)
            if view.announcement is None:
                return name, view, None, None, None
            t = turnout_.turnout(session, slug, round_id)
            figures, steps = turnout_.timeline(session, slug, round_id)
            flats = turnout_.non_voters(session, slug, round_id)
    except rounds.RoundError as e:
        raise HTTPException(e.status, e.message) from None
    except turnout_.TurnoutError as e:
        raise HTTPException(409 if e.code == "no_openings" else 404, e.message) from None
    except RollTampered as e:
        raise HTTPException(500, str(e)) from None
    return name, view, t, (figures, steps), flats


@router.get("/estates/{slug}/staff/rounds/{round_id}/turnout")
def turnout_page(request: Request, slug: str, round_id: str) -> Response:
    security.require_estate_role(request, slug, *STAFF)
    now = now_of(request)
    name, view, t, timeline, flats = _turnout(request, slug, round_id)
    lang = i18n.language(request)
    context = {"slug": slug, "estate_name": name, "view": view, "state": view.state(now), "t": t, "flats": flats,
               "now": now}
    if t is not None:
        figures, steps = timeline
        context |= {"bars": {"heads": bar(t.figures.heads), "area": bar(t.figures.area)},
                    "chart": chart(steps, figures, view.opens, view.closes, now),
                    "quorum_checks": [{"holds": h, "text": zh if lang == "zh" else en} for _, h, zh, en in t.quorum.checks],
                    "scope_text": scope_text(request, view.agenda.scope)}
    return templates.TemplateResponse(request, "staff/round_turnout.html", context)


@router.get("/estates/{slug}/staff/rounds/{round_id}/non-voters.csv")
def non_voters_csv(request: Request, slug: str, round_id: str) -> Response:
    security.require_estate_role(request, slug, *STAFF)
    _, _, t, _, flats = _turnout(request, slug, round_id)
    if t is None:
        raise HTTPException(404, f"轮次 {round_id} 尚未公告 / round {round_id} is not announced")
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return Response(turnout_.non_voters_csv(flats), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="non-voters-{slug}-{round_id}-{stamp}.csv"'})
