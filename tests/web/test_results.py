"""The public results page /estates/<slug>/rounds/<id>/result (issue #10), on both databases.

A real round (``results_fixtures``: six owners, four vote — participation exactly two thirds by
heads and by area) cast with real ballots, closed and counted: the page shows every count and
every deciding inequality with its exact products, at the boundaries (the quorum met with
equality, an ordinary motion at exactly one half not passed, a special motion passed with heads
at exactly three quarters), the election's elected and alternates; before the result it says
when it comes; drafts and unknown rounds are not found; no owner id or pseudonym is shown.
"""

from __future__ import annotations

import re
import warnings
from datetime import timedelta

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from ledger.db import transaction
from tests.voting import count_estate as ce
from tests.web.results_fixtures import SLUG, make_round
from voting import count_round, rounds
from web.app import create_app

URL = f"/estates/{SLUG}/rounds/r1/result"


def _text(html: str) -> str:
    """The page's main text, tags removed and spaces folded."""
    main = html[html.index("<main"):html.index("</main>")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).replace("&gt;", ">").replace("&lt;", "<")


def _page(engine, **cookies) -> tuple[int, str]:
    r = TestClient(create_app(engine), cookies=cookies).get(URL)
    return r.status_code, r.text


def _assert_exact_result(text: str) -> None:
    # participation: exactly two thirds of the heads and of the area — the quorum is met (≥)
    assert "全体业主人数 6" in text and "参与表决人数 4" in text
    assert "专有部分总面积 600.00 m²" in text and "参与表决面积 400.00 m²" in text
    assert "参与人数和面积都已达到要求" in text
    assert "3 × 4 = 12 ≥ 2 × 6 = 12 达到 ✓" in text
    assert "3 × 400.00 = 1,200.00 ≥ 2 × 600.00 = 1,200.00 达到 ✓" in text
    assert text.count("不少于全体业主人数的三分之二") >= 2 and "不少于专有部分总面积的三分之二" in text
    # m1: ordinary matter, exactly one half agree: not passed (2·Y > P fails with equality)
    m1 = text[text.index("续聘绿叶物业"):text.index("补充筹集维修资金")]
    assert "未通过" in m1 and "超过参与表决人数的二分之一" in m1
    assert "同意 2 200.00 反对 1 95.50 弃权 1 104.50" in m1
    assert "2 × 2 = 4 ≤ 1 × 4 = 4 未达到 ✗" in m1
    assert "2 × 200.00 = 400.00 ≤ 1 × 400.00 = 400.00 未达到 ✗" in m1
    # m2: special matter, three of four agree: passed, heads exactly at three quarters
    m2 = text[text.index("补充筹集维修资金"):text.index("选举业主委员会委员")]
    assert " 通过 " in m2 and "未通过" not in m2
    assert "同意 3 320.00 反对 1 80.00 弃权 0 0.00" in m2
    assert "4 × 3 = 12 ≥ 3 × 4 = 12 达到 ✓" in m2
    assert "4 × 320.00 = 1,280.00 ≥ 3 × 400.00 = 1,200.00 达到 ✓" in m2
    assert "75.00%" in m2 and "80.00%" in m2
    # e1: equal heads, ranked by area: 李四 then 张三 elected, 王五 not qualified
    e1 = text[text.index("选举业主委员会委员"):]
    assert "已选出" in e1
    assert "张三 当选 3 295.50 是" in e1 and "李四 当选 3 304.50 是" in e1 and "王五 1 95.50 否" in e1
    assert "应选名额：2" in e1 and "当选：李四、张三" in e1 and "候补（按顺序）：无" in e1
    assert "2 × 1 = 2 ≤ 1 × 4 = 4 未达到 ✗" in e1


def _assert_no_personal_data(engine, html: str) -> None:
    assert not any(owner in html for owner in ce.OWNERS)  # the test's owner ids
    with transaction(engine) as s:
        view = rounds.load(s, SLUG, "r1")
    assert not any(pseudonym in html for pseudonym in view.voters)


def test_open_round_result_shows_every_number_and_inequality(engine, monkeypatch):
    make_round(engine, monkeypatch, secrecy="open")
    status, html = _page(engine)
    assert status == 200
    text = _text(html)
    _assert_exact_result(text)
    assert "计入的选票：4 张" in text
    assert "业主可在 2026年12月18日 09:00 之前对本结果提出异议" in text  # close + 7 days, Beijing time
    assert "枫林苑" in html and f'href="/estates/{SLUG}/check"' in html and f'href="/estates/{SLUG}/audit"' in html
    _assert_no_personal_data(engine, html)


