"""Credential letters and the signed key list (identity/letters.py, SPEC §4.4)."""

import json
import re
import stat

import pytest
import segno

from identity import authority
from identity import credential as cr
from identity import letters as cl
from tests.crypto_cross.voters import AUTHORITY, P, V, signer

ORIGIN = "gongjue.local/maple-court"
BASE = "https://vote.example.cn/maple-court"
SIGN = signer(ORIGIN)
CODE_TEXT = re.compile(r'<div class="code">([2-9A-Z-]+)</div>')


VOTERS = [
    V("A001", (P("1", "1", "101"),)),
    V("A002", (P("1", "2", "1201"), P("3", "", "商铺05"))),
    V("开发商", tuple(P("9", "1", str(100 + i)) for i in range(15))),
]


def pages(text: str) -> list[str]:
    body = text.split("<body>", 1)[1]
    return re.findall(r'<section class="letter".*?</section>', body, re.DOTALL)


def test_one_a4_page_per_voter_with_own_code_only(tmp_path):
    files = cl.write_credentials(tmp_path / "out", "枫林苑", ORIGIN, VOTERS, BASE, sign=SIGN)
    assert files.count == 3
    text = files.letters.read_text("utf-8")
    assert "@page { size: A4;" in text and "page-break-after: always" in text
    found = pages(text)
    assert len(found) == 3 == text.count('<section class="letter"')
    document = json.loads(files.credentials.read_text("utf-8"))
    statement = authority.verify_document(document)  # signed by the authority key it names
    assert statement["authority"] == AUTHORITY.verify_key.encode().hex()
    assert statement["estate"] == ORIGIN and statement["type"] == "credentials"
    assert [c["voter"] for c in statement["credentials"]] == ["A001", "A002", "开发商"]
    codes = []
    for page, voter, entry in zip(found, VOTERS, statement["credentials"], strict=True):
        assert f'data-voter="{voter.voter_id}"' in page
        printed = CODE_TEXT.findall(page)
        assert len(printed) == 1
        code = cr.normalise_code(printed[0])
        assert printed[0] == cr.format_code(code)
        codes.append(code)
        # credentials.json holds exactly the key derived from the printed code, and the letter its fingerprint
        assert entry["public_key"] == cr.public_key_hex(code, ORIGIN)
        assert f"<strong>{authority.fingerprint(entry['public_key'])}</strong>" in page
        # the QR code is the booth URL with the code in the fragment
        url = f"{BASE}/vote#c={code}"
        assert segno.make(url, error="m").svg_inline(scale=5, title="扫码投票 / scan to vote") in page
        assert "枫林苑" in page and "请妥善保管本信" in page and "怎样投票" in page
    assert len(set(codes)) == 3
    signed_text = files.credentials.read_text("utf-8")
    for code in codes:  # the signed list never carries a code
        assert code not in signed_text and cr.format_code(code) not in signed_text
    for i, page in enumerate(found):  # no other voter's code, in any form, on this page
        for j, other in enumerate(codes):
            if i != j:
                assert other not in page and cr.format_code(other) not in page
                assert other not in page.replace("-", "")


def test_parts_are_listed_in_chinese_with_overflow(tmp_path):
    files = cl.write_credentials(tmp_path, "枫林苑", ORIGIN, VOTERS, BASE, sign=SIGN)
    first, second, developer = pages(files.letters.read_text("utf-8"))
    assert "<li>1栋 1单元 101室</li>" in first and "共 1 套" in first
    assert "<li>1栋 2单元 1201室</li><li>3栋 商铺05室</li>" in second
    assert "共 15 套" in developer and developer.count("<li>9栋") == 12
    assert "<li>……另有 3 套 / and 3 more</li>" in developer


def test_file_modes_and_no_overwrite(tmp_path):
    files = cl.write_credentials(tmp_path, "枫林苑", ORIGIN, VOTERS[:1], BASE, sign=SIGN)
    assert stat.S_IMODE(files.letters.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.credentials.stat().st_mode) == 0o644
    before = (files.letters.read_bytes(), files.credentials.read_bytes())
    with pytest.raises(cl.LetterError, match="already exists"):
        cl.write_credentials(tmp_path, "枫林苑", ORIGIN, VOTERS, BASE, sign=SIGN)
    assert (files.letters.read_bytes(), files.credentials.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.json", "letters.html"]


def test_existing_credentials_file_alone_also_refuses(tmp_path):
    (tmp_path / "credentials.json").write_text("{}")
    with pytest.raises(cl.LetterError):
        cl.write_credentials(tmp_path, "枫林苑", ORIGIN, VOTERS, BASE, sign=SIGN)
    assert not (tmp_path / "letters.html").exists()


def test_refusals(tmp_path):
    with pytest.raises(cl.LetterError, match="no voters"):
        cl.write_credentials(tmp_path, "枫林苑", ORIGIN, [], BASE, sign=SIGN)
    with pytest.raises(cl.LetterError, match="duplicate voter id 'A001'"):
        cl.issue_credentials([VOTERS[0], VOTERS[0]], ORIGIN)
    assert list(tmp_path.iterdir()) == []


def test_html_is_escaped(tmp_path):
    voters = [V("<b>x</b>", (P("1", "", "<i>"),))]
    files = cl.write_credentials(tmp_path, "A&B <苑>", ORIGIN, voters, BASE, sign=SIGN)
    text = files.letters.read_text("utf-8")
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text
    assert "A&amp;B &lt;苑&gt;" in text and "<i>" not in text


def test_booth_url_and_default_base():
    assert cl.booth_url("https://h/e/", "ABC") == "https://h/e/vote#c=ABC"
    assert cl.default_base_url(ORIGIN) == "https://gongjue.local/estates/maple-court"


def test_deterministic_issue_with_injected_randomness():
    stream = iter(bytes(range(46)))
    creds = cl.issue_credentials(VOTERS[:2], ORIGIN, lambda n: bytes([next(stream)]))
    assert creds[0].code == cr.ALPHABET[:23] + cr.check_symbol(cr.ALPHABET[:23])
    assert [c.public_key for c in creds] == [cr.public_key_hex(c.code, ORIGIN) for c in creds]
    assert SIGN(creds)["statement"]["credentials"] == [
        {"voter": "A001", "public_key": creds[0].public_key}, {"voter": "A002", "public_key": creds[1].public_key}]


def test_failure_writing_the_second_file_leaves_nothing(tmp_path, monkeypatch):
    real = cl._write_new
    calls = []

    def failing(path, data, mode):
        calls.append(path.name)
        if path.name == cl.KEYS_FILE:
            raise OSError(28, "No space left on device")
        real(path, data, mode)

    monkeypatch.setattr(cl, "_write_new", failing)
    with pytest.raises(OSError, match="No space left"):
        cl.write_credentials(tmp_path, "枫林苑", ORIGIN, VOTERS, BASE, sign=SIGN)
    assert calls == ["letters.html", "credentials.json"]
    assert list(tmp_path.iterdir()) == []
