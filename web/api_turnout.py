"""Turnout over the JSON API (issue #9 part 6; figures from ``voting.turnout``).

- ``GET /api/v1/estates/{slug}/rounds/{id}/turnout`` — public: the round's totals only
  (participation by heads and by area against both two-thirds lines, what is still missing).
- ``GET …/turnout/places`` — staff (supervisor, scrutineer): the same per building and per
  stairwell (from the private roll).
- ``GET …/non-voters`` and ``GET …/non-voters.csv`` — staff (supervisor, scrutineer): the flats
  of the voters who have not taken part, with the owners' names, for door-to-door canvassing
  (CSV through ``identity.csvfile.write_csv``: formula prefixes neutralised).  Never public.

Areas are decimal strings with exactly two decimals (m²), heads integers; ``reached`` is the
integer inequality ``3·P ≥ 2·T``; the percentage is shown truncated and decides nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from identity.area import format_area
from identity.store import RollTampered
from ledger.db import reading
from voting import turnout as turnout_
from web import security

router = APIRouter(prefix="/api/v1", tags=["turnout"])
STAFF = ("supervisor", "scrutineer")


class HeadsLine(BaseModel):
    total: int
    participating: int
    needed: int = Field(description="the least participation that reaches two thirds: ⌈2·total/3⌉")
    missing: int = Field(description="heads still missing to reach two thirds (0 when reached)")
    reached: bool = Field(description="3·participating ≥ 2·total")
    percent: str = Field(description="participating / total in per cent, truncated to two decimals (shown only)")


class AreaLine(BaseModel):
    total: str = Field(description="m², two decimals")
    participating: str
    needed: str
    missing: str = Field(description="area still missing to reach two thirds, m² (0.00 when reached)")
    reached: bool = Field(description="3·participating ≥ 2·total, in 0.01 m²")
    percent: str


class Figures(BaseModel):
    heads: HeadsLine
    area: AreaLine
    reached: bool = Field(description="both lines reached")


class QuorumCheck(BaseModel):
    measure: str = Field(description="heads | area")
    holds: bool
    zh: str
    en: str


class QuorumOut(BaseModel):
    """The round's own quorum under its rule set (SPEC §5.3), besides the two-thirds lines."""

    rules: str
    formula: str = Field(description="e.g. 3·P ≥ 2·T")
    holds: bool
    checks: list[QuorumCheck]


class TurnoutOut(BaseModel):
    round: str
    scope: str
    figures: Figures = Field(description="both two-thirds lines (3·P ≥ 2·T), heads and area")
    quorum: QuorumOut
    electronic: int = Field(description="voters taking part with an electronic ballot")
    paper: int = Field(description="voters taking part with a paper ballot only")


class PlaceOut(BaseModel):
    building: str
    unit: str | None = Field(description="null: the whole building")
    figures: Figures


class PlacesOut(TurnoutOut):
    buildings: list[PlaceOut]
    units: list[PlaceOut]


class NonVoter(BaseModel):
    building: str
    unit: str
    room: str
    owner: str = Field(description="the owner's name from the private roll (\"\" when none)")
    area: str = Field(description="the flat's area, m²")
    voter: str = Field(description="pseudonym")


class NonVotersOut(BaseModel):
    round: str
    flats: list[NonVoter]


ERRORS = {404: {"description": "no such estate or round"},
          500: {"description": "the roll tables disagree with the ledger"}}
STAFF_ERRORS = {401: {"description": "not signed in as staff"},
                403: {"description": "not a supervisor or scrutineer of this estate"},
                409: {"description": "the roll's openings were erased"}, **ERRORS}


def _figures(f: turnout_.Figures) -> Figures:
    h, a = f.heads, f.area
    return Figures(heads=HeadsLine(total=h.total, participating=h.participating, needed=h.needed, missing=h.missing,
                                   reached=h.reached, percent=h.percent),
                   area=AreaLine(total=format_area(a.total), participating=format_area(a.participating),
                                 needed=format_area(a.needed), missing=format_area(a.missing), reached=a.reached,
                                 percent=a.percent),
                   reached=f.reached)


def _quorum(q: turnout_.Quorum) -> QuorumOut:
    return QuorumOut(rules=q.rules, formula=q.formula, holds=q.holds,
                     checks=[QuorumCheck(measure=m, holds=h, zh=zh, en=en) for m, h, zh, en in q.checks])


def _run(request: Request, fn, *args, **kw):
    try:
        with reading(request.app.state.engine) as session:
            return fn(session, *args, **kw)
    except turnout_.TurnoutError as e:
        status = 409 if e.code == "no_openings" else 404
        raise HTTPException(status, {"code": e.code, "message": e.message}) from None
    except RollTampered as e:
        raise HTTPException(500, str(e)) from None


@router.get("/estates/{slug}/rounds/{round_id}/turnout", response_model=TurnoutOut,
            summary="Live turnout of a round: totals against both two-thirds lines (public)", responses=ERRORS)
def turnout(request: Request, slug: str, round_id: str) -> TurnoutOut:
    t = _run(request, turnout_.turnout, slug, round_id, places=False)
    return TurnoutOut(round=t.round_id, scope=t.scope, figures=_figures(t.figures), quorum=_quorum(t.quorum),
                      electronic=t.electronic, paper=t.paper)


@router.get("/estates/{slug}/rounds/{round_id}/turnout/places", response_model=PlacesOut,
            summary="Turnout per building and stairwell (supervisor, scrutineer)", responses=STAFF_ERRORS)
def turnout_places(request: Request, slug: str, round_id: str) -> PlacesOut:
    security.require_estate_role(request, slug, *STAFF)
    t = _run(request, turnout_.turnout, slug, round_id)
    return PlacesOut(round=t.round_id, scope=t.scope, figures=_figures(t.figures), quorum=_quorum(t.quorum),
                     electronic=t.electronic, paper=t.paper,
                     buildings=[PlaceOut(building=p.building, unit=None, figures=_figures(p.figures))
                                for p in t.buildings],
                     units=[PlaceOut(building=p.building, unit=p.unit, figures=_figures(p.figures)) for p in t.units])


@router.get("/estates/{slug}/rounds/{round_id}/non-voters", response_model=NonVotersOut,
            summary="Flats of the voters who have not voted, with owners' names (supervisor, scrutineer)",
            responses=STAFF_ERRORS)
def non_voters(request: Request, slug: str, round_id: str) -> NonVotersOut:
    security.require_estate_role(request, slug, *STAFF)
    flats = _run(request, turnout_.non_voters, slug, round_id)
    return NonVotersOut(round=round_id, flats=[NonVoter(building=f.building, unit=f.unit, room=f.room,
                                                        owner=f.owner_name, area=format_area(f.area), voter=f.voter)
                                               for f in flats])


@router.get("/estates/{slug}/rounds/{round_id}/non-voters.csv", response_class=Response,
            summary="The canvassing list as CSV (supervisor, scrutineer)",
            responses={200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with a BOM"}, **STAFF_ERRORS})
def non_voters_csv(request: Request, slug: str, round_id: str) -> Response:
    security.require_estate_role(request, slug, *STAFF)
    flats = _run(request, turnout_.non_voters, slug, round_id)
    return Response(turnout_.non_voters_csv(flats), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="non-voters-{slug}-{round_id}.csv"'})
