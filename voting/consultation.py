"""Consultations (意见征集): non-binding surveys and satisfaction ratings in the ledger (SPEC §10).

Entry types (bodies in SPEC §10.1–§10.4):

- ``consult``: the announcement — id, title, the questions (a choice among options, or a rating
  1–5), whether free text is asked, whether the consultation is anonymous, the follow-through
  record it rates (or null), the window, the roll it snapshots (seq and leaf hash) and the voters
  with their areas (the whole estate: exactly the roll entry's voters and areas), the totals.
- ``consult.response``: one owner's answers, signed in the browser with their credential key over
  ``"gongjue/v1/consult.response" ‖ 0x00 ‖ JCS(statement)`` (the rule of SPEC §3.6 and §7.8);
  free text appears only as a salted SHA-256 commitment, the text itself beside the ledger.
- ``consult.moderate``: staff publish or withhold one response's free text (by its commitment).
- ``consult.close``: the number of counted responses, the participation and, per question and
  answer, the heads and the area — exact integers, recomputed by the verifier.

``Book`` replays these entries (with the credential registry, the rolls and the follow-through
records) in log order: the server reads a consultation through it and ``gongjue verify`` reports
every problem it finds (``voting.consultation_audit``).  Nothing here decides anything: there
are no thresholds.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

import rfc8785

from identity import authority, record
from ledger.entry import HEX64_RE, ParsedEntry
from ledger.verify import entry_leaf_hash
from voting.crypto import ed25519
from voting.public_text import check_public

CONSULT = "consult"
RESPONSE = "consult.response"
MODERATE = "consult.moderate"
CLOSE = "consult.close"
TYPES = (CONSULT, RESPONSE, MODERATE, CLOSE)
KINDS = ("choice", "rating")
RATINGS = 5
DECISIONS = ("publish", "withhold")
FACTORS = ("sms", "pin")
ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
QUESTION_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z")
HEX32_RE = re.compile(r"[0-9a-f]{32}\Z")
HEX128_RE = re.compile(r"[0-9a-f]{128}\Z")
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
MAX_TITLE, MAX_QUESTION, MAX_OPTION, MAX_REASON, MAX_TEXT = 200, 200, 100, 200, 1000
MAX_QUESTIONS, MAX_OPTIONS = 20, 12

CONSULT_KEYS = frozenset({"v", "consult", "title", "questions", "free_text", "anonymous", "follow", "window",
                          "roll", "voters", "totals"})
RESPONSE_KEYS = frozenset({"v", "consult", "statement", "key", "sig", "factor"})
STATEMENT_KEYS = frozenset({"v", "type", "consult", "answers", "text"})
MODERATE_KEYS = frozenset({"v", "consult", "response", "text", "decision", "reason"})
CLOSE_KEYS = frozenset({"v", "consult", "responses", "participation", "counts"})


class ConsultError(ValueError):
    """A refused consultation step: a stable ``code``, a message 中文 / English, an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 422):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise ConsultError("bad_request", message)


def _int(v: object) -> bool:
    return type(v) is int


# --- formats ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    id: str
    kind: str  # choice | rating
    text: str
    options: tuple[str, ...]  # a rating: ("1", "2", "3", "4", "5")

    @property
    def size(self) -> int:
        return len(self.options)

    def to_json(self) -> dict:
        out = {"id": self.id, "kind": self.kind, "text": self.text}
        if self.kind == "choice":
            out["options"] = list(self.options)
        return out


