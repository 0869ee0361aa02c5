"""The owner's round pages and the booth (issue #10; SPEC §3.6, §7.2, §7.8).

Pages (server-rendered, Chinese by default through gettext, phone first; the only script is
``/static/booth/booth.js`` on the booth):

- ``GET /estates/<slug>/rounds/<id>`` — the round in plain words: each item's matter and the
  threshold it needs, the candidates with their statements, attachments, the voting window
  (Beijing time), whether the signed-in owner has voted, a link to the booth or the results.
- ``GET /estates/<slug>/vote?round=<id>`` — **the booth** (the credential letters link
  ``/estates/<slug>/vote#c=<code>``: the fragment is never sent; without ``round`` the one open
  round is chosen, or the open rounds are listed).  Needs an owner session (else a redirect to
  the sign-in with ``next``; the browser keeps the fragment across the redirect).  The page holds
  the round's data in a ``<script type="application/json" id="booth-data">`` block: the
  fingerprint, the joint key, the item shapes and labels, the signed-in voter's registered public
  key, the voters the owner may vote for as a proxy, and every message the script shows (the
  cast API's refusal codes mapped to this page's language).  ``booth.js`` derives the key from
  the code (``owner/code.js``: this tab only), marks item by item, reviews, encrypts and signs,
  shows the tracking code, then casts (``POST /api/v1/estates/<slug>/rounds/<id>/ballots``) or
  audits (reveal, check, encrypt again); the receipt links H3's check page
  ``/estates/<slug>/check#r=<seq>.<tracking>``.  ``booth.js`` sets
  ``document.documentElement.dataset.booth = "ready"`` once it can encrypt.
- ``GET /estates/<slug>/receipt.svg?r=<seq>.<tracking>`` — the receipt's QR code (segno SVG) of
  the check page's link; public (a receipt names no one).

``estate_rounds`` gives the estate home (``web/pages.py``) its rounds and the owner's "voted".
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import segno
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from identity import authority
from identity.models import Estate
from ledger.db import reading
from voting import candidates as cands
from voting import cast as casting
from voting import petition_store, rounds
from voting.lifecycle import parse_time
from voting.rules import RuleSet, Threshold
from web import i18n, owner, security
from web.templating import templates

router = APIRouter(include_in_schema=False)

RECEIPT = re.compile(r"(\d{1,12})\.([0-9a-f]{64})\Z")
ROUND_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")

# Message ids (English) of the refusal codes of the cast and proxy API (voting.cast.CODES); the
# Chinese is in owner.po.  booth.js shows these, never the API's own bilingual text.
REFUSALS = {
    "no_session": "You are not signed in any more. Sign in again, then vote.",
    "no_estate": "This estate does not exist.",
    "no_round": "This round does not exist.",
    "round_not_open": "Voting in this round is not open now.",
    "bad_ballot": "The ballot was not made correctly. Reload the page and vote again.",
    "wrong_round": "The ballot was made for another round. Reload the page and vote again.",
    "bad_signature": "The ballot's signature does not check out. Reload the page and vote again.",
    "bad_proof": "A proof in the ballot does not check out. Reload the page and vote again.",
    "unknown_credential": "The code you typed is not registered in this estate. Check it against your letter.",
    "revoked_credential": "This credential has been cancelled. Contact the credential authority.",
    "wrong_voter": "The code you typed belongs to another owner, not to the one signed in.",
    "not_eligible": "You are not among the voters of this round.",
    "no_proxy_grant": "No authorisation from this owner is in force for you.",
    "already_voted": "A ballot has already been cast for you in this round; it cannot be cast again.",
    "duplicate_ballot": "This very ballot has already been cast.",
    "proxy_exists": "This owner already has an authorisation in force. Revoke it first.",
    "proxy_cap": "This person already holds as many authorisations as the round allows.",
    "bad_request": "The request was not accepted.",
    "network": "The server could not be reached. Check the connection and try again; nothing was cast.",
    "unknown": "The ballot was not accepted.",
}

MOTION_LABELS = ("Agree", "Oppose", "Abstain")
STATE_NAMES = {"announced": "Announced, voting not yet open", "open": "Voting open", "closed": "Voting closed",
               "counted": "Being counted", "published": "Results published", "final": "Results final"}
MATTER_IDS = {
    "rules_of_procedure": "Make or amend the rules of procedure of the owners' assembly",
    "management_statute": "Make or amend the management statute",
    "elect_committee": "Elect the owners' committee or replace its members",
    "hire_manager": "Hire or dismiss the property management company",
    "use_maintenance_fund": "Use the building maintenance fund",
    "raise_maintenance_fund": "Raise the building maintenance fund",
    "rebuild": "Rebuild or extend buildings and their facilities",
    "change_common_use": "Change the use of common parts, or run a business on them",
    "other_major": "Another major matter of the common parts",
}
FRACTIONS = {"1/2": "half", "2/3": "two thirds", "3/4": "three quarters"}


def _(request: Request, message: str, **variables: object) -> str:
    return i18n.t(request, message, **variables)


def _fraction(request: Request, th: Threshold) -> str:
    text = f"{th.numerator}/{th.denominator}"
    return _(request, FRACTIONS[text]) if text in FRACTIONS else text


def threshold_words(request: Request, rules: RuleSet, matter: str) -> str:
    """The threshold an item's matter needs, in plain words (SPEC §5.3)."""
    th = rules.threshold(matter)
    heads_only = tuple(th.measures) == ("heads",)
    base = (_(request, "of all the owners in this round") if th.against == "totals"
            else _(request, "of the owners who vote"))
    if heads_only:
        measure = _(request, "by number of owners")
    else:
        measure = _(request, "both by floor area and by number of owners")
    if th.strict:
        return _(request, "Passes when more than %(fraction)s %(base)s agree, %(measure)s.",
                 fraction=_fraction(request, th), base=base, measure=measure)
    return _(request, "Passes when at least %(fraction)s %(base)s agree, %(measure)s.",
             fraction=_fraction(request, th), base=base, measure=measure)


