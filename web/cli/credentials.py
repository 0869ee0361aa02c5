"""Credential commands (SPEC §4.4–4.6): the authority's offline tool and the operator's recording.

At the credential authority, offline (never on the server database):

- ``gongjue authority keygen --name NAME [--contact TEXT] --out KEYFILE``: the authority's
  Ed25519 key (KEYFILE, mode 0600) and its public half (KEYFILE.pub).
- ``gongjue credentials generate --bundle B --openings O --authority-key K --out DIR``: verify
  the exported bundle, open its latest roll with the openings, draw a code per voter without a
  credential, write ``letters.html`` (0600) and the signed ``credentials.json``.
- ``gongjue credentials revoke|reissue``: signed statements for one voter (lost letter, sale).

On the server (operator or admin):

- ``gongjue authority register --estate SLUG --vkey KEYFILE.pub``: record the authority's key.
- ``gongjue credentials register --estate SLUG FILE``: record a signed statement after checking
  it against the ledger (identity.authority.record_statement).
- ``gongjue pins generate --estate SLUG --out DIR``: PIN letters, the second factor where no
  phones are on file (identity.factor).

Codes and PINs are never printed on the terminal or logged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import nacl.signing

from identity import authority as au
from identity import letters
from ledger.bundle import ENTRIES
from ledger.db import migrated_engine, transaction
from ledger.entry import EntryError, parse_entry

KEY_KIND = "gongjue-authority-key"
VKEY_KIND = "gongjue-authority-public-key"


class Refused(Exception):
    """Input refused; the message (Chinese / English) is shown to the user, exit status 2."""


def register(sub) -> None:
    """Add ``authority``, ``credentials`` and ``pins`` to the ``gongjue`` parser."""
    auth = sub.add_parser("authority", help="凭证机构密钥 / credential authority key").add_subparsers(
        dest="authority_command", required=True, metavar="ACTION")
    p = auth.add_parser("keygen", help="生成凭证机构密钥（离线）/ create the authority's key (offline)")
    p.add_argument("--name", required=True, help="机构名称，如 枫林街道办事处 / authority name (shown to owners)")
    p.add_argument("--contact", default="", help="公开的联系方式，如 服务中心 2 号窗口 / public contact")
    p.add_argument("--out", required=True, type=Path, metavar="KEYFILE")
    p.set_defaults(handler=_run(keygen))
    p = auth.add_parser("register", help="在账本中登记凭证机构公钥（管理员）/ record the authority's key (admin)")
    p.add_argument("--estate", required=True, metavar="SLUG")
    p.add_argument("--vkey", required=True, type=Path, metavar="FILE", help="KEYFILE.pub from keygen")
    p.set_defaults(handler=_run(register_authority))

    parser = sub.add_parser("credentials", help="凭证信 / credential letters")
    inner = parser.add_subparsers(dest="credentials_command", required=True, metavar="ACTION")
    gen = inner.add_parser("generate", help="凭证机构离线生成凭证信和签名公钥表 / issue letters (authority, offline)")
    gen.add_argument("--bundle", required=True, type=Path, metavar="BUNDLE", help="小区账本导出包 / exported bundle")
    gen.add_argument("--openings", required=True, type=Path, metavar="OPENINGS", help="名册公开值 / roll openings JSON")
    gen.add_argument("--authority-key", required=True, type=Path, metavar="KEY")
    gen.add_argument("--out", required=True, type=Path, metavar="DIR", help="输出目录 / output directory")
    gen.add_argument("--base-url", default=None, metavar="URL",
                     help="投票页地址前缀，二维码为 <URL>/vote#c=<码> / booth base URL (default https://<site>/estates/<slug>)")
    gen.set_defaults(handler=_run(generate))
    reg = inner.add_parser("register", help="登记凭证机构签署的声明 / record a signed statement (operator)")
    reg.add_argument("--estate", required=True, metavar="SLUG")
    reg.add_argument("file", type=Path, metavar="FILE", help="credentials.json, revoke.json or reissue.json")
    reg.set_defaults(handler=_run(register_statement))
    for name, what in (("revoke", "作废一位表决权人的凭证 / revoke a voter's key"),
                       ("reissue", "补发凭证信 / reissue a voter's letter")):
        p = inner.add_parser(name, help=f"{what} (authority, offline)")
        p.add_argument("--bundle", required=True, type=Path, metavar="BUNDLE")
        p.add_argument("--authority-key", required=True, type=Path, metavar="KEY")
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--voter", metavar="PSEUDONYM", help="表决权人代码 / voter pseudonym")
        who.add_argument("--owner", metavar="OWNER_ID", help="业主编号（需 --openings）/ owner id (needs --openings)")
        p.add_argument("--openings", type=Path, metavar="OPENINGS")
        p.add_argument("--reason", required=True, choices=sorted(au.REASONS))
        p.add_argument("--out", required=True, type=Path, metavar="DIR" if name == "reissue" else "FILE")
        if name == "reissue":
            p.add_argument("--base-url", default=None, metavar="URL")
        p.set_defaults(handler=_run(revoke if name == "revoke" else reissue))

    pins = sub.add_parser("pins", help="PIN 信（无手机号时的第二因素）/ PIN letters").add_subparsers(
        dest="pins_command", required=True, metavar="ACTION")
    p = pins.add_parser("generate", help="为每位表决权人生成 PIN 信（运营方）/ PIN letters (operator)")
    p.add_argument("--estate", required=True, metavar="SLUG")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.set_defaults(handler=_run(generate_pins))


def _run(handler):
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (Refused, au.AuthorityError, letters.LetterError) as e:
            print(f"gongjue: {e}", file=sys.stderr)
            return 2
    return wrapped


# --- files ------------------------------------------------------------------------------------


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Refused(f"{path}: 文件不存在 / no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Refused(f"{path}: 不是有效的 JSON / not valid JSON ({e})") from None


def _write_new(path: Path, obj: object, mode: int) -> None:
    data = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise Refused(f"{path}: 文件已存在，不会覆盖 / file exists; refusing to overwrite") from None
    os.fchmod(fd, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)


def load_authority_key(path: Path) -> tuple[nacl.signing.SigningKey, dict]:
    """The authority's signing key and its key file (SPEC §4.5), or Refused."""
    obj = _read_json(path)
    try:
        if obj["kind"] != KEY_KIND or obj["v"] != 1:
            raise KeyError
        key = nacl.signing.SigningKey(bytes.fromhex(obj["seed"]))
    except (KeyError, TypeError, ValueError):
        raise Refused(f"{path}: 不是凭证机构密钥文件 / not a credential authority key file") from None
    if key.verify_key.encode().hex() != obj.get("public_key"):
        raise Refused(f"{path}: 私钥与公钥不符 / the private key does not match the public key")
    return key, obj