def parse_questions(value: object) -> tuple[Question, ...]:
    """The questions of a ``consult`` body (SPEC §10.1), or ConsultError(bad_request) naming the problem."""
    _need(isinstance(value, list) and 1 <= len(value) <= MAX_QUESTIONS,
          f"问题须为 1–{MAX_QUESTIONS} 个 / questions: a list of 1–{MAX_QUESTIONS}")
    out, seen = [], set()
    for i, q in enumerate(value):
        where = f"questions[{i}]"
        _need(isinstance(q, dict) and q.get("kind") in KINDS, f"{where}: kind 须为 choice 或 rating / kind must be "
                                                             "choice or rating")
        keys = {"id", "kind", "text", "options"} if q["kind"] == "choice" else {"id", "kind", "text"}
        _need(set(q) == keys, f"{where}: 成员须为 {sorted(keys)} / members must be exactly {sorted(keys)}")
        _need(isinstance(q["id"], str) and QUESTION_ID_RE.match(q["id"]) is not None and q["id"] not in seen,
              f"{where}: 编号须为小写字母数字且不重复 / id: [a-z0-9-], unique")
        _need(check_public(q["text"], MAX_QUESTION), f"{where}: 问题文字不符合要求 / text: 1–{MAX_QUESTION} "
                                                     "characters of public text")
        if q["kind"] == "choice":
            opts = q["options"]
            _need(isinstance(opts, list) and 2 <= len(opts) <= MAX_OPTIONS
                  and all(check_public(o, MAX_OPTION) for o in opts) and len(set(opts)) == len(opts),
                  f"{where}: 选项须为 2–{MAX_OPTIONS} 个不重复的文字 / options: 2–{MAX_OPTIONS} unique texts")
            options = tuple(opts)
        else:
            options = tuple(str(r) for r in range(1, RATINGS + 1))
        seen.add(q["id"])
        out.append(Question(q["id"], q["kind"], q["text"], options))
    return tuple(out)


def answer_index(question: Question, answer: object) -> int | None:
    """The 0-based count slot of an answer: a choice's option index, a rating r → r − 1; None: skipped.
    ValueError for an answer the question does not allow."""
    if answer is None:
        return None
    if not _int(answer):
        raise ValueError("not an integer")
    if question.kind == "choice":
        if not 0 <= answer < question.size:
            raise ValueError(f"choice {answer} is not 0 … {question.size - 1}")
        return answer
    if not 1 <= answer <= RATINGS:
        raise ValueError(f"rating {answer} is not 1 … {RATINGS}")
    return answer - 1


def text_commitment(salt: str, text: str) -> str:
    """SHA-256(JCS({"salt", "text"})) in hex: what the ledger keeps of a free text (SPEC §10.2)."""
    return hashlib.sha256(rfc8785.dumps({"salt": salt, "text": text})).hexdigest()


def statement(announcement_hash: str, answers: list, text: str | None) -> dict:
    """What the owner's credential key signs (SPEC §10.2)."""
    return {"v": 1, "type": RESPONSE, "consult": announcement_hash, "answers": answers, "text": text}


def signing_bytes(st: dict) -> bytes:
    return b"gongjue/v1/" + RESPONSE.encode() + b"\x00" + rfc8785.dumps(st)


def entry_hash(e: ParsedEntry) -> str:
    """The leaf hash (SPEC §2.2) of a parsed entry, hex."""
    return entry_leaf_hash(e).hex()


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or TIME_RE.match(text) is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


@dataclass
class Consultation:
    """One consultation as its entries leave it (``Book``)."""

    id: str
    seq: int
    time: str
    hash: str  # the announcement's leaf hash: what every response statement names
    title: str
    questions: tuple[Question, ...]
    free_text: bool
    anonymous: bool
    follow: str | None
    opens: str
    closes: str
    voters: dict[str, int]  # pseudonym → area (0.01 m²), roll order
    totals: tuple[int, int]
    responses: dict[str, int] = field(default_factory=dict)  # voter → seq of the counted response
    answers: dict[int, list] = field(default_factory=dict)  # response seq → answers
    texts: dict[int, str] = field(default_factory=dict)  # response seq → text commitment
    moderation: dict[int, tuple[str, str | None, int]] = field(default_factory=dict)  # seq → (decision, reason, mod seq)
    close: dict | None = None
    close_seq: int | None = None

    def state(self, now: datetime) -> str:
        """announced | open | closed (window over, not yet counted) | counted (a ``consult.close``)."""
        if self.close is not None:
            return "counted"
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        if stamp < self.opens:
            return "announced"
        return "open" if stamp < self.closes else "closed"

    def counts(self) -> tuple[tuple[int, int], list[dict]]:
        """(participation (heads, area), [{"id", "heads", "area"}]) recomputed from the counted responses."""
        heads = [[0] * q.size for q in self.questions]
        area = [[0] * q.size for q in self.questions]
        p_heads = p_area = 0
        for voter, seq in self.responses.items():
            weight = self.voters[voter]
            p_heads += 1
            p_area += weight
            for i, (q, a) in enumerate(zip(self.questions, self.answers[seq], strict=True)):
                slot = answer_index(q, a)
                if slot is not None:
                    heads[i][slot] += 1
                    area[i][slot] += weight
        return (p_heads, p_area), [{"id": q.id, "heads": heads[i], "area": area[i]}
                                   for i, q in enumerate(self.questions)]

    def published(self) -> list[int]:
        """Response seqs whose text is published, in log order."""
        return sorted(s for s, (d, _, _) in self.moderation.items() if d == "publish")


