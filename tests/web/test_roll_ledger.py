"""A roll uploaded through the supervisor page lands in the estate's ledger, shows on the public
audit page, and the downloaded bundle verifies with `gongjue verify`."""

import json
import zipfile

from tests.web.conftest import csrf_of
from web.cli import main

ROLL = "楼栋,单元,房号,面积,业主编号,业主姓名,开发商持有\n1,1,101,88.50,A,张三,否\n1,1,102,90,B,李四,否\n2,1,101,100.05,D,开发商,是\n"


def _upload(client, path, text, **fields):
    token = csrf_of(client.get(path).text)
    return client.post(path, data={"csrf": token, **fields}, files={"file": ("roll.csv", text.encode(), "text/csv")})


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
    refused = _upload(supervisor, "/estates/maple-court/roll", ROLL)
    assert refused.status_code == 500
    assert "账本拒绝签署，名册未导入" in refused.text and "refusing to sign with another key" in refused.text
    assert client.get("/estates/maple-court/audit/entries/2").status_code == 404
    assert "业主名册第 1 版" in client.get("/estates/maple-court").text
