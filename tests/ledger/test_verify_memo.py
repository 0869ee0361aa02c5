"""``ledger.verify.memoized``: what one whole-log check derives is reused by the others within one
audit only, per object, and never for an object that merely reuses an ``id``."""

from __future__ import annotations

import pytest

from ledger import verify


def _in_audit(fn):  # noqa: ANN001, ANN202
    token = verify._MEMO.set({})
    try:
        return fn()
    finally:
        verify._MEMO.reset(token)


def test_outside_an_audit_nothing_is_remembered():
    calls = []
    body = {"x": 1}
    for _ in range(2):
        verify.memoized("t", body, lambda: calls.append(1) or len(calls))
    assert verify.audit_memo() is None and calls == [1, 1]


def test_inside_an_audit_once_per_object():
    calls = []

    def run():  # noqa: ANN202
        a, b = {"x": 1}, {"x": 1}
        got = [verify.memoized("t", o, lambda: calls.append(1) or len(calls)) for o in (a, a, b, a)]
        other_kind = verify.memoized("u", a, lambda: "u")
        return got, other_kind

    got, other_kind = _in_audit(run)
    assert got == [1, 1, 2, 1] and other_kind == "u" and calls == [1, 1]
    assert verify.audit_memo() is None


def test_an_exception_is_not_remembered():
    def run():  # noqa: ANN202
        body = {}
        with pytest.raises(ValueError):
            verify.memoized("t", body, lambda: (_ for _ in ()).throw(ValueError("no")))
        return verify.memoized("t", body, lambda: "yes")

    assert _in_audit(run) == "yes"


def test_a_reused_id_is_not_taken_for_the_same_object():
    def run():  # noqa: ANN202
        memo = verify.audit_memo()
        old = {"x": 1}
        verify.memoized("t", old, lambda: "old")
        new = {"x": 2}
        memo[("t", id(new))] = (old, "old")  # as if ``new`` had been allocated at ``old``'s address
        return verify.memoized("t", new, lambda: "new")

    assert _in_audit(run) == "new"


def test_the_checks_see_a_memo_during_verify_bundle(tmp_path, monkeypatch):
    from ledger import keys
    from ledger.db import make_engine, migrate
    from tests.ledger.helpers import fill
    from web.cli import main

    monkeypatch.setenv("GONGJUE_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "log.key"))
    monkeypatch.setenv("GONGJUE_SITE", "gongjue.local")
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrate(engine)
    fill(engine, "gongjue.local/maple-court", 3, key=keys.log_key())
    engine.dispose()
    assert main(["export", "--estate", "maple-court", "--out", str(tmp_path / "b")]) == 0
    seen = []

    def check(entries, ctx):  # noqa: ANN001, ANN202
        seen.append(verify.audit_memo())
        return []

    report = verify.verify_bundle(tmp_path / "b", checks=verify.ContentChecks(whole_log=[check, check]))
    assert report.ok and seen[0] is not None and seen[0] is seen[1]
    assert verify.audit_memo() is None