# --- authority ---------------------------------------------------------------------------------


def keygen(args: argparse.Namespace) -> int:
    """``authority keygen``: a new Ed25519 key; KEYFILE 0600 (secret), KEYFILE.pub (public)."""
    key = nacl.signing.SigningKey.generate()
    pk = key.verify_key.encode().hex()
    au.authority_body(args.name, args.contact, pk)  # refuses a bad name or contact before writing
    public = {"v": 1, "kind": VKEY_KIND, "name": args.name.strip(), "contact": args.contact.strip(), "public_key": pk}
    pub_path = args.out.with_name(args.out.name + ".pub")
    if pub_path.exists():
        raise Refused(f"{pub_path}: 文件已存在，不会覆盖 / file exists; refusing to overwrite")
    _write_new(args.out, {**public, "kind": KEY_KIND, "seed": bytes(key).hex()}, 0o600)
    _write_new(pub_path, public, 0o644)
    print(f"凭证机构密钥已生成 / authority key written: {args.out} (仅本人可读 / mode 0600, 请离线保管 / keep offline)")
    print(f"  公钥 / public key: {pub_path}  指纹 / fingerprint {au.fingerprint(pk)}")
    return 0


def register_authority(args: argparse.Namespace) -> int:
    """``authority register``: append the ``authority`` entry (admin)."""
    obj = _read_json(args.vkey)
    if not isinstance(obj, dict) or obj.get("kind") != VKEY_KIND:
        raise Refused(f"{args.vkey}: 不是凭证机构公钥文件 / not an authority public key file (KEYFILE.pub)")
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            seq = au.record_authority(session, args.estate, str(obj.get("name", "")), str(obj.get("contact", "")),
                                      obj.get("public_key"))
    finally:
        engine.dispose()
    print(f"已登记凭证机构 {obj['name']}（账本第 {seq} 条）/ authority recorded as entry {seq}, "
          f"key fingerprint {au.fingerprint(obj['public_key'])}")
    return 0


# --- the authority's offline tool ---------------------------------------------------------------


