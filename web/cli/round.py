"""``gongjue round create|update|announce|extend|nominate|sign-nomination|vet|show|list``: a round's lifecycle at
the console (voting.rounds, voting.candidates; SPEC §7.1, §7.6, §7.7).

What the supervisor does over the API, for the operator at the server (recorded as done by
``cli:<OS user>``).  ``create``/``update`` read the round spec from a JSON file (UTF-8, BOM or
GB18030; no floating-point numbers or duplicate keys).  Exit status: 0 done, 2 refused (the
stable code and the ``中文 / English`` message on stderr; nothing written), 1 failure.
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from ledger.db import migrated_engine, reading, transaction
from voting import candidates, rounds
from voting.lifecycle import LifecycleError, format_time, parse_time


def register(sub) -> None:  # noqa: ANN001
    """Add ``round`` and its actions to the ``gongjue`` parser."""
    p = sub.add_parser("round", help="投票轮次：草稿、公告、延期、候选人 / rounds: draft, announce, extend, candidates")
    rs = p.add_subparsers(dest="round_command", required=True, metavar="ACTION")
    for name, handler, text in (("create", run_create, "新建草稿 / create a draft from a spec file"),
                                ("update", run_update, "修改草稿（公告前）/ replace a draft's spec before the notice")):
        q = rs.add_parser(name, help=text)
        q.add_argument("--estate", required=True, metavar="SLUG")
        q.add_argument("--spec", required=True, type=Path, metavar="SPEC.json",
                       help="round, agenda, opens, closes, secrecy, form, short_notice_reason, attachments, "
                            "trustees, policies, cosigners (docs/guide-supervisor.md)")
        if name == "update":
            q.add_argument("--round", required=True, metavar="ID")
        q.add_argument("--trustee-key", action="append", type=Path, default=[], metavar="KEY.pub",
                       help="n-of-n: a trustee's public key file (gongjue trustee keygen --public), repeatable; "
                            "sets the spec's trustees")
        q.add_argument("--dealer", action="append", type=Path, default=[], metavar="DEALER.json",
                       help="k-of-n: a dealer's public commitments (dkg-start), repeatable, with --threshold")
        q.add_argument("--threshold", type=int, metavar="K", help="k of the k-of-n trustees")
        q.set_defaults(handler=handler)
    q = rs.add_parser("announce", help="公告（写入账本，锁定议程）/ announce: the round entry, the agenda locked")
    q.add_argument("--estate", required=True, metavar="SLUG")
    q.add_argument("--round", required=True, metavar="ID")
    q.set_defaults(handler=run_announce)
    q = rs.add_parser("extend", help="延长投票期（须说明理由）/ extend the voting window, with a reason")
    q.add_argument("--estate", required=True, metavar="SLUG")
    q.add_argument("--round", required=True, metavar="ID")
    q.add_argument("--closes", required=True, metavar="TIME", help="new close, UTC, e.g. 2026-12-31T02:00:00Z")
    q.add_argument("--reason", required=True)
    q.set_defaults(handler=run_extend)
    q = rs.add_parser("nominate", help="登记候选人提名（公告前）/ record a nomination before the notice")
    q.add_argument("--estate", required=True, metavar="SLUG")
    q.add_argument("--round", required=True, metavar="ID")
    q.add_argument("--item", required=True)
    q.add_argument("--candidate", required=True)
    q.add_argument("--by", required=True, choices=("organiser", "owners", "self"), dest="nominated_by")
    q.add_argument("--statement", type=Path, metavar="FILE", help="the candidate's statement (UTF-8 text)")
    q.add_argument("--signatures", type=Path, metavar="FILE", help="JSON list of {key, sig} (owners, self)")
    q.set_defaults(handler=run_nominate)
    q = rs.add_parser("sign-nomination", help="业主用凭证码联署提名（离线可用）/ an owner co-signs a nomination "
                                               "with their credential code (works offline)",
                      description=f"Sign a nomination with the owner's credential code (asked for without echo, or "
                                  f"read from {CODE_ENV}) and append {{key, sig}} to the signatures file. The code never "
                                  "leaves this computer; only the signature and the public key are written.")
    q.add_argument("--origin", required=True, help="the estate's log origin <site>/<slug> (on the credential letter)")
    q.add_argument("--round", required=True, metavar="ID")
    q.add_argument("--item", required=True)
    q.add_argument("--candidate", required=True)
    q.add_argument("--statement", type=Path, metavar="FILE", help="the candidate's statement (UTF-8 text)")
    q.add_argument("--signatures", required=True, type=Path, metavar="FILE", help="JSON list to append to")
    q.set_defaults(handler=run_sign)
    q = rs.add_parser("vet", help="审核候选人 / vet a nomination")
    q.add_argument("--estate", required=True, metavar="SLUG")
    q.add_argument("--round", required=True, metavar="ID")
    q.add_argument("--item", required=True)
    q.add_argument("--candidate", required=True)
    q.add_argument("--status", required=True, choices=("approved", "rejected"))
    q.add_argument("--note", default="")
    q.set_defaults(handler=run_vet)
    q = rs.add_parser("show", help="查看一轮 / show a round")
    q.add_argument("--estate", required=True, metavar="SLUG")
    q.add_argument("--round", required=True, metavar="ID")
    q.add_argument("--json", action="store_true", help="the API's JSON")
    q.set_defaults(handler=run_show)
    q = rs.add_parser("list", help="列出各轮（含草稿）/ list the rounds, drafts included")
    q.add_argument("--estate", required=True, metavar="SLUG")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=run_list)


CODE_ENV = "GONGJUE_CREDENTIAL_CODE"


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli"


def _refused(e: rounds.RoundError) -> int:
    print(f"{e.code}: {e.message}", file=sys.stderr)
    return 2


def _read_spec(path: Path) -> dict | None:
    from identity.csvfile import CsvError, decode
    from voting.agenda import loads_located

    try:
        doc = loads_located(decode(path.read_bytes(), path.name))
    except OSError as e:
        print(f"{path}: 无法读取 / cannot read: {e.strerror}", file=sys.stderr)
        return None
    except CsvError as e:
        print("\n".join(e.problems), file=sys.stderr)
        return None
    except ValueError as e:
        print(f"{path}{e}" if str(e).startswith(":") else f"{path}: JSON 格式错误 / malformed JSON: {e}", file=sys.stderr)
        return None
    if not isinstance(doc, dict):
        print(f"{path}: 须为 JSON 对象 / must be a JSON object", file=sys.stderr)
        return None
    return json.loads(json.dumps(doc))  # plain dicts


def _with_trustees(spec: dict, args) -> dict | None:  # noqa: ANN001
    """The spec with ``trustees`` from --trustee-key / --dealer files, when given."""
    if not args.trustee_key and not args.dealer:
        return spec
    if args.trustee_key and args.dealer or bool(args.dealer) != (args.threshold is not None):
        print("bad_spec: --trustee-key（n-of-n）与 --dealer + --threshold（k-of-n）二选一 / use either --trustee-key "
              "(n-of-n) or --dealer with --threshold (k-of-n)", file=sys.stderr)
        return None
    docs = []
    for path in args.trustee_key or args.dealer:
        try:
            doc = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            print(f"{path}: 无法读取 / cannot read: {e}", file=sys.stderr)
            return None
        if isinstance(doc, dict) and doc.get("kind") == "gongjue/dkg-public":
            doc = doc.get("commitments")  # the public file of dkg-start
        docs.append(doc)
    docs.sort(key=lambda d: d.get("trustee", 0) if isinstance(d, dict) else 0)
    trustees = {"threshold": None, "keys": docs} if args.trustee_key else {"threshold": args.threshold, "dealers": docs}
    return spec | {"trustees": trustees}


def run_create(args) -> int:  # noqa: ANN001
    spec = _read_spec(args.spec)
    spec = spec and _with_trustees(spec, args)
    if spec is None:
        return 2
    try:
        with transaction(migrated_engine()) as session:
            rounds.create_draft(session, args.estate, spec, by=_operator())
    except rounds.RoundError as e:
        return _refused(e)
    print(f"已创建草稿 {spec.get('round')} / created draft round {spec.get('round')}")
    return 0


def run_update(args) -> int:  # noqa: ANN001
    spec = _read_spec(args.spec)
    spec = spec and _with_trustees(spec, args)
    if spec is None:
        return 2
    try:
        with transaction(migrated_engine()) as session:
            rounds.update_draft(session, args.estate, args.round, spec, by=_operator())
    except rounds.RoundError as e:
        return _refused(e)
    print(f"已修改草稿 {args.round} / updated draft round {args.round}")
    return 0


def run_announce(args) -> int:  # noqa: ANN001
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            entry = rounds.announce(session, args.estate, args.round, by=_operator())
            view = rounds.load(session, args.estate, args.round)
    except rounds.RoundError as e:
        return _refused(e)
    notice = view.lifecycle["notice"]
    print(f"已公告轮次 {args.round}（账本条目 {entry.seq}），公告期 {notice['days']} 天，投票 {format_time(view.opens)} 至 "
          f"{format_time(view.closes)} / announced round {args.round} as entry {entry.seq}: {notice['days']} days "
          f"of notice, voting {format_time(view.opens)} to {format_time(view.closes)}")
    return 0


def run_extend(args) -> int:  # noqa: ANN001
    try:
        closes = parse_time(args.closes, "--closes")
    except LifecycleError as e:
        print(f"bad_spec: 时间格式错误 / {e}", file=sys.stderr)
        return 2
    try:
        with transaction(migrated_engine()) as session:
            entry = rounds.extend(session, args.estate, args.round, closes=closes, reason=args.reason, by=_operator())
    except rounds.RoundError as e:
        return _refused(e)
    print(f"已延期至 {format_time(closes)}（账本条目 {entry.seq}）/ extended to {format_time(closes)} as entry {entry.seq}")
    return 0


def run_nominate(args) -> int:  # noqa: ANN001
    try:
        statement = args.statement.read_text("utf-8") if args.statement else ""
        sigs = json.loads(args.signatures.read_text("utf-8")) if args.signatures else []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        print(f"无法读取文件 / cannot read a file: {e}", file=sys.stderr)
        return 2
    try:
        with transaction(migrated_engine()) as session:
            candidates.nominate(session, args.estate, args.round, item=args.item, candidate=args.candidate,
                                nominated_by=args.nominated_by, statement=statement, signatures=sigs,
                                by=_operator())
    except rounds.RoundError as e:
        return _refused(e)
    print(f"已登记提名 {args.candidate}（{args.item}）/ recorded the nomination of {args.candidate} for {args.item}")
    return 0


def run_sign(args) -> int:  # noqa: ANN001
    import os

    from identity.credential import CodeError, signing_key

    try:
        statement = args.statement.read_text("utf-8") if args.statement else ""
        sigs = json.loads(args.signatures.read_text("utf-8")) if args.signatures.exists() else []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        print(f"无法读取文件 / cannot read a file: {e}", file=sys.stderr)
        return 2
    if not isinstance(sigs, list):
        print(f"{args.signatures}: 须为 JSON 列表 / must be a JSON list", file=sys.stderr)
        return 2
    code = os.environ.get(CODE_ENV) or getpass.getpass("凭证码 / credential code: ")
    try:
        key = signing_key(code, args.origin)
    except CodeError as e:
        print(str(e), file=sys.stderr)
        return 2
    signed = candidates.sign_nomination(key, args.origin, args.round, args.item, args.candidate, statement)
    if any(s.get("key") == signed["key"] for s in sigs if isinstance(s, dict)):
        print("此凭证已签过这份提名 / this credential has signed this nomination already", file=sys.stderr)
        return 2
    sigs.append(signed)
    args.signatures.write_text(json.dumps(sigs, indent=1) + "\n", "utf-8")
    print(f"已签名（公钥 {signed['key'][:16]}…），共 {len(sigs)} 个签名 / signed with key {signed['key'][:16]}…; "
          f"{len(sigs)} signatures in {args.signatures}")
    return 0


def run_vet(args) -> int:  # noqa: ANN001
    try:
        with transaction(migrated_engine()) as session:
            candidates.vet(session, args.estate, args.round, item=args.item, candidate=args.candidate,
                           status=args.status, note=args.note, by=_operator())
    except rounds.RoundError as e:
        return _refused(e)
    print(f"已审核 {args.candidate}：{args.status} / vetted {args.candidate}: {args.status}")
    return 0


def _out(session, view: rounds.RoundView, now: datetime) -> dict:  # noqa: ANN001
    from web.api_rounds import round_out

    return round_out(session, view, now).model_dump()


def _line(r: dict) -> str:
    seq = f"#{r['announced_seq']}" if r["announced_seq"] is not None else "-"
    return (f"{r['round']}\t{r['state']}\t{r['secrecy']}\t{r['rules']}\t{r['opens']} → {r['closes']}\t{seq}\t"
            f"{len(r['agenda']['items'])} items")


def run_show(args) -> int:  # noqa: ANN001
    now = datetime.now(UTC)
    try:
        with reading(migrated_engine()) as session:
            r = _out(session, rounds.load(session, args.estate, args.round), now)
    except rounds.RoundError as e:
        return _refused(e)
    if args.json:
        print(json.dumps(r, ensure_ascii=False, indent=2))
        return 0
    print(_line(r))
    if r["notice"]:
        n = r["notice"]
        print(f"公告 notice: {n['date']}, {n['days']} 天 days" + (f", 理由 reason: {n['short_reason']}"
                                                                 if n["short_reason"] else ""))
    if r["totals"]:
        print(f"范围 scope: {r['totals']['heads']} 人 voters, {r['totals']['area']} (0.01 m²)")
    for x in r["extensions"]:
        print(f"延期 extension #{x['seq']}: {x['previous']} → {x['closes']} ({x['reason']})")
    for c in r["candidates"]:
        print(f"候选人 candidate {c['item']}: {c['candidate']} [{c['by']}, {c['status'] or '待审核 pending'}]")
    print(f"政策 policies: {json.dumps(r['policies'], ensure_ascii=False)}")
    return 0


def run_list(args) -> int:  # noqa: ANN001
    now = datetime.now(UTC)
    try:
        with reading(migrated_engine()) as session:
            out = [_out(session, v, now) for v in rounds.list_rounds(session, args.estate)]
    except rounds.RoundError as e:
        return _refused(e)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for r in out:
            print(_line(r))
    return 0
