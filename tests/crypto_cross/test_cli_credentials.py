"""The split-trust credential flow through the ``gongjue`` commands (SPEC §4.4–4.6), on SQLite and PostgreSQL.

The authority works offline from the exported bundle and the roll openings; the operator
records what it signed. Attacks reproduced and refused: a list signed by the operator's own key
(refused by ``credentials register`` and reported by ``gongjue verify``), a list for another
estate, letters carrying another voter's code, a code in the server database.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import nacl.signing

from identity import authority as au
from identity import credential as cr
from identity import store
from identity.roll import read_roll
from ledger import log
from ledger.db import transaction
from web.cli import main

SLUG = "maple-court"
ROLL = ("楼栋,单元,房号,面积,业主编号\n1,1,101,88.50,A\n1,1,102,90,A\n2,,201,100.05,B\n3,2,301,70,C\n").encode()
CODE_TEXT = re.compile(r'<div class="code">([2-9A-Z-]+)</div>')


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _import(engine, data: bytes = ROLL) -> None:
    with transaction(engine) as s:
        store.import_roll(s, SLUG, read_roll(data, "r.csv"), filename="r.csv", data=data, name="枫林苑")


def _openings(engine, path: Path) -> Path:
    with transaction(engine) as s:
        path.write_text(json.dumps(store.roll_openings(s, SLUG), ensure_ascii=False), "utf-8")
    return path


def _export(tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    assert main(["export", "--estate", SLUG, "--out", str(out)]) == 0
    return out


def _setup(engine, tmp_path, monkeypatch, capsys) -> tuple[Path, Path, Path]:
    """A roll, the authority's key recorded by an admin; returns (key file, bundle, openings)."""
    _import(engine)
    monkeypatch.setenv("GONGJUE_DATABASE_URL", _url(engine))
    key = tmp_path / "authority.key"
    assert main(["authority", "keygen", "--name", "枫林街道办事处", "--contact", "服务中心 2 号窗口",
                 "--out", str(key)]) == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert main(["authority", "register", "--estate", SLUG, "--vkey", f"{key}.pub"]) == 0
    capsys.readouterr()
    return key, _export(tmp_path, "bundle"), _openings(engine, tmp_path / "openings.json")


def _codes(letters_html: str) -> list[str]:
    return [cr.normalise_code(c) for c in CODE_TEXT.findall(letters_html)]


def test_generate_register_verify(engine, tmp_path, monkeypatch, capsys):
    key, bundle, openings = _setup(engine, tmp_path, monkeypatch, capsys)
    out = tmp_path / "letters"
    status = main(["credentials", "generate", "--bundle", str(bundle), "--openings", str(openings),
                   "--authority-key", str(key), "--out", str(out)])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "3 credential letters for gongjue.local/maple-court (roll version 1)" in printed.out
    assert "placeholder 'gongjue.local'" in printed.err  # the QR codes would point nowhere
    letters_html = (out / "letters.html").read_text("utf-8")
    assert stat.S_IMODE((out / "letters.html").stat().st_mode) == 0o600
    document = json.loads((out / "credentials.json").read_text("utf-8"))
    statement = au.verify_document(document)
    codes = _codes(letters_html)
    assert len(codes) == 3 == len(statement["credentials"])
    assert [cr.public_key_hex(c, "gongjue.local/maple-court") for c in codes] == \
        [c["public_key"] for c in statement["credentials"]]
    # each page has its own code only, and the owner id and parts from the openings
    pages = re.findall(r'<section class="letter".*?</section>', letters_html, re.DOTALL)
    for i, page in enumerate(pages):
        assert [cr.normalise_code(c) for c in CODE_TEXT.findall(page)] == [codes[i]]
        assert all(other not in page.replace("-", "") for j, other in enumerate(codes) if j != i)
    assert "<strong>A</strong>" in pages[0] and "1栋 1单元 101室" in pages[0] and "1栋 1单元 102室" in pages[0]
    assert "2栋 201室" in pages[1] and "3栋 2单元 301室" in pages[2]
    for code in codes:  # never on the terminal, never in the signed list
        assert code not in printed.out + printed.err and cr.format_code(code) not in printed.out + printed.err
        assert code not in json.dumps(document)
    # the operator records it; the ledger now says who holds which key, and the bundle verifies
    assert main(["credentials", "register", "--estate", SLUG, str(out / "credentials.json")]) == 0
    assert "recorded credentials for 3 voter(s)" in capsys.readouterr().out
    with transaction(engine) as s:
        reg = au.registry(s, SLUG)
    assert sorted(reg.current.values()) == sorted(c["public_key"] for c in statement["credentials"])
    assert main(["credentials", "register", "--estate", SLUG, str(out / "credentials.json")]) == 2  # again
    assert "already has a credential" in capsys.readouterr().err
    assert main(["verify", "--no-progress", str(_export(tmp_path, "after"))]) == 0
    # a second generate run finds nobody without a credential, and never overwrites letters
    again = main(["credentials", "generate", "--bundle", str(_export(tmp_path, "b2")), "--openings", str(openings),
                  "--authority-key", str(key), "--out", str(out)])
    assert again == 2 and "every voter of the roll already has a credential" in capsys.readouterr().err
    assert (out / "letters.html").read_text("utf-8") == letters_html
    # the server database never held a code, in any form
    if engine.url.get_backend_name() == "sqlite":
        engine.dispose()
        raw = Path(engine.url.database).read_bytes()
        for wal in (Path(engine.url.database + "-wal"),):
            raw += wal.read_bytes() if wal.exists() else b""
        for code in codes:
            assert code.encode() not in raw and cr.format_code(code).encode() not in raw