def quorum_words(request: Request, rules: RuleSet) -> str:
    th = rules.quorum
    measure = (_(request, "by number of owners") if tuple(th.measures) == ("heads",)
               else _(request, "both by floor area and by number of owners"))
    if th.strict:
        return _(request, "The vote counts only if more than %(fraction)s of the owners take part, %(measure)s.",
                 fraction=_fraction(request, th), measure=measure)
    return _(request, "The vote counts only if at least %(fraction)s of the owners take part, %(measure)s.",
             fraction=_fraction(request, th), measure=measure)


@dataclass
class ItemView:
    id: str
    kind: str
    title: str
    matter: str
    threshold: str
    labels: list[str]
    n: int
    lo: int
    hi: int
    seats: int
    how: str  # how to mark it, in plain words
    candidates: list[dict]


def item_views(request: Request, view: rounds.RoundView, statements: dict | None = None) -> list[ItemView]:
    """The round's items for a page: labels of the choices, matter and threshold in plain words."""
    out = []
    shapes = {s.id: s for s in view.items}
    for item in view.agenda.items:
        shape = shapes[item.id]
        if item.kind == "motion":
            labels = [_(request, x) for x in MOTION_LABELS]
            how = _(request, "Choose one: agree, oppose or abstain.")
        elif item.kind == "choice":
            labels = list(item.choices)
            how = _(request, "Choose one of the options.")
        else:
            labels = list(item.choices)
            how = _(request, "Choose up to %(seats)s candidates (you may also choose none).", seats=shape.hi)
        listed = []
        if item.kind == "election":
            for name in item.choices:
                listed.append({"name": name, "statement": (statements or {}).get((item.id, name))})
        out.append(ItemView(item.id, item.kind, item.title or "", _(request, MATTER_IDS.get(item.matter, item.matter)),
                            threshold_words(request, view.agenda.rules, item.matter), labels, shape.n, shape.lo,
                            shape.hi, item.seats, how, listed))
    return out


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock else datetime.now(UTC)


def _voted(session, estate: Estate, round_id: str, voter: str) -> bool:
    row = session.get(casting.Voted, (estate.log_id, round_id, voter))
    return row is not None


