"""Ledger subcommands: ``export``, ``verify``, ``checkpoint``, ``proof`` and ``witness keygen|cosign``.

``verify`` needs no database: it re-derives everything from a bundle (SPEC §2.8) and exits 0
only if every check holds.  ``witness cosign`` is run by a scrutineer or auditor with their own
key: it checks the log's latest checkpoint against the last one *this witness* cosigned (kept in
its own state directory) with a consistency proof, and refuses to cosign a fork or a rollback.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from identity.store import RollTampered
from ledger import bundle, checkpoint, keys, log as logs, receipt, verify
from ledger.checkpoint import CheckpointError, open_checkpoint, parse_checkpoint
from ledger.db import migrated_engine, reading, transaction
from ledger.note import COSIGNATURE_V1, NoteError, cosign, parse_skey, parse_vkey
from ledger.proof import ProofError, verify_consistency
from ledger.recheck import recheck
from web.cli import witness as witness_cli


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("export", help="导出账本审计包 / export an estate's ledger bundle",
                       description="Sign a checkpoint for the current log, then write DIR/entries.jsonl, "
                                   "DIR/checkpoint, DIR/log.vkey and DIR/checkpoints/.")
    p.add_argument("--estate", required=True, metavar="SLUG")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--zip", action="store_true", help="write DIR as a .zip file instead of a directory")
    p.add_argument("--openings", type=Path, metavar="ODIR",
                   help="also write the roll openings (personal data) as ODIR/roll-<version>.json, outside the "
                        "public bundle, for auditors (SPEC §2.7)")
    p.set_defaults(handler=run_export)

    p = sub.add_parser("verify", help="离线核验账本审计包 / verify a ledger bundle offline",
                       description="Re-derive everything from the bundle alone; exit 0 only if all holds.")
    p.add_argument("bundle", type=Path, metavar="DIR|ZIP")
    p.add_argument("--checkpoint", action="append", default=[], type=Path, metavar="OLD_CHECKPOINT_FILE",
                   help="an earlier checkpoint you kept (repeatable): the log must be consistent with it")
    p.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes for large bundles (default: every core)")
    p.add_argument("--openings", type=Path, metavar="ODIR",
                   help="check each roll entry against ODIR/roll-<version>.json (the openings an auditor holds)")
    p.add_argument("--tsa-roots", type=Path, metavar="FILE", help="PEM roots the timestamp tokens must chain to (§2.10)")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY|FILE", help="a witness whose cosignatures must verify")
    p.set_defaults(handler=run_verify)

    p = sub.add_parser("checkpoint", help="立即签署检查点 / sign a checkpoint now",
                       description="Sign a checkpoint of the estate's log at its current size and print it.")
    p.add_argument("--estate", required=True, metavar="SLUG")
    p.set_defaults(handler=run_checkpoint)

    p = sub.add_parser("proof", help="条目收据（包含证明） / inclusion receipt of one entry",
                       description="Print the receipt (entry, inclusion proof, signed checkpoint) as JSON.")
    p.add_argument("--estate", required=True, metavar="SLUG")
    p.add_argument("--seq", required=True, type=int)
    p.add_argument("--size", type=int, help="checkpoint size (default: the latest)")
    p.set_defaults(handler=run_proof)

    p = sub.add_parser("rotate-key", help="轮换账本签名密钥 / rotate the log key (whole site)",
                       description="Keep the log key file as <file>.old-<key id>, write a new key of the same name, "
                                   "append a log.key entry to every log and sign each log's hand-over checkpoint "
                                   "with both keys (SPEC §2.4). Stop gongjue serve first; tell the witnesses the new key.")
    p.add_argument("--new-key-file", type=Path, metavar="FILE", help="a key prepared elsewhere (same name) instead of a new random one")
    p.add_argument("--reason", default="scheduled rotation", help="recorded in the log.key entries")
    p.set_defaults(handler=run_rotate_key)

    w = sub.add_parser("witness", help="见证人联署 / witness cosignatures").add_subparsers(
        dest="witness_command", required=True, metavar="ACTION")
    p = w.add_parser("keygen", help="生成见证人密钥 / create a witness key")
    p.add_argument("--name", required=True, help="witness key name, e.g. auditor.example/zhang")
    p.add_argument("--out", required=True, type=Path, metavar="KEYFILE")
    p.set_defaults(handler=run_keygen)
    p = w.add_parser("cosign", help="核对一致性后联署最新检查点 / cosign the latest checkpoint")
    p.add_argument("--key", required=True, type=Path, metavar="KEYFILE")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--estate", metavar="SLUG", help="on the server: cosign the latest checkpoint and record it")
    where.add_argument("--checkpoint", type=Path, metavar="FILE",
                       help="offline: cosign this checkpoint (from the audit page) and print the cosigned note")
    p.add_argument("--proof", type=Path, metavar="FILE",
                   help="offline: consistency.json from the last checkpoint this witness cosigned to FILE")
    p.add_argument("--state", type=Path, default=Path("var/witness"), metavar="DIR",
                   help="this witness's own record of what it cosigned (default var/witness)")
    p.add_argument("--log-vkey", type=Path, metavar="FILE", help="the log's verifier key (pinned on first use)")
    p.set_defaults(handler=run_cosign)
    witness_cli.register_witness(w)  # gongjue witness serve (c2sp.org/tlog-witness, SPEC §2.5)


def _origin(slug: str) -> str:
    return f"{keys.site_name()}/{slug}"


def _log_id(session, slug: str) -> int | None:  # noqa: ANN001
    found = logs.get_log(session, _origin(slug))
    if found is None:
        print(f"没有小区 {slug} 的账本 / no ledger for estate {slug} ({_origin(slug)})", file=sys.stderr)
        return None
    return found.id


def run_export(args) -> int:  # noqa: ANN001
    engine = migrated_engine()
    key = keys.log_key()
    try:
        with reading(engine) as session:  # the whole log re-hashed from its bytes, outside the write lock
            log_id = _log_id(session, args.estate)
            if log_id is None:
                return 2
            found = recheck(session, log_id)
        if found is not None:
            raise CheckpointError(f"账本存储与条目字节不符 / the stored log does not match its entry bytes: "
                                  f"{found.message}")
        openings = _collect_openings(engine, log_id, args) if args.openings is not None else None
        with transaction(engine) as session:
            checkpoint.sign(session, log_id, key)
        with transaction(engine) as session:
            if args.zip:
                bundle.write_zip(session, log_id, args.out)
                count = checkpoint.latest(session, log_id).size
            else:
                count = bundle.write_dir(session, log_id, args.out)
    except (CheckpointError, bundle.BundleError, RollTampered) as exc:
        print(f"导出失败 / export refused: {exc}", file=sys.stderr)
        return 1
    except OpeningsRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"已导出 {count} 条 / exported {count} entries to {args.out}")
    if openings is not None:
        _write_openings(args.openings, *openings)
    return 0


class OpeningsRefused(ValueError):
    """An --openings directory that would mix personal data into the bundle, or overwrite files."""


def _collect_openings(engine, log_id: int, args) -> tuple[dict[str, bytes], list[int]]:  # noqa: ANN001
    """The openings files, checked against the ledger, before anything is written."""
    from web.audit import roll_openings_files

    target, out = args.openings.resolve(), args.out.resolve()
    if target == out or out in target.parents:
        raise OpeningsRefused(f"名册公开值含个人信息，不能放进公开的审计包 {args.out} / the openings hold personal data "
                              f"and must not go inside the public bundle {args.out}: choose another directory")
    taken = sorted(p.name for p in target.glob("roll-*.json")) if target.is_dir() else []
    if taken:
        raise OpeningsRefused(f"{args.openings} 已有 {', '.join(taken)}，不覆盖 / already holds {', '.join(taken)}; "
                              "not overwritten")
    with reading(engine) as session:
        return roll_openings_files(session, log_id, args.estate)


def _write_openings(directory: Path, files: dict[str, bytes], erased: list[int]) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, data in files.items():
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    print(f"已写出 {len(files)} 个名册公开值文件（含个人信息，勿公开）/ wrote {len(files)} openings file(s) to "
          f"{directory} (personal data: keep them private)")
    if erased:
        versions = ", ".join(str(v) for v in erased)
        print(f"第 {versions} 版名册的公开值已按保存期限删除 / the openings of roll version(s) {versions} were erased")


def run_verify(args) -> int:  # noqa: ANN001
    olds = []
    for path in args.checkpoint:
        try:
            olds.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: 无法读取 / cannot read: {exc}", file=sys.stderr)
            return 2
    checks, opened = content_checks(), []
    if args.openings is not None:
        try:
            checks = verify.ContentChecks.merge(checks, openings_checks(args.openings, opened))
        except OSError as exc:
            print(f"{args.openings}: 无法读取 / cannot read: {exc}", file=sys.stderr)
            return 2
    show = not args.no_progress and not args.json and sys.stderr.isatty()
    report = verify.verify_bundle(args.bundle, olds, checks=checks, jobs=max(1, args.jobs),
                                  progress=_progress_bar if show else None)
    if show:
        print(file=sys.stderr)
    evidence = witness_cli.check_evidence(args, report)  # timestamps and cosignatures (SPEC §2.10)
    if args.json:
        found = report.to_json()
        found["checks"] = check_counts(report)
        found["jobs"] = max(1, args.jobs)
        if args.openings is not None:
            found["openings"] = sorted(opened)
        found.update(evidence)
        print(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        _print_report(report)
        for row in check_counts(report):
            print(f"  {row['label']}: {row['count']:,}")
        if args.openings is not None:
            versions = ", ".join(str(v) for v in sorted(opened)) or "—"
            print(f"名册公开值已核对：第 {versions} 版 / roll openings checked: version(s) {versions}")
    return 0 if report.ok else 1


CHECK_ROWS = (
    ("entries", "条目（编码、序号、哈希链、默克尔根） / entries (encoding, seq, prev chain, Merkle root)"),
    ("roll entries", "名册条目（总数、权重） / roll entries (totals, weights)"),
    ("credential statements", ("凭证登记、吊销、补发及签名 / credential statements (registrations, "
                               "revocations, reissues, the authority's signatures)")),
    ("rounds", "轮次公告（快照、监票人公钥、指纹） / rounds (snapshot, trustees' keys, fingerprint)"),
    ("ballots verified", ("选票（签名、资格、证明、重复与改投） / ballots verified (signature, eligibility, "
                          "proofs, duplicates and revotes)")),
    ("proxies", "委托条目（签名、上限、撤销） / proxy entries (signatures, caps, revocations)"),
    ("paper ballots", "纸质选票（双人录入） / paper ballots (double entry)"),
    ("aggregates", "聚合密文或公开计数（重算） / aggregates or open counts (recomputed)"),
    ("decryption shares", "解密份额（证明） / decryption shares (proofs)"),
    ("decisions", "表决结果（按规则重算） / decisions (recomputed under the rule set)"),
    ("deliveries", "送达记录（资格、时间） / deliveries of notices, letters, results (eligibility, times)"),
    ("consultation responses", "意见征集回答（签名、资格、每人一份、窗口） / consultation responses (signature, "
                               "eligibility, one per voter, window)"),
    ("follow-through payments", "落实记录支出（累计、超支理由） / follow-through payments (running total, overruns)"),
)
"""The checks ``gongjue verify`` lists with their counts (issue #9 part 8)."""


def check_counts(report: verify.Report) -> list[dict]:
    """[{"check", "label", "count"}] in CHECK_ROWS order: entries from the structural walk, roll
    entries and credential statements by entry type (each checked by identity.record /
    identity.authority), the rest as counted by the round audit (voting.round_record.round_counts)."""
    from identity import authority, record

    have = {"entries": report.entries, "roll entries": report.types.get(record.ROLL, 0),
            "credential statements": sum(report.types.get(t, 0) for t in authority.STATEMENT_TYPES)}
    have.update(report.counts)
    return [{"check": key, "label": label, "count": have.get(key, 0)} for key, label in CHECK_ROWS]


def openings_checks(directory: Path, opened: list[int]) -> verify.ContentChecks:
    """A whole-log check of every roll entry against ``directory/roll-<version>.json`` (SPEC §2.8 item 8).

    Versions without a file are not checked (their openings may have been erased); a file with no
    roll entry of its version, or that does not open its entry, is a problem.  Appends the versions
    opened to ``opened``."""
    from identity import record

    files: dict[str, object] = {}
    for path in sorted(directory.glob("roll-*.json")):
        try:
            files[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            files[path.name] = f"不是 JSON / not JSON: {exc}"

    def check_openings(entries, ctx: verify.VerifyContext):  # noqa: ANN001, ANN202
        seen = set()
        for entry in entries:
            if entry.type != record.ROLL:
                continue
            name = f"roll-{entry.body.get('version')}.json"
            if name not in files:
                continue
            seen.add(name)
            found = files[name]
            problems = [found] if isinstance(found, str) else _openings_problems(entry, ctx, found)
            for problem in problems:
                yield entry.seq, f"名册公开值 / openings {name}: {problem}"
            if not problems:
                opened.append(entry.body["version"])
        for name in sorted(set(files) - seen):
            yield None, f"名册公开值 / openings {name}: 账本中没有这一版名册 / the bundle has no roll entry of that version"
        if not files:
            yield None, f"{directory} 中没有 roll-<版本>.json / no roll-<version>.json files in {directory}"

    return verify.ContentChecks(whole_log=[check_openings])


def _openings_problems(entry, ctx: verify.VerifyContext, found: object) -> list[str]:  # noqa: ANN001
    from identity import record

    if not isinstance(found, dict):
        return ["不是 JSON 对象 / not a JSON object"]
    problems = []
    if found.get("origin") != ctx.origin:
        problems.append(f"origin {found.get('origin')!r} is not the bundle's {ctx.origin!r}")
    if found.get("seq") != entry.seq:
        problems.append(f"seq {found.get('seq')!r} is not the roll entry's {entry.seq}")
    return problems + record.check_openings(entry.body, found)


def _progress_bar(done: int, total: int) -> None:
    width = 30
    frac = min(1.0, done / total) if total else 1.0
    bar = "█" * int(frac * width) + "·" * (width - int(frac * width))
    print(f"\r核验中 / verifying [{bar}] {done:,}/{total:,}", end="", file=sys.stderr, flush=True)


def _print_report(report: verify.Report) -> None:
    if report.ok:
        print(f"核验通过 / OK: {report.origin} — {report.entries} 条 entries, 根 root {report.root}, "
              f"与 {len(report.checkpoints)} 个较早检查点一致 / consistent with {len(report.checkpoints)} "
              f"older checkpoint(s)")
        return
    first = report.first
    where = f"第 {first.seq} 条 / entry {first.seq}" if first.seq is not None else "导出包 / bundle"
    print(f"核验失败 / FAILED: {where}: [{verify.CHECK_NAMES.get(first.check, first.check)}] {first.message}")
    for p in report.problems:
        if p is not first:
            print(f"  - [{verify.CHECK_NAMES.get(p.check, p.check)}] {p.message}")


def petition_checks() -> verify.ContentChecks:
    from voting import petition_audit  # proposals and petitions (SPEC §9.7)

    return petition_audit.CHECKS


def content_checks() -> verify.ContentChecks:
    """The election-content checks of every package above the ledger, merged (SPEC §2.8 item 7):
    estates and rolls (identity.record), credentials (identity.authority), rounds and ballots
    (voting.round_record)."""
    from identity import authority, record
    from voting import delivery, round_record

    from voting import consultation_audit  # consultations and follow-through (SPEC §10.5, §11.5)

    return verify.ContentChecks.merge(record.CHECKS, authority.CHECKS, round_record.CHECKS, petition_checks(),
                                      delivery.CHECKS, consultation_audit.CHECKS)


def run_checkpoint(args) -> int:  # noqa: ANN001
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            log_id = _log_id(session, args.estate)
            if log_id is None:
                return 2
            note = checkpoint.sign(session, log_id, keys.log_key())
    except CheckpointError as exc:
        print(f"拒绝签署 / refused: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(note)
    return 0


def run_proof(args) -> int:  # noqa: ANN001
    engine = migrated_engine()
    with transaction(engine) as session:
        log_id = _log_id(session, args.estate)
        if log_id is None:
            return 2
        try:
            found = receipt.build_receipt(session, log_id, args.seq, args.size)
        except (receipt.ReceiptError, logs.LogError) as exc:
            print(exc, file=sys.stderr)
            return 2
    print(json.dumps(found, ensure_ascii=False, indent=2))
    return 0


def run_keygen(args) -> int:  # noqa: ANN001
    try:
        key = keys.create_key_file(args.out, args.name, COSIGNATURE_V1)
    except FileExistsError:
        print(f"{args.out} 已存在，不覆盖 / already exists, not overwritten", file=sys.stderr)
        return 2
    except NoteError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(key.vkey)
    return 0


def run_cosign(args) -> int:  # noqa: ANN001
    try:
        signer = parse_skey(args.key.read_text(encoding="ascii"))
    except (OSError, NoteError) as exc:
        print(f"{args.key}: {exc}", file=sys.stderr)
        return 2
    if args.checkpoint is not None:
        return _cosign_offline(args, signer)
    origin = _origin(args.estate)
    state = args.state / origin.replace("/", "__")
    state.mkdir(parents=True, exist_ok=True)
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            log_id = _log_id(session, args.estate)
            if log_id is None:
                return 2
            row = checkpoint.latest(session, log_id)
            if row is None:
                print("还没有签名检查点 / no signed checkpoint yet", file=sys.stderr)
                return 1
            if checkpoint.cosigned(session, row, signer.verifier.vkey):
                print(f"已联署过这个检查点 / already cosigned {origin} size {row.size}")
                return 0
            log_vkey = _pinned_log_vkey(state, args.log_vkey, row.vkey)
            new = open_checkpoint(row.note, parse_vkey(log_vkey), origin)
            old_file = state / "checkpoint"
            if old_file.exists():  # this witness's own record, verified when it cosigned it (maybe by a rotated-out key)
                old = _own_checkpoint(old_file, origin)
                _check_consistent(session, log_id, old, new)
            sig = cosign(new.note.text, signer, int(time.time()))
            checkpoint.add_cosignature(session, row, signer.verifier.vkey, sig.line)
            old_file.write_text(row.note, encoding="utf-8")
    except (CheckpointError, ProofError, NoteError, logs.LogError) as exc:
        print(f"拒绝联署 / refused to cosign: {exc}", file=sys.stderr)
        return 1
    print(f"已联署 / cosigned {origin} size {new.size}")
    return 0


def _cosign_offline(args, signer) -> int:  # noqa: ANN001
    """Cosign a checkpoint file, checking consistency with a proof file; print the cosigned note."""
    try:
        text = args.checkpoint.read_text(encoding="utf-8")
        origin = parse_checkpoint(text).origin
        state = args.state / origin.replace("/", "__")
        state.mkdir(parents=True, exist_ok=True)
        if args.log_vkey is None and not (state / "log.vkey").exists():
            print("离线联署首次需要 --log-vkey / offline cosigning needs --log-vkey the first time", file=sys.stderr)
            return 2
        log_vkey = parse_vkey(_pinned_log_vkey(state, args.log_vkey, ""))
        new = open_checkpoint(text, log_vkey, origin)
        old_file = state / "checkpoint"
        if old_file.exists():
            old = _own_checkpoint(old_file, origin)
            proof = _read_proof(args.proof, origin, old.size, new.size) if 0 < old.size < new.size else []
            _check_extends(old, new, proof)
    except (OSError, ValueError) as exc:
        print(f"拒绝联署 / refused to cosign: {exc}", file=sys.stderr)
        return 1
    sig = cosign(new.note.text, signer, int(time.time()))
    old_file.write_text(text, encoding="utf-8")
    sys.stdout.write(text + sig.line)
    return 0


def _read_proof(path: Path | None, origin: str, size1: int, size2: int) -> list[bytes]:
    """The hashes of a consistency.json (SPEC §2.6) between exactly size1 and size2."""
    if path is None:
        raise ValueError(f"need --proof: consistency proof from size {size1} (cosigned before) to {size2}")
    found = json.loads(path.read_text(encoding="utf-8"))
    if (found.get("origin"), found.get("size1"), found.get("size2")) != (origin, size1, size2):
        raise ValueError(f"{path} is not a consistency proof for {origin} from {size1} to {size2}")
    return [bytes.fromhex(h) for h in found["proof"]]


def _own_checkpoint(path: Path, origin: str):  # noqa: ANN202
    """The last checkpoint this witness cosigned: its own state, checked when it was cosigned, so
    not re-verified against the pinned key (after a log-key rotation it was signed by the old key)."""
    old = parse_checkpoint(path.read_text(encoding="utf-8"))
    if old.origin != origin:
        raise CheckpointError(f"{path} is for {old.origin}, not {origin}")
    return old


def _pinned_log_vkey(state: Path, given: Path | None, served: str) -> str:
    """The log key this witness trusts: given, else pinned earlier, else pinned now (first use)."""
    pin = state / "log.vkey"
    if given is not None:
        vkey = given.read_text(encoding="ascii").strip()
    elif pin.exists():
        vkey = pin.read_text(encoding="ascii").strip()
    else:
        vkey = served
        print(f"首次使用，记下账本公钥 / pinning the log key on first use: {vkey}", file=sys.stderr)
    if pin.exists() and given is not None and pin.read_text(encoding="ascii").strip() != vkey:
        print(f"改用给定的账本公钥 / pinning the given log key (a rotation, SPEC §2.4): {vkey}", file=sys.stderr)
        pin.write_text(vkey + "\n", encoding="ascii")
    if not pin.exists():
        pin.write_text(vkey + "\n", encoding="ascii")
    return vkey


def _check_consistent(session, log_id: int, old, new) -> None:  # noqa: ANN001
    """Refuse unless ``new`` extends ``old`` (the last checkpoint this witness cosigned)."""
    if 0 < old.size < new.size:
        proof = logs.consistency_proof(session, log_id, old.size, new.size)
    else:
        proof = []
    _check_extends(old, new, proof)


def _check_extends(old, new, proof: list[bytes]) -> None:  # noqa: ANN001
    """Refuse a rollback or a fork: ``new`` must extend ``old`` by the consistency ``proof``."""
    if new.size < old.size:
        raise CheckpointError(f"rollback: log size {new.size} is smaller than {old.size} cosigned before")
    if old.size == 0:
        return
    try:
        verify_consistency(old.size, new.size, old.root, new.root, proof)
    except ProofError as exc:
        raise CheckpointError(f"fork: checkpoint {new.size} is not consistent with {old.size} "
                              f"cosigned before ({exc})") from None


def run_rotate_key(args) -> int:  # noqa: ANN001
    """Rotate the site's log key: one log.key entry and one hand-over checkpoint per log (SPEC §2.4)."""
    from ledger import rotation

    try:
        new = rotation.rotate_site(migrated_engine(), args.reason, args.new_key_file,
                                   say=lambda text: print(text, file=sys.stderr))
    except (rotation.RotationError, CheckpointError, OSError, ValueError) as exc:
        print(f"轮换失败 / rotation refused: {exc}", file=sys.stderr)
        return 1
    print(new.vkey)
    return 0