def test_operator_key_cannot_make_a_list(engine, tmp_path, monkeypatch, capsys):
    """Attack: the operator generates codes itself and signs the list with its own key."""
    _key, bundle, openings = _setup(engine, tmp_path, monkeypatch, capsys)
    mallory = tmp_path / "operator.key"
    assert main(["authority", "keygen", "--name", "运营方", "--out", str(mallory)]) == 0
    status = main(["credentials", "generate", "--bundle", str(bundle), "--openings", str(openings),
                   "--authority-key", str(mallory), "--out", str(tmp_path / "forged")])
    assert status == 2 and "the ledger records another authority key" in capsys.readouterr().err
    # signed by hand with the operator key, the list is refused by register ...
    seed = bytes.fromhex(json.loads(mallory.read_text())["seed"])
    op_key = nacl.signing.SigningKey(seed)
    with transaction(engine) as s:
        log_id = store.get_estate(s, SLUG).log_id
        roll_entry = [e for e in log.entries(s, log_id) if e.type == "roll"][-1]
    voters = list(au.roll_voters(json.loads(roll_entry.data)["body"]))
    forged = au.sign_statement(au.credentials_statement("gongjue.local/maple-court", op_key.verify_key.encode().hex(),
                                                        1, [(voters[0], op_key.verify_key.encode().hex())]), op_key)
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert main(["credentials", "register", "--estate", SLUG, str(tmp_path / "forged.json")]) == 2
    assert "not signed by the credential authority recorded" in capsys.readouterr().err
    # ... and, written straight into the log by a dishonest server, reported by gongjue verify
    with transaction(engine) as s:
        log.append(s, store.get_estate(s, SLUG).log_id, "credentials", forged)
    assert main(["checkpoint", "--estate", SLUG]) == 0
    capsys.readouterr()
    assert main(["verify", "--no-progress", str(_export(tmp_path, "tampered"))]) == 1
    report = capsys.readouterr().out
    assert "not signed by the credential authority recorded" in report


def test_revoke_and_reissue_commands(engine, tmp_path, monkeypatch, capsys):
    key, bundle, openings = _setup(engine, tmp_path, monkeypatch, capsys)
    out = tmp_path / "letters"
    assert main(["credentials", "generate", "--bundle", str(bundle), "--openings", str(openings),
                 "--authority-key", str(key), "--out", str(out), "--base-url", "https://vote.example.cn/m"]) == 0
    assert main(["credentials", "register", "--estate", SLUG, str(out / "credentials.json")]) == 0
    with transaction(engine) as s:
        before = au.registry(s, SLUG)
    capsys.readouterr()
    # the owner of A lost the letter: the authority signs a reissue; the operator records it
    re_dir = tmp_path / "reissue"
    assert main(["credentials", "reissue", "--bundle", str(_export(tmp_path, "b2")), "--openings", str(openings),
                 "--authority-key", str(key), "--owner", "A", "--reason", "lost", "--out", str(re_dir),
                 "--base-url", "https://vote.example.cn/m"]) == 0
    assert main(["credentials", "register", "--estate", SLUG, str(re_dir / "credentials.json")]) == 0
    (new_code,) = _codes((re_dir / "letters.html").read_text("utf-8"))
    with transaction(engine) as s:
        after = au.registry(s, SLUG)
    voter_a = au.verify_document(json.loads((re_dir / "credentials.json").read_text()))["voter"]
    assert after.key_of(voter_a) == cr.public_key_hex(new_code, "gongjue.local/maple-court")
    assert after.revoked(before.key_of(voter_a)) and after.voter_of(before.key_of(voter_a)) is None
    # the flat of B was sold: revoke B's key
    voter_b = next(v for v in before.current if v != voter_a)
    assert main(["credentials", "revoke", "--bundle", str(_export(tmp_path, "b3")), "--authority-key", str(key),
                 "--voter", voter_b, "--reason", "transferred", "--out", str(tmp_path / "revoke.json")]) == 0
    assert main(["credentials", "register", "--estate", SLUG, str(tmp_path / "revoke.json")]) == 0
    with transaction(engine) as s:
        last = au.registry(s, SLUG)
    assert last.key_of(voter_b) is None and last.revoked(before.key_of(voter_b))
    assert main(["verify", "--no-progress", str(_export(tmp_path, "b4"))]) == 0


