"""Staff round pages: create and edit a draft, candidates, trustees' keys, announce, extend.

Pages (server-rendered, Chinese by default through gettext; every POST carries ``csrf``):

- ``GET  /estates/{slug}/staff/rounds`` — the estate's rounds, drafts included (supervisor,
  scrutineer, auditor).
- ``GET  /estates/{slug}/staff/rounds/new`` — the new-round form (supervisor): round id, rule set,
  scope picker (buildings and stairwells of the current roll), items with their matter (and
  candidates or options), secrecy, form, window (Beijing time), short-notice reason, attachments,
  policies, cosigners.
- ``POST /estates/{slug}/staff/rounds/new`` — ``action`` = ``add_item`` (one more item row),
  ``preview`` (the form again with a preview of the notice, nothing written) or ``save`` (the
  draft, then to its page).
- ``GET  /estates/{slug}/staff/rounds/{id}`` — one round: its state, settings, the notice-period
  check, and the forms its state allows (supervisor, scrutineer, auditor; actions by role).
- ``GET|POST /estates/{slug}/staff/rounds/{id}/edit`` — change a draft (supervisor).
- ``POST /estates/{slug}/staff/rounds/{id}/candidates`` — record a nomination (supervisor).
- ``POST /estates/{slug}/staff/rounds/{id}/candidates/vet`` — approve or reject one (supervisor).
- ``POST /estates/{slug}/staff/rounds/{id}/trustees`` — one trustee's ``.pub`` file into a secret
  draft (scrutineer, supervisor).
- ``POST /estates/{slug}/staff/rounds/{id}/announce`` — announce (supervisor); the notice period
  is shown before, and a refusal (``notice_too_short``, ``opens_in_past``, …) is a clear message
  on the round's page with nothing written.
- ``POST /estates/{slug}/staff/rounds/{id}/extend`` — a later close and a public reason (supervisor).
- ``GET  /estates/{slug}/staff/rounds/{id}/notice-preview`` — the printable notice of a draft
  (supervisor), marked as a draft.

Turnout (``web.staff_turnout``): ``GET …/staff/rounds/{id}/turnout`` and
``GET …/staff/rounds/{id}/non-voters.csv`` (supervisor, scrutineer).
Count (``web.staff_count``): ``POST …/staff/rounds/{id}/close`` (supervisor),
``POST …/staff/rounds/{id}/shares`` (scrutineer, the file ``gongjue trustee decrypt`` wrote),
``POST …/staff/rounds/{id}/final`` (supervisor, after the objection window).
Print (``web.print_pages``, public, announced rounds only): ``GET /estates/{slug}/rounds/{id}/notice.html``
(公告) and ``GET /estates/{slug}/rounds/{id}/announcement.html`` (结果公告), A4, each with a QR
code of the round's public page (the notice: ``/estates/{slug}/rounds/{id}``; the results
announcement: ``/estates/{slug}/rounds/{id}/result``).

Every refusal is shown on the page in the visitor's language (the ``中文 / English`` messages of
``voting`` are split), with the status of the refusal, and nothing is written.  Times typed in
the forms are Beijing time; the spec stores UTC (SPEC §7.1).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from identity import store
from identity.area import format_area
from ledger.db import reading, transaction
from voting import candidates as cands
from voting import rounds
from voting.agenda import KINDS
from voting.lifecycle import (
    MAX_REASON,
    NOTICE_DAYS,
    format_time,
    notice_days,
    parse_time,
)
from voting.rules import DEFAULT_RULES, MATTERS, RULE_SETS
from web import i18n, security
from web.templating import templates

router = APIRouter(include_in_schema=False)

BEIJING = i18n.BEIJING
VIEW_ROLES = ("supervisor", "scrutineer", "auditor")
MIN_ITEMS = 1
MAX_ITEMS = 30
MAX_SHARE_FILE = 1024 * 1024


# --- helpers shared with the other staff round modules ----------------------------------------


def now_of(request: Request) -> datetime:
    """The server's clock (tests may pin it with ``app.state.clock``, as the JSON API does)."""
    clock = getattr(request.app.state, "clock", None)
    return (clock() if clock else datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


def pick(message: str, lang: str) -> str:
    """The visitor's half of a ``中文 / English`` message of ``voting`` (split on its first `` / ``);
    a message without one is shown whole."""
    halves = _HALVES.split(str(message), maxsplit=1)
    return (halves[0] if lang == "zh" else halves[1]) if len(halves) == 2 else str(message)


_HALVES = re.compile(r" ?/ ")  # "中文 / English", also "（…）/ English"


def estate_name(session, slug: str) -> str:
    estate = store.get_estate(session, slug)
    if estate is None:
        raise HTTPException(404, f"没有这个小区 / no estate '{slug}'")
    return estate.name


def held_roles(request: Request, slug: str, *roles: str) -> set[str]:
    """The roles of ``roles`` the signed-in staff member holds in ``slug`` (after
    ``require_estate_role`` passed for at least one of them)."""
    from identity import staff as staff_store

    found = security.visitor(request)
    with reading(request.app.state.engine) as session:
        return set(staff_store.roles_in(session, found.staff.staff_id, slug)) & set(roles)


async def read_form(request: Request) -> FormData:
    return await request.form(max_files=2, max_fields=2000)


def check_csrf(request: Request, form: FormData) -> None:
    security.check_csrf(request, form.get("csrf"))


def round_url(slug: str, round_id: str, tail: str = "") -> str:
    return f"/estates/{slug}/staff/rounds/{round_id}{tail}"


def to_beijing_input(value: str | None) -> str:
    """An RFC 3339 UTC time as the value of a ``datetime-local`` field (Beijing time)."""
    if not value:
        return ""
    try:
        return parse_time(value, "t").astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return ""


def from_beijing_input(value: str) -> datetime | None:
    """A ``datetime-local`` value (Beijing time, minutes or seconds) as an aware UTC datetime."""
    value = (value or "").strip()
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=BEIJING).astimezone(UTC)
        except ValueError:
            continue
    return None


