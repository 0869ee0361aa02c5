"""The staff turnout page and the canvassing CSV (web.staff_turnout), on both databases.

The round is tests/voting/test_paper_entry.py's (six voters, 540.00 m²; E-05 holds a flat in each
building), announced with a window of ten days from now.  Two thirds is exactly 4 heads and
360.00 m²: A-01 and B-02 vote online, C-03 and F-06 on paper — both lines reached exactly.
"""

from __future__ import annotations

import csv
import io
import re
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.voting.test_paper_entry import PARTS, SLUG, build
from tests.web.conftest import add_staff, sign_in

M = {"m1": [1, 0, 0], "c1": [1, 0, 0]}
PAGE = f"/estates/{SLUG}/staff/rounds/r1/turnout"
CSV = f"/estates/{SLUG}/staff/rounds/r1/non-voters.csv"


def _client(app, engine, name, role, estates=(SLUG,)):
    add_staff(engine, name, role, estates=estates)
    c = TestClient(app, follow_redirects=False)
    assert sign_in(c, name).status_code == 303
    return c


def _vote(b, electronic=(), paper=()):
    for owner in electronic:
        b.cast(owner, M)
    for owner in paper:
        b.enter(owner, "zhao")
        b.enter(owner, "qian")


def _line(html: str, measure: str) -> str:
    return re.search(rf'<div class="turnout-line" id="line-{measure}">(.*?)</div>\s*</div>', html, re.DOTALL).group(1)


def test_exactly_two_thirds_on_both_bars(engine, app):
    b = build(engine, secrecy="open", duplicate="first")
    _vote(b, electronic=("A-01", "B-02"), paper=("C-03", "F-06"))
    page = _client(app, engine, "alice", "supervisor").get(PAGE)
    assert page.status_code == 200
    html = page.text
    heads, area = _line(html, "heads"), _line(html, "area")
    assert "4 / 6 人（66.66%）；三分之二为 4 人" in heads and "已达三分之二" in heads and "还差" not in heads
    assert 'max="6" value="4"' in heads and 'class="progress-line"' in heads
    assert "360.00 / 540.00 平方米（66.66%）；三分之二为 360.00 平方米" in area and "已达三分之二" in area
    assert 'max="54000" value="36000"' in area
    assert "网上投票：2 人；仅纸质投票：2 人。" in html
    # per building and stairwell (as tests/voting/test_turnout.py): building 2 misses one head and 70.00 m²
    assert "3 / 4" in html and "270.00 / 300.00" in html and "1 / 3" in html and "还差 70.00 平方米" in html
    # the timeline: one step per participant, the two-thirds line
    assert html.count("<polyline") == 2 and 'class="two-thirds"' in html and "目前共 4 人" in html
    # non-voters: D-04 and both flats of E-05, with names (staff only)
    assert "赵六" in html and "钱七" in html and "张三" not in html and "共 3 套房屋" in html


def test_one_hundredth_short(engine, app):
    parts = tuple((b_, u, r, 5999 if o == "C-03" else a, o) for b_, u, r, a, o in PARTS)
    b = build(engine, secrecy="open", duplicate="first", parts=parts)
    _vote(b, electronic=("A-01", "B-02"), paper=("C-03", "F-06"))
    html = _client(app, engine, "zhao", "scrutineer").get(PAGE).text
    assert "已达三分之二" in _line(html, "heads")
    area = _line(html, "area")
    assert "359.99 / 539.99 平方米" in area and "三分之二为 360.00 平方米" in area and "还差 0.01 平方米" in area
    assert "已达三分之二" not in area


def test_csv_of_non_voters(engine, app):
    b = build(engine, secrecy="open", duplicate="first")
    _vote(b, electronic=("A-01",))
    answer = _client(app, engine, "alice", "supervisor").get(CSV)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert f'non-voters-{SLUG}-r1-' in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == ["楼栋 building", "单元 unit", "房号 room", "业主 owner", "面积 area (m²)"]
    body = rows[1:]
    assert len(body) == 6 and ["1", "1", "102", "'=HYPERLINK(\"http://x\")", "120.00"] in body
    assert ["1", "2", "202", "钱七", "30.00"] in body and not any(r[2] == "101" and r[0] == "1" for r in body)


@pytest.mark.parametrize(("role", "estates", "status"), [("auditor", (SLUG,), 403), ("supervisor", ("pine-garden",), 403),
                                                         ("admin", (), 403)])
def test_refused_to_other_roles(engine, app, role, estates, status):
    build(engine, secrecy="open", duplicate="first")
    c = _client(app, engine, "sun", role, estates=estates)
    assert c.get(PAGE).status_code == status
    assert c.get(CSV).status_code == status
    public = TestClient(app, follow_redirects=False)
    assert public.get(PAGE).status_code == 401 and public.get(CSV).status_code == 401


def test_bare_round_and_unknown_round(engine, app):
    build(engine, secrecy="open")  # a bare announcement: open until closed
    c = _client(app, engine, "alice", "supervisor")
    assert c.get(PAGE).status_code == 200
    assert c.get(f"/estates/{SLUG}/staff/rounds/nope/turnout").status_code == 404
