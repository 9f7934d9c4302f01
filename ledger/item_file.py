"""Read a CSV of items to register, checking every row before anything is sent.

The file has a header row naming at least ``gtin`` and ``serial`` (any order, any case);
other columns are ignored. A file with any bad row is refused whole with an
:class:`~ledger.errors.InputFileError` listing every problem (line, field, reason), so a
registration run never half-applies a file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import IdentifierError, InputFileError, RowProblem
from ledger.identifiers import ItemId, item_id, validate_gtin, validate_serial

__all__ = ["ItemRow", "read_item_file"]

REQUIRED_COLUMNS = ("gtin", "serial")
MAX_ROWS = 1_000_000


@dataclass(frozen=True)
class ItemRow:
    line: int
    gtin: str
    serial: str
    item_id: ItemId


def read_item_file(path: Path) -> list[ItemRow]:
    """Every row of ``path`` as a checked :class:`ItemRow`; raises listing all bad rows."""
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(str(path), [RowProblem(0, "file", f"cannot be read: {exc}")]) from None
    return parse_item_csv(text, source=str(path))


def parse_item_csv(text: str, *, source: str = "<csv>") -> list[ItemRow]:
    """Parse CSV text (see module docstring); ``source`` names it in errors."""
    # newline="": the csv module reads line ends itself, a lone "\r" included.
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[ItemRow] = []
    problems: list[RowProblem] = []
    header = _next_record(reader, problems)
    if header is None:
        raise InputFileError(source, problems or [RowProblem(1, "header", "the file is empty")])
    columns = {name.strip().lower(): index for index, name in enumerate(header)}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        found = ", ".join(repr(h) for h in header) or "nothing"
        raise InputFileError(
            source,
            [RowProblem(1, "header", f"missing column(s) {', '.join(missing)}; found {found}")],
        )
    first_line: dict[ItemId, int] = {}
    while (record := _next_record(reader, problems)) is not None:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(rows) + len(problems) >= MAX_ROWS:
            problems.append(RowProblem(line, "file", f"more than {MAX_ROWS:,} rows; split it"))
            break
        if len(record) != len(header):
            problems.append(
                RowProblem(line, "row", f"has {len(record)} fields, the header has {len(header)}")
            )
            continue
        row_problems, row = _check_row(line, record, columns)
        problems.extend(row_problems)
        if row is None:
            continue
        if row.item_id in first_line:
            problems.append(
                RowProblem(
                    line,
                    "serial",
                    f"GTIN {row.gtin} serial {row.serial!r} repeats line {first_line[row.item_id]}",
                )
            )
            continue
        first_line[row.item_id] = line
        rows.append(row)
    if problems:
        raise InputFileError(source, problems)
    if not rows:
        raise InputFileError(source, [RowProblem(2, "row", "the file has no item rows")])
    return rows


def _next_record(reader: Iterator[list[str]], problems: list[RowProblem]) -> list[str] | None:
    """The next record; None at the end, or where the text stops being CSV (a problem then
    says why: a field over the csv module's size limit, …)."""
    try:
        return next(reader, None)
    except csv.Error as error:
        line = getattr(reader, "line_num", 0)
        problems.append(
            RowProblem(line, "file", f"cannot be read as CSV: {error}; check its quoting")
        )
        return None


def _check_row(
    line: int, record: list[str], columns: dict[str, int]
) -> tuple[list[RowProblem], ItemRow | None]:
    problems: list[RowProblem] = []
    raw_gtin = record[columns["gtin"]].strip()
    raw_serial = record[columns["serial"]]
    gtin = serial = ""
    try:
        gtin = validate_gtin(raw_gtin)
    except IdentifierError as exc:
        problems.append(RowProblem(line, "gtin", getattr(exc, "reason", str(exc))))
    try:
        serial = validate_serial(raw_serial)
    except IdentifierError as exc:
        problems.append(RowProblem(line, "serial", getattr(exc, "reason", str(exc))))
    if problems:
        return problems, None
    return [], ItemRow(line=line, gtin=gtin, serial=serial, item_id=item_id(gtin, serial))
