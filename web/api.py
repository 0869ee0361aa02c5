"""JSON API, version 1 (``/api/v1``; OpenAPI at ``/api/v1/openapi.json``).

Public, read-only figures of estates.  Areas are decimal strings with exactly two decimals
("1234.50", SPEC §1: never floating-point numbers); owners' names never appear.  Figures come
from the estate's latest ``roll`` ledger entry after the roll tables were compared with it
(SPEC §6.4): a mismatch is a 500 with the reason, never tampered figures.  Reads never take the
write lock (``ledger.db.reading``).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from identity import store
from identity.area import format_area
from ledger.db import reading

router = APIRouter(prefix="/api/v1", tags=["estates"])


class EstateSummary(BaseModel):
    slug: str
    name: str


class EstateOverview(BaseModel):
    slug: str
    name: str
    roll_version: int | None
    buildings: int
    parts: int
    voters: int
    area: str  # m², two decimals, e.g. "1234.50"
    developer_parts: int


def overview_json(view: store.Overview) -> EstateOverview:
    return EstateOverview(slug=view.slug, name=view.name, roll_version=view.version,
                          buildings=view.buildings, parts=view.parts, voters=view.totals.heads,
                          area=format_area(view.totals.area), developer_parts=view.developer_parts)


@router.get("/estates", response_model=list[EstateSummary], summary="List estates")
def list_estates(request: Request) -> list[EstateSummary]:
    with reading(request.app.state.engine) as session:
        return [EstateSummary(slug=e.slug, name=e.name) for e in store.list_estates(session)]


@router.get("/estates/{slug}", response_model=EstateOverview, summary="An estate's current roll figures",
            responses={404: {"description": "no such estate"},
                       500: {"description": "the roll tables disagree with the ledger"}})
def get_estate(request: Request, slug: str) -> EstateOverview:
    try:
        with reading(request.app.state.engine) as session:
            view = store.overview(session, slug)
    except store.RollTampered as exc:
        raise HTTPException(500, str(exc)) from None
    if view is None:
        raise HTTPException(404, f"没有这个小区 / no estate '{slug}'")
    return overview_json(view)
