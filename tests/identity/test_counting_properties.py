"""Property tests of SPC Art. 9 counting: heads, areas and scopes."""

from hypothesis import given, settings
from hypothesis import strategies as st

from identity.roll import Part, Roll
from identity.scope import Scope, totals, voters_in_scope

owners = st.sampled_from(["A", "B", "C", "D", "E", "DEV"])


@st.composite
def rolls(draw):
    n = draw(st.integers(min_value=1, max_value=40))
    parts = []
    for i in range(n):
        owner = draw(owners)
        parts.append(Part(building=str(draw(st.integers(1, 3))), unit=str(draw(st.integers(1, 2))),
                          room=str(100 + i), area=draw(st.integers(1, 10**9)), area_source="registered",
                          owner=owner, developer_held=owner == "DEV"))
    return Roll(tuple(parts))


scopes = st.builds(Scope,
                   buildings=st.lists(st.sampled_from(["1", "2", "3"]), unique=True).map(tuple),
                   units=st.lists(st.tuples(st.sampled_from(["1", "2", "3"]), st.sampled_from(["1", "2"])),
                                  unique=True).map(tuple))


@settings(max_examples=200)
@given(rolls(), scopes)
def test_heads_never_exceed_parts_and_areas_add_up(roll, scope):
    in_scope = [p for p in roll.parts if scope.contains(p)]
    t = totals(roll, scope)
    assert t.heads <= len(in_scope)
    assert t.heads == len({p.owner for p in in_scope})
    assert t.area == sum(p.area for p in in_scope)
    assert sum(1 for v in voters_in_scope(roll, scope) if v.developer) <= 1


@settings(max_examples=200)
@given(rolls(), scopes, scopes)
def test_wider_scope_never_counts_less(roll, a, b):
    union = Scope(tuple(sorted(set(a.buildings) | set(b.buildings))), tuple(sorted(set(a.units) | set(b.units))))
    if a.is_estate or b.is_estate:
        union = Scope()
    ta, tu = totals(roll, a), totals(roll, union)
    assert tu.heads >= ta.heads and tu.area >= ta.area
    assert totals(roll) .heads >= tu.heads


@settings(max_examples=100)
@given(rolls())
def test_estate_scope_is_every_voter(roll):
    assert totals(roll).heads == len(roll.voters)
    assert totals(roll).area == sum(p.area for p in roll.parts)
