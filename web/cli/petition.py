"""``gongjue petition list|show``: the owners' proposals and petitions of an estate at the console
(voting.petition_store; SPEC §9) — read-only.

    gongjue petition list --estate SLUG [--json]
    gongjue petition show --estate SLUG ID [--json]

Each proposal as the ledger leaves it (the replay of its entries): its support by heads and by
floor area against the owners in scope and the line (20% of them by heads), the line entry with
its date and the committee's deadline (China Standard Time dates; "overdue" once the deadline has
passed without a response), and the committee's response — the round announced in answer, or the
refusal with its reasons.  ``show`` adds the text, the attachments (name and SHA-256) and the
ledger entries of the signatures in force and of the withdrawals.  Areas are printed in m²; the
JSON keeps the ledger's 0.01 m² integers.  Exit status: 0 shown, 2 refused (no such estate or
proposal: the stable code and the ``中文 / English`` message on stderr), 1 failure.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from ledger.db import migrated_engine, reading
from voting import petition as pt
from voting import petition_store
from voting.lifecycle import china_date
from voting.petition import PetitionError

STATES = {"collecting": "征集联名 collecting", "line_reached": "已达法定比例 line reached",
          "answered": "已答复 answered"}


def register(sub) -> None:
    """Add ``petition list|show`` to the ``gongjue`` parser."""
    p = sub.add_parser("petition", help="业主提议与联名（只读）/ owners' proposals and petitions, read-only",
                       description=__doc__.split("\n\n")[2] if __doc__ else None)
    ps = p.add_subparsers(dest="petition_command", required=True, metavar="ACTION")
    q = ps.add_parser("list", help="列出提议 / list the proposals")
    q.add_argument("--estate", required=True, metavar="SLUG")
    q.add_argument("--json", action="store_true", help="one JSON list")
    q.set_defaults(handler=run_list)
    q = ps.add_parser("show", help="查看一项提议 / show one proposal")
    q.add_argument("--estate", required=True, metavar="SLUG")
    q.add_argument("petition", metavar="ID")
    q.add_argument("--json", action="store_true", help="one JSON object")
    q.set_defaults(handler=run_show)


def m2(area: int) -> str:
    """0.01 m² → ``1234.56``, exactly."""
    return f"{area // 100}.{area % 100:02d}"


def describe(p: pt.Petition, today: str, *, full: bool = False) -> dict:
    """A proposal as the command shows it (``today``: the China Standard Time date, ISO)."""
    heads, area = p.support()
    total_heads, total_area = p.totals
    out = {"petition": p.id, "title": p.body["title"], "matter": p.body["matter"], "scope": p.body["scope"],
           "seq": p.seq, "published": p.time, "state": p.state(),
           "support": {"heads": heads, "area": area}, "totals": {"heads": total_heads, "area": total_area},
           "needed": pt.signers_needed(total_heads), "respond_days": p.body["respond_days"],
           "line": None if p.line is None else {**p.line, "seq": p.line_seq},
           "response": None if p.response is None else {**p.response, "seq": p.response_seq},
           "overdue": p.line is not None and p.response is None and today > p.line["deadline"]}
    if full:
        out.update({"text": p.body["text"], "attachments": p.body["attachments"], "hash": p.hash,
                    "signatures": sorted(p.signers.values()), "withdrawals": sorted(p.withdrawn.values())})
    return out


def _load(slug: str) -> pt.Book:
    with reading(migrated_engine()) as session:
        return petition_store.book(session, slug)


def _today() -> str:
    return china_date(datetime.now(UTC)).isoformat()


def _refused(e: PetitionError) -> int:
    print(f"{e.code}: {e}", file=sys.stderr)
    return 2


def lines(d: dict) -> list[str]:
    """The summary lines of one proposal."""
    s, t = d["support"], d["totals"]
    out = [f"{d['petition']}\t{STATES.get(d['state'], d['state'])}\t{d['title']}",
           f"  发布 published: {d['published']} (#{d['seq']}) · 事项 matter: {d['matter']}",
           (f"  联名 support: {s['heads']}/{t['heads']} 人 owners (法定比例 line: {d['needed']}) · "
            f"{m2(s['area'])}/{m2(t['area'])} m²")]
    line = d["line"]
    if line is None:
        out.append("  法定比例 line: 未达到 not reached")
    else:
        out.append(f"  达到法定比例 line reached: {line['date']} (#{line['seq']}, {line['support']['heads']} 人 owners, "
                   f"{m2(line['support']['area'])} m²) · 答复期限 deadline: {line['deadline']}"
                   + (" · 已逾期 OVERDUE" if d["overdue"] else ""))
    r = d["response"]
    if r is None:
        out.append("  答复 response: 尚无 none yet")
    elif r["kind"] == "round":
        out.append(f"  答复 response: 公告表决轮次 round {r['round']} announced (#{r['seq']})")
    else:
        out.append(f"  答复 response: 不予召开 refused (#{r['seq']}): {r['reason']}")
    return out


def run_list(args) -> int:
    try:
        book = _load(args.estate)
    except PetitionError as e:
        return _refused(e)
    today = _today()
    out = [describe(p, today) for p in book.petitions.values()]
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    if not out:
        print(f"小区 {args.estate} 没有业主提议 / no proposals in estate {args.estate}")
    for d in out:
        print("\n".join(lines(d)))
    return 0


def run_show(args) -> int:
    try:
        d = describe(_load(args.estate).get(args.petition), _today(), full=True)
    except PetitionError as e:
        return _refused(e)
    if args.json:
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return 0
    print("\n".join(lines(d)))
    print(f"  答复期限天数 days to respond: {d['respond_days']} · 提议哈希 hash: {d['hash']}")
    print(f"  有效联名 signatures in force: {', '.join(f'#{n}' for n in d['signatures']) or '-'}")
    print(f"  撤回 withdrawals: {', '.join(f'#{n}' for n in d['withdrawals']) or '-'}")
    for a in d["attachments"]:
        print(f"  附件 attachment: {a['name']} SHA-256 {a['sha256']}")
    print()
    print(d["text"])
    return 0
