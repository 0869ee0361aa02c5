"""The server checks its own log against its signed checkpoints (SPEC §2.9, issue #8.5).

An intruder edits stored rows (triggers dropped, raw SQL); the self-check — on ``gongjue serve``
start and periodically in the app — re-hashes every estate's log and records the first bad entry;
the estate's public audit page and every staff page then warn, Chinese first, naming the entry.
An untouched estate shows no warning.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from ledger import keys, log, selfcheck
from ledger.db import reading, transaction
from web.app import create_app

from .helpers import fill, tamper

GOOD, BAD = "maple-court", "pine-court"
WARNING = "警告：这个小区的账本记录被改动过"


def _two_estates(engine) -> int:  # noqa: ANN001
    """Two signed logs; entry 2 of BAD's has its stored bytes edited. Returns BAD's log id."""
    key = keys.log_key()
    fill(engine, f"gongjue.local/{GOOD}", 4, key)
    bad_id = fill(engine, f"gongjue.local/{BAD}", 4, key)
    with reading(engine) as s:
        data = log.get_entry(s, bad_id, 2).data
    tamper(engine, ("UPDATE ledger_entries SET data = :d WHERE log_id = :l AND seq = 2",
                    {"d": data.replace(b'"i":2', b'"i":5'), "l": bad_id}))
    return bad_id


def test_selfcheck_records_the_first_bad_entry_and_the_pages_warn(engine, monkeypatch):
    monkeypatch.setenv("GONGJUE_SELFCHECK_SECONDS", "0")
    _two_estates(engine)
    client = TestClient(create_app(engine))
    assert WARNING not in client.get(f"/estates/{BAD}/audit").text  # before any self-check
    outcomes = {o.slug: o for o in selfcheck.run(engine)}
    assert outcomes[GOOD].ok and outcomes[GOOD].size == 4
    assert outcomes[BAD].finding.seq == 2
    assert outcomes[BAD].finding.message.startswith("第 2 条：存储的字节被改过")
    page = client.get(f"/estates/{BAD}/audit").text
    assert f"{WARNING}（第 2 条起）" in page
    english = TestClient(create_app(engine), cookies={"gongjue_lang": "en"}).get(f"/estates/{BAD}/audit").text
    assert "Warning: this estate's stored record was altered (from entry 2)." in english
    assert "entry 2: its stored bytes were edited" in page
    good = client.get(f"/estates/{GOOD}/audit").text
    assert WARNING not in good and "selfcheck-warning" not in good


def test_a_later_clean_run_clears_the_warning(engine, monkeypatch):
    monkeypatch.setenv("GONGJUE_SELFCHECK_SECONDS", "0")
    bad_id = _two_estates(engine)
    selfcheck.run(engine)
    with reading(engine) as s:
        original = log.get_entry(s, bad_id, 2).data.replace(b'"i":5', b'"i":2')
    tamper(engine, ("UPDATE ledger_entries SET data = :d WHERE log_id = :l AND seq = 2", {"d": original, "l": bad_id}))
    assert all(o.ok for o in selfcheck.run(engine))
    assert "selfcheck-warning" not in TestClient(create_app(engine)).get(f"/estates/{BAD}/audit").text


def test_staff_pages_show_the_warning(engine, monkeypatch):
    from tests.web.conftest import add_staff, sign_in

    monkeypatch.setenv("GONGJUE_SELFCHECK_SECONDS", "0")
    _two_estates(engine)
    selfcheck.run(engine)
    add_staff(engine)
    with TestClient(create_app(engine), follow_redirects=False) as client:
        assert "selfcheck-warning" not in client.get("/").text  # the public home page: staff only
        assert sign_in(client).status_code == 303
        page = client.get("/").text
    assert "警告：账本自检发现记录被改动。" in page  # Chinese by default (web.i18n)
    assert f'<a href="/estates/{BAD}/audit">{BAD}</a> · 第 2 条' in page
    assert f'href="/estates/{GOOD}/audit"' not in page


def test_serve_checks_on_start(engine, capsys):
    from web.cli.serve import _selfcheck_on_start

    _two_estates(engine)
    _selfcheck_on_start(engine)
    out = capsys.readouterr()
    assert "账本自检 / ledger self-check: 1 个账本正常 / logs ok, 1 个有问题 / with problems" in out.out
    assert out.err.startswith(f"警告 / WARNING: gongjue.local/{BAD}: 第 2 条：存储的字节被改过")


def test_the_app_checks_periodically(engine, monkeypatch):
    monkeypatch.setenv("GONGJUE_SELFCHECK_SECONDS", "1")
    _two_estates(engine)
    with TestClient(create_app(engine)) as client:
        worker = client.app.state.selfcheck
        assert worker.is_alive() and worker.seconds == 1
        for _ in range(600):  # the first run comes after one interval; the machine may be busy
            with reading(engine) as s:
                if selfcheck.problems(s):
                    break
            time.sleep(0.1)
        assert f"{WARNING}（第 2 条起）" in client.get(f"/estates/{BAD}/audit").text
    assert not worker.is_alive()  # stopped with the app


def test_interval_setting(monkeypatch):
    monkeypatch.delenv("GONGJUE_SELFCHECK_SECONDS", raising=False)
    assert selfcheck.interval() == 300
    monkeypatch.setenv("GONGJUE_SELFCHECK_SECONDS", "0")
    assert selfcheck.interval() == 0
    monkeypatch.setenv("GONGJUE_SELFCHECK_SECONDS", "5m")
    with pytest.raises(ValueError, match="GONGJUE_SELFCHECK_SECONDS 必须是秒数"):
        selfcheck.interval()


def test_selfcheck_reads_without_the_write_lock(engine):
    """The check itself runs in ledger.db.reading: a held writer does not block it."""
    from .test_reading import HeldWriter

    log_id = fill(engine, f"gongjue.local/{GOOD}", 3, keys.log_key())
    with HeldWriter(engine, log_id, 5):
        with reading(engine) as s:
            outcome = selfcheck.check_log(s, log_id, f"gongjue.local/{GOOD}")
    assert outcome.ok and outcome.size == 3
    with transaction(engine) as s:
        assert log.size(s, log_id) == 8
