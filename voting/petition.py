"""Owners' proposals and petitions (业主提议与联名): formats and rules (SPEC §9).

An owner drafts a proposal; owners in its scope co-sign it with their own credential keys; when
the signers reach 20% of the owners in scope by heads (物业管理条例 Art. 13; DOMAIN.md
"Procedure": "a temporary assembly must be convened when 20% or more of owners (by heads) ask
for it") the proposal requires the committee to convene, and its response is recorded.

Entry types (bodies in SPEC §9.1–§9.5):

- ``petition`` — the proposal published: title, text, matter, scope, attachments (name and
  SHA-256; the files are kept beside the ledger), the author's pseudonym, the roll snapshot of its
  scope (voters and areas in scope, totals), ``respond_days``, and ``hash`` = the proposal's hash.
- ``petition.sign`` / ``petition.withdraw`` — ``{"v": 1, "petition", "voter", "key", "sig"}``: the
  owner signed, in the browser with the credential key, ``"gongjue/v1/" ‖ type ‖ 0x00 ‖
  JCS({"v": 1, "type", "petition": <hash>, "voter"})`` (the Ed25519 rule of SPEC §3.6).
- ``petition.line`` — appended right after the signature that first reached the line: the
  support then, the date reached (China Standard Time) and the deadline it starts.
- ``petition.response`` — the committee's response recorded by staff: a round announced from the
  proposal (by round id) or a reasoned refusal.

``Book`` holds one estate's petitions as their entries leave them; the server
(``voting.petition_store``) and the verifier (``voting.petition_audit``) apply the same rules
with it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import nacl.signing
import rfc8785

from ledger.entry import canonical
from voting.crypto import ed25519
from voting.lifecycle import china_date
from voting.rules import MATTERS

PETITION = "petition"
SIGN = "petition.sign"
WITHDRAW = "petition.withdraw"
LINE = "petition.line"
RESPONSE = "petition.response"
TYPES = (PETITION, SIGN, WITHDRAW, LINE, RESPONSE)
SIGNED_TYPES = (SIGN, WITHDRAW)

LINE_NUM, LINE_DEN = 1, 5  # 20% of the owners in scope, by heads: 5·signers ≥ heads
RESPOND_DAYS = 15
"""Default period from the day the line is reached to the committee's deadline. DOMAIN.md fixes no
period for convening a temporary assembly; 15 days is the statutory notice period (物业管理条例
Art. 14) that many local rules also give the committee; an estate's rules may set another
(1–90 days), which the ``petition`` entry records so that the deadline is recomputed."""

PETITION_KEYS = frozenset({"v", "petition", "title", "text", "matter", "scope", "attachments", "author", "roll",
                           "voters", "totals", "respond_days", "hash"})
SIGNED_KEYS = frozenset({"v", "petition", "voter", "key", "sig"})
LINE_KEYS = frozenset({"v", "petition", "support", "at", "date", "deadline"})
RESPONSE_KEYS = frozenset({"v", "petition", "kind", "round", "reason"})
MAX_TITLE, MAX_TEXT, MAX_REASON, MAX_ATTACHMENTS = 200, 20000, 2000, 20

_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX128 = re.compile(r"[0-9a-f]{128}\Z")
_VOTER = re.compile(r"[0-9a-f]{32}\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


class PetitionError(ValueError):
    """A refused petition step: a stable ``code`` and a message 中文 / English."""

    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _bad(message: str) -> PetitionError:
    return PetitionError("bad_request", f"联名条目格式不符 / petition entry: {message}", 422)


def _text(value: object, limit: int) -> bool:
    """1–``limit`` characters without surrounding white space, control characters (but line
    breaks and tabs), lone surrogates or bidirectional overrides (which could disguise the text)."""
    return (isinstance(value, str) and 0 < len(value) <= limit and value.strip() == value
            and not any(_refused(ch) for ch in value))


def _refused(ch: str) -> bool:
    if ch in "\n\t":
        return False
    return unicodedata.category(ch) in ("Cc", "Cs", "Co") or "\u202a" <= ch <= "\u202e" \
        or "\u2066" <= ch <= "\u2069"


def _nat(value: object) -> bool:
    return type(value) is int and 0 <= value <= 2**53 - 1


# --- the proposal's hash and the signed statement ---------------------------------------------


def proposal_hash(origin: str, body: dict) -> str:
    """H(JCS({"origin", …every member of the ``petition`` body but ``hash``})) (SPEC §9.1), hex."""
    content = {k: v for k, v in body.items() if k != "hash"}
    return hashlib.sha256(canonical({"origin": origin, **content})).hexdigest()


def statement(kind: str, petition_hash: str, voter: str) -> dict:
    """What the owner's credential key signs to co-sign (``petition.sign``) or withdraw (SPEC §9.2)."""
    return {"v": 1, "type": kind, "petition": petition_hash, "voter": voter}


