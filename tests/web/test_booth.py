"""The owner's server routes of issue #10 (web/booth.py, web/owner.py, the estate home), both databases.

A round announced over the JSON API (``tests.web.test_round_e2e.Election``) whose owners hold
credential *codes* (``CodedElection``: the keys registered are derived from codes, as the
authority's letters do), so that the browser tests (test_booth_browser.py) can type them.
Checked here: sign-in with only the derived public key (the code is never sent), ``next`` kept
through the second factor, the booth's data block (fingerprint, joint key, item shapes, the
registered key, refusal messages in Chinese), the booth's states (not signed in, voted, not
eligible, closed), the receipt QR, the round page in plain words, the estate home's "voted", and
the proxies page (find a flat, the grant signed as the browser would, revoke).
"""

from __future__ import annotations

import json
import re

import pytest

from identity.credential import generate_code, public_key_hex, signing_key
from tests.web.conftest import csrf_of
from tests.web.test_round_e2e import Election
from voting import proxy as proxies
from web.cli import simulate as sim

DATA = re.compile(r'<script type="application/json" id="booth-data">(.*?)</script>', re.S)


class CodedElection(Election):
    """The end-to-end election, its owners' keys derived from credential codes (SPEC §4.3)."""

    def __init__(self, *args, **kwargs):
        self.codes = {o: generate_code() for o in ("O1", "O2", "O3", "O4", "O5", "O6", "O7", "O8")}
        super().__init__(*args, **kwargs)

    def key(self, owner: str):  # noqa: D102  (an instance method here: the codes are per election)
        return signing_key(self.codes[owner], self.origin)

    def public_key(self, owner: str) -> str:
        return public_key_hex(self.codes[owner], self.origin)

    def sign_in_with_key(self, owner: str, client=None, next_: str = ""):
        """The browser's sign-in: only the derived key is posted, then the SMS code."""
        c = client or self.new_client(f"10.9.{list(self.codes).index(owner)}.{len(self.slug)}")
        page = c.get(f"/estates/{self.slug}/owner")
        r = c.post(f"/estates/{self.slug}/owner/identify",
                   data={"csrf": csrf_of(page.text), "key": self.public_key(owner), "next": next_})
        assert r.status_code == 303, r.text
        verify = c.get(r.headers["location"])
        assert verify.status_code == 200
        phone = self.estate.phones[owner]
        r2 = c.post(f"/estates/{self.slug}/owner/verify",
                    data={"csrf": csrf_of(verify.text), "secret": sim._sms_code(self.sms_dir, phone),
                          "next": re.search(r'name="next" value="([^"]*)"', verify.text).group(1)})
        assert r2.status_code == 303, r2.text
        self.owners[owner] = c
        return c, r2.headers["location"]


@pytest.fixture
def election(engine, app, tmp_path, monkeypatch):
    sms = tmp_path / "sms"
    sms.mkdir()
    monkeypatch.setenv("GONGJUE_SMS_GATEWAY", f"file:{sms}")
    el = CodedElection(engine, app, "booth-secret", sms, secrecy="secret", revote=False)
    yield el
    el.close()


def _data(html: str) -> dict:
    found = DATA.search(html)
    assert found, "no booth data block"
    return json.loads(found.group(1).replace("&#34;", '"'))


def test_sign_in_with_the_derived_key_and_next(election):
    el = election
    c, went = el.sign_in_with_key("O1", next_=f"/estates/{el.slug}/vote?round=r1")
    assert went == f"/estates/{el.slug}/vote?round=r1"
    booth = c.get(went)
    assert booth.status_code == 200
    data = _data(booth.text)
    assert data["key"] == el.public_key("O1") and data["me"] == el.voter["O1"]
    assert data["fingerprint"] == el.view.fingerprint.hex() and data["joint_key"] == el.view.joint_key.hex()
    assert [(i["id"], i["n"], i["lo"], i["hi"]) for i in data["items"]] == [(s.id, s.n, s.lo, s.hi)
                                                                           for s in el.view.items]
    assert data["items"][0]["labels"] == ["同意", "反对", "弃权"]
    assert data["refusals"]["already_voted"].startswith("本轮已经")
    assert data["cast_url"] == f"/api/v1/estates/{el.slug}/rounds/r1/ballots"
    assert el.codes["O1"] not in booth.text
    assert "Content-Security-Policy" in booth.headers
    # a next that leaves the estate is not followed
    c2, went2 = el.sign_in_with_key("O2", next_="https://evil.example/")
    assert went2 == f"/estates/{el.slug}/owner"


