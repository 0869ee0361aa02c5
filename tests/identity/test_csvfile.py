"""The one CSV writer (identity.csvfile.write_csv): formula prefixes neutralised (issue #8.4)."""

import csv
import io

import pytest

from identity.csvfile import neutralise, write_csv
from identity.roll import read_roll


@pytest.mark.parametrize("cell, written", [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("＝1+1", "'＝1+1"),  # full-width equals too
    ("101", "101"), ("王伟", "王伟"), ("a=b", "a=b"), ("", ""), (88, "88"), (None, ""),
])
def test_neutralise(cell, written):
    assert neutralise(cell) == written


def test_write_csv_neutralises_every_cell_and_reads_back():
    data = write_csv(("building", "=room"), [("=1+1", "101"), ("@x", "-3")], bom=True)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [["building", "'=room"], ["'=1+1", "101"], ["'@x", "'-3"]]


def test_demo_roll_is_written_with_it():
    from web.demo import demo_roll_csv

    data = demo_roll_csv()
    assert not any(line.startswith(("=", "+", "-", "@")) for line in data.decode().splitlines())
    assert len(read_roll(data, "demo.csv").parts) == 160