def consult_body(*, consult_id: str, title: str, questions: list[dict], free_text: bool, anonymous: bool,
                 follow: str | None, opens: str, closes: str, roll_seq: int, roll_leaf_hash: str,
                 voters: list[tuple[str, int]]) -> dict:
    return {"v": 1, "consult": consult_id, "title": title, "questions": questions, "free_text": free_text,
            "anonymous": anonymous, "follow": follow, "window": {"opens": opens, "closes": closes},
            "roll": {"seq": roll_seq, "leaf_hash": roll_leaf_hash},
            "voters": [{"voter": v, "area": a} for v, a in voters],
            "totals": {"heads": len(voters), "area": sum(a for _, a in voters)}}


# --- the replay ---------------------------------------------------------------------------------


@dataclass
class Book:
    """Consultations replayed from the whole log in order (SPEC §10.5).  ``problems`` lists
    (seq, message) for every entry that breaks a rule; such an entry changes nothing."""

    consults: dict[str, Consultation] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    registry: authority.Registry = field(default_factory=authority.Registry)
    roll: tuple[int, str, dict] | None = None  # the latest roll entry: (seq, leaf hash, body)
    follows: object = None  # voting.follow.Book, replayed alongside
    checked: dict[str, int] = field(default_factory=dict)
    strict: bool = False  # the server: raise ConsultError instead of noting the problem

    def __post_init__(self) -> None:
        from voting import follow

        if self.follows is None:
            self.follows = follow.Book()

    def _count(self, name: str) -> None:
        self.checked[name] = self.checked.get(name, 0) + 1

    def apply(self, e: ParsedEntry) -> None:
        from voting import follow

        if e.type == record.ROLL:
            self.roll = (e.seq, entry_hash(e), e.body)
        if e.type in (record.ESTATE, record.ROLL, *authority.ENTRY_TYPES):
            try:
                self.registry.apply(e, check_roll=True, check_keys=False)
            except (authority.AuthorityError, KeyError, TypeError, ValueError):
                pass  # identity.authority.CHECKS reports it
            return
        if e.type in follow.TYPES or e.type == "round.result":
            self.follows.apply(e)
            return
        if e.type not in TYPES:
            return
        try:
            if e.type == CONSULT:
                self._consult(e)
            elif e.type == RESPONSE:
                self._response(e)
            elif e.type == MODERATE:
                self._moderate(e)
            else:
                self._close(e)
        except ConsultError as exc:
            if self.strict:
                raise
            self.problems.append((e.seq, f"{e.type}: {exc.message}"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if self.strict:
                raise ConsultError("bad_request", f"格式错误 / malformed ({exc})") from None
            self.problems.append((e.seq, f"{e.type}: 格式错误 / malformed ({exc})"))

    def _known(self, body: dict) -> Consultation:
        cid = body.get("consult")
        c = self.consults.get(cid) if isinstance(cid, str) else None
        if c is None:
            raise ConsultError("not_found", f"意见征集 {cid!r} 此前未公告 / consultation {cid!r} was not announced "
                                            "before this entry", 404)
        return c

    def _consult(self, e: ParsedEntry) -> None:
        b = e.body
        _need(set(b) == CONSULT_KEYS, f"成员须为 {sorted(CONSULT_KEYS)} / members must be exactly {sorted(CONSULT_KEYS)}")
        _need(b["v"] == 1 and _int(b["v"]), "v 须为 1 / v must be 1")
        _need(isinstance(b["consult"], str) and ID_RE.match(b["consult"]) is not None, "consult: bad id")
        _need(b["consult"] not in self.consults, f"意见征集 {b['consult']} 已公告过 / consultation {b['consult']} was "
                                                 "announced before")
        _need(check_public(b["title"], MAX_TITLE), f"title: 1–{MAX_TITLE} characters of public text")
        questions = parse_questions(b["questions"])
        _need(type(b["free_text"]) is bool and type(b["anonymous"]) is bool, "free_text, anonymous: booleans")
        w = b["window"]
        _need(isinstance(w, dict) and set(w) == {"opens", "closes"}, "window: {opens, closes}")
        opens, closes = parse_time(w["opens"]), parse_time(w["closes"])
        _need(opens is not None and closes is not None and w["opens"] < w["closes"],
              "窗口须为 opens < closes 的 UTC 时间 / window: UTC times with opens < closes")
        _need(w["opens"] >= e.time, "开始时间早于公告时间 / window.opens is before the announcement")
        follow = b["follow"]
        if follow is not None:
            rec = self.follows.records.get(follow) if isinstance(follow, str) else None
            _need(rec is not None and rec.complete is not None,
                  f"follow {follow!r}：此前没有已完成的落实记录 / follow: no completed follow-through record "
                  f"{follow!r} before this entry")
        roll = b["roll"]
        _need(isinstance(roll, dict) and set(roll) == {"seq", "leaf_hash"}, "roll: {seq, leaf_hash}")
        _need(self.roll is not None and roll["seq"] == self.roll[0] and roll["leaf_hash"] == self.roll[1],
              "roll 须为此前最新的名册条目（序号与叶哈希）/ roll must name the latest roll entry before it "
              "(seq and leaf hash)")
        weights = record.voter_weights(self.roll[2])
        voters = b["voters"]
        _need(isinstance(voters, list) and [v.get("voter") if isinstance(v, dict) else None for v in voters]
              == list(weights) and all(isinstance(v, dict) and set(v) == {"voter", "area"}
                                       and v["area"] == weights[v["voter"]] for v in voters),
              "voters 须与名册条目的表决权人和面积完全一致 / voters must be exactly the roll entry's voters and areas, "
              "in its order")
        t = b["totals"]
        _need(t == {"heads": len(weights), "area": sum(weights.values())},
              "totals 与表决权人不符 / totals do not match the voters")
        c = Consultation(b["consult"], e.seq, e.time, entry_hash(e), b["title"], questions, b["free_text"],
                         b["anonymous"], follow, w["opens"], w["closes"], dict(weights),
                         (t["heads"], t["area"]))
        self.consults[c.id] = c
        self._count("consultations")

    def _response(self, e: ParsedEntry) -> None:
        b = e.body
        _need(set(b) == RESPONSE_KEYS, f"成员须为 {sorted(RESPONSE_KEYS)} / members must be exactly "
                                       f"{sorted(RESPONSE_KEYS)}")
        c = self._known(b)
        _need(b["v"] == 1 and _int(b["v"]) and b["factor"] in FACTORS, "v must be 1, factor sms or pin")
        _need(c.close is None, "意见征集已统计，之后不能再答 / a response after the consultation's close")
        _need(c.opens <= e.time < c.closes, "回答时间不在征集期内 / the response's time is outside the window")
        st = b["statement"]
        _need(isinstance(st, dict) and set(st) == STATEMENT_KEYS and type(st["v"]) is int and st["v"] == 1
              and st["type"] == RESPONSE,
              "statement: {v: 1, type: consult.response, consult, answers, text}")
        _need(st["consult"] == c.hash, "statement.consult 不是本次征集公告的叶哈希 / statement.consult is not this "
                                       "consultation's announcement leaf hash")
        answers = st["answers"]
        _need(isinstance(answers, list) and len(answers) == len(c.questions), "answers: one per question")
        for q, a in zip(c.questions, answers, strict=True):
            try:
                answer_index(q, a)
            except ValueError as exc:
                raise ConsultError("bad_response", f"问题 {q.id} 的答案无效 / question {q.id}: {exc}") from None
        text = st["text"]
        _need(text is None or (c.free_text and isinstance(text, str) and HEX64_RE.match(text) is not None),
              "text 须为 64 位十六进制承诺值（仅在征集允许文字时）或 null / text: a 64-hex commitment (only when "
              "free_text) or null")
        key, sig = b["key"], b["sig"]
        _need(isinstance(key, str) and HEX64_RE.match(key) is not None and isinstance(sig, str)
              and HEX128_RE.match(sig) is not None, "key: 64 hex, sig: 128 hex")
        try:
            ed25519.verify(bytes.fromhex(key), signing_bytes(st), bytes.fromhex(sig))
        except Exception:  # noqa: BLE001 — any verification failure is the same finding
            raise ConsultError("bad_signature", "签名无效 / the signature does not verify", 422) from None
        voter = self.registry.voter_of(key)
        if voter is None:
            raise ConsultError("unknown_credential", "公钥已作废 / the key was revoked" if self.registry.revoked(key)
                               else "公钥未登记 / the key is not registered", 403)
        if voter not in c.voters:
            raise ConsultError("not_eligible", f"表决权人 {voter} 不在本次征集名单中 / voter {voter} is not among "
                                               "the consultation's voters", 403)
        if voter in c.responses:
            raise ConsultError("already_answered", f"表决权人 {voter} 已回答过（第 {c.responses[voter]} 条）/ voter "
                                                   f"{voter} already answered (entry {c.responses[voter]})", 409)
        c.responses[voter] = e.seq
        c.answers[e.seq] = answers
        if text is not None:
            c.texts[e.seq] = text
        self._count("consultation responses")

    def _moderate(self, e: ParsedEntry) -> None:
        b = e.body
        _need(set(b) == MODERATE_KEYS, f"成员须为 {sorted(MODERATE_KEYS)} / members must be exactly "
                                       f"{sorted(MODERATE_KEYS)}")
        c = self._known(b)
        _need(b["v"] == 1 and _int(b["v"]) and b["decision"] in DECISIONS, "v must be 1, decision publish or withhold")
        _need(_int(b["response"]) and b["response"] in c.texts and c.texts[b["response"]] == b["text"],
              f"第 {b['response']} 条不是本次征集中带此文字承诺的回答 / entry {b['response']} is not a counted "
              "response of this consultation with that text commitment")
        _need(b["response"] not in c.moderation, f"第 {b['response']} 条的文字已审核过 / the text of entry "
                                                 f"{b['response']} was moderated before")
        if b["decision"] == "withhold":
            _need(check_public(b["reason"], MAX_REASON), "不公开须写明理由 / withholding needs a reason "
                                                         f"(1–{MAX_REASON} characters of public text)")
        else:
            _need(b["reason"] is None, "reason: null when published")
        c.moderation[b["response"]] = (b["decision"], b["reason"], e.seq)

    def _close(self, e: ParsedEntry) -> None:
        b = e.body
        _need(set(b) == CLOSE_KEYS, f"成员须为 {sorted(CLOSE_KEYS)} / members must be exactly {sorted(CLOSE_KEYS)}")
        c = self._known(b)
        _need(b["v"] == 1 and _int(b["v"]), "v must be 1")
        _need(c.close is None, "意见征集已统计过 / a second close")
        _need(e.time >= c.closes, "统计早于征集结束 / the close is before the end of the window")
        (heads, area), counts = c.counts()
        _need(b["responses"] == heads, f"responses {b['responses']!r} ≠ 重算 / recomputed {heads}")
        _need(b["participation"] == {"heads": heads, "area": area},
              f"participation ≠ 重算 / recomputed heads {heads}, area {area}")
        stated = b["counts"]
        _need(isinstance(stated, list) and len(stated) == len(counts), "counts: one per question")
        for mine, theirs in zip(counts, stated, strict=True):
            _need(isinstance(theirs, dict) and theirs.get("id") == mine["id"], f"counts: question {mine['id']} expected")
            for measure in ("heads", "area"):
                got = theirs.get(measure)
                if got != mine[measure]:
                    raise ConsultError("bad_counts", f"问题 {mine['id']} 的{'人数' if measure == 'heads' else '面积'}"
                                                     f"不符 / question {mine['id']}, {measure}: stated {got!r}, "
                                                     f"recomputed {mine[measure]}")
        c.close, c.close_seq = b, e.seq
        self._count("consultation counts")


def replay(entries) -> Book:
    """The Book of ``entries`` (seq order)."""
    book = Book()
    for e in entries:
        book.apply(e)
    return book
