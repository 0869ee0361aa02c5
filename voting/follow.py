"""Follow-through (办): the record of how a passed decision is carried out (SPEC §11).

Entry types (bodies in SPEC §11.1–§11.4):

- ``follow``: opens the implementation record of one passed decision — the round's published
  ``round.result`` (by seq) and the item whose outcome is ``passed``; the responsible party; the
  approved amount for a fund matter (integer, 0.01 yuan; null when nothing is spent); milestones
  with due dates.
- ``follow.update``: a status note, optionally for a milestone (``started``, ``done``,
  ``delayed``) or a plain ``note``, with documents by name and SHA-256 (the files beside the ledger).
- ``follow.spend``: one payment against the approved amount, with the running total; a payment
  that takes the total beyond the approved amount is recorded only as an overrun with its reason
  (decision, SPEC §11.3: it is shown as such and does not authorise anything).
- ``follow.complete``: the record is complete — every milestone done, the final total stated.

After ``follow.complete`` a consultation (SPEC §10) may name the record in its ``follow`` member:
owners rate the result.  ``Book`` replays the entries; the verifier reports what breaks a rule
(``voting.follow_audit``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from ledger.entry import HEX64_RE, ParsedEntry
from voting.public_text import check_public

FOLLOW = "follow"
UPDATE = "follow.update"
SPEND = "follow.spend"
COMPLETE = "follow.complete"
TYPES = (FOLLOW, UPDATE, SPEND, COMPLETE)
STATUSES = ("started", "done", "delayed", "note")
PASSED = ("passed",)
ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
MILESTONE_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
MAX_TITLE, MAX_PARTY, MAX_TEXT, MAX_NAME, MAX_REASON = 200, 200, 1000, 200, 500
MAX_MILESTONES, MAX_DOCUMENTS = 30, 20
MAX_AMOUNT = 2**53 - 1

FOLLOW_KEYS = frozenset({"v", "follow", "decision", "title", "responsible", "amount", "milestones"})
UPDATE_KEYS = frozenset({"v", "follow", "milestone", "status", "text", "documents"})
SPEND_KEYS = frozenset({"v", "follow", "amount", "payee", "purpose", "documents", "total", "overrun"})
COMPLETE_KEYS = frozenset({"v", "follow", "spent", "text", "documents"})


class FollowError(ValueError):
    """A refused follow-through step: a stable ``code``, a message 中文 / English, an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 422):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _need(cond: bool, message: str, code: str = "bad_request") -> None:
    if not cond:
        raise FollowError(code, message)


def _int(v: object) -> bool:
    return type(v) is int


