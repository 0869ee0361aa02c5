"""Roll versions in a real database (SQLite file and PostgreSQL)."""

import pytest
from sqlalchemy import func, select

from identity import store
from identity.models import Estate, OwnerName, RollPart, RollVersion
from identity.roll import read_roll
from identity.scope import Totals
from ledger.db import transaction

ROLL1 = "building,unit,room,area,owner,owner_name,developer_held\n1,1,101,88.50,A,张三,no\n1,1,102,90,A,张三,no\n2,1,101,100.05,D,开发商,yes\n"
ROLL2 = "building,unit,room,area,owner\n1,1,101,88.50,A\n1,1,102,90,B\n"


def _import(engine, text, name=None):
    data = text.encode()
    with transaction(engine) as s:
        return store.import_roll(s, "maple-court", read_roll(data, "r.csv"), filename="r.csv", data=data,
                                 name=name).version


def test_import_creates_estate_then_new_versions_leave_old_ones_unchanged(engine):
    assert _import(engine, ROLL1, name="枫林苑") == 1
    assert _import(engine, ROLL2, name="ignored when the estate exists") == 2
    with transaction(engine) as s:
        estate = store.get_estate(s, "maple-court")
        assert estate.name == "枫林苑"
        assert estate.origin == "gongjue.local/maple-court"
        v1 = store.load_roll(s, store.roll_version(s, estate, 1))
        v2 = store.current_roll(s, "maple-court")
        assert v1 == read_roll(ROLL1.encode(), "r.csv")
        assert v1.names == {"A": "张三", "D": "开发商"}
        assert v2.version == 2 and v2.roll == read_roll(ROLL2.encode(), "r.csv")
        assert [(v.voter_id, v.area) for v in v2.voters] == [("A", 8850), ("B", 9000)]
        ov = store.overview(s, "maple-court")
        assert (ov.version, ov.buildings, ov.parts, ov.totals, ov.developer_parts) == (2, 1, 2, Totals(2, 17850), 0)
        first = s.scalar(select(RollVersion).where(RollVersion.version == 1))
        assert (first.parts, first.heads, first.area) == (3, 2, 27855)


def test_failed_transaction_writes_nothing(engine):
    data = ROLL1.encode()
    with pytest.raises(RuntimeError):
        with transaction(engine) as s:
            store.import_roll(s, "maple-court", read_roll(data, "r.csv"), filename="r.csv", data=data)
            raise RuntimeError("crash in the middle of the import")
    with transaction(engine) as s:
        for model in (Estate, RollVersion, RollPart, OwnerName):
            assert s.scalar(select(func.count()).select_from(model)) == 0


@pytest.mark.parametrize("slug", ["A", "x", "has space", "-lead", "中文", "a" * 64])
def test_bad_slug_refused(engine, slug):
    data = ROLL2.encode()
    with pytest.raises(store.EstateError, match="estate slug"):
        with transaction(engine) as s:
            store.import_roll(s, slug, read_roll(data, "r.csv"), filename="r.csv", data=data)


def test_unknown_estate_reads_as_none(engine):
    with transaction(engine) as s:
        assert store.current_roll(s, "nowhere") is None
        assert store.overview(s, "nowhere") is None
