"""Close, trustees' shares, publication and the final announcement from the staff round page
(web.staff_count), and the printable results announcement (web.print_pages), on both databases.

The round is tests/voting/count_estate.py's: five owners (42,393 = 88.50 + 120.00 + 65.43 +
100.00 + 50.00 m²), window T0 + 1 h … T0 + 10 days, n-of-n trustees 1 and 2.  A-01, B-02 and
D-04 agree, C-03 opposes: P = 4 heads and 373.93 m², agree 3 heads and 308.50 m² —
``2·Y > P`` holds both ways (2 × 3 > 1 × 4; 2 × 308.50 > 1 × 373.93).
"""

from __future__ import annotations

import json
import re
import warnings
from datetime import timedelta

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from identity import store
from ledger import log
from ledger.db import reading
from tests.voting import count_estate
from tests.voting.cast_estate import SLUG
from tests.web.conftest import add_staff, csrf_of, sign_in

BASE = f"/estates/{SLUG}/staff/rounds/r1"
AGREE, OPPOSE = [1, 0, 0], [0, 1, 0]


def size(engine) -> int:
    with reading(engine) as s:
        return log.size(s, store.get_estate(s, SLUG).log_id)


@pytest.fixture
def counted(engine, app, tmp_path):
    r = count_estate.make(engine)
    for owner, choice in (("A-01", AGREE), ("B-02", AGREE), ("C-03", OPPOSE), ("D-04", AGREE)):
        r.cast(owner, choice)
    add_staff(engine, "alice", "supervisor", estates=(SLUG,))
    add_staff(engine, "zhao", "scrutineer", estates=(SLUG,))
    clients = {}
    for name in ("alice", "zhao"):
        c = TestClient(app, follow_redirects=False)
        c.__enter__()
        assert sign_in(c, name).status_code == 303
        clients[name] = c
    app.state.clock = lambda: r.during
    yield r, clients, tmp_path
    for c in clients.values():
        c.__exit__(None, None, None)


def _post(c, path, data=None, files=None):
    token = csrf_of(c.get(BASE).text)
    return c.post(path, data={**(data or {}), "csrf": token}, files=files)