def test_generate_refuses_a_bundle_that_does_not_verify(engine, tmp_path, monkeypatch, capsys):
    key, bundle, openings = _setup(engine, tmp_path, monkeypatch, capsys)
    entries = bundle / "entries.jsonl"
    entries.write_bytes(entries.read_bytes().replace("枫林苑".encode(), "枫林园".encode(), 1))
    status = main(["credentials", "generate", "--bundle", str(bundle), "--openings", str(openings),
                   "--authority-key", str(key), "--out", str(tmp_path / "o")])
    assert status == 2 and "the bundle does not verify" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_openings_of_another_roll_are_refused(engine, tmp_path, monkeypatch, capsys):
    key, bundle, openings = _setup(engine, tmp_path, monkeypatch, capsys)
    doc = json.loads(openings.read_text("utf-8"))
    doc["voters"][0]["owner"] = "Z"  # an owner id the commitments do not hold
    openings.write_text(json.dumps(doc), "utf-8")
    status = main(["credentials", "generate", "--bundle", str(bundle), "--openings", str(openings),
                   "--authority-key", str(key), "--out", str(tmp_path / "o")])
    assert status == 2 and "the openings do not open the ledger's roll" in capsys.readouterr().err


def test_command_line_end_to_end(tmp_path):
    env = dict(os.environ, GONGJUE_DATABASE_URL=f"sqlite:///{tmp_path / 'g.db'}")
    roll = tmp_path / "roll.csv"
    roll.write_bytes(ROLL)

    def run(*a):
        return subprocess.run([sys.executable, "-m", "web.cli", *a], capture_output=True, text=True, env=env,
                              cwd=tmp_path, check=False)

    assert run("import-roll", "--estate", SLUG, "--name", "枫林苑", str(roll)).returncode == 0
    assert run("authority", "keygen", "--name", "枫林街道办事处", "--out", "a.key").returncode == 0
    assert run("authority", "register", "--estate", SLUG, "--vkey", "a.key.pub").returncode == 0
    assert run("export", "--estate", SLUG, "--out", "bundle").returncode == 0
    done = run("credentials", "generate", "--bundle", "bundle", "--openings", "none.json",
               "--authority-key", "a.key", "--out", "out")
    assert done.returncode == 2 and "none.json: 文件不存在 / no such file" in done.stderr


def test_zip_bundle_key_files_and_pin_letters(engine, tmp_path, monkeypatch, capsys):
    key, _, openings = _setup(engine, tmp_path, monkeypatch, capsys)
    # keygen never overwrites a key; register takes only the public half
    assert main(["authority", "keygen", "--name", "X", "--out", str(key)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["authority", "register", "--estate", SLUG, "--vkey", str(key)]) == 2
    assert "not an authority public key file" in capsys.readouterr().err
    # the authority's tool reads a zipped bundle as well
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b.zip"), "--zip"]) == 0
    assert main(["credentials", "generate", "--bundle", str(tmp_path / "b.zip"), "--openings", str(openings),
                 "--authority-key", str(key), "--out", str(tmp_path / "letters"),
                 "--base-url", "https://vote.example.cn/m"]) == 0
    assert "placeholder" not in capsys.readouterr().err  # a real base URL: no warning
    # PIN letters: one per voter, 0600, hashes only in the database; a second run finds nobody new
    assert main(["pins", "generate", "--estate", SLUG, "--out", str(tmp_path / "pins")]) == 0
    assert "3 PIN letters" in capsys.readouterr().out
    pins_html = tmp_path / "pins" / "pins.html"
    assert stat.S_IMODE(pins_html.stat().st_mode) == 0o600
    assert len(re.findall(r'<div class="code">\d{5} \d{5}</div>', pins_html.read_text("utf-8"))) == 3
    assert main(["pins", "generate", "--estate", SLUG, "--out", str(tmp_path / "pins2")]) == 2
    assert "every voter already has a PIN letter" in capsys.readouterr().err
    assert not (tmp_path / "pins2" / "pins.html").exists()
