"""What the verifier recomputes for proposals and petitions (SPEC §9.7): ``CHECKS``.

One whole-log check (``check_log``) replays, in log order, the roll, credential, round and
petition entries and reports, naming the entry:

- a ``petition`` whose shape, roll snapshot (the latest ``roll`` entry before it, by seq and leaf
  hash), voters and areas in scope, totals, author or hash is wrong;
- a co-signature or withdrawal that is not signed by the voter's current credential key at its
  place (a forged signature), by a voter outside the proposal's scope (not eligible), by a voter
  whose signature is already in force (a duplicate signer), a withdrawal without a signature in
  force or after the line was reached, or any of them after the committee's response;
- a signature that reaches the line (5·signers ≥ heads) not followed at once by its
  ``petition.line``, and a ``petition.line`` whose support, date or deadline differ from the
  recomputed ones (or that no signature reached);
- a ``petition.response`` for an unknown petition, a second one, or one naming a round not
  announced before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from identity import authority, record
from ledger.entry import ParsedEntry
from ledger.verify import ContentChecks, entry_leaf_hash
from voting import petition as pt
from voting.petition import PetitionError
from voting.round_record import ROUND


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)  # "…Z" (Python ≥ 3.11)


def _check_snapshot(b: dict, roll: tuple[int, str, dict[str, int], list[str]] | None) -> None:
    if roll is None:
        raise PetitionError("bad_request", "提议之前没有名册 / no roll entry before the proposal")
    seq, leaf, weights, order = roll
    if b["roll"] != {"seq": seq, "leaf_hash": leaf}:
        raise PetitionError("bad_request", f"roll 应为此前最新的名册条目（第 {seq} 条）/ roll must be the latest roll "
                                           f"entry before the proposal (entry {seq}, leaf {leaf[:16]}…)")
    voters = [v["voter"] for v in b["voters"]]
    if not b["scope"]:
        if b["voters"] != [{"voter": v, "area": weights[v]} for v in order]:
            raise PetitionError("bad_request", "全小区提议的 voters 应与名册完全一致 / a whole-estate proposal lists "
                                               "exactly the roll's voters and areas, in its order")
        return
    position = {v: i for i, v in enumerate(order)}
    for v in b["voters"]:
        if v["voter"] not in weights:
            raise PetitionError("bad_request", f"voters 中的 {v['voter']} 不在名册中 / {v['voter']} is not in the roll")
        if v["area"] > weights[v["voter"]]:
            raise PetitionError("bad_request", f"{v['voter']} 的范围内面积大于其总面积 / {v['voter']}'s area in "
                                               f"scope exceeds its estate area")
    if [position[v] for v in voters] != sorted(position[v] for v in voters):
        raise PetitionError("bad_request", "voters 应按名册顺序 / voters must be in the roll's order")


def check_log(entries: Iterable[ParsedEntry], ctx: object) -> Iterator[tuple[int | None, str]]:
    """Whole-log content check of SPEC §9.7 (every petition entry, by seq)."""
    origin = getattr(ctx, "origin", None)
    reg = authority.Registry(origin=origin)
    book = pt.Book()
    rounds: set[str] = set()
    roll: tuple[int, str, dict[str, int], list[str]] | None = None
    pending: tuple[int, dict] | None = None  # (seq of the signature that reached the line, expected line body)
    signatures = 0
    for e in entries:
        if pending is not None and e.type != pt.LINE:
            yield pending[0], (f"{pt.SIGN}: 联名在此达到法定比例，但其后没有 {pt.LINE} 条目 / the support reaches the "
                               f"line here but no {pt.LINE} entry follows it")
            pending = None
        if e.type == record.ROLL:
            try:
                weights = record.voter_weights(e.body)
                roll = (e.seq, entry_leaf_hash(e).hex(), weights,
                        list(weights))
            except (ValueError, TypeError, KeyError):
                roll = None  # identity.record.CHECKS reports the entry
        if e.type in authority.ENTRY_TYPES or e.type in (record.ESTATE, record.ROLL):
            try:
                reg.apply(e, check_roll=False, check_keys=False)
            except (authority.AuthorityError, KeyError, TypeError, ValueError):
                pass  # identity.authority.CHECKS reports it
            continue
        if e.type == ROUND:
            if isinstance(e.body.get("round"), str):
                rounds.add(e.body["round"])
            continue
        if e.type not in pt.TYPES:
            continue
        try:
            if e.type == pt.PETITION:
                b = pt.parse_petition(e.body)
                _check_snapshot(b, roll)
                if origin is not None and pt.proposal_hash(origin, b) != b["hash"]:
                    raise PetitionError("bad_request", "hash 不是提议内容的哈希 / hash is not the proposal's hash "
                                                       "(SPEC §9.1)")
                book.publish(b, e.seq, e.time)
            elif e.type in pt.SIGNED_TYPES:
                b = pt.parse_signed(e.body)
                p = book.apply_signed(e.type, b, e.seq, reg.key_of)
                signatures += 1
                if e.type == pt.SIGN and book.line_due(p):
                    pending = (e.seq, pt.Book.line_body(p, e.seq, _time(e.time)))
            elif e.type == pt.LINE:
                b = pt.parse_line(e.body)
                if pending is None or pending[1]["petition"] != b["petition"]:
                    raise PetitionError("bad_request", "前一条不是达到法定比例的联名签名 / the entry before is not a "
                                                       "signature that reached the line")
                if b != pending[1]:
                    raise PetitionError("bad_request", f"支持数、日期或期限与重算不符 / support, date or deadline differ "
                                                       f"from the recomputed {pending[1]}")
                pending = None
                book.apply_line(b, e.seq)
            else:
                b = pt.parse_response(e.body)
                book.apply_response(b, e.seq, rounds)
        except PetitionError as exc:
            if e.type == pt.LINE:
                pending = None
            yield e.seq, f"{e.type}: {exc.message}"
        except (KeyError, TypeError, ValueError) as exc:
            yield e.seq, f"{e.type}: malformed ({exc})"
    if pending is not None:
        yield pending[0], (f"{pt.SIGN}: 联名在此达到法定比例，但其后没有 {pt.LINE} 条目 / the support reaches the line "
                           f"here but no {pt.LINE} entry follows it")
    count = getattr(ctx, "count", None)
    if count is not None:
        count("petition signatures", signatures)


CHECKS = ContentChecks(whole_log=(check_log,))
