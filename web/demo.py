"""The demo estate 枫林苑 (maple-court) and a demo supervisor account.

The roll is deterministic and exercises every counting rule of DOMAIN.md "Who counts":
3 buildings × 2 units × 12 floors × 2 flats, six shops, ten parking spaces; one owner with
three flats and a parking space (one voter); a block of unsold flats and parking spaces held by
the developer (all together one voter); a few surveyed and contract areas.  It is written as a
roll CSV and imported through ``identity.store.import_roll``, like any supervisor's file.
The demo account's password is random and returned once; only its argon2id hash is stored.

``open_demo_round`` (``gongjue serve --demo`` calls it after ``create_demo``) makes the estate
votable: a credential authority (key file kept in the demo directory), credential codes for the
five owners of ``DEMO_OWNERS`` registered with it (their codes written once to
``<demo dir>/owners.txt``, mode 0600, and one printed with its booth link), two trustees' key files,
and a secret round ``DEMO_ROUND`` announced now and open for ``DEMO_DAYS`` days.  Owners sign in
with their flat and a one-time code by SMS: without a configured gateway the demo uses the file
gateway (``GONGJUE_SMS_GATEWAY=file:<demo dir>/sms``), one JSON file per message.  The demo
directory is ``demo/`` next to a SQLite database (``./var/demo`` for the default database).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from identity import staff as staff_store
from identity import store
from identity.area import format_area
from identity.csvfile import write_csv
from identity.roll import read_roll
from ledger.db import transaction

DEMO_SLUG = "maple-court"
DEMO_NAME = "枫林苑"
DEMO_USERNAME = "demo"
DEMO_FILENAME = "maple-court-roll.csv"
HEADER = ("楼栋", "单元", "房号", "面积", "面积来源", "业主编号", "业主姓名", "开发商持有", "手机号")
DEVELOPER = ("DEV", "枫林置业有限公司")
MULTI_OWNER = "M0007"  # owns 1-1-101, 1-1-102, 2-2-1201 and parking space B1-001
DEMO_ROUND = "demo-1"
DEMO_DAYS = 30
DEMO_OWNERS = ("M0001", MULTI_OWNER, "M0002", "M0003", "M0004")  # credential letters issued to these five
DEMO_AUTHORITY = ("枫林街道办事处（演示）", "服务中心 2 号窗口")
DEMO_TRUSTEE_PASSPHRASE = "maple-court demo trustees"
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


@dataclass(frozen=True)
class DemoRow:
    building: str
    unit: str
    room: str
    area: int  # 0.01 m²
    source: str  # 登记 | 实测 | 合同
    owner: str
    name: str
    developer: bool = False

    @property
    def phone(self) -> str:
        """A made-up mobile number (private column, SPEC §6.3) for every owner but the developer."""
        return "" if self.developer else f"1380000{int(self.owner[1:]):04d}"


@dataclass(frozen=True)
class Demo:
    """What ``create_demo`` made: the estate's roll version and the account (password shown once)."""

    slug: str
    version: int
    username: str | None
    password: str | None


def _person(number: int) -> tuple[str, str]:
    return f"M{number:04d}", _SURNAMES[number % 20] + _GIVEN[(number * 7) % 20] + _GIVEN[(number * 3 + 1) % 20]


def demo_rows() -> list[DemoRow]:
    """The demo roll, in file order."""
    rows: list[DemoRow] = []
    next_owner = 1
    for building in (1, 2, 3):
        for unit in (1, 2):
            for floor in range(1, 13):
                for flat in (1, 2):
                    room = f"{floor}{flat:02d}"
                    area = (8950 if flat == 1 else 11236) + 37 * (unit - 1) + 12 * (building - 1)
                    source = "登记"
                    if building == 3 and unit == 1 and floor <= 2 and flat == 1:
                        source = "实测"  # not yet registered: surveyed area
                    if building == 3 and unit == 2 and floor >= 9:  # unsold: developer, contract area
                        rows.append(DemoRow(str(building), str(unit), room, area, "合同", *DEVELOPER, True))
                        continue
                    if (building, unit, room) in {(1, 1, "101"), (1, 1, "102"), (2, 2, "1201")}:
                        owner, name = _person(7)
                    else:
                        if next_owner == 7:
                            next_owner += 1
                        owner, name = _person(next_owner)
                        next_owner += 1
                    rows.append(DemoRow(str(building), str(unit), room, area, source, owner, name))
    for shop in range(1, 7):
        owner, name = _person(next_owner)
        next_owner += 1
        source = "合同" if shop == 6 else "登记"
        rows.append(DemoRow("商铺", "", f"S{shop:02d}", 4520 + 1375 * shop, source, owner, name))
    parking_owners = [7, 1, 2, 3, 4, 5, 6, 8]
    for space in range(1, 11):
        if space <= len(parking_owners):
            owner, name = _person(parking_owners[space - 1])
            rows.append(DemoRow("车库", "", f"B1-{space:03d}", 1250, "登记", owner, name))
        else:
            rows.append(DemoRow("车库", "", f"B1-{space:03d}", 1250, "登记", *DEVELOPER, True))
    return rows