def signing_bytes(st: dict) -> bytes:
    return b"gongjue/v1/" + st["type"].encode() + b"\x00" + rfc8785.dumps(st)


def sign(kind: str, petition_hash: str, voter: str, key: nacl.signing.SigningKey) -> tuple[str, str]:
    """(key hex, sig hex) of an owner's co-signature or withdrawal (what the browser makes)."""
    sig = key.sign(signing_bytes(statement(kind, petition_hash, voter))).signature
    return bytes(key.verify_key).hex(), sig.hex()


# --- shapes -----------------------------------------------------------------------------------


def parse_scope(value: object) -> dict:
    """``{}`` (the whole estate) or ``{"buildings": [...], "units": [{"building", "unit"}]}``."""
    if not isinstance(value, dict) or not set(value) <= {"buildings", "units"}:
        raise _bad("scope must be {} or {buildings, units}")
    for b in value.get("buildings", []) if isinstance(value.get("buildings", []), list) else [None]:
        if not _text(b, 32):
            raise _bad("scope.buildings must be building labels")
    units = value.get("units", [])
    if not isinstance(units, list) or not all(isinstance(u, dict) and set(u) == {"building", "unit"}
                                              and _text(u["building"], 32) and _text(u["unit"], 32) for u in units):
        raise _bad("scope.units must be [{building, unit}]")
    if value and not value.get("buildings") and not value.get("units"):
        raise _bad("an empty scope is written {} (the whole estate)")
    return value


def parse_petition(b: object) -> dict:
    """Shape of a ``petition`` body (SPEC §9.1); PetitionError(bad_request)."""
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise _bad(msg)

    need(isinstance(b, dict) and set(b) == PETITION_KEYS, f"expected exactly {', '.join(sorted(PETITION_KEYS))}")
    need(b["v"] == 1 and type(b["v"]) is int, "v must be 1")
    need(isinstance(b["petition"], str) and _ID.match(b["petition"]) is not None, "bad petition id")
    need(_text(b["title"], MAX_TITLE), f"title: 1–{MAX_TITLE} characters, no surrounding spaces")
    need(_text(b["text"], MAX_TEXT), f"text: 1–{MAX_TEXT} characters, no surrounding spaces")
    need(b["matter"] in MATTERS, f"matter must be one of {', '.join(MATTERS)}")
    parse_scope(b["scope"])
    atts = b["attachments"]
    need(isinstance(atts, list) and len(atts) <= MAX_ATTACHMENTS, f"attachments: a list of at most {MAX_ATTACHMENTS}")
    for a in atts:
        need(isinstance(a, dict) and set(a) == {"name", "sha256"} and _text(a["name"], 200)
             and isinstance(a["sha256"], str) and _HEX64.match(a["sha256"]) is not None,
             "each attachment is {name: 1–200 characters, sha256: 64 hex}")
    need(len({a["name"] for a in atts}) == len(atts), "attachment names must be unique")
    need(isinstance(b["author"], str) and _VOTER.match(b["author"]) is not None, "author must be a pseudonym")
    r = b["roll"]
    need(isinstance(r, dict) and set(r) == {"seq", "leaf_hash"} and _nat(r["seq"])
         and isinstance(r["leaf_hash"], str) and _HEX64.match(r["leaf_hash"]) is not None,
         "roll is {seq, leaf_hash}")
    vs = b["voters"]
    need(isinstance(vs, list) and len(vs) > 0, "voters: a non-empty list")
    for v in vs:
        need(isinstance(v, dict) and set(v) == {"voter", "area"} and isinstance(v["voter"], str)
             and _VOTER.match(v["voter"]) is not None and _nat(v["area"]) and v["area"] > 0,
             "each voter is {voter: pseudonym, area: positive integer}")
    need(len({v["voter"] for v in vs}) == len(vs), "a voter is listed twice")
    t = b["totals"]
    need(isinstance(t, dict) and set(t) == {"heads", "area"} and _nat(t["heads"]) and _nat(t["area"]),
         "totals is {heads, area}")
    need(t["heads"] == len(vs) and t["area"] == sum(v["area"] for v in vs),
         "totals must be the number of voters and the sum of their areas")
    need(type(b["respond_days"]) is int and 1 <= b["respond_days"] <= 90, "respond_days: 1–90")
    need(isinstance(b["hash"], str) and _HEX64.match(b["hash"]) is not None, "hash must be 64 hex")
    return b