def _verified_entries(bundle: Path) -> list:
    """Every entry of a bundle that ``gongjue verify`` accepts in full, or Refused."""
    from ledger import verify
    from web.cli.ledger import content_checks

    if not bundle.exists():
        raise Refused(f"{bundle}: 导出包不存在 / no such bundle")
    report = verify.verify_bundle(bundle, checks=content_checks(), jobs=1)
    if not report.ok:
        first = report.first
        where = f"第 {first.seq} 条 / entry {first.seq}: " if first.seq is not None else ""
        raise Refused(f"{bundle}: 导出包核验失败，不能据此生成凭证 / the bundle does not verify: {where}{first.message}")
    source = verify.BundleSource(bundle)
    try:
        return [parse_entry(line.removesuffix(b"\n")) for line in source.lines(ENTRIES)]
    except EntryError as e:
        raise Refused(f"{bundle}: {e}") from None
    finally:
        source.close()


def _estate_and_roll(entries: list) -> tuple[dict, dict]:
    estate = entries[0].body if entries and entries[0].type == "estate" else None
    rolls = [e.body for e in entries if e.type == "roll"]
    if estate is None or not rolls:
        raise Refused("导出包中没有名册 / the bundle holds no roll; import one first")
    return estate, rolls[-1]


def _authority_matches(reg: au.Registry, key: nacl.signing.SigningKey) -> str:
    pk = key.verify_key.encode().hex()
    if reg.authority is None:
        raise Refused("账本中还没有登记凭证机构公钥：请管理员先运行 gongjue authority register / no authority key "
                      "is recorded in the ledger yet: an admin runs `gongjue authority register` first")
    if reg.authority.public_key != pk:
        raise Refused("账本登记的凭证机构公钥不是这把密钥 / the ledger records another authority key "
                      f"(fingerprint {au.fingerprint(reg.authority.public_key)}, yours {au.fingerprint(pk)})")
    return pk


def _opened_voters(roll: dict, openings_path: Path) -> list[letters.LetterVoter]:
    from identity import record

    openings = _read_json(openings_path)
    try:
        opened = record.open_roll(roll, openings)
    except (ValueError, KeyError, TypeError) as e:
        raise Refused(f"{openings_path}: 公开值与账本中的名册不符 / the openings do not open the ledger's roll: {e}") from None
    return letters.letter_voters(opened)


def _warn_placeholder(origin: str, base_url: str | None) -> str | None:
    """Warn (stderr) when the letters' QR codes would not reach the booth (letters.base_url_problem)."""
    problem = letters.base_url_problem(origin, base_url)
    if problem:
        print(f"警告 / WARNING: {problem}", file=sys.stderr)
    return problem


def _warn_again(problem: str | None, files: letters.CredentialFiles) -> None:
    """Repeat the warning after the summary, where it cannot scroll away unseen."""
    if problem:
        print(f"警告 / WARNING: {files.letters} 是样张，请勿打印分发，也不要登记 {files.credentials.name}；请用正确的 "
              f"--base-url 在新目录重新生成 / these letters are marked SAMPLE: do not deliver them nor register "
              f"{files.credentials.name}; generate again into a new directory with the right --base-url\n  {problem}",
              file=sys.stderr)


@dataclass(frozen=True)
class _Offline:
    """What each of the authority's commands starts from: its key and the verified ledger."""

    key: nacl.signing.SigningKey
    public_key: str
    estate: dict
    roll: dict
    registry: au.Registry


def _offline(args: argparse.Namespace) -> _Offline:
    """Load the authority key, verify the bundle, and check that the ledger records this key."""
    key, _ = load_authority_key(args.authority_key)
    entries = _verified_entries(args.bundle)
    estate, roll = _estate_and_roll(entries)
    reg = au.registry_from_entries(entries)
    return _Offline(key, _authority_matches(reg, key), estate, roll, reg)


def generate(args: argparse.Namespace) -> int:
    """``credentials generate``: letters and the signed list for voters without a credential."""
    ctx = _offline(args)
    key, pk, estate, roll, reg = ctx.key, ctx.public_key, ctx.estate, ctx.roll, ctx.registry
    voters = _opened_voters(roll, args.openings)
    todo = [v for v in voters if not reg.had_credential(v.voter_id)]
    if not todo:
        raise Refused("名册中每位表决权人都已有凭证；遗失请用 reissue / every voter of the roll already has a credential "
                      "(use `credentials reissue` for a lost letter)")
    origin = estate["origin"]
    problem = _warn_placeholder(origin, args.base_url)

    def sign(issued):
        return au.sign_statement(au.credentials_statement(origin, pk, roll["version"],
                                                          [(c.voter_id, c.public_key) for c in issued]), key)

    files = letters.write_credentials(args.out, estate.get("name", estate["slug"]), origin, todo, args.base_url,
                                      sign=sign)
    skipped = len(voters) - len(todo)
    print(f"已为 {estate.get('name', '')}（名册第 {roll['version']} 版）生成 {files.count} 份凭证信 / "
          f"{files.count} credential letters for {origin} (roll version {roll['version']})"
          + (f"; {skipped} voters already have one" if skipped else ""))
    print(f"  打印并分发 / print and deliver: {files.letters}  (仅本人可读 / mode 0600)")
    print(f"  交给运营方登记 / hand to the operator: {files.credentials}")
    _warn_again(problem, files)
    return 0