def demo_roll_csv() -> bytes:
    """The demo roll as a UTF-8 CSV with Chinese headers, as a supervisor would upload it."""
    return write_csv(HEADER, ((r.building, r.unit, r.room, format_area(r.area), r.source, r.owner, r.name,
                               "是" if r.developer else "否", r.phone) for r in demo_rows()))


def create_demo(engine: Engine, *, with_account: bool = True) -> Demo:
    """Import the demo estate (identity.store.import_roll_file), then create the demo supervisor.

    The account is created only if ``with_account`` and no account of that name exists; its
    random password is returned here and nowhere else.
    """
    data = demo_roll_csv()
    roll = read_roll(data, DEMO_FILENAME)
    password = secrets.token_urlsafe(12) if with_account else None
    version = store.import_roll_file(engine, DEMO_SLUG, roll, filename=DEMO_FILENAME, data=data, name=DEMO_NAME)
    with transaction(engine) as session:
        username = None
        if password is not None and staff_store.find_staff(session, DEMO_USERNAME) is None:
            staff_store.create_staff(session, DEMO_USERNAME, password, "staff", by="demo")
            staff_store.assign(session, DEMO_USERNAME, DEMO_SLUG, "supervisor", by="demo")
            username = DEMO_USERNAME
    return Demo(DEMO_SLUG, version, username, password if username else None)



# --- the open round and the owners who can vote ----------------------------------------------------


@dataclass(frozen=True)
class DemoOwner:
    owner: str
    flat: tuple[str, str, str]  # building, unit, room: what the owner types to sign in
    phone: str
    code: str  # the credential code of the owner's letter

    @property
    def label(self) -> str:
        b, u, r = self.flat
        return f"{b} 栋 {u} 单元 {r} 室" if u else f"{b} {r}"


@dataclass(frozen=True)
class DemoRound:
    """What ``open_demo_round`` made (``None`` fields when the round existed already)."""

    round_id: str
    directory: Path
    owners: list[DemoOwner] = field(default_factory=list)
    sms: str = ""  # the SMS gateway in force: "file:DIR", "console" or ""


