"""Casts are routed first (``web.app._include_routers``), and moving them first shadowed nothing."""

from __future__ import annotations

import re

from starlette.routing import Match, Mount

from ledger.db import make_engine
from web import api_ballots
from web.app import create_app


def _full(route, method: str, path: str) -> bool:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    return route.matches(scope)[0] == Match.FULL


def test_a_cast_is_matched_before_any_other_router_and_no_other_route_has_its_paths(tmp_path):
    app = create_app(make_engine(f"sqlite:///{tmp_path / 'r.db'}"))
    routes = app.router.routes
    cast = next(i for i, r in enumerate(routes) if _full(r, "POST", "/api/v1/estates/demo/rounds/r1/ballots"))
    assert all(isinstance(r, Mount) or r.path == app.openapi_url for r in routes[:cast]), routes[:cast]
    for route in api_ballots.router.routes:
        path = re.sub(r"\{[^}]+\}", "x1", route.path)
        for method in route.methods:
            assert [i for i, r in enumerate(routes) if _full(r, method, path)] == [cast], (method, path)
