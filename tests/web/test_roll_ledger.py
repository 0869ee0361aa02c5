"""A roll uploaded through the supervisor page lands in the estate's ledger, shows on the public
audit page, and the downloaded bundle verifies with `gongjue verify`."""

import json
import zipfile

from tests.web.roll_upload import upload_roll
from web.cli import main

ROLL = "楼栋,单元,房号,面积,业主编号,业主姓名,开发商持有\n1,1,101,88.50,A,张三,否\n1,1,102,90,B,李四,否\n2,1,101,100.05,D,开发商,是\n"


def _upload(client, path, text, **fields):
    return upload_roll(client, path, text, **fields)  # the file, its preview, the confirm


def test_uploaded_roll_is_recorded_published_and_verifiable(engine, supervisor, client, tmp_path, capsys):
    assert _upload(supervisor, "/roll/new", ROLL, slug="maple-court", name="枫林苑").status_code == 303
    first = client.get("/estates/maple-court/audit/checkpoint").text
    assert first.startswith("gongjue.local/maple-court\n2\n")
    assert _upload(supervisor, "/estates/maple-court/roll", ROLL.replace("90,B", "91,B")).status_code == 303

    page = client.get("/estates/maple-court/audit")  # public: no sign-in
    assert page.status_code == 200
    assert "#0</strong> <code>estate</code>" in page.text and "#2</strong> <code>roll</code>" in page.text
    assert "张三" not in page.text
    roll_entry = json.loads(client.get("/estates/maple-court/audit/entries/2").content)
    assert roll_entry["body"]["version"] == 2
    assert roll_entry["body"]["totals"]["estate"] == {"heads": 3, "area": 27955}
    assert "张三" not in json.dumps(roll_entry, ensure_ascii=False)

    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(client.get("/estates/maple-court/audit/bundle.zip").content)
    with zipfile.ZipFile(bundle) as z:
        assert z.read("checkpoint").decode().startswith("gongjue.local/maple-court\n3\n")
    kept = tmp_path / "kept-checkpoint"
    kept.write_text(first, encoding="utf-8")
    capsys.readouterr()
    assert main(["verify", str(bundle), "--checkpoint", str(kept), "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["entries"] == 3


def test_refused_upload_adds_nothing_to_the_ledger(engine, supervisor, client):
    assert _upload(supervisor, "/roll/new", ROLL, slug="maple-court", name="枫林苑").status_code == 303
    before = client.get("/estates/maple-court/audit/checkpoint").text
    refused = _upload(supervisor, "/estates/maple-court/roll", ROLL.replace("88.50", "88.505"))
    assert refused.status_code == 422
    assert "roll.csv:2: 面积 &#39;88.505&#39; 超过两位小数" in refused.text
    assert client.get("/estates/maple-court/audit/checkpoint").text == before
    assert client.get("/estates/maple-court/audit/entries/2").status_code == 404


def test_upload_refused_when_the_server_key_is_not_the_logs(engine, supervisor, client, tmp_path, monkeypatch):
    assert _upload(supervisor, "/roll/new", ROLL, slug="maple-court", name="枫林苑").status_code == 303
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "another.key"))
    refused = _upload(supervisor, "/estates/maple-court/roll", ROLL.replace("90,B", "91,B"))  # not identical
    assert refused.status_code == 500
    assert "账本拒绝签署，名册未导入" in refused.text and "refusing to sign with another key" in refused.text
    assert client.get("/estates/maple-court/audit/entries/2").status_code == 404
    assert "业主名册第 1 版" in client.get("/estates/maple-court").text


# --- issue #7.5: the pages take their figures from the ledger and refuse tampered tables ------

def _drop_roll_triggers(engine):
    from tests.identity.test_roll_tamper import drop_roll_triggers

    drop_roll_triggers(engine)


def test_public_figures_come_from_the_ledger_and_tampering_shows_an_error(engine, supervisor, client):
    from sqlalchemy import text

    from ledger.db import transaction

    assert _upload(supervisor, "/roll/new", ROLL, slug="maple-court", name="枫林苑").status_code == 303
    page = client.get("/estates/maple-court")
    assert page.status_code == 200 and "278.55 m²" in page.text
    api = client.get("/api/v1/estates/maple-court").json()
    assert (api["voters"], api["area"], api["parts"], api["developer_parts"]) == (3, "278.55", 3, 1)
    _drop_roll_triggers(engine)
    with transaction(engine) as s:
        s.execute(text("UPDATE identity_roll_parts SET area = area * 10"))
    page = client.get("/estates/maple-court")
    assert page.status_code == 500
    assert "与账本不符" in page.text and "does not match its ledger entry" not in page.text  # Chinese page
    client.cookies.set("gongjue_lang", "en")  # on the client: per-request cookies are deprecated
    english = client.get("/estates/maple-court")
    client.cookies.delete("gongjue_lang")
    assert english.status_code == 500 and "does not match its ledger entry" in english.text
    assert "与账本不符" not in english.text
    assert "2,785.50" not in page.text and "2785.50" not in page.text
    api = client.get("/api/v1/estates/maple-court")
    assert api.status_code == 500 and "does not match its ledger entry" in api.text
    assert supervisor.get("/estates/maple-court/roll").status_code == 500


# --- issue #8.3: bad input is a clear 4xx with nothing written -----------------------------------

def _entries(client) -> str:
    return client.get("/estates/maple-court/audit/checkpoint").text


def test_bad_estate_names_and_huge_areas_are_refused_with_nothing_written(engine, supervisor, client):
    for name, message in (("枫\x00林苑", "U+0000"), ("枫" * 201, "longer than 200 characters"),
                          ("\u202e苑林枫", "U+202E")):
        refused = _upload(supervisor, "/roll/new", ROLL, slug="maple-court", name=name)
        assert refused.status_code == 422 and message in refused.text, name
        assert client.get("/estates/maple-court").status_code == 404
    assert _upload(supervisor, "/roll/new", ROLL, slug="maple-court", name="枫林苑").status_code == 303
    before = _entries(client)
    for text_, message in ((ROLL.replace("88.50", "90071992547409.92"), "above the limit"),
                           (ROLL.replace("88.50", "45035996273704.96").replace("90,B", "45035996273704.96,B"),
                            "the areas sum to more than"),
                           (ROLL.replace("张三", "张\x00三"), "U+0000"),
                           (ROLL.replace("张三", "张" * 201), "longer than 200 characters"),
                           (ROLL.replace("1,1,101", "1,1,1\u200b01"), "U+200B"),
                           (ROLL.replace("88.50", "８８.６"), None)):
        answer = _upload(supervisor, "/estates/maple-court/roll", text_)
        if message is None:  # full-width digits are normalised: accepted (88.60, not identical)
            assert answer.status_code == 303
            before = _entries(client)
            continue
        assert answer.status_code == 422 and message in answer.text, message
        assert _entries(client) == before


def test_concurrent_uploads_of_a_new_estate_are_not_slug_taken(engine, supervisor):
    """Two uploads creating the same new estate at once: both succeed, as versions 1 and 2."""
    import threading

    from identity import store
    from identity.roll import read_roll

    roll = read_roll(ROLL.encode(), "roll.csv")
    results, barrier = [], threading.Barrier(2)

    def upload():
        barrier.wait()
        try:
            results.append(store.import_roll_file(engine, "race-court", roll, filename="r.csv", data=ROLL.encode(),
                                                  name="赛苑"))
        except Exception as exc:  # noqa: BLE001 — the test reports it
            results.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [1, 2], results