def parse_signed(b: object) -> dict:
    """Shape of a ``petition.sign`` / ``petition.withdraw`` body (SPEC §9.2)."""
    if not (isinstance(b, dict) and set(b) == SIGNED_KEYS and b["v"] == 1 and type(b["v"]) is int
            and isinstance(b["petition"], str) and _ID.match(b["petition"])
            and isinstance(b["voter"], str) and _VOTER.match(b["voter"])
            and isinstance(b["key"], str) and _HEX64.match(b["key"])
            and isinstance(b["sig"], str) and _HEX128.match(b["sig"])):
        raise _bad("a signature is exactly {v: 1, petition, voter: pseudonym, key: 64 hex, sig: 128 hex}")
    return b


def parse_line(b: object) -> dict:
    if not (isinstance(b, dict) and set(b) == LINE_KEYS and b["v"] == 1 and type(b["v"]) is int
            and isinstance(b["petition"], str) and _ID.match(b["petition"])
            and isinstance(b["support"], dict) and set(b["support"]) == {"heads", "area"}
            and _nat(b["support"]["heads"]) and _nat(b["support"]["area"]) and _nat(b["at"])
            and isinstance(b["date"], str) and _DATE.match(b["date"])
            and isinstance(b["deadline"], str) and _DATE.match(b["deadline"])):
        raise _bad("a line entry is exactly {v: 1, petition, support: {heads, area}, at, date, deadline}")
    return b


def parse_response(b: object) -> dict:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise _bad(msg)

    need(isinstance(b, dict) and set(b) == RESPONSE_KEYS, "a response is exactly {v, petition, kind, round, reason}")
    need(b["v"] == 1 and type(b["v"]) is int, "v must be 1")
    need(isinstance(b["petition"], str) and _ID.match(b["petition"]) is not None, "bad petition id")
    need(b["kind"] in ("round", "refusal"), "kind is round or refusal")
    if b["kind"] == "round":
        need(isinstance(b["round"], str) and _ID.match(b["round"]) is not None, "a round response names the round id")
        need(b["reason"] is None or _text(b["reason"], MAX_REASON), f"reason: null or 1–{MAX_REASON} characters")
    else:
        need(b["round"] is None, "a refusal names no round")
        need(_text(b["reason"], MAX_REASON), f"a refusal needs its reason (1–{MAX_REASON} characters)")
    return b


# --- the rules, replayed ----------------------------------------------------------------------


def reaches_line(signers: int, heads: int) -> bool:
    """20% of the owners in scope by heads, exactly: 5·signers ≥ heads (以上 includes the boundary)."""
    return LINE_DEN * signers >= LINE_NUM * heads


