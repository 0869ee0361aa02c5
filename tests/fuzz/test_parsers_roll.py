"""Hypothesis fuzzing of the roll CSV reader (issue #11.4): identity.roll.read_roll over
identity.csvfile — any bytes, a valid roll with bytes changed, and grids of arbitrary cells under
the real header.  Every refusal is a CsvError whose problems each read ``file:line: message``
(or ``file: message`` for the encoding); never another exception."""

from __future__ import annotations

import csv
import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from identity.csvfile import CsvError
from identity.roll import Roll, read_roll
from tests.fuzz.mutations import mutated_bytes

ROLL = ("楼栋,单元,房号,面积,业主编号,手机号,业主姓名\n"
        "1,1,101,88.50,A,13812345678,张三\n1,1,102,90,A,13812345678,张三\n"
        "2,,201,100.05,B,13987654321,李四\n3,2,301,70,C,,\n").encode()
HEADER = ["楼栋", "单元", "房号", "面积", "业主编号", "手机号", "业主姓名", "开发商持有"]
PROBLEM = re.compile(r"^r\.csv(:\d+)?: \S")
FUZZ = settings(max_examples=200, derandomize=True, database=None, deadline=None)
CELLS = st.one_of(st.text(max_size=12), st.sampled_from(["", "1", "-1", "0", "0.00", "1e9", "88.505", "１２",
                                                        "99999999999.99", "13812345678", "=cmd", "\u200b", "A"]))


def _read(data: bytes) -> Roll | None:
    try:
        return read_roll(data, "r.csv")
    except CsvError as exc:
        assert exc.problems, "a CsvError without problems"
        for problem in exc.problems:
            assert PROBLEM.match(problem), problem
        return None


def test_the_valid_roll_reads():
    roll = _read(ROLL)
    assert roll is not None and len(roll.parts) == 4


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_are_a_roll_or_a_csv_error(data):
    _read(data)


@FUZZ
@given(mutated_bytes(ROLL, max_changes=6))
def test_a_changed_roll_is_a_roll_or_a_csv_error(data):
    _read(data)


@FUZZ
@given(st.lists(st.lists(CELLS, min_size=0, max_size=9), max_size=8), st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_arbitrary_cells_under_the_real_header(rows, encoding):
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    try:
        data = out.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = out.getvalue().encode("utf-8", "surrogatepass")
    _read(data)


def test_edge_files_are_refused_with_a_line():
    cases = {b"": ":1: ", b"\xef\xbb\xbf": ":1: ", b"\x00\x00": ":1: ", b"a\x00b\n": ":1: ",
             "楼栋,房号,面积,业主编号\n1,\"101".encode(): ":2: ",  # an unterminated quote
             ("楼栋,房号,面积,业主编号\n1,101," + "9" * 200_000 + ",A\n").encode(): ":2: "}
    for data, where in cases.items():
        try:
            read_roll(data, "r.csv")
        except CsvError as exc:
            assert where in str(exc), (data[:30], str(exc))
        else:
            raise AssertionError(f"accepted {data[:30]!r}")