def _grants(session, estate: Estate, round_id: str) -> list[casting.ProxyGrant]:
    return list(session.scalars(select(casting.ProxyGrant).where(
        casting.ProxyGrant.log_id == estate.log_id, casting.ProxyGrant.round_id == round_id)))


@dataclass
class RoundLine:
    id: str
    title: str
    state: str
    state_name: str
    opens: datetime
    closes: datetime
    voted: bool | None  # None: nobody signed in
    secrecy: str
    result: bool


def estate_rounds(request: Request, slug: str) -> list[RoundLine]:
    """The estate's announced rounds, newest first, with the signed-in owner's "voted"."""
    me = owner.owner_session(request)
    now = _now(request)
    lines = []
    with reading(request.app.state.engine) as session:
        estate = session.scalar(select(Estate).where(Estate.slug == slug))
        if estate is None:
            return []
        try:
            views = rounds.list_rounds(session, slug, drafts=False)
        except rounds.RoundError:
            return []
        for v in views:
            state = v.state(now)
            voted = None
            if me is not None and me.estate == slug:
                voted = _voted(session, estate, v.round_id, me.voter)
            titles = [i.title or _(request, MATTER_IDS.get(i.matter, i.matter)) for i in v.agenda.items]
            lines.append(RoundLine(v.round_id, "；".join(titles[:3]) + ("…" if len(titles) > 3 else ""), state,
                                   _(request, STATE_NAMES.get(state, state)), v.opens, v.closes, voted, v.secrecy,
                                   v.result_seq is not None))
    return list(reversed(lines))


def _estate(request: Request, slug: str) -> Estate:
    return owner._estate(request, slug)


def _page(request: Request, name: str, context: dict, status: int = 200) -> Response:
    return templates.TemplateResponse(request, name, {**context, "csrf": security.visitor(request).csrf},
                                      status_code=status)


def _load(request: Request, slug: str, round_id: str):
    if not ROUND_ID.match(round_id or ""):
        raise HTTPException(404, _(request, "No round %(id)s in this estate", id=round_id))
    with reading(request.app.state.engine) as session:
        try:
            view = rounds.load(session, slug, round_id)
        except rounds.RoundError:
            view = None
        if view is None or view.announcement is None:
            raise HTTPException(404, _(request, "No round %(id)s in this estate", id=round_id))
        statements = cands.statements(session, slug, round_id)
    return view, statements


@router.get("/estates/{slug}/rounds/{round_id}")
def round_page(request: Request, slug: str, round_id: str) -> Response:
    """The round in plain words (public; the signed-in owner also sees whether they voted)."""
    estate = _estate(request, slug)
    view, statements = _load(request, slug, round_id)
    me = owner.owner_session(request)
    voted = None
    with reading(request.app.state.engine) as session:
        if me is not None and me.estate == slug:
            voted = _voted(session, estate, round_id, me.voter)
        petitions = [{"id": p.id, "title": p.body["title"]}  # the round convened in answer to them (SPEC §9.5)
                     for p in petition_store.answered_by(session, slug, round_id)]
    state = view.state(_now(request))
    return _page(request, "round.html", {
        "estate": estate, "view": view, "state": state, "state_name": _(request, STATE_NAMES.get(state, state)),
        "items": item_views(request, view, statements), "quorum": quorum_words(request, view.agenda.rules),
        "voted": voted, "signed_in": me is not None and me.estate == slug, "petitions": petitions,
        "attachments": (view.lifecycle or {}).get("attachments", []),
        "extensions": [(seq, parse_time(body["closes"], "closes"), body["reason"]) for seq, body in view.extensions],
        "law": view.agenda.rules.law.split(" / ")[0] if getattr(view.agenda.rules, "law", "") else ""})


