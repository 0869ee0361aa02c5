"""Reading supervisors' CSV files: UTF-8 (with or without BOM) or GB18030 (Chinese Excel).

Problems are reported as ``file:line: message`` strings, line 1 being the header, so a
supervisor can open the file at the right row.  Files are read whole and refused whole.
``write_csv`` is the one writer for every CSV the product writes; it neutralises formula
prefixes (OWASP CSV injection, issue #8.4).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass


class CsvError(ValueError):
    """A file refused as a whole; ``problems`` lists every ``file:line: message``."""

    def __init__(self, problems: list[str]):
        self.problems = sorted(problems, key=_line_of)
        super().__init__("\n".join(self.problems))


def _line_of(problem: str) -> int:
    match = _LINE.search(problem)
    return int(match.group(1)) if match else 0


_LINE = re.compile(r":(\d+): ")


@dataclass(frozen=True)
class Row:
    line: int  # 1-based physical line where the record starts
    cells: dict[str, str]  # canonical column name → stripped text


def decode(data: bytes, filename: str) -> str:
    """Decode CSV bytes: a UTF-8 BOM means UTF-8; else UTF-8 if valid; else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CsvError([f"{filename}: 文件编码错误 / not valid UTF-8 after the BOM ({exc.reason})"]) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise CsvError([f"{filename}: 无法识别编码（应为 UTF-8 或 GB18030）/ "
                        f"encoding is neither UTF-8 nor GB18030"]) from exc


def read_table(data: bytes, filename: str, columns: dict[str, str], required: set[str],
               open_columns: bool = False) -> tuple[list[str], list[Row], list[str]]:
    """Read a CSV whose header names are keys of ``columns`` (alias → canonical name).

    Header matching ignores case and surrounding spaces.  Unknown headers are refused unless
    ``open_columns`` (then they are kept under their own text).  Returns the canonical header,
    the non-blank rows, and the structural problems found so far (unknown or missing columns,
    wrong cell counts), so that callers can add row problems and refuse the file with all of
    them.  Raises CsvError only when nothing can be read at all.
    """
    names, rows, problems = iter_table(data, filename, columns, required, open_columns)
    return names, list(rows), problems


def iter_table(data: bytes, filename: str, columns: dict[str, str], required: set[str],
               open_columns: bool = False) -> tuple[list[str], Iterator[Row], list[str]]:
    """Like ``read_table``, with the rows as an iterator: a large file is never held as rows
    all at once (issue #8.1).  Row problems join ``problems`` as the iterator reaches them."""
    text = decode(data, filename)
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[str] = []
    try:
        header = next(reader)
    except StopIteration:
        raise CsvError([f"{filename}:1: 文件为空 / the file is empty"]) from None
    except csv.Error as exc:
        raise CsvError([f"{filename}:1: {exc}"]) from None
    names = _canonical_header(header, filename, columns, open_columns, problems)
    missing = sorted(required - set(names))
    for name in missing:
        aliases = " | ".join(a for a, c in columns.items() if c == name)
        problems.append(f"{filename}:1: 缺少列 / missing column: {aliases}")
    return names, _rows(reader, names, filename, problems), problems


def _rows(reader, names: list[str], filename: str, problems: list[str]) -> Iterator[Row]:  # noqa: ANN001
    start = reader.line_num + 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(names):
                problems.append(f"{filename}:{line}: 应有 {len(names)} 个单元格，实有 {len(record)} / "
                                f"expected {len(names)} cells, found {len(record)}")
                continue
            yield Row(line, {n: c.strip() for n, c in zip(names, record)})
    except csv.Error as exc:
        problems.append(f"{filename}:{reader.line_num}: CSV 格式错误 / malformed CSV: {exc}")


def _canonical_header(header: list[str], filename: str, columns: dict[str, str],
                      open_columns: bool, problems: list[str]) -> list[str]:
    lookup = {alias.casefold(): name for alias, name in columns.items()}
    names: list[str] = []
    for raw in header:
        key = raw.strip().lstrip("\ufeff").strip()
        name = lookup.get(key.casefold())
        if name is None:
            if open_columns and key:
                name = key
            else:
                known = ", ".join(sorted(set(columns)))
                problems.append(f"{filename}:1: 未知列 / unknown column '{key}' (known: {known})")
                name = key
        if name in names:
            problems.append(f"{filename}:1: 列重复 / duplicate column '{key}'")
        names.append(name)
    return names


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP "CSV injection": a spreadsheet runs these


def neutralise(cell: object) -> str:
    """A cell that a spreadsheet shows as text: a leading ``= + - @`` tab or CR (also in their
    full-width forms) gets a ``'`` prefix, so ``=cmd|' /C calc'!A0`` is never run (issue #8.4)."""
    text = "" if cell is None else str(cell)
    if text and unicodedata.normalize("NFKC", text[0])[:1] in FORMULA_START:
        return "'" + text
    return text


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]], *, bom: bool = False) -> bytes:
    """The one CSV writer for every CSV the product writes: UTF-8 (with a BOM for Excel when
    ``bom``), ``\\n`` line ends, every cell neutralised (``neutralise``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(c) for c in row])
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8")