def test_sign_in_refuses_an_unregistered_key_and_writes_nothing(election):
    el = election
    c = el.new_client("10.77.0.1")
    page = c.get(f"/estates/{el.slug}/owner")
    other = public_key_hex(generate_code(), el.origin)
    r = c.post(f"/estates/{el.slug}/owner/identify", data={"csrf": csrf_of(page.text), "key": other})
    assert r.status_code == 422 and "凭证码不对" in r.text and "gongjue_owner" not in r.headers.get("set-cookie", "")
    r = c.post(f"/estates/{el.slug}/owner/identify", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 422 and "凭证信上的凭证码" in r.text
    r = c.post(f"/estates/{el.slug}/owner/identify", data={"csrf": "0" * 64, "key": el.public_key("O1")})
    assert r.status_code == 403
    c.close()


def test_booth_states(election):
    el = election
    anon = el.new_client("10.78.0.1")
    r = anon.get(f"/estates/{el.slug}/vote?round=r1")
    assert r.status_code == 303 and r.headers["location"].startswith(f"/estates/{el.slug}/owner?next=")
    c, _ = el.sign_in_with_key("O3")
    # without ?round the one open round is chosen
    r = c.get(f"/estates/{el.slug}/vote")
    assert r.status_code == 303 and r.headers["location"] == f"/estates/{el.slug}/vote?round=r1"
    assert c.get(f"/estates/{el.slug}/vote?round=nope").status_code == 404
    # voted: no booth data any more (revotes off)
    assert el.cast(c, el.ballot("O3", "agree", "greenleaf")).status_code == 201
    page = c.get(f"/estates/{el.slug}/vote?round=r1")
    assert page.status_code == 200 and "booth-data" not in page.text and "您已在本轮投票" in page.text
    # O8 holds no flat in the round's scope
    c8, _ = el.sign_in_with_key("O8")
    page = c8.get(f"/estates/{el.slug}/vote?round=r1")
    assert "booth-data" not in page.text and "不在本轮表决范围内" in page.text
    anon.close()


def test_receipt_qr_round_page_and_estate_home(election):
    el = election
    c, _ = el.sign_in_with_key("O6")
    r = el.cast(c, el.ballot("O6", "agree", "none"))
    assert r.status_code == 201
    seq, tracking = r.json()["seq"], r.json()["tracking"]
    qr = c.get(f"/estates/{el.slug}/receipt.svg", params={"r": f"{seq}.{tracking}"})
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml") and "<svg" in qr.text
    assert c.get(f"/estates/{el.slug}/receipt.svg", params={"r": "1.xyz"}).status_code == 404
    assert c.get("/estates/nowhere/receipt.svg", params={"r": f"{seq}.{tracking}"}).status_code == 404
    page = c.get(f"/estates/{el.slug}/rounds/r1")
    assert page.status_code == 200
    assert "同意" in page.text and "已投票" in page.text and "北京时间" in page.text
    assert "参与表决" in page.text  # the threshold in plain words
    home = c.get(f"/estates/{el.slug}")
    assert home.status_code == 200 and "已投票" in home.text and f"/estates/{el.slug}/rounds/r1" in home.text
    other, _ = el.sign_in_with_key("O7")
    home = other.get(f"/estates/{el.slug}")
    assert "尚未投票" in home.text and f"/estates/{el.slug}/vote?round=r1" in home.text
    public = el.new_client("10.79.0.1").get(f"/estates/{el.slug}")
    assert public.status_code == 200 and "已投票" not in public.text and "尚未投票" not in public.text
    assert el.new_client("10.79.0.2").get(f"/estates/{el.slug}/rounds/zz").status_code == 404


REF = re.compile(r'data-proxy-ref="([0-9a-f]{64})"')


def _sign_by_ref(el, owner: str, kind: str, ref: str) -> dict:
    """What proxies.js does: sign the statement naming the proxy by the page's reference."""
    st = proxies.statement_by_ref(kind, el.view.fingerprint.hex(), el.voter[owner], ref)
    key = el.key(owner)
    return {"kind": "signed", "key": bytes(key.verify_key).hex(), "sig": key.sign(proxies.signing_bytes(st)).signature.hex()}


def test_proxies_page_grant_and_revoke(election):
    el = election
    c, _ = el.sign_in_with_key("O1")
    page = c.get(f"/estates/{el.slug}/owner/proxies?round=r1")
    assert page.status_code == 200 and "没有人" in page.text
    f = el.flat["O2"]
    found = c.post(f"/estates/{el.slug}/owner/proxies", data={"csrf": csrf_of(page.text), "round": "r1",
                                                              "building": f.building, "unit": f.unit, "room": f.room})
    assert found.status_code == 200
    # the browser gets a reference for the flat, never the other owner's voter number (SPEC §7.8)
    (ref,) = REF.findall(found.text)
    assert el.voter["O2"] not in found.text and f"{f.building}-{f.unit}-{f.room}" in found.text
    again = c.post(f"/estates/{el.slug}/owner/proxies", data={"csrf": csrf_of(page.text), "round": "r1",
                                                              "building": f.building, "unit": f.unit, "room": f.room})
    assert REF.findall(again.text) == [ref]  # the same flat, the same reference
    mine = el.flat["O1"]
    r = c.post(f"/estates/{el.slug}/owner/proxies", data={"csrf": csrf_of(page.text), "round": "r1",
                                                          "building": mine.building, "unit": mine.unit,
                                                          "room": mine.room})
    assert r.status_code == 422 and "是您自己的" in r.text
    r = c.post(f"/estates/{el.slug}/owner/proxies", data={"csrf": csrf_of(page.text), "round": "r1",
                                                          "building": "9", "unit": "9", "room": "999"})
    assert r.status_code == 422 and "没有这套房屋" in r.text
    fp = el.view.fingerprint.hex()
    before = el.size()
    # refused, nothing written: a signature over the pseudonym statement sent with the reference, a
    # reference nobody was given, the reference posted by another owner for themselves
    pseudonym_sig = proxies.signed_authorisation(proxies.GRANT, fp, el.voter["O1"], el.voter["O2"], el.key("O1"))
    for who, body, refused in (
        (c, {"voter": el.voter["O1"], "proxy_ref": ref, "authorisation": pseudonym_sig}, (422, "bad_signature")),
        (c, {"voter": el.voter["O1"], "proxy_ref": "ab" * 32,
             "authorisation": _sign_by_ref(el, "O1", proxies.GRANT, "ab" * 32)}, (422, "bad_request")),
        (c, {"voter": el.voter["O1"], "proxy_ref": ref, "proxy": el.voter["O2"],
             "authorisation": _sign_by_ref(el, "O1", proxies.GRANT, ref)}, (422, "bad_request")),
        (el.sign_in_with_key("O3")[0], {"voter": el.voter["O3"], "proxy_ref": ref,
                                        "authorisation": _sign_by_ref(el, "O3", proxies.GRANT, ref)},
         (422, "bad_request")),
    ):
        r = who.post(f"{el.base}/proxies", json={"type": "proxy.grant", **body})
        assert (r.status_code, r.json()["detail"]["code"]) == refused, r.text
    assert el.size() == before
    # what proxies.js does: sign the statement naming the reference, post it
    r = c.post(f"{el.base}/proxies", json={"type": "proxy.grant", "voter": el.voter["O1"], "proxy_ref": ref,
                                          "authorisation": _sign_by_ref(el, "O1", proxies.GRANT, ref)})
    assert r.status_code == 201, r.text
    body = json.loads(r.json()["entry"])["body"]
    assert body["proxy"] == el.voter["O2"] and proxies.proxy_ref(fp, el.voter["O2"], body["authorisation"]["salt"]) == ref
    page = c.get(f"/estates/{el.slug}/owner/proxies?round=r1")
    assert REF.findall(page.text) == [ref] and 'data-proxy-action="proxy.revoke"' in page.text
    assert el.voter["O2"] not in page.text and f"{f.building}-{f.unit}-{f.room}" in page.text
    c2, _ = el.sign_in_with_key("O2")
    booth = _data(c2.get(f"/estates/{el.slug}/vote?round=r1").text)
    assert booth["represent"] == [el.voter["O1"]]
    assert el.voter["O1"] in c2.get(f"/estates/{el.slug}/owner/proxies?round=r1").text
    r = c.post(f"{el.base}/proxies", json={"type": "proxy.revoke", "voter": el.voter["O1"], "proxy_ref": ref,
                                          "authorisation": _sign_by_ref(el, "O1", proxies.REVOKE, ref)})
    assert r.status_code == 201, r.text
    assert 'data-proxy-action="proxy.revoke"' not in c.get(f"/estates/{el.slug}/owner/proxies?round=r1").text
    anon = el.new_client("10.80.0.1").get(f"/estates/{el.slug}/owner/proxies?round=r1")
    assert anon.status_code == 303 and "next=" in anon.headers["location"]


def test_an_owner_names_at_most_five_owners_in_a_round(election):
    from voting import proxy_ref as proxy_refs

    el = election
    c, _ = el.sign_in_with_key("O3")
    page = c.get(f"/estates/{el.slug}/owner/proxies?round=r1")

    def look_up(owner: str):
        f = el.flat[owner]
        return c.post(f"/estates/{el.slug}/owner/proxies", data={"csrf": csrf_of(page.text), "round": "r1",
                                                                  "building": f.building, "unit": f.unit,
                                                                  "room": f.room})

    named = ["O1", "O2", "O4", "O5", "O6"]
    assert proxy_refs.PER_ROUND == len(named)
    refs = [REF.findall(look_up(o).text) for o in named]
    assert all(len(r) == 1 for r in refs) and len({r[0] for r in refs}) == 5
    r = look_up("O7")
    assert r.status_code == 429 and "已经查找了 5 位不同的业主" in r.text and not REF.findall(r.text)
    assert REF.findall(look_up("O4").text) == refs[2]  # one already named: still shown


def test_owner_page_lists_the_round(election):
    el = election
    c, _ = el.sign_in_with_key("O4")
    page = c.get(f"/estates/{el.slug}/owner")
    assert page.status_code == 200
    assert f"/estates/{el.slug}/vote?round=r1" in page.text and 'data-forget-code="booth-secret"' in page.text
    assert "我的凭证" in page.text


def test_round_page_of_an_election_with_statements_escaped(election):
    """A second, open round with an election: candidates and their statements on the round page,
    a name that looks like markup shown as text, checkboxes (up to the seats) in the booth."""
    from datetime import UTC, datetime, timedelta

    el = election
    alice = el.staff["alice"]
    base = f"/api/v1/estates/{el.slug}/rounds"
    now = datetime.now(UTC).replace(microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    names = ["张三", "<i>李四</i>", "王五"]
    agenda = {"rules": "civil-code-2021", "items": [
        {"id": "e1", "kind": "election", "matter": "elect_committee", "seats": 2, "candidates": names,
         "title": "第二届业主委员会"}]}
    spec = {"round": "r2", "secrecy": "open", "agenda": agenda, "opens": (now - timedelta(hours=1)).strftime(fmt),
            "closes": (now + timedelta(days=1)).strftime(fmt), "short_notice_reason": "测试 / test",
            "policies": {"duplicate": "first", "revote": False, "proxy_cap": 1, "deemed_consent": False}}
    el.app.state.clock = lambda: now - timedelta(days=8)
    try:
        assert alice.post(base, json=spec).status_code == 201
        for name in names:
            r = alice.post(f"{base}/r2/candidates", json={"item": "e1", "candidate": name, "nominated_by": "organiser",
                                                          "statement": f"{name} 愿为业主服务 <script>x</script>"})
            assert r.status_code == 201, r.text
            assert alice.post(f"{base}/r2/candidates/vet", json={"item": "e1", "candidate": name,
                                                                 "status": "approved"}).status_code == 200
        assert alice.post(f"{base}/r2/announce", json={}).status_code == 201, "announce"
    finally:
        el.app.state.clock = None
    anon = el.new_client("10.81.0.1")
    page = anon.get(f"/estates/{el.slug}/rounds/r2")
    assert page.status_code == 200
    assert "第二届业主委员会" in page.text and "应选名额：2" in page.text and "最多可选 2 位候选人" in page.text
    assert "&lt;i&gt;李四&lt;/i&gt;" in page.text and "<i>李四</i>" not in page.text
    assert "张三 愿为业主服务 &lt;script&gt;" in page.text and "<script>x</script>" not in page.text
    assert "记名投票" in page.text
    c, _ = el.sign_in_with_key("O5")
    booth = c.get(f"/estates/{el.slug}/vote?round=r2")
    assert booth.status_code == 200 and booth.text.count('type="checkbox"') == 3
    data = _data(booth.text)
    assert data["secrecy"] == "open" and data["joint_key"] is None and data["items"][0]["hi"] == 2
    assert data["items"][0]["labels"] == names  # as data (JSON), escaped by tojson in the page
    # two rounds open: the booth without ?round lists them
    listing = c.get(f"/estates/{el.slug}/vote")
    assert listing.status_code == 200 and "vote?round=r1" in listing.text and "vote?round=r2" in listing.text
    anon.close()


def test_every_refusal_code_has_a_chinese_message():
    from voting import cast as casting
    from web import booth, i18n

    assert set(casting.CODES) <= set(booth.REFUSALS)
    chinese = i18n.translations("zh")
    for text in (*booth.REFUSALS.values(), *booth.STATE_NAMES.values(), *booth.MATTER_IDS.values()):
        assert chinese.gettext(text) != text, text


def test_proxies_flat_lookups_are_limited(election):
    from web import owner

    el = election
    c, _ = el.sign_in_with_key("O3")
    page = c.get(f"/estates/{el.slug}/owner/proxies?round=r1")
    f = el.flat["O4"]
    form = {"csrf": csrf_of(page.text), "round": "r1", "building": f.building, "unit": f.unit, "room": f.room}
    for _ in range(owner.LOOKUPS):
        assert c.post(f"/estates/{el.slug}/owner/proxies", data=form).status_code == 200
    r = c.post(f"/estates/{el.slug}/owner/proxies", data=form)
    assert r.status_code == 429 and "查找房屋的次数太多" in r.text and el.voter["O4"] not in r.text
