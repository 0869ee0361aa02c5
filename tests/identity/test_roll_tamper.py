"""Issue #7.5: the roll tables are projections of the ledger (SPEC §6.4), on SQLite and PostgreSQL.

The two attacks of the security probe — ``UPDATE identity_roll_parts SET area=area*10`` and a
ghost voter inserted into the tables — are first refused by the triggers; with the triggers
dropped (an attacker owning the database), everything that counts refuses to use the tables
(``RollTampered``).  Openings are erasable after the retention period, and only then."""

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from identity import store
from identity.models import (
    OwnerName,
    RollErasure,
    RollPart,
    RollPhone,
    RollVersion,
    RollVoter,
)
from identity.record import pseudonym
from identity.roll import read_roll
from ledger.db import transaction
from ledger.models import Entry

ROLL = ("building,unit,room,area,owner,owner_name,phone,developer_held\n"
        "1,1,101,88.50,A1,张三,13812345678,no\n1,1,102,90,A1,张三,,no\n1,2,201,70,B2,李四,13900001111,no\n"
        "2,1,101,100.05,DEV,开发商,,yes\n")
ROLL2 = ROLL.replace("1,2,201,70,B2", "1,2,201,70,C3")


def _import(engine, text_=ROLL):
    data = text_.encode()
    return store.import_roll_file(engine, "maple-court", read_roll(data, "r.csv"), filename="r.csv", data=data,
                                  name="枫林苑")


