"""Issue #10's "Done means" in real Chromium, and the demo estate's owner path.

See ``test_the_whole_story_in_chromium`` for the story and which steps go through which page.
"""

from __future__ import annotations

import json
import re
import warnings
from datetime import UTC, datetime, timedelta, timezone

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from identity import factor, store
from identity.credential import signing_key
from ledger.db import make_engine, migrate, reading
from tests.chromium import launch, require_chromium, wait_marked
from tests.web import e2e_fixtures as ef
from tests.web import pagecheck
from tests.web.conftest import PASSWORD
from tests.web.pagecheck import screenshot
from tests.web.uvicorn_server import serving
from voting import cast as casting
from voting import rounds
from voting.crypto import ballot as ballots_
from web.app import create_app
from web.cli import simulate as sim
from web.demo import (
    DEMO_OWNERS,
    DEMO_ROUND,
    DEMO_SLUG,
    create_demo,
    newcomer_text,
    open_demo_round,
)


def test_the_demo_round_is_open_and_a_demo_owner_can_vote(engine, tmp_path, monkeypatch):
    """``gongjue serve --demo``: the round is open, the printed owner signs in with the SMS code of the
    file gateway and casts with the code of the printed link; a second call changes nothing."""
    sms = tmp_path / "sms"
    monkeypatch.setenv(factor.GATEWAY_ENV, f"file:{sms}")
    create_demo(engine)
    made = open_demo_round(engine, base_url="http://demo.test:8000", directory=tmp_path / "demo")
    assert [o.owner for o in made.owners] == list(DEMO_OWNERS) and made.sms == f"file:{sms}"
    text = newcomer_text(made, "http://demo.test:8000")
    first = made.owners[0]
    assert f"http://demo.test:8000/estates/{DEMO_SLUG}/vote#c={first.code}" in text
    assert str(sms) in text and "owners.txt" in text
    listed = (tmp_path / "demo" / "owners.txt").read_text("utf-8")
    assert all(o.code in listed for o in made.owners)
    assert (tmp_path / "demo" / "owners.txt").stat().st_mode & 0o077 == 0
    again = open_demo_round(engine, directory=tmp_path / "demo")
    assert again.owners == [] and newcomer_text(again) == ""
    with reading(engine) as s:
        view = rounds.load(s, DEMO_SLUG, DEMO_ROUND)
        origin = store.get_estate(s, DEMO_SLUG).origin
    assert view.state() == "open"
    app = create_app(engine)
    with TestClient(app, follow_redirects=False) as client:
        flat = sim.Flat(*first.flat, 0, first.owner)
        sim.owner_sign_in(client, DEMO_SLUG, flat, first.phone, sms)
        choices = {"m1": [1, 0, 0], "c2": [0, 1, 0]}
        signed, _ = ballots_.encrypt_ballot(fingerprint=view.fingerprint, joint_key=view.joint_key, items=view.items,
                                            choices=choices, signing_key=signing_key(first.code, origin))
        r = client.post(f"/api/v1/estates/{DEMO_SLUG}/rounds/{DEMO_ROUND}/ballots",
                        content=casting.dumps(signed).encode(), headers={"content-type": "application/json"})
        assert r.status_code == 201, r.text
        assert json.loads(r.text)["seq"] > 0


# --- the whole story in Chromium ---------------------------------------------------------------

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
BEIJING = timezone(timedelta(hours=8))


