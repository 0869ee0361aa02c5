"""The public results page of a round (issue #10, "Everyone in the estate").

Route (public, no personal data; published contract for H2/H4/H8):

- ``GET /estates/{slug}/rounds/{round_id}/result`` — each item's outcome, the numbers and the
  integer inequalities that decided it in plain words, participation against both two-thirds
  lines (heads and area), elected / alternates / runoff for elections, the deemed-consent result
  when the round has it, the objection window and the final announcement; before the result is
  published it says what happens next and when.

The check-my-ballot page is ``/estates/{slug}/check#r=<seq>.<tracking>`` (web/audit.py).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/estates/{slug}/rounds/{round_id}/result")
def result_page(request: Request, slug: str, round_id: str) -> Response:
    raise HTTPException(404, "not yet")
