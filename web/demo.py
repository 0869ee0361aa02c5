"""The demo estate 枫林苑 (maple-court) and a demo supervisor account.

The roll is deterministic and exercises every counting rule of DOMAIN.md "Who counts":
3 buildings × 2 units × 12 floors × 2 flats, six shops, ten parking spaces; one owner with
three flats and a parking space (one voter); a block of unsold flats and parking spaces held by
the developer (all together one voter); a few surveyed and contract areas.  It is written as a
roll CSV and imported through ``identity.store.import_roll``, like any supervisor's file.
The demo account's password is random and returned once; only its argon2id hash is stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

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