def yuan(fen: int) -> str:
    """0.01-yuan integer → "1234.56" (exact, for pages)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def parse_yuan(text: str) -> int:
    """"1234.5" → 123450; more than two decimals, signs, exponents or other characters: ValueError."""
    t = text.strip().replace(",", "").replace("，", "")
    m = re.fullmatch(r"(\d{1,15})(?:\.(\d{1,2}))?", t)
    if m is None:
        raise ValueError("金额须为不超过两位小数的数字 / an amount in yuan with at most two decimals")
    value = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    if value > MAX_AMOUNT:
        raise ValueError("金额过大 / amount too large")
    return value


def check_documents(value: object) -> list[dict]:
    """``documents``: [{"name", "sha256"}], names unique (SPEC §11.2)."""
    _need(isinstance(value, list) and len(value) <= MAX_DOCUMENTS, f"documents: a list of at most {MAX_DOCUMENTS}")
    names = set()
    for i, d in enumerate(value):
        _need(isinstance(d, dict) and set(d) == {"name", "sha256"} and check_public(d["name"], MAX_NAME)
              and isinstance(d["sha256"], str) and HEX64_RE.match(d["sha256"]) is not None
              and d["name"] not in names, f"documents[{i}]: {{name: unique public text, sha256: 64 hex}}")
        names.add(d["name"])
    return value


def _date(value: object) -> bool:
    if not isinstance(value, str) or DATE_RE.match(value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Milestone:
    id: str
    title: str
    due: str


@dataclass
class Record:
    """One implementation record as its entries leave it."""

    id: str
    seq: int
    time: str
    round: str
    item: str
    result: int
    title: str
    responsible: str
    amount: int | None
    milestones: tuple[Milestone, ...]
    updates: list[tuple[int, str, dict]] = field(default_factory=list)  # (seq, time, body)
    spends: list[tuple[int, str, dict]] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=dict)  # milestone → seq of its "done" update
    total: int = 0
    complete: tuple[int, str, dict] | None = None

    @property
    def overrun(self) -> bool:
        return self.amount is not None and self.total > self.amount

    def status(self) -> str:
        """open | complete."""
        return "complete" if self.complete is not None else "open"


@dataclass
class Book:
    """Follow-through records replayed in log order (SPEC §11.5), with the published results they
    rest on; ``problems``: (seq, message) for every entry that breaks a rule (it changes nothing)."""

    records: dict[str, Record] = field(default_factory=dict)
    results: dict[int, tuple[str, dict]] = field(default_factory=dict)  # round.result seq → (round, body)
    decided: dict[tuple[str, str], str] = field(default_factory=dict)  # (round, item) → follow id
    problems: list[tuple[int, str]] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    strict: bool = False  # the server: raise FollowError instead of noting the problem

    def apply(self, e: ParsedEntry) -> None:
        if e.type == "round.result":
            if isinstance(e.body, dict) and isinstance(e.body.get("round"), str):
                self.results[e.seq] = (e.body["round"], e.body)
            return
        if e.type not in TYPES:
            return
        try:
            {FOLLOW: self._follow, UPDATE: self._update, SPEND: self._spend, COMPLETE: self._complete}[e.type](e)
        except FollowError as exc:
            if self.strict:
                raise
            self.problems.append((e.seq, f"{e.type}: {exc.message}"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if self.strict:
                raise FollowError("bad_request", f"格式错误 / malformed ({exc})") from None
            self.problems.append((e.seq, f"{e.type}: 格式错误 / malformed ({exc})"))

    def _known(self, body: dict, *, open_only: bool = True) -> Record:
        fid = body.get("follow")
        rec = self.records.get(fid) if isinstance(fid, str) else None
        if rec is None:
            raise FollowError("not_found", f"落实记录 {fid!r} 此前不存在 / no follow-through record {fid!r} before "
                                           "this entry", 404)
        if open_only and rec.complete is not None:
            raise FollowError("complete", f"落实记录 {fid} 已完成 / follow-through record {fid} is already complete",
                              409)
        return rec

    def _follow(self, e: ParsedEntry) -> None:
        b = e.body
        _need(set(b) == FOLLOW_KEYS, f"成员须为 {sorted(FOLLOW_KEYS)} / members must be exactly {sorted(FOLLOW_KEYS)}")
        _need(b["v"] == 1 and _int(b["v"]), "v must be 1")
        _need(isinstance(b["follow"], str) and ID_RE.match(b["follow"]) is not None, "follow: bad id")
        _need(b["follow"] not in self.records, f"落实记录 {b['follow']} 已存在 / follow-through record "
                                               f"{b['follow']} exists already", )
        d = b["decision"]
        _need(isinstance(d, dict) and set(d) == {"round", "item", "result"} and _int(d["result"]),
              "decision: {round, item, result}")
        found = self.results.get(d["result"])
        _need(found is not None and found[0] == d["round"],
              f"decision.result 第 {d['result']} 条不是轮次 {d['round']} 的结果公告 / entry {d['result']} is not the "
              f"round.result of round {d['round']!r}", "not_decided")
        items = found[1].get("tally", {}).get("items", {})
        item = items.get(d["item"]) if isinstance(d["item"], str) else None
        _need(item is not None, f"结果中没有事项 {d['item']!r} / the result has no item {d['item']!r}", "not_decided")
        _need(item.get("outcome") in PASSED, f"事项 {d['item']} 未通过（{item.get('outcome')}），不能建立落实记录 / "
                                             f"item {d['item']} did not pass ({item.get('outcome')})", "not_passed")
        _need((d["round"], d["item"]) not in self.decided,
              f"该决定已有落实记录 {self.decided.get((d['round'], d['item']))} / this decision already has a "
              "follow-through record", "duplicate")
        _need(check_public(b["title"], MAX_TITLE), f"title: 1–{MAX_TITLE} characters of public text")
        _need(check_public(b["responsible"], MAX_PARTY), f"responsible: 1–{MAX_PARTY} characters of public text")
        _need(b["amount"] is None or (_int(b["amount"]) and 0 < b["amount"] <= MAX_AMOUNT),
              "amount: null or a positive integer of 0.01 yuan")
        ms = b["milestones"]
        _need(isinstance(ms, list) and len(ms) <= MAX_MILESTONES, f"milestones: a list of at most {MAX_MILESTONES}")
        seen: set[str] = set()
        milestones = []
        for i, m in enumerate(ms):
            _need(isinstance(m, dict) and set(m) == {"id", "title", "due"} and isinstance(m["id"], str)
                  and MILESTONE_RE.match(m["id"]) is not None and m["id"] not in seen
                  and check_public(m["title"], MAX_TITLE) and _date(m["due"]),
                  f"milestones[{i}]: {{id: unique [a-z0-9-], title: public text, due: YYYY-MM-DD}}")
            seen.add(m["id"])
            milestones.append(Milestone(m["id"], m["title"], m["due"]))
        rec = Record(b["follow"], e.seq, e.time, d["round"], d["item"], d["result"], b["title"], b["responsible"],
                     b["amount"], tuple(milestones))
        self.records[rec.id] = rec
        self.decided[(rec.round, rec.item)] = rec.id
        self.checked["follow-through records"] = self.checked.get("follow-through records", 0) + 1

    def _update(self, e: ParsedEntry) -> None:
        b = e.body
        _need(set(b) == UPDATE_KEYS, f"成员须为 {sorted(UPDATE_KEYS)} / members must be exactly {sorted(UPDATE_KEYS)}")
        rec = self._known(b)
        _need(b["v"] == 1 and _int(b["v"]) and b["status"] in STATUSES, f"v must be 1, status one of {STATUSES}")
        m = b["milestone"]
        ids = {x.id for x in rec.milestones}
        if b["status"] == "note":
            _need(m is None or m in ids, f"milestone {m!r}: not a milestone of the record")
        else:
            _need(m in ids, f"状态 {b['status']} 须指明本记录的里程碑 / status {b['status']} needs a milestone of "
                            "the record")
            _need(m not in rec.done, f"里程碑 {m} 已完成（第 {rec.done.get(m)} 条）/ milestone {m} is already done "
                                     f"(entry {rec.done.get(m)})", "milestone_done")
        _need(check_public(b["text"], MAX_TEXT), f"text: 1–{MAX_TEXT} characters of public text")
        check_documents(b["documents"])
        if b["status"] == "done":
            rec.done[m] = e.seq
        rec.updates.append((e.seq, e.time, b))

    def _spend(self, e: ParsedEntry) -> None:
        b = e.body
        _need(set(b) == SPEND_KEYS, f"成员须为 {sorted(SPEND_KEYS)} / members must be exactly {sorted(SPEND_KEYS)}")
        rec = self._known(b)
        _need(b["v"] == 1 and _int(b["v"]), "v must be 1")
        _need(rec.amount is not None, f"落实记录 {rec.id} 没有批准金额，不能记支出 / record {rec.id} has no approved "
                                      "amount: no spending can be recorded", "no_amount")
        _need(_int(b["amount"]) and 0 < b["amount"] <= MAX_AMOUNT, "amount: a positive integer of 0.01 yuan")
        _need(check_public(b["payee"], MAX_PARTY) and check_public(b["purpose"], MAX_TEXT),
              "payee, purpose: public text")
        check_documents(b["documents"])
        total = rec.total + b["amount"]
        _need(b["total"] == total, f"累计金额不符：记为 {b['total']!r}，应为 {total} / total: stated {b['total']!r}, "
                                   f"recomputed {total} (0.01 yuan)", "bad_total")
        if total > rec.amount:
            o = b["overrun"]
            _need(isinstance(o, dict) and set(o) == {"reason"} and check_public(o["reason"], MAX_REASON),
                  f"累计 {yuan(total)} 元超过批准的 {yuan(rec.amount)} 元：只能作为超支记录并写明理由 / the total "
                  f"{yuan(total)} exceeds the approved {yuan(rec.amount)} yuan: recorded only as an overrun with "
                  "a reason", "overrun")
        else:
            _need(b["overrun"] is None, "overrun: null while the total is within the approved amount")
        rec.total = total
        rec.spends.append((e.seq, e.time, b))
        self.checked["follow-through payments"] = self.checked.get("follow-through payments", 0) + 1

    def _complete(self, e: ParsedEntry) -> None:
        b = e.body
        _need(set(b) == COMPLETE_KEYS, f"成员须为 {sorted(COMPLETE_KEYS)} / members must be exactly "
                                       f"{sorted(COMPLETE_KEYS)}")
        rec = self._known(b)
        _need(b["v"] == 1 and _int(b["v"]), "v must be 1")
        missing = [m.id for m in rec.milestones if m.id not in rec.done]
        _need(not missing, f"里程碑 {', '.join(missing)} 尚未完成 / milestones not done: {', '.join(missing)}",
              "milestones_open")
        _need(b["spent"] == rec.total, f"spent {b['spent']!r} ≠ 支出合计 / the payments' total {rec.total}",
              "bad_total")
        _need(check_public(b["text"], MAX_TEXT), f"text: 1–{MAX_TEXT} characters of public text")
        check_documents(b["documents"])
        rec.complete = (e.seq, e.time, b)


def replay(entries) -> Book:
    book = Book()
    for e in entries:
        book.apply(e)
    return book