def _voter_for(args: argparse.Namespace, roll: dict) -> letters.LetterVoter | str:
    if args.voter:
        if args.openings is None:
            return args.voter
        found = [v for v in _opened_voters(roll, args.openings) if v.voter_id == args.voter]
    else:
        if args.openings is None:
            raise Refused("--owner 需要 --openings / --owner needs --openings")
        found = [v for v in _opened_voters(roll, args.openings) if v.owner == args.owner]
    if not found:
        raise Refused(f"最新名册中没有这位表决权人 / no such voter in the latest roll ({args.voter or args.owner})")
    return found[0]


def revoke(args: argparse.Namespace) -> int:
    """``credentials revoke``: a signed ``credential.revoke`` statement for the voter's current key."""
    ctx = _offline(args)
    key, pk, estate, roll, reg = ctx.key, ctx.public_key, ctx.estate, ctx.roll, ctx.registry
    who = _voter_for(args, roll)
    voter = who if isinstance(who, str) else who.voter_id
    current = reg.key_of(voter)
    if current is None:
        raise Refused(f"表决权人 {voter} 没有有效的凭证 / voter {voter} has no current key to revoke")
    doc = au.sign_statement(au.revoke_statement(estate["origin"], pk, voter, current, args.reason), key)
    _write_new(args.out, doc, 0o644)
    print(f"作废声明已签署 / revocation signed: {args.out} (key fingerprint {au.fingerprint(current)}); "
          f"交运营方用 credentials register 登记 / the operator records it with `credentials register`")
    return 0


def reissue(args: argparse.Namespace) -> int:
    """``credentials reissue``: a new letter and a signed ``credential.reissue`` statement."""
    ctx = _offline(args)
    key, pk, estate, roll, reg = ctx.key, ctx.public_key, ctx.estate, ctx.roll, ctx.registry
    if args.openings is None:
        raise Refused("补发凭证信需要 --openings（信上要印房屋）/ reissue needs --openings (the letter lists the parts)")
    voter = _voter_for(args, roll)
    if not reg.had_credential(voter.voter_id):
        raise Refused(f"表决权人 {voter.voter_id} 从未登记过凭证：请用 generate / voter never had a credential: "
                      f"use `credentials generate`")
    replaces = reg.key_of(voter.voter_id)
    origin = estate["origin"]
    problem = _warn_placeholder(origin, args.base_url)

    def sign(issued):
        (cred,) = issued
        return au.sign_statement(au.reissue_statement(origin, pk, cred.voter_id, cred.public_key, replaces,
                                                      args.reason), key)

    files = letters.write_credentials(args.out, estate.get("name", estate["slug"]), origin, [voter], args.base_url,
                                      sign=sign)
    print(f"补发凭证信 / reissued letter: {files.letters}; 签名声明 / signed statement: {files.credentials}")
    _warn_again(problem, files)
    return 0


# --- the operator ---------------------------------------------------------------------------------


def register_statement(args: argparse.Namespace) -> int:
    """``credentials register``: check a signed statement against the ledger and record it."""
    document = _read_json(args.file)
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            seq, statement = au.record_statement(session, args.estate, document)
    finally:
        engine.dispose()
    count = len(statement["credentials"]) if statement["type"] == au.CREDENTIALS else 1
    print(f"已登记 {statement['type']}（{count} 位表决权人，账本第 {seq} 条）/ recorded {statement['type']} "
          f"for {count} voter(s) as entry {seq}")
    return 0


def generate_pins(args: argparse.Namespace) -> int:
    """``pins generate``: PIN letters for the estate's current voters (operator; identity.factor)."""
    from identity import factor

    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            written = factor.write_pin_letters(session, args.estate, args.out)
    except factor.FactorError as e:
        raise Refused(str(e)) from None
    finally:
        engine.dispose()
    print(f"已生成 {written.count} 份 PIN 信 / {written.count} PIN letters: {written.path} (仅本人可读 / mode 0600); "
          f"服务器只保存 PIN 的哈希 / the server keeps only hashes")
    return 0