def demo_directory(engine: Engine) -> Path:
    """``demo/`` next to a SQLite database file; ``./var/demo`` otherwise."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "demo"
    return Path("var/demo").resolve()


def demo_sms_gateway(engine: Engine) -> str:
    """The SMS gateway for the demo: ``GONGJUE_SMS_GATEWAY`` when set, else the file gateway in the
    demo directory (set in this process's environment, so the server's owners get their codes)."""
    from identity import factor

    value = os.environ.get(factor.GATEWAY_ENV, "").strip()
    if not value:
        value = f"file:{demo_directory(engine) / 'sms'}"
        os.environ[factor.GATEWAY_ENV] = value
    return value


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def open_demo_round(engine: Engine, *, base_url: str = "http://127.0.0.1:8000",
                    directory: Path | None = None) -> DemoRound:
    """Make the demo estate votable (see the module docstring); nothing when the round exists.
    Its files go to ``directory`` (default ``demo_directory``)."""
    import nacl.signing

    from identity import authority as au
    from identity.credential import format_code, generate_code, public_key_hex
    from ledger.db import reading
    from voting import rounds
    from voting.crypto import trustee
    from web.cli.credentials import KEY_KIND, VKEY_KIND
    from web.cli.keyfiles import key_file

    directory = directory or demo_directory(engine)
    sms = demo_sms_gateway(engine)
    with reading(engine) as session:
        estate = store.get_estate(session, DEMO_SLUG)
        existing = [v.round_id for v in rounds.list_rounds(session, DEMO_SLUG)] if estate is not None else []
    if estate is None or DEMO_ROUND in existing:
        return DemoRound(DEMO_ROUND, directory, [], sms)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    origin = estate.origin
    rows = [r for r in demo_rows() if not r.developer]
    flats = {o: next(r for r in rows if r.owner == o) for o in DEMO_OWNERS}
    # the credential authority: its key file kept (offline, in real life) for more letters later
    authority = nacl.signing.SigningKey.generate()
    pk = authority.verify_key.encode().hex()
    public = {"v": 1, "kind": VKEY_KIND, "name": DEMO_AUTHORITY[0], "contact": DEMO_AUTHORITY[1], "public_key": pk}
    _write_private(directory / "authority.key", json.dumps({**public, "kind": KEY_KIND, "seed": bytes(authority).hex()},
                                                           ensure_ascii=False, indent=2))
    owners = [DemoOwner(o, (f.building, f.unit, f.room), f.phone, generate_code()) for o, f in flats.items()]
    with transaction(engine) as session:
        voters = {o.owner: store.voter_for_part(session, DEMO_SLUG, *o.flat) for o in owners}
        version = store.overview(session, DEMO_SLUG).version
        au.record_authority(session, DEMO_SLUG, DEMO_AUTHORITY[0], DEMO_AUTHORITY[1], pk)
    statement = au.sign_statement(au.credentials_statement(
        origin, pk, version, [(voters[o.owner], public_key_hex(o.code, origin)) for o in owners]), authority)
    with transaction(engine) as session:
        au.record_statement(session, DEMO_SLUG, statement)
    # two trustees (n-of-n): their encrypted key files in the demo directory
    context = f"{origin}/{DEMO_ROUND}"
    keys = []
    for j in (1, 2):
        secret, pub = trustee.generate_key(j, context=context)
        _write_private(directory / f"trustee-{j}.key", json.dumps(
            key_file(j, context, secret, None, DEMO_TRUSTEE_PASSPHRASE.encode()), indent=2))
        keys.append(pub)
    now = datetime.now(UTC).replace(microsecond=0)
    spec = {"round": DEMO_ROUND, "secrecy": "secret",
            "agenda": {"rules": "civil-code-2021", "items": [
                {"id": "m1", "kind": "motion", "matter": "use_maintenance_fund",
                 "title": "使用专项维修资金更换 1 号楼电梯"},
                {"id": "c2", "kind": "choice", "matter": "hire_manager", "title": "选聘物业服务企业",
                 "options": ["绿叶物业", "港湾物业", "都不选"]}]},
            "opens": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "closes": (now + timedelta(days=DEMO_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "short_notice_reason": "演示小区：公告后即可投票 / demo estate: voting opens at once",
            "trustees": {"threshold": None, "keys": keys},
            "policies": {"duplicate": "first", "revote": False, "proxy_cap": 1, "deemed_consent": False}}
    with transaction(engine) as session:
        rounds.create_draft(session, DEMO_SLUG, spec, by=DEMO_USERNAME, now=now)
        rounds.announce(session, DEMO_SLUG, DEMO_ROUND, by=DEMO_USERNAME, now=now)
    lines = [f"# {DEMO_NAME} 演示业主 / demo owners (round {DEMO_ROUND}); 仅本机可读 / keep private", ""]
    for o in owners:
        lines += [f"{o.label}  手机 / phone {o.phone}", f"  凭证码 / code: {format_code(o.code)}",
                  f"  投票链接 / booth link: {base_url}/estates/{DEMO_SLUG}/vote#c={o.code}", ""]
    lines += [f"监票人密钥 / trustee key files: trustee-1.key, trustee-2.key (passphrase: {DEMO_TRUSTEE_PASSPHRASE})",
              "凭证机构密钥 / credential authority key: authority.key (gongjue credentials generate --authority-key)"]
    _write_private(directory / "owners.txt", "\n".join(lines) + "\n")
    return DemoRound(DEMO_ROUND, directory, owners, sms)


def newcomer_text(made: DemoRound, base_url: str = "http://127.0.0.1:8000") -> str:
    """What ``gongjue serve --demo`` prints once: the owner's path through the demo."""
    if not made.owners:
        return ""
    first = made.owners[0]
    if made.sms.startswith("file:"):
        where = f"{made.sms[5:]}  （每条短信一个 JSON 文件 / one JSON file per message）"
    elif made.sms == "console":
        where = "本终端 / this terminal"
    else:
        where = made.sms
    return "\n".join([
        f"演示投票已开始 / a demo round is open: {base_url}/estates/{DEMO_SLUG}",
        f"业主投票试用 / try the owner's path as {first.label} (phone {first.phone}):",
        f"  {base_url}/estates/{DEMO_SLUG}/vote#c={first.code}",
        f"短信验证码 / SMS one-time codes: {where}",
        (f"另外 {len(made.owners) - 1} 位业主的凭证码 / codes of {len(made.owners) - 1} more owners: "
         f"{made.directory / 'owners.txt'}"),
    ])
