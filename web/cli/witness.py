"""``gongjue witness serve`` (a network witness, c2sp.org/tlog-witness) and ``gongjue anchor``.

``witness serve --key FILE --state DIR --listen HOST:PORT --log ORIGIN=VKEY …`` runs on the
witness's own machine with its own ``cosignature/v1`` key (``gongjue witness keygen``); it needs
no database.  ``anchor --once`` runs one pass of the server's background anchoring
(ledger.anchor: timestamps from the configured TSAs, cosignatures from the configured
witnesses); without ``--once`` it loops every GONGJUE_ANCHOR_SECONDS.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from ledger.note import NoteError, parse_skey, parse_vkey


def register_witness(witness_sub) -> None:  # noqa: ANN001
    """Add ``serve`` to the ``gongjue witness`` subcommands (web.cli.ledger builds that group)."""
    p = witness_sub.add_parser("serve", help="作为网络见证人运行 / run a network witness (c2sp.org/tlog-witness)",
                               description="Answer POST /add-checkpoint: cosign checkpoints of the listed logs "
                                           "that extend the last one cosigned; refuse forks and rollbacks.")
    p.add_argument("--key", required=True, type=Path, metavar="KEYFILE", help="this witness's key (witness keygen)")
    p.add_argument("--state", required=True, type=Path, metavar="DIR",
                   help="where the last cosigned checkpoint of each log is kept")
    p.add_argument("--listen", default="127.0.0.1:7380", metavar="HOST:PORT", help="default 127.0.0.1:7380")
    p.add_argument("--log", action="append", required=True, metavar="ORIGIN=VKEY",
                   help="a log to witness: its origin and the log's verifier key (repeatable)")
    p.add_argument("--prefix", default="", help="URL path prefix before /add-checkpoint (default none)")
    p.set_defaults(handler=run_serve)


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("anchor", help="时间戳与见证联署 / timestamps and witness cosignatures",
                       description="Ask the configured TSAs (GONGJUE_TSA_URLS) to timestamp new checkpoints and "
                                   "the configured witnesses (GONGJUE_WITNESSES) to cosign the latest.")
    p.add_argument("--once", action="store_true", help="one pass, then exit (status 1 if anything failed)")
    p.set_defaults(handler=run_anchor)


def parse_logs(items: list[str]) -> dict:
    """``ORIGIN=VKEY`` → {origin: Verifier}; a log key must be an Ed25519 note key (0x01).  An origin
    given twice (the old and the new key around a log-key rotation, SPEC §2.4) maps to both keys."""
    found = {}
    for item in items:
        origin, sep, vkey = item.partition("=")
        if not sep or not origin:
            raise ValueError(f"--log {item!r} must be ORIGIN=VKEY")
        verifier = parse_vkey(vkey)
        if verifier.alg != 0x01:
            raise ValueError(f"--log {origin}: the log key must be an Ed25519 note key (type 0x01)")
        if origin in found:
            before = found[origin]
            found[origin] = (before if isinstance(before, tuple) else (before,)) + (verifier,)
        else:
            found[origin] = verifier
    return found


def run_serve(args) -> int:  # noqa: ANN001
    from ledger import witness

    try:
        signer = parse_skey(args.key.read_text(encoding="ascii"))
        logs = parse_logs(args.log)
        host, _, port = args.listen.rpartition(":")
        server_witness = witness.Witness(signer, logs, witness.WitnessState(args.state))
        server = witness.make_server(server_witness, host or "127.0.0.1", int(port), args.prefix)
    except (OSError, NoteError, ValueError) as exc:
        print(f"见证人无法启动 / witness cannot start: {exc}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    print(f"见证人 {signer.verifier.vkey} 在 http://{host}:{port}{args.prefix.rstrip('/')}/add-checkpoint 等待 / "
          f"witness listening on http://{host}:{port}{args.prefix.rstrip('/')}/add-checkpoint", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def run_anchor(args) -> int:  # noqa: ANN001
    from ledger import anchor, timestamp
    from ledger.db import migrated_engine

    try:
        config = anchor.config_from_env()
    except (OSError, ValueError, NoteError, timestamp.TimestampError) as exc:
        print(f"配置有误 / bad configuration: {exc}", file=sys.stderr)
        return 2
    if not config.active:
        print("未配置时间戳服务或见证人 / no TSA (GONGJUE_TSA_URLS) or witness (GONGJUE_WITNESSES) configured",
              file=sys.stderr)
        return 2
    engine = migrated_engine()
    if args.once:
        outcome = anchor.anchor_once(engine, config)
        for failure in outcome.failures:
            print(f"稍后重试 / will retry: {failure}", file=sys.stderr)
        print(f"时间戳 {outcome.stamped} 个，联署 {outcome.cosigned} 个 / stamped {outcome.stamped}, "
              f"cosigned {outcome.cosigned}")
        return 1 if outcome.failures else 0
    worker = anchor.AnchorThread(engine, config)
    worker.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        worker.stop()
    return 0


def check_evidence(args, report) -> dict:  # noqa: ANN001
    """``gongjue verify``'s check of timestamp tokens and witness cosignatures (ledger.evidence, SPEC
    §2.10): problems go into ``report``; returns {"timestamps": […], "witnesses": […]} for ``--json``
    (the text output prints the same lines).  An unreadable --tsa-roots or --witness exits 2."""
    from ledger import evidence, timestamp

    try:
        roots = timestamp.load_roots(args.tsa_roots) if getattr(args, "tsa_roots", None) else None
        keys = [parse_vkey(_vkey_text(item)) for item in getattr(args, "witness", [])]
    except (OSError, ValueError, NoteError) as exc:
        print(f"无法读取 / cannot read: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    found = evidence.check_evidence(args.bundle, roots, keys)
    for check, message in found.problems:
        report.add(check, message)
    if not args.json:
        for t in found.tokens:
            how = ("已核验证书链 / chain verified" if t["verified"]
                   else "未核验证书链（需 --tsa-roots）/ chain NOT checked")
            print(f"时间戳 / timestamp {t['file']}: {t['time']} {t['tsa']} ({how})")
        for w in found.witnesses:
            print(f"见证人联署 / cosigned by {w['vkey'].split('+')[0]}: size {w['size']} at {w['time']}")
    return {"timestamps": found.tokens, "witnesses": found.witnesses}


def _vkey_text(item: str) -> str:
    """A vkey given inline, or the path of a file holding one."""
    path = Path(item)
    if item.count("+") >= 2 and not path.exists():
        return item
    return path.read_text(encoding="ascii").strip()