class Story:
    """The live server, the browser and the scenario; which steps went through pages or the API."""

    def __init__(self, base: str, app, browser, sc: ef.Scenario):
        self.base, self.app, self.browser, self.sc = base, app, browser, sc
        self.via: dict[str, str] = {}
        self.shots = 0
        self.problems: list[str] = []
        self.requests: list[str] = []

    def routed(self, template: str, method: str = "GET") -> bool:
        """Whether the app has a route ``template`` (a page that is built)."""
        from starlette.routing import Match

        scope = {"type": "http", "method": method, "root_path": "", "headers": [],
                 "path": template.format(slug="x", round_id="r1")}
        return any(r.matches(scope)[0] == Match.FULL for r in self.app.routes)

    def context(self, viewport=PHONE):
        context = self.browser.new_context(viewport=viewport, locale="zh-CN")
        context.on("page", self._watch)
        return context

    def _watch(self, page) -> None:
        page.on("pageerror", lambda e: self.problems.append(f"{page.url}: {e}"))
        page.on("request", self._sent)

    def _sent(self, request) -> None:
        """Every request any page makes (a fragment is never sent: it is cut off here)."""
        try:
            body = request.post_data or ""
        except (UnicodeDecodeError, ValueError):  # a file upload
            body = ""
        self.requests.append(f"{request.method} {request.url.split('#', 1)[0]} {body}")

    def codes_never_sent(self) -> None:
        """No request carried any owner's credential code, in any spelling."""
        from identity.credential import format_code

        for owner, code in self.sc.codes.items():
            for spelling in (code, code.lower(), format_code(code), format_code(code).lower()):
                leaked = [r[:200] for r in self.requests if spelling in r]
                assert not leaked, (owner, leaked)

    def shot(self, page, name: str) -> None:
        """A screenshot; and the page must not scroll sideways on a phone."""
        self.shots += 1
        screenshot(page, f"e2e-{self.shots:02d}-{name}")
        wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if wide > 0 and (page.viewport_size or {}).get("width", 0) < 500:
            self.problems.append(f"{name} ({page.url}): {wide} px wider than the phone's screen")

    def staff(self, who: str, viewport=DESKTOP):
        """A desktop context with ``who`` (a key of the scenario's staff) signed in through /signin."""
        context = self.context(viewport)
        page = context.new_page()
        page.goto(f"{self.base}/signin")
        page.fill("#username", self.sc.staff[who])
        page.fill("#password", PASSWORD)
        page.click("form:has(#password) button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "/signin" not in page.url, page.content()[:2000]
        return context, page

    def api(self, page, path: str, body: object):
        """POST JSON with the page's session (the JSON API needs no form token)."""
        return page.request.post(f"{self.base}/api/v1/estates/{self.sc.slug}{path}", data=json.dumps(body),
                                 headers={"content-type": "application/json"})


def _beijing(t: datetime) -> str:
    return t.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


def _import_roll(story: Story) -> None:
    """A supervisor creates the estate from a roll file with one area mistyped (preview: every part
    added; confirm), then uploads the corrected file (preview: that one part changed, the totals
    before and after; confirm: version 2), then the same file again (preview: identical)."""
    sc = story.sc
    wrong = [(b, u, r, 12000 if (b, u, r) == ("2", "1", "202") else a, o) for b, u, r, a, o in ef.FLATS]
    first = sc.work / "roll-v1.csv"
    first.write_bytes(ef.roll_csv(wrong))
    context, page = story.staff("supervisor")
    page.goto(f"{story.base}/roll/new")
    story.shot(page, "roll-new")
    page.fill("#slug", sc.slug)
    page.fill("#name", ef.NAME)
    page.set_input_files("#file", str(first))
    page.click("form:has(#file) button[type=submit]")
    page.wait_for_selector("#roll-confirm")
    story.shot(page, "roll-preview-new")
    preview = page.inner_text("main")
    area = sum(a for *_, a, _ in wrong)
    assert str(len(ef.OWNERS)) in preview and _area(area) in preview, preview
    assert page.locator("#roll-added tbody tr").count() == len(ef.FLATS), preview
    page.click("#roll-confirm button[type=submit]")
    page.wait_for_load_state("networkidle")
    story.shot(page, "roll-imported-v1")
    # the corrected file: one part changed, 0.45 m² more in all
    page.goto(f"{story.base}/estates/{sc.slug}/roll")
    page.set_input_files("#file", str(sc.roll_file))
    page.click("form:has(#file) button[type=submit]")
    page.wait_for_selector("#roll-changed")
    story.shot(page, "roll-preview-changed")
    changed = page.inner_text("#roll-changed tbody")
    assert page.locator("#roll-changed tbody tr").count() == 1 and "120.00" in changed and "120.45" in changed, changed
    assert page.locator("#roll-added").count() == 0 and page.locator("#roll-removed").count() == 0
    totals = page.inner_text("#roll-totals")
    assert _area(area) in totals and _area(area + 45) in totals, totals
    page.click("#roll-confirm button[type=submit]")
    page.wait_for_load_state("networkidle")
    story.shot(page, "roll-imported-v2")
    sc.adopt()
    with reading(sc.engine) as s:
        assert store.overview(s, sc.slug).version == 2
    story.via["roll import (preview, confirm; a corrected version)"] = "pages /roll/new, /estates/<slug>/roll"
    # the same file again: the preview says it is identical, nothing to confirm
    page.goto(f"{story.base}/estates/{sc.slug}/roll")
    page.set_input_files("#file", str(sc.roll_file))
    page.click("form:has(#file) button[type=submit]")
    page.wait_for_selector("#roll-identical")
    story.shot(page, "roll-identical")
    context.close()


def _register_credentials(story: Story) -> None:
    """The admin records the authority's key file (KEYFILE.pub); the authority uploads the signed
    credentials file its offline tool wrote; the page counts every voter with a key."""
    sc = story.sc
    sc.write_credentials_file()
    url = f"{story.base}/estates/{sc.slug}/staff/authority"
    if not story.routed("/estates/{slug}/staff/authority"):  # the JSON API while the page is missing
        context, page = story.staff("admin")
        r = story.api(page, "/authority", json.loads(sc.authority_public_file.read_text("utf-8")))
        assert r.status == 201, r.text()
        context.close()
        context, page = story.staff("authority")
        r = story.api(page, "/credentials", json.loads(sc.credentials_file.read_text("utf-8")))
        assert r.status == 201 and r.json()["voters"] == len(ef.OWNERS), r.text()
        context.close()
        story.via["authority key and credentials"] = "JSON API (no authority page)"
        return
    context, page = story.staff("admin")
    page.goto(url)
    story.shot(page, "authority-none")
    page.set_input_files("#key-file", str(sc.authority_public_file))
    page.click("#authority-key-form button[type=submit]")
    page.wait_for_selector("#authority-fingerprint")
    context.close()
    context, page = story.staff("authority")
    page.goto(url)
    page.set_input_files("#statement-file", str(sc.credentials_file))
    page.click("#statement-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto(url)
    assert page.inner_text("#count-with-key").strip() == str(len(ef.OWNERS)), page.inner_text("main")
    assert page.inner_text("#count-without-key").strip() == "0"
    story.shot(page, "authority-registered")
    context.close()
    story.via["authority key and credentials"] = "page /staff/authority (key file, credentials file)"


def _create_and_announce(story: Story) -> None:
    """The supervisor drafts the round on the new-round page, the scrutineer adds both trustees'
    keys, the supervisor announces.  The app's clock is pinned eight days back meanwhile (as
    test_round_e2e does), so voting, opening an hour ago, may follow a short notice."""
    sc = story.sc
    sc.write_trustee_files()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    opens, closes = now - timedelta(hours=1), now + timedelta(days=1)
    story.app.state.clock = lambda: now - timedelta(days=8)
    try:
        context, page = story.staff("supervisor")
        base = f"{story.base}/estates/{sc.slug}/staff/rounds"
        page.goto(f"{base}/new")
        page.fill("#round", sc.rid)
        if page.locator("#item1_title").count() == 0:
            page.click("button[name=action][value=add_item]")
            page.wait_for_selector("#item1_title")
        page.fill("#item0_title", "续聘物业服务企业")
        page.select_option("#item0_kind", "motion")
        page.select_option("#item0_matter", "hire_manager")
        page.fill("#item1_title", "选聘新的物业服务企业")
        page.select_option("#item1_kind", "choice")
        page.select_option("#item1_matter", "hire_manager")
        page.fill("#item1_choices", "\n".join(ef.OPTIONS))
        # the item numbers left empty: m1 and c2 from the kind and position
        page.check("input[name=secrecy][value=secret]")
        page.fill("#opens", _beijing(opens))
        page.fill("#closes", _beijing(closes))
        page.fill("#short_notice_reason", "端到端测试")
        page.fill("#proxy_cap", "1")
        page.click("button[name=action][value=preview]")
        page.wait_for_selector("#preview-title")
        story.shot(page, "round-new-preview")
        page.click("button[name=action][value=save]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#problems").count() == 0, page.inner_text("#problems")
        assert f"/staff/rounds/{sc.rid}" in page.url, page.url
        story.shot(page, "round-draft")
        context.close()
        context, page = story.staff("scrutineer")
        for j in (1, 2):
            page.goto(f"{base}/{sc.rid}")
            page.set_input_files("#key", str(sc.trustee_public_files[j]))
            page.click("form:has(#key) button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert page.locator("#refusal").count() == 0, page.inner_text("#refusal")
        story.shot(page, "round-trustees")
        context.close()
        context, page = story.staff("supervisor")
        page.goto(f"{base}/{sc.rid}")
        page.click(f"form[action$='/{sc.rid}/announce'] button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#refusal").count() == 0, page.inner_text("#refusal")
        story.shot(page, "round-announced")
        context.close()
    finally:
        story.app.state.clock = None
    view = sc.view()
    assert view.state() == "open" and [i.id for i in view.announcement.agenda.items] == ["m1", "c2"]
    sc.closes = view.closes
    story.via["round created, trustees' keys, announced"] = "pages /staff/rounds/new, /staff/rounds/<id>"


def _owner_signs_in(story: Story, owner: str, context):
    """The owner opens the booth link of their letter (…/vote#c=CODE) on a phone, signs in with the
    code and the SMS one-time code, and arrives in the booth."""
    sc = story.sc
    page = context.new_page()
    page.goto(f"{story.base}/estates/{sc.slug}/vote?round={sc.rid}#c={sc.codes[owner]}")
    page.wait_for_selector("#signin-code[data-ready='1']")
    assert sc.codes[owner] not in page.url  # taken from the address bar at once
    story.shot(page, f"owner-signin-{owner}")
    page.click("#signin-code button[type=submit]")
    page.wait_for_selector("#secret")
    story.shot(page, f"owner-verify-{owner}")
    page.fill("#secret", sc.sms_code(owner))
    page.click("form:has(#secret) button[type=submit]")
    page.wait_for_url(f"**/estates/{sc.slug}/vote*")
    wait_marked(page, "booth", "ready", timeout=60_000)
    return page


def _mark(page, choices: tuple[str, str]) -> None:
    """Item by item: the motion's word, then the option."""
    motion, option = choices
    labels = {"agree": 0, "oppose": 1, "abstain": 2}
    for index, value in ((0, labels[motion]), (1, ef.OPTIONS.index(option))):
        item = page.locator(f"fieldset.item[data-index='{index}']")
        item.wait_for(state="visible")
        item.locator(f"input[value='{value}']").check()
        item.locator("button.item-next").click()
    page.wait_for_selector("#step-review:not([hidden])")


def _one_step_shown(story: Story, page) -> None:
    """The booth shows one step at a time (a ``hidden`` step must not be displayed)."""
    shown = page.locator(".booth .step:visible").count()
    if shown != 1:
        story.problems.append(f"{page.url}: {shown} booth steps displayed at once (hidden steps shown)")


def _seal(page) -> str:
    page.click("#seal")
    page.wait_for_selector("#step-sealed:not([hidden])", timeout=60_000)
    return page.inner_text("#sealed-tracking").strip()


def _cast(story: Story, page, name: str) -> dict:
    page.click("#cast")
    page.wait_for_selector("#step-receipt:not([hidden])", timeout=60_000)
    story.shot(page, f"booth-receipt-{name}")
    seq = int(page.inner_text("#receipt-seq").strip())
    return {"seq": seq, "tracking": page.inner_text("#receipt-tracking").strip(),
            "check": page.get_attribute("#receipt-check", "href")}


def _owners_vote(story: Story, votes: dict[str, tuple[str, str]]) -> dict[str, dict]:
    """C audits a sealed ballot first, then casts; A authorises B; B votes for A, then for itself."""
    sc = story.sc
    receipts = {}
    # C: audit, then a new ballot, cast
    context = story.context(PHONE)
    page = _owner_signs_in(story, "C", context)
    story.shot(page, "booth-C")
    _mark(page, votes["C"])
    story.shot(page, "booth-review-C")
    audited = _seal(page)
    _one_step_shown(story, page)
    story.shot(page, "booth-sealed-C")
    page.click("#audit")
    page.wait_for_selector("#step-audit:not([hidden])", timeout=60_000)
    from playwright.sync_api import expect

    expect(page.locator("#audit-result")).to_have_text(re.compile(r"\S"))
    story.shot(page, "booth-audit-C")
    assert audited in page.inner_text("#audit-tracking")
    audit_text = page.inner_text("#step-audit")
    assert votes["C"][1] in audit_text, audit_text
    page.click("#again")  # back to the review of the same choices
    page.wait_for_selector("#step-review:not([hidden])")
    cast_tracking = _seal(page)
    assert cast_tracking != audited  # encrypted again with fresh randomness
    receipts["C"] = _cast(story, page, "C")
    assert receipts["C"]["tracking"] == cast_tracking
    context.close()
    story.via["owner C: sign-in by the letter's link, audit, cast"] = "pages (booth)"
    # A authorises B on the proxies page (signed in the browser with A's code)
    context = story.context(PHONE)
    page = _owner_signs_in(story, "A", context)
    page.goto(f"{story.base}/estates/{sc.slug}/owner/proxies?round={sc.rid}")
    story.shot(page, "proxies-A")
    b, u, r = sc.flat("B")
    page.fill("#p-building", b)
    page.fill("#p-unit", u)
    page.fill("#p-room", r)
    page.click("form:has(#p-building) button[type=submit]")
    page.wait_for_selector("#proxy-confirm")
    if page.locator("#proxy-code-field:not([hidden])").count():
        page.fill("#proxy-code", sc.codes["A"])
    page.click("#proxy-confirm button[data-proxy-action='proxy.grant']")
    page.wait_for_selector("button[data-proxy-action='proxy.revoke']", timeout=60_000)  # the grant, shown
    story.shot(page, "proxies-A-granted")
    context.close()
    story.via["owner A authorises B"] = "page /owner/proxies"
    # B votes for A (the booth asks whom for), then for itself
    context = story.context(PHONE)
    page = _owner_signs_in(story, "B", context)
    for whom, owner in ((sc.voter["A"], "A"), ("", "B")):
        if whom or page.locator("#step-whom").count():  # no question once A's ballot is in
            page.wait_for_selector("#step-whom:not([hidden])")
            page.check(f"input[name=whom][value='{whom}']")
            story.shot(page, f"booth-whom-B-for-{owner}")
            page.click("#whom-next")
        _mark(page, votes[owner])
        _seal(page)
        receipts[owner] = _cast(story, page, f"B-for-{owner}")
        if owner == "A":
            page.goto(f"{story.base}/estates/{sc.slug}/vote?round={sc.rid}")
            wait_marked(page, "booth", "ready", timeout=60_000)
    context.close()
    story.via["owner B votes for A (proxy) and for itself"] = "pages (booth)"
    return receipts


def _paper(story: Story, owner: str, choices: tuple[str, str]) -> None:
    """Two scrutineers enter ``owner``'s paper ballot on the paper page (the station encrypts it in
    the browser); the first waits, the second agrees and records it."""
    sc = story.sc
    motion, option = choices
    b, u, r = sc.flat(owner)
    scan = sc.work / "paper-D.png"
    scan.write_bytes(b"\x89PNG\r\n\x1a\n a scanned paper ballot of flat " + f"{b}-{u}-{r}".encode())
    if not story.routed("/estates/{slug}/staff/rounds/{round_id}/paper"):  # the JSON API while the page is missing
        for who, status in (("scrutineer", 202), ("scrutineer2", 201)):
            context, page = story.staff(who)
            res = story.api(page, f"/rounds/{sc.rid}/paper", {"flat": {"building": b, "unit": u, "room": r},
                                                               "marks": {"m1": motion, "c2": option},
                                                               "scan_sha256": "5c" * 32})
            assert res.status == status, res.text()
            context.close()
        story.via["paper ballot, two scrutineers"] = "JSON API (no paper page)"
        return
    before = sc.size()
    for n, who in enumerate(("scrutineer", "scrutineer2"), 1):
        context, page = story.staff(who)
        page.goto(f"{story.base}/estates/{sc.slug}/staff/rounds/{sc.rid}/paper")
        page.fill("#building", b)
        page.fill("#unit", u)
        page.fill("#room", r)
        page.check(f"input[name='m:m1'][value='{motion}']")
        page.check(f"input[name='m:c2'][value='{option}']")
        page.set_input_files("#scan-file", str(scan))
        from playwright.sync_api import expect

        expect(page.locator("#scan_sha256")).to_have_value(re.compile(r"^[0-9a-f]{64}$"))
        story.shot(page, f"paper-entry-{n}")
        page.click("#paper-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#paper-refused").count() == 0, page.inner_text("#paper-refused")
        story.shot(page, f"paper-entered-{n}")
        assert page.inner_text("#count-recorded").strip() == str(n - 1), page.inner_text("main")
        context.close()
    assert sc.size() > before
    story.via["paper ballot, two scrutineers"] = "page /staff/rounds/<id>/paper (station encrypts in the browser)"


def _close_and_count(story: Story) -> None:
    """The supervisor closes on the round's page — the app's clock moved past the window's end (the
    page follows ``app.state.clock``) —; each scrutineer uploads their trustee's shares file."""
    sc = story.sc
    base = f"{story.base}/estates/{sc.slug}/staff/rounds/{sc.rid}"
    shift = sc.view().closes + timedelta(seconds=1) - datetime.now(UTC)
    story.app.state.clock = lambda: datetime.now(UTC) + shift
    try:
        context, page = story.staff("supervisor")
        page.goto(base)
        story.shot(page, "round-open-staff")
        page.click(f"form[action$='/{sc.rid}/close'] button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#refusal").count() == 0, page.inner_text("#refusal")
        story.shot(page, "round-closed")
        context.close()
        files = sc.write_share_files()
        for j, who in ((1, "scrutineer"), (2, "scrutineer2")):
            context, page = story.staff(who)
            page.goto(base)
            page.set_input_files("#shares", str(files[j]))
            page.click("form:has(#shares) button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert page.locator("#refusal").count() == 0, page.inner_text("#refusal")
            story.shot(page, f"round-shares-{j}")
            context.close()
    finally:
        story.app.state.clock = None
    assert sc.published()["result"] is not None
    story.via["close, trustees' shares"] = "pages /staff/rounds/<id> (close, shares upload)"


def _area(x: int) -> str:
    return f"{x // 100:,}.{x % 100:02d}"


def _results(story: Story, votes: dict[str, tuple[str, str]]) -> None:
    """The public results page shows the exact heads and areas of each selection."""
    sc = story.sc
    context = story.context(PHONE)
    page = context.new_page()
    page.goto(f"{story.base}/estates/{sc.slug}/rounds/{sc.rid}/result")
    story.shot(page, "result")
    text = page.inner_text("main")
    want = ef.expected(votes)
    published = {r["id"]: {"heads": list(r["heads"]), "area": list(r["area"])}
                 for r in sc.published()["result"]["counts"]}
    assert published == want, (published, want)
    # each item's table: one row per selection, its voters and its area (m², two decimals)
    for n, item in enumerate(("m1", "c2")):
        rows = page.locator("section.card.item").nth(n).locator("tbody tr:not(.extra)")
        got = [(rows.nth(k).locator("td").nth(0).inner_text().strip(),
                rows.nth(k).locator("td").nth(1).inner_text().strip()) for k in range(rows.count())]
        assert got == [(str(h), _area(a)) for h, a in zip(want[item]["heads"], want[item]["area"])], (item, got)
    heads, area = len(votes), sum(ef.area_of(o) for o in votes)
    total = sum(a for *_, a, _ in ef.FLATS)
    part = page.inner_text("section.participation")
    assert f"{heads} 人 / {len(ef.OWNERS)} 人" in part and f"{_area(area)} m² / {_area(total)} m²" in part, part
    assert f"3 × {heads} = {3 * heads} ≥ 2 × {len(ef.OWNERS)} = {2 * len(ef.OWNERS)}" in part, part
    assert page.locator("section.card.item.ok").count() == 2, text  # both items decided
    context.close()
    story.via["results page"] = "page /rounds/<id>/result"


def _check_receipt(story: Story, receipt: dict) -> None:
    """The owner opens the receipt's link (…/check#r=<seq>.<tracking>): found under the latest checkpoint."""
    context = story.context(PHONE)
    page = context.new_page()
    link = receipt["check"] or f"/estates/{story.sc.slug}/check#r={receipt['seq']}.{receipt['tracking']}"
    page.goto(link if link.startswith("http") else story.base + link)
    page.wait_for_selector("#ballot-result[data-state='ok'], #ballot-result[data-state='bad']", timeout=60_000)
    story.shot(page, "check-receipt")
    result = page.locator("#ballot-result")
    assert result.get_attribute("data-state") == "ok", result.text_content()
    assert receipt["tracking"].replace("-", "")[:8] in result.inner_text().replace("-", ""), result.inner_text()
    context.close()
    story.via["owner checks a receipt"] = "page /check#r= (the receipt's link)"


def _record_check(story: Story) -> None:
    """Anyone: one tap runs the whole record's check in the browser (signatures, Merkle root, the
    ballots' proofs); it passes."""
    context = story.context(PHONE)
    page = context.new_page()
    page.goto(f"{story.base}/estates/{story.sc.slug}/audit")
    wait_marked(page, "recordCheck", "ready")
    story.shot(page, "audit")
    page.click("#run-check")
    page.wait_for_selector("#check-result[data-state]", timeout=180_000)
    story.shot(page, "audit-checked")
    result = page.locator("#check-result")
    assert result.get_attribute("data-state") == "ok", result.text_content()
    context.close()
    story.via["public record check in the browser"] = "page /audit (one tap)"


def _log_key_with_plus(tmp_path):
    """A log key file whose verifier key's base64 holds a '+' (about half of all keys do): the
    browser's checks must read such a key as well as any other, so the test does not depend on
    the draw of the session's key."""
    from ledger.note import ED25519, generate_signer

    while True:
        signer = generate_signer("gongjue.local", ED25519)
        if "+" in signer.verifier.vkey.split("+", 2)[2]:
            break
    path = tmp_path / "log.key"
    path.write_text(signer.skey + "\n", encoding="ascii")
    path.chmod(0o600)
    return path


@pytest.mark.browser
def test_the_whole_story_in_chromium(tmp_path, monkeypatch):
    """Issue #10's "Done means": roll import with preview and confirm, the authority's keys, a round
    created and announced, three owners on a phone (one audits first, one through a proxy), a
    paper ballot by two scrutineers, the close, the trustees' shares, the results page's exact
    figures, an owner's receipt checked, the public record checked in the browser — a screenshot
    of every page (test-artifacts/screenshots/e2e-NN-*.png)."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(_log_key_with_plus(tmp_path)))
    engine = make_engine(f"sqlite:///{tmp_path / 'gongjue.db'}")
    migrate(engine)
    sc = ef.Scenario(engine, tmp_path / "work", "e2e-browser", seed=11)
    sc.prepare()
    monkeypatch.setenv(factor.GATEWAY_ENV, sc.sms_env)
    votes = {"C": ("agree", "greenleaf"), "A": ("agree", "greenleaf"), "B": ("oppose", "harbour"),
             "D": ("abstain", "none"), "E": ("agree", "greenleaf"), "F": ("agree", "greenleaf")}
    for old in pagecheck.SCREENSHOTS.glob("e2e-*.png"):
        old.unlink()
    app = create_app(engine)
    with serving(app) as base, sync_playwright() as p:
        browser = launch(p)
        story = Story(base, app, browser, sc)
        try:
            _import_roll(story)
            _register_credentials(story)
            _create_and_announce(story)
            receipts = _owners_vote(story, votes)
            _paper(story, "D", votes["D"])
            for owner in ("E", "F"):  # two more online ballots, cast by the scenario (voting.cast)
                sc.cast(owner, *votes[owner])
            story.via["owners E and F (so that the quorum is met)"] = "voting.cast directly (not the browser)"
            _close_and_count(story)
            _results(story, votes)
            _check_receipt(story, receipts["C"])
            _record_check(story)
        finally:
            report = "\n".join(f"{step}: {how}" for step, how in story.via.items())
            (pagecheck.SCREENSHOTS.parent / "e2e-steps.txt").write_text(report + "\n", "utf-8")
            browser.close()
    assert story.problems == [], story.problems
    assert len(story.requests) > 100
    story.codes_never_sent()  # the owners' codes stayed in their browsers
    engine.dispose()


@pytest.mark.browser
def test_the_demo_owner_path_in_chromium(tmp_path, monkeypatch):
    """What the README tells a newcomer: the printed booth link, the SMS code from the demo's file
    gateway, mark, seal, cast, the receipt — on a phone-sized window."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    monkeypatch.setenv(factor.GATEWAY_ENV, "")  # none configured (restored after the test)
    engine = make_engine(f"sqlite:///{tmp_path / 'gongjue.db'}")
    migrate(engine)
    create_demo(engine)
    made = open_demo_round(engine)  # the file gateway in demo/ next to the database
    assert made.sms == f"file:{tmp_path / 'demo' / 'sms'}"
    first = made.owners[0]
    with serving(create_app(engine)) as base, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
        page.goto(f"{base}/estates/{DEMO_SLUG}/vote#c={first.code}")
        page.wait_for_selector("#signin-code[data-ready='1']")
        page.click("#signin-code button[type=submit]")
        page.wait_for_selector("#secret")
        (message,) = (tmp_path / "demo" / "sms").glob("*.json")
        sent = json.loads(message.read_text("utf-8"))
        assert sent["to"] == first.phone
        page.fill("#secret", re.search(r"(\d{6})", sent["text"]).group(1))
        page.click("form:has(#secret) button[type=submit]")
        wait_marked(page, "booth", "ready", timeout=60_000)
        for index in (0, 1):
            item = page.locator(f"fieldset.item[data-index='{index}']")
            item.wait_for(state="visible")
            item.locator("input").first.check()
            item.locator("button.item-next").click()
        page.click("#seal")
        page.wait_for_selector("#step-sealed:not([hidden])", timeout=60_000)
        page.click("#cast")
        page.wait_for_selector("#step-receipt:not([hidden])", timeout=60_000)
        screenshot(page, "demo-owner-receipt")
        assert int(page.inner_text("#receipt-seq")) > 0
        browser.close()
    engine.dispose()