def test_secret_round_result_is_the_decrypted_count(engine, monkeypatch, tmp_path):
    make_round(engine, monkeypatch, secrecy="secret", tmp=tmp_path / "bundle")
    status, html = _page(engine)
    assert status == 200
    _assert_exact_result(_text(html))
    _assert_no_personal_data(engine, html)


def test_english_page_says_two_thirds(engine, monkeypatch):
    make_round(engine, monkeypatch, secrecy="open")
    status, html = _page(engine, gongjue_lang="en")
    assert status == 200
    text = _text(html)
    assert "at least two thirds of all voters" in text
    assert "3 × 400.00 = 1,200.00 ≥ 2 × 600.00 = 1,200.00" in text


def test_before_the_result_the_page_says_when(engine, monkeypatch, tmp_path):
    rnd, _ = make_round(engine, monkeypatch, secrecy="secret", cast=True, close=False)
    text = _text(_page(engine)[1])
    assert "结果尚未公布" in text
    closes = rnd.closes + timedelta(hours=8)  # Beijing time
    assert f"至 {closes.year}年{closes.month}月{closes.day}日 {closes:%H:%M}" in text
    assert "所需份额到齐后" in text and "7 天时间提出异议" in text
    with transaction(engine) as s:
        count_round.close(s, SLUG, ce.ROUND_ID, now=rnd.after)
    text = _text(_page(engine)[1])
    assert "投票已于" in text and "计入的选票：4 张" in text
    assert "已收到监票人的解密份额：0 份，共需 2 份" in text
    shares = rnd.shares(tmp_path / "b")
    with transaction(engine) as s:
        count_round.submit_shares(s, SLUG, ce.ROUND_ID, shares[1], now=rnd.after)
    assert "已收到监票人的解密份额：1 份，共需 2 份" in _text(_page(engine)[1])
    with transaction(engine) as s:
        count_round.submit_shares(s, SLUG, ce.ROUND_ID, shares[2], now=rnd.after)
    _assert_exact_result(_text(_page(engine)[1]))


def test_open_round_before_the_close(engine, monkeypatch):
    make_round(engine, monkeypatch, secrecy="open", cast=False, close=False)
    text = _text(_page(engine)[1])
    assert "结果尚未公布" in text and "投票一截止就计票" in text


def test_deemed_consent_shows_both_results(engine, monkeypatch):
    make_round(engine, monkeypatch, secrecy="open", deemed=True)
    text = _text(_page(engine)[1])
    assert "按“视为同意”规则计算的结果" in text
    deemed = text[text.index("按“视为同意”规则计算的结果"):]
    # everyone takes part under deemed consent: 6 of 6 heads, 600.00 of 600.00 m²
    assert "3 × 6 = 18 ≥ 2 × 6 = 12 达到 ✓" in deemed
    assert "3 × 600.00 = 1,800.00 ≥ 2 × 600.00 = 1,200.00 达到 ✓" in deemed


def test_drafts_and_unknown_rounds_are_not_found(engine, monkeypatch):
    client = TestClient(create_app(engine))
    assert client.get(URL).status_code == 404  # no estate yet
    make_round(engine, monkeypatch, secrecy="open", cast=False, close=False)
    assert client.get(f"/estates/{SLUG}/rounds/r9/result").status_code == 404
    with transaction(engine) as s:
        spec = {"round": "draft1", "secrecy": "open", "agenda": {"items": [{"id": "m1", "kind": "motion",
                                                                           "matter": "hire_manager"}]},
                "opens": "2027-01-01T00:00:00Z", "closes": "2027-01-02T00:00:00Z"}
        rounds.create_draft(s, SLUG, spec, by="tests")
    r = client.get(f"/estates/{SLUG}/rounds/draft1/result")
    assert r.status_code == 404 and "draft1" in r.text


def test_an_unreadable_result_is_said_plainly(engine, monkeypatch):
    make_round(engine, monkeypatch, secrecy="open")

    def refuse(*args, **kwargs):
        raise ValueError("inconsistent counts")

    monkeypatch.setattr("web.results.cr.decide_counts", refuse)
    status, html = _page(engine)
    assert status == 200 and "无法作为选票的计数读出" in _text(html)


def test_links_to_the_printed_notice_and_announcement(engine, monkeypatch):
    make_round(engine, monkeypatch, secrecy="open")
    client = TestClient(create_app(engine))
    html = client.get(URL).text
    for path in (f"/estates/{SLUG}/rounds/r1/announcement.html", f"/estates/{SLUG}/rounds/r1/notice.html"):
        assert f'href="{path}"' in html
        assert client.get(path).status_code == 200
