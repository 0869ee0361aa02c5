"""The printable notice (公告) and results announcement (结果公告) of web.print_pages, both databases:
public, what the round's entries state in plain words, Beijing time, the QR code of the round's
public page (segno SVG inline: no script, no style attribute), A4 print stylesheet."""

from __future__ import annotations

import re
import warnings

import segno

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.voting import count_estate
from tests.voting.cast_estate import SLUG
from web.print_pages import qr_svg

NOTICE = f"/estates/{SLUG}/rounds/r1/notice.html"
ANNOUNCEMENT = f"/estates/{SLUG}/rounds/r1/announcement.html"


def test_notice_of_an_announced_round(engine, app):
    items = [{"id": "m1", "kind": "motion", "matter": "rebuild", "title": "加装电梯"},
             {"id": "e2", "kind": "election", "matter": "elect_committee", "seats": 1, "candidates": ["张三", "李四"],
              "title": "选举业委会"}]
    count_estate.make(engine, items=items)
    page = TestClient(app).get(NOTICE)
    assert page.status_code == 200
    html = page.text
    assert "业主大会表决公告" in html and "枫林苑" in html and "轮次编号 r1" in html
    assert "书面征求意见" in html and "无记名投票（加密）" in html
    # window T0 + 8 days … T0 + 10 days, in Beijing time; notice day 1 December, 8 days, with its reason
    assert "2026年12月9日 08:00 至 2026年12月11日 08:00（北京时间）" in html
    assert "公告日期 2026年12月1日，距投票开始 8 天" in html and "公告期不足 15 天，理由：测试" in html
    assert "通过条件：同意的人数和面积均达到参与表决业主的四分之三以上（4·Y ≥ 3·P）" in html
    assert "属于特别事项" in html
    assert "表决有效条件：参与表决的人数和面积均达到范围内全体业主的三分之二以上（3·P ≥ 2·T）" in html
    assert "应选 1 人" in html and "张三" in html and "李四" in html and "组织方提名" in html
    assert "共 5 人，423.93 平方米" in html and "已写入公开账本条目" in html
    url = f"http://testserver/estates/{SLUG}/rounds/r1"
    assert str(qr_svg(url, "本轮表决页面")) in html and url in html
    assert ' style="' not in html and "<script" not in html
    assert re.search(r"/static/(css/print|dist/print\.[0-9a-f]+)\.css", html)
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_qr_code_encodes_the_url():
    url = "https://gongjue.example.cn/estates/maple-court/rounds/r1"
    svg = str(qr_svg(url, "x"))
    assert svg.startswith("<svg") and 'class="qr-code"' in svg and "<title>x</title>" in svg
    assert segno.make(url, error="m").svg_inline(scale=1, omitsize=True, title="x", svgclass="qr-code",
                                                  lineclass="qr-line") == svg


def test_announcement_before_the_count_and_unknown_rounds(engine, app):
    count_estate.make(engine)
    client = TestClient(app)
    page = client.get(ANNOUNCEMENT)
    assert page.status_code == 200 and "轮次 r1 的结果尚未公布" in page.text and "2026年12月11日 08:00" in page.text
    assert f"http://testserver/estates/{SLUG}/rounds/r1/result" in page.text
    assert client.get(f"/estates/{SLUG}/rounds/r9/notice.html").status_code == 404
    assert client.get(f"/estates/{SLUG}/rounds/r9/announcement.html").status_code == 404
    assert client.get("/estates/nowhere/rounds/r1/notice.html").status_code == 404


def test_print_stylesheet_is_a4():
    from pathlib import Path

    css = (Path(__file__).resolve().parents[2] / "web" / "static" / "css" / "print.css").read_text("utf-8")
    assert "@page { size: A4 portrait" in css and "@media print" in css and ".site-header" in css