# --- the form of a draft --------------------------------------------------------------------


@dataclass
class ItemRow:
    id: str = ""
    kind: str = "motion"
    matter: str = "hire_manager"
    title: str = ""
    seats: str = ""
    choices: str = ""  # one per line
    requires: str = ""  # ids, separated by commas or spaces

    @property
    def blank(self) -> bool:
        return not (self.id or self.title or self.choices.strip() or self.requires.strip())


@dataclass
class DraftForm:
    """What the form shows and sends back (strings as typed)."""

    round: str = ""
    rules: str = DEFAULT_RULES
    rules_custom: str = ""
    buildings: list[str] = field(default_factory=list)
    units: list[tuple[str, str]] = field(default_factory=list)
    items: list[ItemRow] = field(default_factory=lambda: [ItemRow()])
    secrecy: str = "secret"
    form: str = "written"
    opens: str = ""
    closes: str = ""
    short_notice_reason: str = ""
    attachments: str = ""  # lines "<sha256>  <name>" (sha256sum's output)
    duplicate: str = "first"
    revote: bool = False
    proxy_cap: str = ""
    deemed_consent: bool = False
    objection_days: str = "7"
    cosigners: str = "5"
    trustees: Any = None  # kept from the draft (keys are added on the round's page)

    @classmethod
    def from_spec(cls, spec: dict) -> DraftForm:
        agenda = spec["agenda"]
        rules = agenda.get("rules", DEFAULT_RULES)
        scope = agenda.get("scope") or {}
        pol = spec["policies"]
        items = []
        for it in agenda["items"]:
            items.append(ItemRow(id=it["id"], kind=it["kind"], matter=it["matter"], title=it.get("title", ""),
                                 seats=str(it.get("seats", "")) if it["kind"] == "election" else "",
                                 choices="\n".join(it.get("candidates", it.get("options", []))),
                                 requires=", ".join(it.get("requires", []))))
        return cls(round=spec["round"], rules=rules if rules in RULE_SETS else "custom",
                   rules_custom="" if rules in RULE_SETS else rules, buildings=list(scope.get("buildings", [])),
                   units=[(u["building"], u["unit"]) for u in scope.get("units", [])], items=items or [ItemRow()],
                   secrecy=spec["secrecy"], form=spec["form"], opens=to_beijing_input(spec["opens"]),
                   closes=to_beijing_input(spec["closes"]), short_notice_reason=spec.get("short_notice_reason") or "",
                   attachments="\n".join(f"{a['sha256']}  {a['name']}" for a in spec.get("attachments", [])),
                   duplicate=pol["duplicate"], revote=bool(pol["revote"]),
                   proxy_cap="" if pol["proxy_cap"] is None else str(pol["proxy_cap"]),
                   deemed_consent=bool(pol["deemed_consent"]), objection_days=str(pol["objection_days"]),
                   cosigners=str(spec["cosigners"]), trustees=spec.get("trustees"))

    @classmethod
    def from_form(cls, form: FormData) -> DraftForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        try:
            count = max(MIN_ITEMS, min(MAX_ITEMS, int(text("item_count") or "1")))
        except ValueError:
            count = MIN_ITEMS
        items = [ItemRow(id=text(f"item{i}_id"), kind=text(f"item{i}_kind") or "motion",
                         matter=text(f"item{i}_matter") or "hire_manager", title=text(f"item{i}_title"),
                         seats=text(f"item{i}_seats"), choices=text(f"item{i}_choices"),
                         requires=text(f"item{i}_requires")) for i in range(count)]
        units = []
        for raw in form.getlist("unit"):
            try:
                b, u = json.loads(raw)
                if isinstance(b, str) and isinstance(u, str):
                    units.append((b, u))
            except (ValueError, TypeError):
                continue
        trustees = None
        if text("trustees"):
            try:
                trustees = json.loads(text("trustees"))
            except ValueError:
                trustees = None
        return cls(round=text("round"), rules=text("rules") or DEFAULT_RULES, rules_custom=text("rules_custom"),
                   buildings=[b for b in form.getlist("building") if isinstance(b, str)], units=units, items=items,
                   secrecy=text("secrecy") or "secret", form=text("form") or "written", opens=text("opens"),
                   closes=text("closes"), short_notice_reason=text("short_notice_reason"),
                   attachments=text("attachments"), duplicate=text("duplicate") or "first",
                   revote=form.get("revote") == "on", proxy_cap=text("proxy_cap"),
                   deemed_consent=form.get("deemed_consent") == "on", objection_days=text("objection_days"),
                   cosigners=text("cosigners"), trustees=trustees)

    def spec(self, request: Request) -> tuple[dict, list[str]]:
        """(the round spec for ``voting.rounds.check_spec``, the problems found in the form itself)."""
        problems: list[str] = []
        t = lambda message, **kw: i18n.t(request, message, **kw)
        rules = self.rules_custom if self.rules == "custom" else self.rules
        if not rules:
            problems.append(t("Choose a rule set, or type the estate's own."))
        scope: dict = {}
        if self.buildings:
            scope["buildings"] = list(self.buildings)
        if self.units:
            scope["units"] = [{"building": b, "unit": u} for b, u in self.units]
        items = []
        counters = {"motion": "m", "election": "e", "choice": "c"}
        for n, row in enumerate(self.items, 1):
            if row.blank:
                continue
            if row.kind not in KINDS:
                problems.append(t("Item %(n)s: choose motion, election or choice.", n=n))
                continue
            item: dict = {"id": row.id or f"{counters[row.kind]}{n}", "kind": row.kind,
                          "matter": "elect_committee" if row.kind == "election" else row.matter}
            if row.title:
                item["title"] = row.title
            if row.requires:
                item["requires"] = [r for r in row.requires.replace("，", ",").replace(",", " ").split() if r]
            choices = [c.strip() for c in row.choices.splitlines() if c.strip()]
            if row.kind == "election":
                try:
                    item["seats"] = int(row.seats)
                except ValueError:
                    problems.append(t("Item %(n)s: the number of seats must be a whole number.", n=n))
                item["candidates"] = choices
            elif row.kind == "choice":
                item["options"] = choices
            items.append(item)
        if not items:
            problems.append(t("Add at least one item: give it a title."))
        opens, closes = from_beijing_input(self.opens), from_beijing_input(self.closes)
        if opens is None:
            problems.append(t("Give the date and time voting opens (Beijing time)."))
        if closes is None:
            problems.append(t("Give the date and time voting closes (Beijing time)."))
        if opens and closes and closes <= opens:
            problems.append(t("Voting must close after it opens."))
        attachments = []
        for line in self.attachments.splitlines():
            if not line.strip():
                continue
            digest, _, name = line.strip().partition(" ")
            name = name.strip().lstrip("*").strip()
            if len(digest) != 64 or not name or any(c not in "0123456789abcdef" for c in digest.lower()):
                problems.append(t("Attachment line “%(line)s”: write the SHA-256 (64 hex digits), a space, then the "
                                  "file name, as sha256sum prints it.", line=line.strip()[:80]))
                continue
            attachments.append({"name": name, "sha256": digest.lower()})

        def number(value: str, what: str, default: int | None) -> int | None:
            if value == "":
                return default
            try:
                return int(value)
            except ValueError:
                problems.append(t("%(what)s must be a whole number.", what=what))
                return default

        policies = {"duplicate": self.duplicate, "revote": self.revote,
                    "proxy_cap": number(self.proxy_cap, t("Proxy limit"), None),
                    "deemed_consent": self.deemed_consent,
                    "objection_days": number(self.objection_days, t("Objection days"), 7)}
        spec = {"round": self.round, "secrecy": self.secrecy, "form": self.form,
                "agenda": {"rules": rules, **({"scope": scope} if scope else {}), "items": items},
                "opens": format_time(opens) if opens else None, "closes": format_time(closes) if closes else None,
                "short_notice_reason": self.short_notice_reason or None, "attachments": attachments,
                "policies": policies, "cosigners": number(self.cosigners, t("Co-signers"), 5),
                "trustees": self.trustees if self.secrecy == "secret" else None}
        if len(self.short_notice_reason) > MAX_REASON:
            problems.append(t("The reason may be at most %(n)s characters.", n=MAX_REASON))
        return spec, problems


