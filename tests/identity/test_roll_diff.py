"""identity.roll_diff: the preview of a new roll version (added, removed, changed, totals)."""

from __future__ import annotations

from identity.roll import read_roll
from identity.roll_diff import diff_rolls
from identity.scope import Totals

HEADER = "building,unit,room,area,owner,owner_name,phone,developer_held\n"
CURRENT = HEADER + (
    "1,1,101,89.50,M001,张三,13812345678,no\n"
    "1,1,102,90.25,M002,李四,,no\n"
    "1,2,201,120.00,M001,张三,13812345678,no\n"
    "2,1,101,75.00,M003,王五,,no\n"
    "2,1,102,60.00,DEV,,,yes\n"
)


def roll(text: str):
    return read_roll(text.encode(), "roll.csv")


def test_identical_roll_is_said_identical():
    diff = diff_rolls(roll(CURRENT), roll(CURRENT))
    assert diff.identical and diff.parts_same
    assert diff.before == diff.after == Totals(4, 43475)
    assert [(b.building, b.before, b.after) for b in diff.buildings] == [
        ("1", Totals(2, 29975), Totals(2, 29975)), ("2", Totals(2, 13500), Totals(2, 13500))]
    assert not any(b.changed for b in diff.buildings)


def test_added_removed_changed_with_exact_totals():
    new = HEADER + (
        "1,1,101,89.51,M001,张三,13812345678,no\n"  # area changed by 0.01 m²
        "1,2,201,120.00,M004,赵六,,no\n"  # owner changed: M001 keeps 1-1-101 only
        "2,1,101,75.00,M003,王五,,no\n"
        "2,1,102,60.00,DEV,,,yes\n"
        "3,,301,100.00,M005,,,no\n"  # added, a new building without units
    )  # 1-1-102 (M002) removed
    diff = diff_rolls(roll(CURRENT), roll(new))
    assert not diff.identical and not diff.parts_same
    assert [p.label for p in diff.added] == ["3-301"]
    assert [p.label for p in diff.removed] == ["1-1-102"]
    assert [(c.label, c.fields) for c in diff.changed] == [("1-1-101", ("area",)), ("1-2-201", ("owner",))]
    assert diff.changed[0].before.area == 8950 and diff.changed[0].after.area == 8951
    assert diff.before == Totals(4, 43475)
    assert diff.after == Totals(5, 8951 + 12000 + 7500 + 6000 + 10000) == Totals(5, 44451)
    assert [(b.building, b.before, b.after) for b in diff.buildings] == [
        ("1", Totals(2, 29975), Totals(2, 20951)),
        ("2", Totals(2, 13500), Totals(2, 13500)),
        ("3", Totals(0, 0), Totals(1, 10000))]
    assert diff.voters_added == ("M004", "M005") and diff.voters_removed == ("M002",)
    assert diff.names_changed == 0 and diff.phones_changed == 0


def test_only_private_columns_or_order_differ():
    renamed = CURRENT.replace("李四,,", "李四四,13900000000,")
    diff = diff_rolls(roll(CURRENT), roll(renamed))
    assert diff.parts_same and not diff.identical
    assert (diff.names_changed, diff.phones_changed, diff.order_changed) == (1, 1, False)
    lines = CURRENT.splitlines(keepends=True)
    reordered = lines[0] + "".join(reversed(lines[1:]))
    diff = diff_rolls(roll(CURRENT), roll(reordered))
    assert diff.parts_same and diff.order_changed and not diff.identical
    assert diff.before == diff.after


def test_developer_mark_and_area_source_changes():
    new = CURRENT.replace("2,1,102,60.00,DEV,,,yes", "2,1,102,60.00,M006,,,no")
    diff = diff_rolls(roll(CURRENT), roll(new))
    assert [(c.label, c.fields) for c in diff.changed] == [("2-1-102", ("owner", "developer_held"))]
    with_source = ("building,unit,room,area,area_source,owner\n1,1,101,89.50,实测,M001\n")
    diff = diff_rolls(roll("building,unit,room,area,owner\n1,1,101,89.50,M001\n"), roll(with_source))
    assert [(c.label, c.fields) for c in diff.changed] == [("1-1-101", ("area_source",))]


def test_first_roll_of_a_new_estate_adds_everything():
    diff = diff_rolls(None, roll(CURRENT))
    assert len(diff.added) == 5 and not diff.removed and not diff.changed
    assert diff.before == Totals(0, 0) and diff.after == Totals(4, 43475)
    assert [(b.building, b.before, b.after) for b in diff.buildings] == [
        ("1", Totals(0, 0), Totals(2, 29975)), ("2", Totals(0, 0), Totals(2, 13500))]
    assert diff.voters_added == ("M001", "M002", "M003", "DEV")


def test_160_units_replaced_by_13():
    """The issue's case: a file of 13 units replacing 160 shows 147 removed before anything is written."""
    big = "building,unit,room,area,owner\n" + "".join(
        f"{b},1,{r:03d},100.00,M{b}{r:03d}\n" for b in range(1, 5) for r in range(1, 41))
    small = "building,unit,room,area,owner\n" + "".join(f"1,1,{r:03d},100.00,M1{r:03d}\n" for r in range(1, 14))
    diff = diff_rolls(roll(big), roll(small))
    assert (len(diff.added), len(diff.removed), len(diff.changed)) == (0, 147, 0)
    assert diff.before == Totals(160, 1_600_000) and diff.after == Totals(13, 130_000)
    assert [b.after for b in diff.buildings] == [Totals(13, 130_000), Totals(0, 0), Totals(0, 0), Totals(0, 0)]