def signers_needed(heads: int) -> int:
    """The smallest number of signers that reaches the line: ⌈heads / 5⌉."""
    return -(-LINE_NUM * heads // LINE_DEN)


def deadline(reached: date, days: int) -> date:
    return reached + timedelta(days=days)


@dataclass
class Petition:
    """One petition as its entries leave it."""

    body: dict
    seq: int
    time: str
    signers: dict[str, int] = field(default_factory=dict)  # voter → seq of the signature in force
    withdrawn: dict[str, int] = field(default_factory=dict)  # voter → seq of the last withdrawal
    line: dict | None = None
    line_seq: int | None = None
    response: dict | None = None
    response_seq: int | None = None

    @property
    def id(self) -> str:
        return self.body["petition"]

    @property
    def hash(self) -> str:
        return self.body["hash"]

    @property
    def weights(self) -> dict[str, int]:
        return {v["voter"]: v["area"] for v in self.body["voters"]}

    @property
    def totals(self) -> tuple[int, int]:
        return self.body["totals"]["heads"], self.body["totals"]["area"]

    def support(self) -> tuple[int, int]:
        """(heads, area) of the signatures in force; area = Σ the signers' areas in scope."""
        w = self.weights
        return len(self.signers), sum(w[v] for v in self.signers)

    @property
    def reached(self) -> bool:
        return self.line is not None

    def state(self) -> str:
        if self.response is not None:
            return "answered"
        return "line_reached" if self.line is not None else "collecting"


@dataclass
class Book:
    """The petitions of one estate, in log order (SPEC §9)."""

    petitions: dict[str, Petition] = field(default_factory=dict)
    hashes: set[str] = field(default_factory=set)

    def get(self, petition_id: str) -> Petition:
        p = self.petitions.get(petition_id)
        if p is None:
            raise PetitionError("no_petition", f"没有提议 {petition_id} / no petition {petition_id!r}", 404)
        return p

    def publish(self, body: dict, seq: int, time: str) -> Petition:
        if body["petition"] in self.petitions:
            raise PetitionError("duplicate_petition", f"提议编号 {body['petition']} 已使用 / petition id "
                                                      f"{body['petition']} was used before")
        if body["author"] not in {v["voter"] for v in body["voters"]}:
            raise PetitionError("not_eligible", "提议人不在提议范围内 / the author is not an owner in the "
                                                "proposal's scope", 403)
        p = Petition(body, seq, time)
        self.petitions[p.id] = p
        self.hashes.add(p.hash)
        return p

    def check_signed(self, kind: str, b: dict, key_of) -> Petition:
        """Every rule for a signature or a withdrawal (SPEC §9.2), before it is applied."""
        p = self.get(b["petition"])
        voter = b["voter"]
        if p.response is not None:
            raise PetitionError("answered", "委员会已答复，联名已结束 / the committee has responded: the petition "
                                            "takes no more signatures or withdrawals")
        if voter not in p.weights:
            raise PetitionError("not_eligible", f"表决权人 {voter} 不在提议范围内（提议发布时的名册）/ voter {voter} "
                                                f"is not an owner in the proposal's scope (roll in force at "
                                                f"publication)", 403)
        current = key_of(voter)
        if current is None or b["key"] != current:
            raise PetitionError("bad_signature", f"签名不是表决权人 {voter} 当前的凭证 / the signature is not made "
                                                 f"with voter {voter}'s current credential key", 422)
        try:
            ed25519.verify(bytes.fromhex(b["key"]), signing_bytes(statement(kind, p.hash, voter)),
                           bytes.fromhex(b["sig"]))
        except ed25519.SignatureError as e:
            raise PetitionError("bad_signature", f"签名无效 / the signature does not verify ({e})", 422) from None
        if kind == SIGN and voter in p.signers:
            raise PetitionError("already_signed", f"表决权人 {voter} 已联名（第 {p.signers[voter]} 条）/ voter "
                                                  f"{voter} already signed (entry {p.signers[voter]}): one signature "
                                                  f"per voter")
        if kind == WITHDRAW:
            if voter not in p.signers:
                raise PetitionError("not_signed", f"表决权人 {voter} 没有生效的联名 / voter {voter} has no signature "
                                                  f"in force to withdraw")
            if p.line is not None:
                raise PetitionError("line_reached", "联名已达到法定比例，签名不能再撤回 / the petition reached the "
                                                    "statutory line: signatures can no longer be withdrawn")
        return p

    def apply_signed(self, kind: str, b: dict, seq: int, key_of) -> Petition:
        p = self.check_signed(kind, b, key_of)
        if kind == SIGN:
            p.signers[b["voter"]] = seq
        else:
            del p.signers[b["voter"]]
            p.withdrawn[b["voter"]] = seq
        return p

    def line_due(self, p: Petition) -> bool:
        """True when the signatures in force reach the line and no line entry was recorded yet."""
        return p.line is None and reaches_line(len(p.signers), p.totals[0])

    @staticmethod
    def line_body(p: Petition, at: int, time: datetime) -> dict:
        heads, area = p.support()
        reached = china_date(time)
        return {"v": 1, "petition": p.id, "support": {"heads": heads, "area": area}, "at": at,
                "date": reached.isoformat(), "deadline": deadline(reached, p.body["respond_days"]).isoformat()}

    def apply_line(self, b: dict, seq: int) -> Petition:
        p = self.get(b["petition"])
        p.line, p.line_seq = b, seq
        return p

    def check_response(self, b: dict, announced_rounds) -> Petition:
        p = self.get(b["petition"])
        if p.response is not None:
            raise PetitionError("answered", f"提议 {p.id} 已有答复（第 {p.response_seq} 条）/ petition {p.id} already "
                                            f"has the committee's response (entry {p.response_seq})")
        if b["kind"] == "round" and b["round"] not in announced_rounds:
            raise PetitionError("no_round", f"轮次 {b['round']} 尚未公告 / round {b['round']} is not announced: "
                                            f"announce it first, then link it", 422)
        return p

    def apply_response(self, b: dict, seq: int, announced_rounds) -> Petition:
        p = self.check_response(b, announced_rounds)
        p.response, p.response_seq = b, seq
        return p
