"""The cast path reads by index searches, not walks over the log or the round, under any plan.

On SQLite the plan of the group's checks is read with EXPLAIN QUERY PLAN. On PostgreSQL the
counter of index tuples read (``pg_stat_get_xact_tuples_returned``) is read before and after each
step, in a database whose tables have grown from empty without statistics: that is when a plan
made for an empty table walked all the rows (ledger_0004: ``MAX`` in the append-only triggers;
``voting.cast._seen_query``: an ``IN`` list of voters; ``ledger.log._hashes_at``: an ``IN`` list of
stored hash indexes).
"""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text

from ledger import checkpoint, keys, log
from ledger.db import make_engine, migrate, transaction
from voting import cast as casting

ROWS = 300  # rows already in the log and the round


def test_the_group_checks_search_by_whole_keys_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate(engine)
    compiled = casting._seen_query(2).compile(engine)
    params = {"log_id": 1, "round_id": "r1", "v0": "V1", "t0": "ab" * 32, "v1": "V2", "t1": "cd" * 32}
    with engine.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled), tuple(compiled.construct_params(params)[name]
                                                         for name in compiled.positiontup))]
    searches = sorted(step for step in plan if step.startswith(("SEARCH", "SCAN")) and step != "SCAN CONSTANT ROW")
    assert searches == sorted(2 * [
        "SEARCH voting_ballots USING INDEX ix_voting_ballots_replay (log_id=? AND round_id=? AND tracking=?)",
        ("SEARCH voting_proxy_grants USING INDEX sqlite_autoindex_voting_proxy_grants_1 (log_id=? AND round_id=? "
         "AND voter=?)"),
        "SEARCH voting_voted USING INDEX sqlite_autoindex_voting_voted_1 (log_id=? AND round_id=? AND voter=?)",
    ]), plan
    engine.dispose()


_INDEXES = ("ledger_entries_pkey", "ledger_hashes_pkey", "ledger_checkpoints_log_id_size_key", "voting_voted_pkey",
            "ix_voting_ballots_replay")


def _reads(s, step) -> dict[str, int]:
    """The index tuples ``step()`` reads through each of ``_INDEXES`` (this backend's counters)."""
    query = text("SELECT " + ", ".join(f"pg_stat_get_xact_tuples_returned('{i}'::regclass)" for i in _INDEXES))
    before = s.execute(query).one()
    step()
    return {i: b - a for i, a, b in zip(_INDEXES, before, s.execute(query).one(), strict=True)}


class _Job:
    def __init__(self, voter: str, tracking: str) -> None:
        self.target, self.tracking = voter, tracking


@pytest.mark.postgres
def test_appends_signing_and_checks_read_a_few_index_tuples_on_postgresql(postgres_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "log.key"))
    engine = postgres_engine
    with transaction(engine) as s:
        log_id = log.create_log(s, "gongjue.local/plan").id
    for i in range(ROWS):  # one transaction each: the plans are made while the tables are small
        with transaction(engine) as s:
            entry = log.append(s, log_id, "test", {"i": i, "pad": "x" * 500})
            s.execute(insert(casting.Voted), {"log_id": log_id, "round_id": "r1", "voter": f"V{i:04d}",
                                              "channel": "electronic", "first_seq": entry.seq,
                                              "last_seq": entry.seq, "ballots": 1})
            s.execute(insert(casting.BallotRow), {"log_id": log_id, "seq": entry.seq, "round_id": "r1",
                                                  "voter": f"V{i:04d}", "key": "k", "proxy": None,
                                                  "tracking": f"{i:064x}"})
            if i % 10 == 0:
                checkpoint.sign(s, log_id, keys.log_key())
    with transaction(engine) as s:
        appended = _reads(s, lambda: log.append(s, log_id, "test", {"i": ROWS}))
        assert appended["ledger_entries_pkey"] <= 2, appended  # the trigger's and append's own last entry
        assert _reads(s, lambda: log.size(s, log_id))["ledger_entries_pkey"] == 1
        size = ROWS + 1  # 2·log₂(size) ≈ 17 hashes at most for a root or a proof, not the log's 600
        assert _reads(s, lambda: log.root(s, log_id, size))["ledger_hashes_pkey"] <= 17
        assert _reads(s, lambda: log.inclusion_proof(s, log_id, 123, size))["ledger_hashes_pkey"] <= 17
        new = log.size(s, log_id) - checkpoint.latest(s, log_id).size  # 10: signed every 10 appends
        signed = _reads(s, lambda: checkpoint.sign(s, log_id, keys.log_key()))
        assert signed["ledger_checkpoints_log_id_size_key"] <= 2, signed
        assert signed["ledger_entries_pkey"] <= new + 2, signed  # the size, the new entries re-hashed and one before
        jobs = [_Job("V0007", f"{7:064x}"), _Job("V9999", "f" * 64), _Job("V0123", "e" * 64)]
        found: list = []
        checked = _reads(s, lambda: found.extend(casting._seen(s, log_id, "r1", jobs)))
        assert [(f.channel, f.grant, f.replayed) for f in found] == [
            ("electronic", None, 7), (None, None, None), ("electronic", None, None)]
        assert checked["voting_voted_pkey"] == 2 and checked["ix_voting_ballots_replay"] == 1, checked