def test_close_share_upload_publish_and_final(engine, app, counted):
    r, staff, tmp = counted
    alice, zhao = staff["alice"], staff["zhao"]
    # during the window: no close button, and a forced close is refused with nothing written
    page = alice.get(BASE).text
    assert "现在结束本轮" not in page
    before = size(engine)
    answer = _post(alice, f"{BASE}/close")
    assert answer.status_code == 409 and "投票期尚未结束" in answer.text and size(engine) == before
    assert "voting window" not in answer.text  # the visitor's language only
    # a scrutineer cannot close; a supervisor cannot upload shares
    app.state.clock = lambda: r.after
    assert _post(zhao, f"{BASE}/close").status_code == 403
    assert "现在结束本轮" in alice.get(BASE).text
    answer = _post(alice, f"{BASE}/close")
    assert answer.status_code == 303 and answer.headers["location"] == f"{BASE}?closed=1"
    page = alice.get(answer.headers["location"]).text
    assert "已结束，计入 4 张选票" in page and "已提交解密份额：0 份，需要 2 份" in page
    assert _post(alice, f"{BASE}/close").status_code == 409  # closed already (the page says so)
    shares = r.shares(tmp / "bundle")
    files = lambda j: {"shares": ("s.json", json.dumps(shares[j]).encode(), "application/json")}
    assert _post(alice, f"{BASE}/shares", files=files(1)).status_code == 403
    assert "上传解密份额" in zhao.get(BASE).text
    before = size(engine)
    # refusals: not JSON, a tampered share, CSRF missing
    answer = _post(zhao, f"{BASE}/shares", files={"shares": ("s.json", b"not json", "application/json")})
    assert answer.status_code == 422 and "gongjue trustee decrypt" in answer.text
    bad = json.loads(json.dumps(shares[1]))
    bad["items"][0]["heads"][0]["d"] = bad["items"][0]["heads"][1]["d"]
    answer = _post(zhao, f"{BASE}/shares", files={"shares": ("s.json", json.dumps(bad).encode(), "application/json")})
    assert answer.status_code == 422 and "解密份额未通过核验" in answer.text
    assert " / " not in re.search(r'<p class="refusal">(.*?)</p>', answer.text, re.DOTALL).group(1)  # Chinese only
    answer = zhao.post(f"{BASE}/shares", files=files(1))
    assert answer.status_code == 403
    assert size(engine) == before
    # trustee 1, then trustee 1 again (refused), then trustee 2 completes the set
    assert _post(zhao, f"{BASE}/shares", files=files(1)).status_code == 303
    answer = _post(zhao, f"{BASE}/shares", files=files(1))
    assert answer.status_code == 409 and "已提交份额" in answer.text
    answer = _post(zhao, f"{BASE}/shares", files=files(2))
    assert answer.status_code == 303
    page = alice.get(BASE).text
    assert "结果已公布" in page and f"/estates/{SLUG}/rounds/r1/announcement.html" in page
    assert "异议期满后系统自动发布最终公告" in page and "发布最终公告" not in page.replace("自动发布最终公告", "")
    # the final announcement: refused before the objection window ends, then made
    before = size(engine)
    answer = _post(alice, f"{BASE}/final")
    assert answer.status_code == 409 and "异议期尚未结束" in answer.text and size(engine) == before
    app.state.clock = lambda: r.after + timedelta(days=8)
    assert "发布最终公告" in alice.get(BASE).text
    assert _post(zhao, f"{BASE}/final").status_code == 403
    answer = _post(alice, f"{BASE}/final")
    assert answer.status_code == 303 and size(engine) == before + 1
    assert "最终公告已写入账本条目" in alice.get(BASE).text
    assert _post(alice, f"{BASE}/final").status_code == 409


def test_results_announcement_exact_numbers(engine, app, counted):
    r, staff, tmp = counted
    public = TestClient(app)
    early = public.get(f"/estates/{SLUG}/rounds/r1/announcement.html")
    assert early.status_code == 200 and "尚未公布" in early.text and "<svg" in early.text
    app.state.clock = lambda: r.after
    assert _post(staff["alice"], f"{BASE}/close").status_code == 303
    shares = r.shares(tmp / "bundle")
    for j in (1, 2):
        files = {"shares": ("s.json", json.dumps(shares[j]).encode(), "application/json")}
        assert _post(staff["zhao"], f"{BASE}/shares", files=files).status_code == 303
    page = public.get(f"/estates/{SLUG}/rounds/r1/announcement.html")
    assert page.status_code == 200
    html = page.text
    assert "业主大会表决结果公告" in html and "枫林苑" in html
    assert "<td class=\"num\">4</td><td class=\"num\">5</td>" in html.replace("\n", "").replace("    ", "")
    assert "373.93" in html and "423.93" in html
    assert "2 × 3 &gt; 1 × 4" in html and "2 × 308.50 m² &gt; 1 × 373.93 m²" in html
    assert "3 × 4 ≥ 2 × 5" in html and "3 × 373.93 m² ≥ 2 × 423.93 m²" in html
    assert "通过" in html and "参与表决的业主达到要求，表决有效" in html
    assert "65.43" in html  # the opposing area
    assert f"http://testserver/estates/{SLUG}/rounds/r1/result" in html
    assert 'class="qr-code"' in html and "img-src 'self' data:" in page.headers["content-security-policy"]
    assert "2026年12月" in html  # objection window in Beijing time


def test_round_page_shows_the_turnout_summary(counted):
    _, staff, _ = counted
    page = staff["alice"].get(BASE).text
    assert "4 / 5 人（80.00%）；三分之二为 4 人" in page and 'max="5" value="4"' in page
    assert "373.93 / 423.93 平方米" in page and 'max="42393" value="37393"' in page