def _signin_redirect(slug: str, request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/estates/{slug}/owner?next={quote(target, safe='')}", status_code=303)


@router.get("/estates/{slug}/vote")
def booth(request: Request, slug: str, round: str | None = None) -> Response:  # noqa: A002
    """The booth for the signed-in owner (contract: ``/estates/<slug>/vote?round=<id>``)."""
    estate = _estate(request, slug)
    me = owner.owner_session(request)
    if me is None or me.estate != slug:
        return _signin_redirect(slug, request)
    now = _now(request)
    if round is None:
        with reading(request.app.state.engine) as session:
            views = [v for v in rounds.list_rounds(session, slug, drafts=False) if v.state(now) == "open"]
        if len(views) == 1:
            return RedirectResponse(f"/estates/{slug}/vote?round={views[0].round_id}", status_code=303)
        return _page(request, "booth/choose.html", {"estate": estate, "rounds": views})
    view, statements = _load(request, slug, round)
    with reading(request.app.state.engine) as session:
        reg = casting.registry(session, estate)
        key = reg.key_of(me.voter)
        voted = _voted(session, estate, round, me.voter)
        represent = []
        for g in _grants(session, estate, round):
            if g.proxy == me.voter and not _voted(session, estate, round, g.voter):
                represent.append(g.voter)
    state = view.state(now)
    items = item_views(request, view, statements)
    eligible = me.voter in view.voters
    data = {
        "slug": slug, "origin": estate.origin, "round": round, "secrecy": view.secrecy,
        "fingerprint": view.fingerprint.hex(), "joint_key": view.joint_key.hex() if view.joint_key else None,
        "items": [{"id": i.id, "kind": i.kind, "n": i.n, "lo": i.lo, "hi": i.hi, "labels": i.labels,
                   "title": i.title or i.matter} for i in items],
        "key": key, "key_fingerprint": authority.fingerprint(key) if key else None,
        "me": me.voter, "represent": represent, "eligible": eligible, "voted": voted,
        "revote": view.policies.revote,
        "cast_url": f"/api/v1/estates/{slug}/rounds/{round}/ballots",
        "check_url": f"/estates/{slug}/check", "qr_url": f"/estates/{slug}/receipt.svg",
        "refusals": {code: _(request, text) for code, text in REFUSALS.items()},
        "messages": booth_messages(request),
    }
    can_vote = state == "open" and key is not None and ((eligible and (not voted or view.policies.revote))
                                                        or bool(represent))
    return _page(request, "booth/booth.html", {
        "estate": estate, "view": view, "state": state, "state_name": _(request, STATE_NAMES.get(state, state)),
        "items": items, "data": data, "can_vote": can_vote, "voted": voted, "key": key, "eligible": eligible,
        "represent": represent, "me": me})


def booth_messages(request: Request) -> dict[str, str]:
    """What booth.js writes into the page, in the page's language (ids English, owner.po)."""
    ids = {
        "code_needed": "Type the code from your credential letter first.",
        "code_mismatch": "This code does not give the key registered for you. Check it against your letter; if it "
                         "still does not match, do not vote and contact the credential authority.",
        "no_key": "No credential is registered for you, so you cannot vote online. Contact the credential authority.",
        "choose_one": "Choose one before going on.",
        "too_many": "You chose more than allowed. Take some out.",
        "too_few": "You chose fewer than needed.",
        "nothing_chosen": "none chosen",
        "working_secret": "Sealing your ballot: encrypting and signing on this phone…",
        "working_open": "Signing your ballot on this phone…",
        "sending": "Sending your ballot…",
        "audit_ok": "Check passed: the sealed ballot holds exactly these choices. It will not be cast; seal a new "
                    "one to vote.",
        "audit_bad": "Check FAILED: the sealed ballot does not hold the choices shown. Do not vote on this device; "
                     "tell the owners' committee.",
        "ready": "Ready.",
        "for_me": "Myself",
        "for_other": "The owner I represent (%(voter)s)",
        "download_name": "gongjue-receipt",
    }
    return {k: _(request, v) for k, v in ids.items()}


@router.get("/estates/{slug}/receipt.svg")
def receipt_qr(request: Request, slug: str, r: str = "") -> Response:
    """QR code (SVG) of the check page's link for a receipt ``<seq>.<tracking>``."""
    _estate(request, slug)
    if not RECEIPT.match(r):
        raise HTTPException(404, _(request, "Not a receipt"))
    base = str(request.base_url).rstrip("/")
    qr = segno.make(f"{base}/estates/{slug}/check#r={r}", error="m")
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=5, border=2, dark="#000", light="#fff", xmldecl=False, svgns=True,
            title=_(request, "QR code of the link to check this ballot"))
    return Response(out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