def drop_roll_triggers(engine) -> None:
    """What an attacker with the database owner's rights does first."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(text("SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                                     "WHERE NOT t.tgisinternal AND c.relname LIKE 'identity_%'")).all()
            for name, table in rows:
                conn.execute(text(f'DROP TRIGGER "{name}" ON "{table}"'))
        else:
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                     "AND tbl_name LIKE 'identity_%'")).all()
            for (name,) in rows:
                conn.execute(text(f'DROP TRIGGER "{name}"'))


@pytest.mark.parametrize("statement", [
    "UPDATE identity_roll_parts SET area = area * 10",
    "UPDATE identity_roll_voters SET owner = 'X9'",
    "UPDATE identity_roll_versions SET area = 1",
    "UPDATE identity_estates SET name = 'x'",
    "UPDATE identity_estate_secrets SET secret = secret",
    "UPDATE identity_roll_phones SET phone = '13000000000'",
    "DELETE FROM identity_roll_parts",
    "DELETE FROM identity_roll_voters",
    "DELETE FROM identity_owner_names",
    "DELETE FROM identity_roll_versions",
    "DELETE FROM identity_estate_secrets",
])
def test_roll_tables_refuse_update_and_delete(engine, statement):
    _import(engine)
    with transaction(engine) as s:
        before = s.scalar(select(func.sum(RollPart.area))), s.scalar(select(func.count()).select_from(RollVoter))
    with pytest.raises(DBAPIError, match="append-only|refused"):
        with transaction(engine) as s:
            s.execute(text(statement))
    with transaction(engine) as s:
        assert (s.scalar(select(func.sum(RollPart.area))), s.scalar(select(func.count()).select_from(RollVoter))) == before
        assert store.current_roll(s, "maple-court").version == 1


def test_area_times_ten_is_refused_everywhere_it_counts(engine):
    _import(engine)
    drop_roll_triggers(engine)
    with transaction(engine) as s:
        s.execute(text("UPDATE identity_roll_parts SET area = area * 10"))
    with transaction(engine) as s:
        with pytest.raises(store.RollTampered, match="does not match its ledger entry") as err:
            store.current_roll(s, "maple-court")
        assert "commitments" in str(err.value)
        with pytest.raises(store.RollTampered, match=r"roll part rows: parts, heads, area = \(4, 3, 348550\), "
                                                     r"the ledger entry says \(4, 3, 34855\)"):
            store.overview(s, "maple-court")
        with pytest.raises(store.RollTampered, match="not committed in the ledger"):
            store.voter_for_part(s, "maple-court", "1", "1", "101")
        with pytest.raises(store.RollTampered):
            store.roll_openings(s, "maple-court")


def test_ghost_voter_is_refused_everywhere_it_counts(engine):
    _import(engine)
    drop_roll_triggers(engine)
    ghost = pseudonym("G9", "0" * 64)  # a well-formed opening: only the ledger can tell
    with transaction(engine) as s:
        version = s.scalar(select(RollVersion))
        s.execute(insert(RollVoter).values(roll_version_id=version.id, voter=ghost, position=9, owner="G9",
                                           salt="0" * 64))
        s.execute(insert(RollPart).values(roll_version_id=version.id, position=9, building="9", unit="", room="1",
                                          area=50000, area_source="registered", voter_id="G9", developer_held=False,
                                          voter=ghost, salt="0" * 64))
    with transaction(engine) as s:
        with pytest.raises(store.RollTampered, match="commitments"):
            store.current_roll(s, "maple-court")  # credential letters and round snapshots start here
        with pytest.raises(store.RollTampered, match=r"\(5, 4, 84855\), the ledger entry says \(4, 3, 34855\)"):
            store.overview(s, "maple-court")
        with pytest.raises(store.RollTampered, match="not committed"):
            store.voter_for_part(s, "maple-court", "9", "", "1")


def test_a_version_row_pointing_at_another_entry_is_refused(engine):
    _import(engine)
    _import(engine, ROLL2)
    drop_roll_triggers(engine)
    with transaction(engine) as s:
        s.execute(text("UPDATE identity_roll_versions SET ledger_seq = 1 WHERE version = 2"))
    with transaction(engine) as s:
        with pytest.raises(store.RollTampered, match="entry 1 is roll version 1"):
            store.overview(s, "maple-court")


def test_openings_pseudonyms_and_phones(engine):
    _import(engine)
    _import(engine, ROLL2)
    with transaction(engine) as s:
        v1, v2 = store.roll_openings(s, "maple-court", 1), store.roll_openings(s, "maple-court")
        assert (v1["version"], v2["version"], v1["origin"]) == (1, 2, "gongjue.local/maple-court")
        assert [v["owner"] for v in v2["voters"]] == ["A1", "C3", "DEV"]
        assert v1["voters"][0]["voter"] == v2["voters"][0]["voter"]  # stable across versions
        assert "phone" not in repr(v2) and "13812345678" not in repr(v2)  # phones are never exported
        a1 = store.voter_for_part(s, "maple-court", "１", "1", "101")  # full-width labels normalised
        assert a1 == v2["voters"][0]["voter"]
        assert store.voter_for_part(s, "maple-court", "1", "2", "999") is None
        assert store.voter_phone(s, "maple-court", a1) == "13812345678"
        assert store.mask_phone(store.voter_phone(s, "maple-court", a1)) == "138****5678"
        assert store.voter_phone(s, "maple-court", v2["voters"][1]["voter"]) == "13900001111"
        assert store.voter_phone(s, "maple-court", v2["voters"][2]["voter"]) is None  # the developer has none
        view = store.current_roll(s, "maple-court")
        assert [(v.owner, v.area, v.parts) for v in view.opened.voters] == [
            ("A1", 17850, ("1-1-101", "1-1-102")), ("C3", 7000, ("1-2-201",)), ("DEV", 10005, ("2-1-101",))]
        assert view.roll.phones == {"A1": "13812345678", "C3": "13900001111"} and view.roll.names["A1"] == "张三"


def test_erase_openings_of_old_versions_only(engine):
    """SPEC §6.3: after the retention period the openings of old versions go; the ledger stays."""
    _import(engine)
    _import(engine, ROLL2)
    _import(engine, ROLL)
    with transaction(engine) as s:
        entries = s.scalar(select(func.count()).select_from(Entry))
        with pytest.raises(store.EstateError, match="only versions before the current one"):
            store.erase_openings(s, "maple-court", 4, by="test")
    with transaction(engine) as s:
        assert store.erase_openings(s, "maple-court", 3, by="test") == [1, 2]
    with transaction(engine) as s:
        assert store.erase_openings(s, "maple-court", 3, by="test") == []  # already erased
        ids = [v.id for v in s.scalars(select(RollVersion).order_by(RollVersion.version))]
        for table in (RollPart, RollVoter, OwnerName, RollPhone):
            left = s.scalars(select(table.roll_version_id).distinct()).all()
            assert set(left) == {ids[2]}, table.__tablename__
        assert set(s.scalars(select(RollErasure.roll_version_id))) == set(ids[:2])
        assert s.scalar(select(func.count()).select_from(Entry)) == entries  # the ledger keeps every entry
        with pytest.raises(store.EstateError, match="erased after the retention period"):
            store.roll_openings(s, "maple-court", 1)
        assert store.current_roll(s, "maple-court").version == 3
        assert store.overview(s, "maple-court").totals.heads == 3
    with pytest.raises(DBAPIError, match="latest roll version cannot be erased"):
        with transaction(engine) as s:  # the current version's rows stay, even inserted by hand
            s.execute(insert(RollErasure).values(roll_version_id=ids[2], erased_at=store._now(), erased_by="x"))
    with pytest.raises(DBAPIError, match="refused"):
        with transaction(engine) as s:
            s.execute(text(f"DELETE FROM identity_roll_parts WHERE roll_version_id = {ids[2]}"))
