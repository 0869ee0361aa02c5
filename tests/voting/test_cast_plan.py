"""The cast path's replay check searches an index, not the round's ballots (voting_0007)."""

from __future__ import annotations

from ledger.db import make_engine, migrate
from voting import cast as casting


def test_the_replay_check_searches_by_tracking_code(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate(engine)
    sql = str(casting._CHECK.compile(engine))
    params = (1, "r1", "V1", 1, "r1", "V1", 1, "r1", "ab" * 32, 1, 0)
    assert sql.count("?") == len(params)
    with engine.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
    ballots = [step for step in plan if "voting_ballots" in step]
    assert ballots == ["SEARCH voting_ballots USING INDEX ix_voting_ballots_replay (log_id=? AND round_id=? AND "
                       "tracking=?)"], plan
    engine.dispose()
