"""The lifecycle members of a ``round`` entry and the ``round.extend`` entry (SPEC §7.1, §7.6).

Pure shape checks and the notice arithmetic, no database (``voting.rounds`` writes the entries,
``voting.round_record.parse_round`` reads them, ``voting.round_audit`` checks them in the log):

- ``form``: ``written`` (书面征求意见) or ``meeting`` (会议);
- ``notice``: ``{"date", "days", "short_reason"}`` — the notice day (China Standard Time date of
  the announcement), the days from it to the opening day, and the recorded reason when that is
  fewer than ``NOTICE_DAYS`` (物业管理条例 Art. 14; the notice day itself is not counted);
- ``window``: ``{"opens", "closes"}`` as announced (extensions are later ``round.extend`` entries);
- ``attachments``: ``[{"name", "sha256"}]`` of each document of the notice;
- ``policies``: ``{"duplicate", "revote", "proxy_cap", "deemed_consent", "objection_days"}``;
- ``credentials``: ``{"seq", "keys", "digest"}`` — the registered credentials frozen with the roll;
- ``candidates``: null, or ``{"cosigners", "list": [...]}`` — every nomination of the round's
  elections, with its vetting, fixed in the announcement (SPEC §7.7, ``voting.candidates``).

Days are counted on China Standard Time dates (UTC+8, no daylight saving): ``days`` = opening
date − notice date, so a notice on 1 November allows voting to open on 16 November (the 15 days
2 … 16 November; the notice day is not counted).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

from ledger.entry import HEX64_RE, TIME_RE

LIFECYCLE_KEYS = frozenset({"form", "notice", "window", "attachments", "policies", "credentials", "candidates"})
EXTEND_KEYS = frozenset({"v", "round", "previous", "closes", "reason"})
EXTEND = "round.extend"
FORMS = ("written", "meeting")
POLICY_KEYS = frozenset({"duplicate", "revote", "proxy_cap", "deemed_consent", "objection_days"})
DUPLICATE = ("first", "electronic")
NOMINATED_BY = ("organiser", "owners", "self")
VETTING = ("approved", "rejected")
NOTICE_DAYS = 15
CANDIDATE_DAYS = 7
CHINA = timezone(timedelta(hours=8), "CST")
MAX_REASON = 500
MAX_NAME = 200
MAX_NOTE = 500
MAX_COSIGNERS = 1000
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_HEX128 = re.compile(r"[0-9a-f]{128}\Z")


class LifecycleError(ValueError):
    """A lifecycle member or ``round.extend`` body that breaks SPEC §7.1 / §7.6."""


def parse_time(value: object, what: str) -> datetime:
    """An RFC 3339 UTC time with whole seconds and ``Z`` (SPEC §1) as an aware datetime."""
    if not isinstance(value, str) or TIME_RE.match(value) is None:
        raise LifecycleError(f"{what}: must be a time like 2026-12-01T00:00:00Z (UTC, whole seconds)")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise LifecycleError(f"{what}: {value} is not a valid date and time") from None


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def china_date(moment: datetime) -> date:
    """The calendar date in China Standard Time (UTC+8) of ``moment``."""
    return moment.astimezone(CHINA).date()


def notice_days(notice: datetime, opens: datetime) -> int:
    """Days of notice: the opening day's date − the notice day's date (CST); the notice day
    itself is not counted, so notice on the 1st and opening on the 16th is 15 days."""
    return (china_date(opens) - china_date(notice)).days


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise LifecycleError(message)


def _text(value: object, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and value == value.strip()


def check_lifecycle(body: dict, *, election_items: dict[str, tuple[str, ...]], time: str | None = None) -> None:
    """Check the lifecycle members of a ``round`` body (SPEC §7.1).

    ``election_items``: item id → the agenda's candidates, for the ``candidates`` member;
    ``time``: the entry's time, when known (the notice date and the window are checked against it).
    """
    _need(body["form"] in FORMS, "round: form must be \"written\" or \"meeting\"")
    window = body["window"]
    _need(isinstance(window, dict) and set(window) == {"opens", "closes"}, "round: window must be {opens, closes}")
    opens, closes = parse_time(window["opens"], "round.window.opens"), parse_time(window["closes"], "round.window.closes")
    _need(closes > opens, "round: window.closes must be after window.opens")
    notice = body["notice"]
    _need(isinstance(notice, dict) and set(notice) == {"date", "days", "short_reason"},
          "round: notice must be {date, days, short_reason}")
    _need(isinstance(notice["date"], str) and _DATE_RE.match(notice["date"]) is not None,
          "round: notice.date must be YYYY-MM-DD")
    try:
        notice_date = date.fromisoformat(notice["date"])
    except ValueError:
        raise LifecycleError(f"round: notice.date {notice['date']} is not a date") from None
    _need(type(notice["days"]) is int and notice["days"] == (china_date(opens) - notice_date).days,
          "round: notice.days must be the opening date (CST) minus notice.date")
    _need(notice["short_reason"] is None or _text(notice["short_reason"], MAX_REASON),
          f"round: notice.short_reason must be null or a text of 1–{MAX_REASON} characters")
    _need(notice["days"] >= NOTICE_DAYS or notice["short_reason"] is not None,
          f"round: {notice['days']} days of notice (fewer than {NOTICE_DAYS}) without a recorded reason")
    if time is not None:
        at = parse_time(time, "entry time")
        _need(china_date(at) == notice_date, f"round: notice.date {notice['date']} is not the announcement's "
                                             f"date {china_date(at).isoformat()} (CST)")
        _need(opens >= at, "round: the window opens before the announcement")
    atts = body["attachments"]
    _need(isinstance(atts, list), "round: attachments must be a list")
    names = set()
    for i, a in enumerate(atts):
        _need(isinstance(a, dict) and set(a) == {"name", "sha256"} and _text(a["name"], MAX_NAME)
              and isinstance(a["sha256"], str) and HEX64_RE.match(a["sha256"]) is not None,
              f"round: attachments[{i}] must be {{name: 1–{MAX_NAME} characters, sha256: 64 hex digits}}")
        _need(a["name"] not in names, f"round: attachments[{i}]: name {a['name']!r} twice")
        names.add(a["name"])
    check_policies(body["policies"], "round.policies")
    cred = body["credentials"]
    _need(isinstance(cred, dict) and set(cred) == {"seq", "keys", "digest"}
          and (cred["seq"] is None or type(cred["seq"]) is int and cred["seq"] >= 0)
          and type(cred["keys"]) is int and cred["keys"] >= 0
          and isinstance(cred["digest"], str) and HEX64_RE.match(cred["digest"]) is not None,
          "round: credentials must be {seq: entry number or null, keys: integer ≥ 0, digest: 64 hex digits}")
    check_candidates(body["candidates"], election_items, opens=opens, notice_date=notice_date)


def check_policies(p: object, what: str) -> None:
    _need(isinstance(p, dict) and set(p) == POLICY_KEYS,
          f"{what} must be {{duplicate, revote, proxy_cap, deemed_consent, objection_days}}")
    _need(p["duplicate"] in DUPLICATE, f"{what}.duplicate must be \"first\" or \"electronic\"")
    _need(type(p["revote"]) is bool, f"{what}.revote must be true or false")
    _need(p["proxy_cap"] is None or type(p["proxy_cap"]) is int and 0 <= p["proxy_cap"] <= 1000,
          f"{what}.proxy_cap must be null (no cap) or an integer 0–1000")
    _need(type(p["deemed_consent"]) is bool, f"{what}.deemed_consent must be true or false")
    _need(type(p["objection_days"]) is int and 0 <= p["objection_days"] <= 365,
          f"{what}.objection_days must be an integer 0–365")


def check_candidates(member: object, election_items: dict[str, tuple[str, ...]], *, opens: datetime,
                     notice_date: date) -> None:
    """``candidates``: null when the agenda has no election; else every nomination of each election
    item with its vetting, the approved ones exactly the item's candidates in ballot order, and the
    opening at least ``CANDIDATE_DAYS`` after the announcement that publishes them."""
    if not election_items:
        _need(member is None, "round: candidates must be null when the agenda has no election")
        return
    _need(isinstance(member, dict) and set(member) == {"cosigners", "list"} and type(member["cosigners"]) is int
          and 1 <= member["cosigners"] <= MAX_COSIGNERS and isinstance(member["list"], list),
          f"round: candidates must be {{cosigners: 1–{MAX_COSIGNERS}, list: [...]}}")
    _need((china_date(opens) - notice_date).days >= CANDIDATE_DAYS,
          f"round: candidates are published fewer than {CANDIDATE_DAYS} days before voting opens")
    seen = set()
    approved: dict[str, list[str]] = {item: [] for item in election_items}
    for i, c in enumerate(member["list"]):
        what = f"round: candidates.list[{i}]"
        _need(isinstance(c, dict) and set(c) == {"item", "candidate", "by", "statement", "signatures", "status",
                                                 "note"}, f"{what} must be {{item, candidate, by, statement, "
                                                          "signatures, status, note}")
        _need(c["item"] in election_items, f"{what}: item {c['item']!r} is not an election of the agenda")
        _need(_text(c["candidate"], 64), f"{what}: candidate must be 1–64 characters")
        _need((c["item"], c["candidate"]) not in seen, f"{what}: candidate {c['candidate']!r} nominated twice")
        seen.add((c["item"], c["candidate"]))
        _need(c["by"] in NOMINATED_BY, f"{what}: by must be organiser, owners or self")
        _need(isinstance(c["statement"], str) and HEX64_RE.match(c["statement"]) is not None,
              f"{what}: statement must be the SHA-256 of the statement text (64 hex digits)")
        sigs = c["signatures"]
        _need(isinstance(sigs, list) and all(isinstance(s, dict) and set(s) == {"key", "sig"}
                                             and isinstance(s["key"], str) and HEX64_RE.match(s["key"]) is not None
                                             and isinstance(s["sig"], str) and _HEX128.match(s["sig"]) is not None
                                             for s in sigs), f"{what}: signatures must be [{{key, sig}}]")
        want = {"organiser": (0, 0), "self": (1, 1), "owners": (member["cosigners"], MAX_COSIGNERS)}[c["by"]]
        _need(want[0] <= len(sigs) <= want[1], f"{what}: a nomination by {c['by']} carries {len(sigs)} signatures "
                                               f"(needs {want[0]}{'' if want[0] == want[1] else ' or more'})")
        _need(len({s["key"] for s in sigs}) == len(sigs), f"{what}: one key signs twice")
        _need(c["status"] in VETTING, f"{what}: status must be approved or rejected")
        _need(isinstance(c["note"], str) and len(c["note"]) <= MAX_NOTE, f"{what}: note must be a text of at most "
                                                                          f"{MAX_NOTE} characters")
        if c["status"] == "approved":
            approved[c["item"]].append(c["candidate"])
    for item, names in election_items.items():
        _need(tuple(approved[item]) == tuple(names),
              f"round: the approved candidates of {item} ({', '.join(approved[item]) or 'none'}) are not the "
              f"item's candidates in ballot order ({', '.join(names)})")


def parse_extend(body: object) -> dict:
    """Check the shape of a ``round.extend`` body (SPEC §7.6)."""
    _need(isinstance(body, dict) and set(body) == EXTEND_KEYS,
          f"延期条目字段不符 / round.extend: expected exactly the members {', '.join(sorted(EXTEND_KEYS))}")
    _need(body["v"] == 1 and type(body["v"]) is int, "round.extend: v must be 1")
    previous = parse_time(body["previous"], "round.extend.previous")
    closes = parse_time(body["closes"], "round.extend.closes")
    _need(closes > previous, "round.extend: closes must be later than previous (no shortening)")
    _need(_text(body["reason"], MAX_REASON), f"round.extend: reason must be a text of 1–{MAX_REASON} characters")
    return body
