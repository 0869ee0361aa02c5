"""A bundle zipped with ordinary tools (folder entries such as ``checkpoints/`` listed) verifies
exactly like the exported directory (SPEC §2.7: "in a zip the files sit at the top level")."""

from __future__ import annotations

import shutil
import zipfile

from ledger import bundle
from ledger.db import transaction
from ledger.verify import NO_CONTENT_CHECKS, verify_bundle
from tests.ledger.helpers import fill, make_key


def test_zip_with_folder_entries_verifies(sqlite_engine, tmp_path):
    key = make_key(tmp_path)
    log_id = fill(sqlite_engine, "gongjue.local/zip-court", 5, key, sign_each=True)
    out = tmp_path / "bundle"
    with transaction(sqlite_engine) as session:
        bundle.write_dir(session, log_id, out)
    archive = shutil.make_archive(str(tmp_path / "b"), "zip", out)
    assert "checkpoints/" in zipfile.ZipFile(archive).namelist()  # the case that used to fail
    report = verify_bundle(tmp_path / "b.zip", checks=NO_CONTENT_CHECKS)
    assert report.ok, report.problems
    assert report.size == 5
