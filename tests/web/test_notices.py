"""The notices API (web/notices.py, SPEC §9.6) as other steps of the loop use it: a registered entry
type is listed on the estate home newest first and prints on A4 with a QR code of its page; an
entry of an unregistered type is no notice."""

from __future__ import annotations

import re

from identity import store
from ledger import checkpoint, keys, log
from ledger.db import transaction
from tests.voting import petition_estate as pe
from web import notices

TYPE = "test.step"


def _describe(body: dict, seq: int, slug: str) -> notices.Notice:
    return notices.Notice(title=f"步骤 {body['n']}", lines=[f"第 {seq} 条", "<b>不是标记</b>"],
                          url=f"/estates/{slug}/steps/{body['n']}")


def test_registered_types_are_listed_newest_first_and_print(engine, client):
    pe.make(engine)
    notices.register(TYPE, _describe)
    try:
        seqs = []
        with transaction(engine) as s:
            log_id = store.get_estate(s, pe.SLUG).log_id
            for n in (1, 2, 3):
                seqs.append(log.append(s, log_id, TYPE, {"n": n}).seq)
            log.append(s, log_id, "test.other", {"n": 9})
            checkpoint.sign(s, log_id, keys.log_key())
        home = client.get(f"/estates/{pe.SLUG}").text
        assert [int(x) for x in re.findall(rf'data-seq="(\d+)" data-type="{TYPE}"', home)] == seqs[::-1]
        assert "test.other" not in home
        printed = client.get(f"/estates/{pe.SLUG}/notices/{seqs[1]}")
        assert printed.status_code == 200
        assert "步骤 2" in printed.text and "&lt;b&gt;不是标记&lt;/b&gt;" in printed.text  # escaped
        assert f"/estates/{pe.SLUG}/steps/2" in printed.text and "<svg" in printed.text
        assert client.get(f"/estates/{pe.SLUG}/notices/{seqs[-1] + 1}").status_code == 404  # test.other
        assert client.get(f"/estates/{pe.SLUG}/notices/99999").status_code == 404
        assert client.get("/estates/no-such/notices/1").status_code == 404
        assert client.get(f"/estates/{pe.SLUG}/notices").text.count(f'data-type="{TYPE}"') == 3
        assert notices.gettext("Owners' proposals") == "业主提议"
    finally:
        notices._DESCRIBE.pop(TYPE, None)