def roll_places(session, slug: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(buildings, stairwells) of the estate's current roll, in roll order, for the scope picker."""
    try:
        view = store.current_roll(session, slug)
    except store.RollTampered as e:
        raise HTTPException(500, str(e)) from None
    if view is None:
        return [], []
    buildings = list(dict.fromkeys(p.building for p in view.roll.parts))
    units = list(dict.fromkeys((p.building, p.unit) for p in view.roll.parts if p.unit))
    return buildings, units


def _form_page(request: Request, slug: str, draft: DraftForm, *, editing: bool, errors: list[str] | None = None,
               preview: dict | None = None, status: int = 200) -> Response:
    with reading(request.app.state.engine) as session:
        name = estate_name(session, slug)
        buildings, units = roll_places(session, slug)
    return templates.TemplateResponse(
        request, "staff/round_form.html",
        {"slug": slug, "estate_name": name, "draft": draft, "editing": editing, "errors": errors or [],
         "buildings": buildings, "units": units, "matters": [m for m in MATTERS if m != "elect_committee"],
         "rule_sets": list(RULE_SETS), "kinds": KINDS, "preview": preview, "jsonify": json.dumps,
         "matter_label": lambda m: matter_text(request, m)},
        status_code=status)


def _supervisor(request: Request, slug: str) -> str:
    return security.require_estate_role(request, slug, "supervisor").username


@router.get("/estates/{slug}/staff/rounds")
def round_list(request: Request, slug: str) -> Response:
    security.require_estate_role(request, slug, *VIEW_ROLES)
    now = now_of(request)
    with reading(request.app.state.engine) as session:
        name = estate_name(session, slug)
        try:
            views = rounds.list_rounds(session, slug)
        except rounds.RoundError:
            views = []
    listed = [{"id": v.round_id, "state": v.state(now), "title": _round_title(v), "opens": v.opens,
               "closes": v.closes} for v in views]
    return templates.TemplateResponse(request, "staff/round_list.html",
                                      {"slug": slug, "estate_name": name, "rounds": listed,
                                       "roles": held_roles(request, slug, *VIEW_ROLES)})


def _round_title(view: rounds.RoundView) -> str:
    titles = [i.title or i.id for i in view.agenda.items]
    return "、".join(titles[:3]) + ("…" if len(titles) > 3 else "")


@router.get("/estates/{slug}/staff/rounds/new")
def new_round(request: Request, slug: str) -> Response:
    _supervisor(request, slug)
    return _form_page(request, slug, DraftForm(), editing=False)


@router.post("/estates/{slug}/staff/rounds/new")
async def new_round_post(request: Request, slug: str) -> Response:
    by = _supervisor(request, slug)
    form = await read_form(request)
    check_csrf(request, form)
    return await run_in_threadpool(_save_draft, request, slug, form, by, None)


@router.get("/estates/{slug}/staff/rounds/{round_id}/edit")
def edit_round(request: Request, slug: str, round_id: str) -> Response:
    _supervisor(request, slug)
    with reading(request.app.state.engine) as session:
        view = _load(session, slug, round_id)
    if view.announcement is not None:
        return _round_page(request, slug, round_id, error=i18n.t(
            request, "This round was announced: its agenda and settings are locked."), status=409)
    return _form_page(request, slug, DraftForm.from_spec(view.spec), editing=True)


@router.post("/estates/{slug}/staff/rounds/{round_id}/edit")
async def edit_round_post(request: Request, slug: str, round_id: str) -> Response:
    by = _supervisor(request, slug)
    form = await read_form(request)
    check_csrf(request, form)
    return await run_in_threadpool(_save_draft, request, slug, form, by, round_id)


def _save_draft(request: Request, slug: str, form: FormData, by: str, round_id: str | None) -> Response:
    draft = DraftForm.from_form(form)
    editing = round_id is not None
    if editing:
        draft.round = round_id
        with reading(request.app.state.engine) as session:
            view = _load(session, slug, round_id)
        if view.announcement is not None:
            return _round_page(request, slug, round_id, error=i18n.t(
                request, "This round was announced: its agenda and settings are locked."), status=409)
        draft.trustees = view.spec.get("trustees") if draft.secrecy == "secret" else None
    action = form.get("action")
    if action == "add_item":
        if len(draft.items) < MAX_ITEMS:
            draft.items.append(ItemRow())
        return _form_page(request, slug, draft, editing=editing)
    spec, problems = draft.spec(request)
    if problems:
        return _form_page(request, slug, draft, editing=editing, errors=problems, status=422)
    lang = i18n.language(request)
    try:
        clean = rounds.check_spec(spec)
    except rounds.RoundError as e:
        return _form_page(request, slug, draft, editing=editing, errors=_spec_problems(e, lang), status=e.status)
    if action == "preview":
        with reading(request.app.state.engine) as session:
            preview = notice_context(request, session, slug, rounds._draft_view(slug, clean), draft=True)
        return _form_page(request, slug, draft, editing=editing, preview=preview)
    try:
        with transaction(request.app.state.engine) as session:
            if editing:
                rounds.update_draft(session, slug, round_id, spec, by=by, now=now_of(request))
            else:
                rounds.create_draft(session, slug, spec, by=by, now=now_of(request))
    except rounds.RoundError as e:
        return _form_page(request, slug, draft, editing=editing, errors=_spec_problems(e, lang), status=e.status)
    return RedirectResponse(round_url(slug, clean["round"], "?saved=1"), status_code=303)


def _spec_problems(e: rounds.RoundError, lang: str) -> list[str]:
    """A ``bad_spec`` refusal as one line per problem, in the visitor's language."""
    message = e.message
    head, sep, rest = message.partition(": ")
    if e.code == "bad_spec" and sep and "/" in head:
        return [pick(p, lang) for p in rest.split("; ") if p]
    return [pick(message, lang)]


# --- one round ------------------------------------------------------------------------------


def _load(session, slug: str, round_id: str) -> rounds.RoundView:
    try:
        return rounds.load(session, slug, round_id)
    except rounds.RoundError as e:
        raise HTTPException(e.status, e.message) from None


def matter_text(request: Request, matter: str) -> str:
    from voting.rules import MATTER_NAMES

    return pick(MATTER_NAMES.get(matter, matter), i18n.language(request))


def _fraction(request: Request, n: int, d: int) -> str:
    if i18n.language(request) != "zh":
        return "half" if (n, d) == (1, 2) else f"{n}/{d}"
    digits = "零一二三四五六七八九十"
    if (n, d) == (1, 2):
        return "半数"
    if n <= 10 and d <= 10:
        return f"{digits[d]}分之{digits[n]}"
    return f"{d}分之{n}"


def threshold_text(request: Request, threshold, who: str) -> str:
    """A threshold in plain words, e.g. "the agreeing heads and area each at least three quarters
    of those taking part" (SPEC §5.3), with its inequality."""
    t = lambda m, **kw: i18n.t(request, m, **kw)
    base = t("of all owners in scope") if threshold.against == "totals" else t("of those taking part")
    measures = t("heads and area each") if len(threshold.measures) == 2 else t("heads")
    frac = _fraction(request, threshold.numerator, threshold.denominator)
    if threshold.strict:
        words = t("%(who)s: %(measures)s more than %(frac)s %(base)s", who=who, measures=measures, frac=frac, base=base)
    else:
        words = t("%(who)s: %(measures)s at least %(frac)s %(base)s", who=who, measures=measures, frac=frac, base=base)
    symbol = "P" if threshold.name == "quorum" else "Y"
    return f"{words}（{threshold.formula(symbol)}）"


def notice_context(request: Request, session, slug: str, view: rounds.RoundView, *, draft: bool) -> dict:
    """What the notice (公告) shows, from the announcement or (``draft``) the draft."""
    t = lambda m, **kw: i18n.t(request, m, **kw)
    rules = view.agenda.rules
    items = []
    for it in view.agenda.items:
        th = rules.threshold(it.matter)
        items.append({"id": it.id, "kind": it.kind, "title": it.title or it.id, "matter": matter_text(request, it.matter),
                      "threshold": threshold_text(request, th, t("Passes when the agreeing")),
                      "special": rules.matter_class(it.matter) == "special", "seats": it.seats,
                      "choices": list(it.choices), "requires": list(it.requires)})
    life = view.lifecycle or {}
    if view.announcement is not None:
        member = life.get("candidates") or {"list": []}
        candidates = [c for c in member["list"] if c["status"] == "approved"]
        notice = dict(life["notice"]) if life.get("notice") else None
        if notice and i18n.language(request) == "zh":
            y, m, d = (int(x) for x in notice["date"].split("-"))
            notice["date"] = f"{y}年{m}月{d}日"
        attachments = life.get("attachments", [])
    else:
        candidates = [{"item": r.item, "candidate": r.candidate, "by": r.nominated_by, "statement": r.statement_sha256}
                      for r in cands.nominations(session, slug, view.round_id) if r.status == "approved"]
        notice = None
        attachments = (view.spec or {}).get("attachments", [])
    return {"slug": slug, "estate_name": estate_name(session, slug), "round_id": view.round_id, "draft": draft,
            "secrecy": view.secrecy, "form": view.form, "rules": rules.name,
            "law": pick(rules.law, i18n.language(request)),
            "quorum": threshold_text(request, rules.quorum, t("Valid when those taking part")),
            "items": items, "candidates": candidates, "scope": scope_text(request, view.agenda.scope), "opens": view.opens,
            "closes": view.closes, "notice": notice, "announced_at": view.announced_at,
            "extensions": [{"seq": s, "closes": parse_time(b["closes"], "closes"), "reason": b["reason"]}
                           for s, b in view.extensions],
            "attachments": attachments, "policies": view.policies, "totals": view.totals if view.announcement else None,
            "seq": view.seq, "fingerprint": view.fingerprint.hex() if view.fingerprint else None,
            "trustees": _trustee_numbers(view)}


def scope_text(request: Request, scope) -> str:
    """The round's scope in words: the whole estate, or its buildings and stairwells."""
    t = lambda m, **kw: i18n.t(request, m, **kw)
    if scope.is_estate:
        return t("the whole estate")
    return "、".join([t("building %(b)s", b=b) for b in scope.buildings]
                    + [t("building %(b)s stairwell %(u)s", b=b, u=u) for b, u in scope.units])


def _trustee_numbers(view: rounds.RoundView) -> list[int]:
    t = view.announcement.trustees if view.announcement else (view.spec or {}).get("trustees")
    if not t:
        return []
    return [d.get("trustee") for d in t.get("keys", t.get("dealers", [])) if isinstance(d, dict)]


def notice_check(view: rounds.RoundView, now: datetime) -> dict:
    """The notice period if the draft were announced now: days, enough, the reason."""
    days = notice_days(now, view.opens)
    reason = (view.spec or {}).get("short_notice_reason")
    earliest = (now.astimezone(BEIJING).date() + timedelta(days=NOTICE_DAYS))
    return {"days": days, "needed": NOTICE_DAYS, "enough": days >= NOTICE_DAYS, "reason": reason,
            "opens_in_past": view.opens < now, "earliest": f"{earliest.year}-{earliest.month:02d}-{earliest.day:02d}",
            "earliest_date": earliest}


def _round_page(request: Request, slug: str, round_id: str, *, error: str | None = None, errors: list[str] | None = None,
                done: str | None = None, status: int = 200) -> Response:
    now = now_of(request)
    with reading(request.app.state.engine) as session:
        view = _load(session, slug, round_id)
        name = estate_name(session, slug)
        ceremony = f"{store.get_estate(session, slug).origin}/{round_id}"
        nominations = cands.nominations(session, slug, round_id) if view.announcement is None else []
        notice = notice_context(request, session, slug, view, draft=view.announcement is None)
        result = summary = None
        if view.announcement is not None:
            from voting import count_round

            try:
                result = count_round.published(session, slug, round_id)
            except count_round.CountError:
                result = None
            from voting import turnout as turnout_

            try:
                summary = turnout_.turnout(session, slug, round_id, places=False).figures
            except turnout_.TurnoutError:
                summary = None
    state = view.state(now)
    roles = held_roles(request, slug, *VIEW_ROLES)
    elections = [i for i in view.agenda.items if i.kind == "election"]
    return templates.TemplateResponse(request, "staff/round_view.html", {
        "slug": slug, "estate_name": name, "view": view, "state": state, "roles": roles, "notice": notice,
        "check": notice_check(view, now) if view.announcement is None else None,
        "nominations": nominations, "elections": elections, "result": result, "now": now, "summary": summary,
        "error": error, "errors": errors or [], "done": done or _done(request),
        "extend_default": to_beijing_input(format_time(view.closes + timedelta(days=7))),
        "window_ended": now >= view.closes, "final_due": _final_due(result, now), "ceremony": ceremony,
        "result_until": parse_time(result["result"]["objection_until"], "objection_until")
        if result and result.get("result") else None},
        status_code=status)


def _final_due(result: dict | None, now: datetime) -> bool:
    if not result or not result.get("result") or result.get("final"):
        return False
    return now >= parse_time(result["result"]["objection_until"], "objection_until")


DONE = {"saved": "The draft is saved.", "announced": "The round is announced: its notice is in the record.",
        "extended": "The voting window is extended.", "nominated": "The nomination is recorded.",
        "vetted": "The vetting is recorded.", "trustee": "The trustee's key is in the draft.",
        "closed": "The round is closed.", "shares": "The trustee's shares are recorded.",
        "final": "The final announcement is in the record."}


def _done(request: Request) -> str | None:
    for key, message in DONE.items():
        if request.query_params.get(key):
            return i18n.t(request, message)
    return None


@router.get("/estates/{slug}/staff/rounds/{round_id}")
def show_round(request: Request, slug: str, round_id: str) -> Response:
    security.require_estate_role(request, slug, *VIEW_ROLES)
    return _round_page(request, slug, round_id)


def refusal(request: Request, slug: str, round_id: str, e: Exception) -> Response:
    """A refused action: the round's page again with the message, the refusal's status."""
    status = getattr(e, "status", 409)
    return _round_page(request, slug, round_id, error=pick(getattr(e, "message", str(e)), i18n.language(request)),
                       status=status)


@router.post("/estates/{slug}/staff/rounds/{round_id}/announce")
async def announce(request: Request, slug: str, round_id: str) -> Response:
    by = _supervisor(request, slug)
    form = await read_form(request)
    check_csrf(request, form)
    return await run_in_threadpool(_announce, request, slug, round_id, by)


def _announce(request: Request, slug: str, round_id: str, by: str) -> Response:
    try:
        with transaction(request.app.state.engine) as session:
            rounds.announce(session, slug, round_id, by=by, now=now_of(request))
    except rounds.RoundError as e:
        if e.code == "notice_too_short":
            with reading(request.app.state.engine) as session:
                view = _load(session, slug, round_id)
            c = notice_check(view, now_of(request))
            message = i18n.t(request, "Not announced: the notice would be %(days)s days, fewer than the %(needed)s "
                                      "days the law asks (the notice day not counted). Let voting open on "
                                      "%(earliest)s or later, or give the reason for a shorter notice in the draft.",
                             days=c["days"], needed=c["needed"], earliest=c["earliest"])
            return _round_page(request, slug, round_id, error=message, status=e.status)
        return refusal(request, slug, round_id, e)
    return RedirectResponse(round_url(slug, round_id, "?announced=1"), status_code=303)


@router.post("/estates/{slug}/staff/rounds/{round_id}/extend")
async def extend(request: Request, slug: str, round_id: str) -> Response:
    by = _supervisor(request, slug)
    form = await read_form(request)
    check_csrf(request, form)
    return await run_in_threadpool(_extend, request, slug, round_id, by, form)


def _extend(request: Request, slug: str, round_id: str, by: str, form: FormData) -> Response:
    closes = from_beijing_input(str(form.get("closes") or ""))
    reason = str(form.get("reason") or "").strip()
    if closes is None:
        return _round_page(request, slug, round_id, status=422, error=i18n.t(
            request, "Give the new closing date and time (Beijing time)."))
    try:
        with transaction(request.app.state.engine) as session:
            rounds.extend(session, slug, round_id, closes=closes, reason=reason, by=by, now=now_of(request))
    except rounds.RoundError as e:
        return refusal(request, slug, round_id, e)
    return RedirectResponse(round_url(slug, round_id, "?extended=1"), status_code=303)


@router.post("/estates/{slug}/staff/rounds/{round_id}/candidates")
async def nominate(request: Request, slug: str, round_id: str) -> Response:
    by = _supervisor(request, slug)
    form = await read_form(request)
    check_csrf(request, form)
    signatures: list = []
    upload = form.get("signatures")
    if isinstance(upload, UploadFile):
        raw = await upload.read(MAX_SHARE_FILE + 1)
        if raw.strip():
            try:
                signatures = json.loads(raw.decode("utf-8-sig"))
            except (ValueError, UnicodeDecodeError):
                return _round_page(request, slug, round_id, status=422, error=i18n.t(
                    request, "The signatures file is not the JSON file gongjue round sign-nomination writes."))
    return await run_in_threadpool(_nominate, request, slug, round_id, by, form, signatures)


def _nominate(request: Request, slug: str, round_id: str, by: str, form: FormData, signatures: list) -> Response:
    try:
        with transaction(request.app.state.engine) as session:
            cands.nominate(session, slug, round_id, item=str(form.get("item") or ""),
                           candidate=str(form.get("candidate") or "").strip(),
                           nominated_by=str(form.get("nominated_by") or ""),
                           statement=str(form.get("statement") or ""), signatures=signatures, by=by,
                           now=now_of(request))
    except rounds.RoundError as e:
        return refusal(request, slug, round_id, e)
    return RedirectResponse(round_url(slug, round_id, "?nominated=1#candidates"), status_code=303)


@router.post("/estates/{slug}/staff/rounds/{round_id}/candidates/vet")
async def vet(request: Request, slug: str, round_id: str) -> Response:
    by = _supervisor(request, slug)
    form = await read_form(request)
    check_csrf(request, form)
    return await run_in_threadpool(_vet, request, slug, round_id, by, form)


def _vet(request: Request, slug: str, round_id: str, by: str, form: FormData) -> Response:
    try:
        with transaction(request.app.state.engine) as session:
            cands.vet(session, slug, round_id, item=str(form.get("item") or ""),
                      candidate=str(form.get("candidate") or ""), status=str(form.get("status") or ""),
                      note=str(form.get("note") or "").strip(), by=by, now=now_of(request))
    except rounds.RoundError as e:
        return refusal(request, slug, round_id, e)
    return RedirectResponse(round_url(slug, round_id, "?vetted=1#candidates"), status_code=303)


@router.post("/estates/{slug}/staff/rounds/{round_id}/trustees")
async def trustee_key(request: Request, slug: str, round_id: str) -> Response:
    by = security.require_estate_role(request, slug, "scrutineer", "supervisor").username
    form = await read_form(request)
    check_csrf(request, form)
    upload = form.get("key")
    key = None
    if isinstance(upload, UploadFile):
        raw = await upload.read(MAX_SHARE_FILE + 1)
        try:
            key = json.loads(raw.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError):
            key = None
    if not isinstance(key, dict):
        return _round_page(request, slug, round_id, status=422, error=i18n.t(
            request, "Choose the trustee's public key file (.pub) that gongjue trustee keygen wrote."))
    return await run_in_threadpool(_trustee_key, request, slug, round_id, by, key)


def _trustee_key(request: Request, slug: str, round_id: str, by: str, key: dict) -> Response:
    try:
        with transaction(request.app.state.engine) as session:
            rounds.add_trustee_key(session, slug, round_id, key, by=by, now=now_of(request))
    except rounds.RoundError as e:
        return refusal(request, slug, round_id, e)
    return RedirectResponse(round_url(slug, round_id, "?trustee=1"), status_code=303)


@router.get("/estates/{slug}/staff/rounds/{round_id}/notice-preview")
def notice_preview(request: Request, slug: str, round_id: str) -> Response:
    security.require_estate_role(request, slug, *VIEW_ROLES)
    from web import print_pages

    with reading(request.app.state.engine) as session:
        view = _load(session, slug, round_id)
        context = notice_context(request, session, slug, view, draft=view.announcement is None)
    return print_pages.render_notice(request, context)


__all__ = ["DraftForm", "ItemRow", "format_area", "notice_check", "notice_context", "pick", "router"]
