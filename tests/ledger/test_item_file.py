"""ledger.item_file: a CSV of items is checked whole, and every bad row is reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import item_file
from ledger.errors import InputFileError, RowProblem
from ledger.identifiers import item_id
from ledger.item_file import ItemRow, parse_item_csv, read_item_file

GTIN = "00614141123452"
GTIN13 = "0614141123452"
"""The same GTIN in its 13-digit form."""
BAD_CHECK_DIGIT = "00614141123453"


def problems_of(text: str) -> list[RowProblem]:
    with pytest.raises(InputFileError) as caught:
        parse_item_csv(text)
    return caught.value.problems


# ───────────── good files ─────────────


def test_parse_returns_one_checked_row_per_item_with_its_line_and_id() -> None:
    rows = parse_item_csv(f"gtin,serial\n{GTIN},A1\n{GTIN},A2\n")

    assert rows == [
        ItemRow(line=2, gtin=GTIN, serial="A1", item_id=item_id(GTIN, "A1")),
        ItemRow(line=3, gtin=GTIN, serial="A2", item_id=item_id(GTIN, "A2")),
    ]


def test_header_may_use_any_case_order_and_spacing_and_extra_columns_are_ignored() -> None:
    rows = parse_item_csv(f"Lot, SERIAL ,Colour,GTIN\nL42,A1,red,{GTIN}\n")

    assert [(r.gtin, r.serial) for r in rows] == [(GTIN, "A1")]


def test_blank_lines_are_skipped_and_lines_keep_their_place_in_the_file() -> None:
    rows = parse_item_csv(f"gtin,serial\n\n{GTIN},A1\n , \n\n{GTIN},A2\n\n")

    assert [(r.line, r.serial) for r in rows] == [(3, "A1"), (6, "A2")]


def test_gtin13_is_normalised_to_its_14_digit_form_and_names_the_same_item() -> None:
    (row,) = parse_item_csv(f"gtin,serial\n{GTIN13},A1\n")

    assert row.gtin == GTIN
    assert row.item_id == item_id(GTIN, "A1")


def test_whitespace_around_a_gtin_is_ignored() -> None:
    (row,) = parse_item_csv(f"gtin,serial\n  {GTIN}\t,A1\n")

    assert row.gtin == GTIN


def test_a_file_without_a_final_newline_is_read_whole() -> None:
    rows = parse_item_csv(f"gtin,serial\n{GTIN},A1\n{GTIN},A2")

    assert [r.serial for r in rows] == ["A1", "A2"]


def test_read_item_file_reads_a_spreadsheet_export_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(f"\ufeffgtin,serial\r\n{GTIN},A1\r\n".encode())

    assert read_item_file(path) == [
        ItemRow(line=2, gtin=GTIN, serial="A1", item_id=item_id(GTIN, "A1"))
    ]


# ───────────── one problem each ─────────────


def test_wrong_check_digit_is_reported_on_the_gtin_field() -> None:
    assert problems_of(f"gtin,serial\n{BAD_CHECK_DIGIT},A1\n") == [
        RowProblem(2, "gtin", "check digit is 3, expected 2")
    ]


def test_serial_of_21_characters_is_too_long() -> None:
    assert problems_of(f"gtin,serial\n{GTIN},{'S' * 21}\n") == [
        RowProblem(2, "serial", "has 21 characters, at most 20 are allowed")
    ]


def test_serial_of_20_characters_is_accepted() -> None:
    (row,) = parse_item_csv(f"gtin,serial\n{GTIN},{'S' * 20}\n")

    assert row.serial == "S" * 20


@pytest.mark.parametrize(
    ("serial", "reason"),
    [
        ("A#1", "contains '#' at position 2, outside GS1 character set 82"),
        ("A 1", "contains ' ' at position 2, outside GS1 character set 82"),
        ("A1 ", "contains ' ' at position 3, outside GS1 character set 82"),
        ("É1", "contains 'É' at position 1, outside GS1 character set 82"),
    ],
)
def test_serial_with_a_character_outside_gs1_set_82_is_refused(serial: str, reason: str) -> None:
    assert problems_of(f"gtin,serial\n{GTIN},{serial}\n") == [RowProblem(2, "serial", reason)]


def test_empty_serial_is_refused() -> None:
    assert problems_of(f"gtin,serial\n{GTIN},\n") == [
        RowProblem(2, "serial", "is empty; a serial has 1 to 20 characters")
    ]


def test_row_with_a_bad_gtin_and_a_bad_serial_reports_both_fields() -> None:
    assert problems_of(f"gtin,serial\n{BAD_CHECK_DIGIT},A#\n") == [
        RowProblem(2, "gtin", "check digit is 3, expected 2"),
        RowProblem(2, "serial", "contains '#' at position 2, outside GS1 character set 82"),
    ]


@pytest.mark.parametrize(
    ("row", "fields"),
    [(GTIN, 1), (f"{GTIN},A1,extra", 3)],
)
def test_row_with_the_wrong_number_of_fields_is_malformed(row: str, fields: int) -> None:
    assert problems_of(f"gtin,serial\n{row}\n") == [
        RowProblem(2, "row", f"has {fields} fields, the header has 2")
    ]


def test_header_without_the_serial_column_names_what_is_missing_and_what_was_found() -> None:
    assert problems_of(f"gtin,lot\n{GTIN},L1\n") == [
        RowProblem(1, "header", "missing column(s) serial; found 'gtin', 'lot'")
    ]


def test_header_without_either_required_column_names_both() -> None:
    assert problems_of("item,code\nx,y\n") == [
        RowProblem(1, "header", "missing column(s) gtin, serial; found 'item', 'code'")
    ]


def test_empty_file_is_refused() -> None:
    assert problems_of("") == [RowProblem(1, "header", "the file is empty")]


def test_header_only_file_has_no_item_rows() -> None:
    assert problems_of("gtin,serial\n") == [RowProblem(2, "row", "the file has no item rows")]


def test_duplicate_serial_names_the_line_it_repeats() -> None:
    text = f"gtin,serial\n{GTIN},A1\n{GTIN},A2\n{GTIN},A1\n"

    assert problems_of(text) == [RowProblem(4, "serial", f"GTIN {GTIN} serial 'A1' repeats line 2")]


def test_same_item_written_as_gtin13_and_gtin14_is_a_duplicate() -> None:
    text = f"gtin,serial\n{GTIN13},A1\n{GTIN},A1\n"

    assert problems_of(text) == [RowProblem(3, "serial", f"GTIN {GTIN} serial 'A1' repeats line 2")]


def test_serials_compare_exactly_so_case_makes_a_different_item() -> None:
    rows = parse_item_csv(f"gtin,serial\n{GTIN},a1\n{GTIN},A1\n")

    assert len({r.item_id for r in rows}) == 2


def test_more_rows_than_the_limit_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(item_file, "MAX_ROWS", 2)

    assert problems_of(f"gtin,serial\n{GTIN},A1\n{GTIN},A2\n{GTIN},A3\n{GTIN},A4\n") == [
        RowProblem(4, "file", "more than 2 rows; split it")
    ]


def test_unreadable_file_is_reported_as_line_0_of_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"

    with pytest.raises(InputFileError) as caught:
        read_item_file(missing)

    assert caught.value.path == str(missing)
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (0, "file")
    assert problem.reason.startswith("cannot be read: ")
    assert str(missing) in problem.reason


# ───────────── several problems ─────────────


def test_every_bad_row_is_listed_in_one_error_in_file_order() -> None:
    text = (
        "gtin,serial\n"
        f"{GTIN},A1\n"  # line 2: good
        f"{BAD_CHECK_DIGIT},A2\n"  # line 3
        f"{GTIN},{'S' * 21}\n"  # line 4
        f"{GTIN}\n"  # line 5
        f"{GTIN},A#\n"  # line 6
        f"{GTIN},A1\n"  # line 7: repeats line 2
        f"{GTIN},A3\n"  # line 8: good
    )

    assert problems_of(text) == [
        RowProblem(3, "gtin", "check digit is 3, expected 2"),
        RowProblem(4, "serial", "has 21 characters, at most 20 are allowed"),
        RowProblem(5, "row", "has 1 fields, the header has 2"),
        RowProblem(6, "serial", "contains '#' at position 2, outside GS1 character set 82"),
        RowProblem(7, "serial", f"GTIN {GTIN} serial 'A1' repeats line 2"),
    ]


def test_error_message_names_the_file_says_nothing_was_registered_and_lists_each_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(f"gtin,serial\n{BAD_CHECK_DIGIT},A1\n{GTIN},A#\n")

    with pytest.raises(InputFileError) as caught:
        read_item_file(path)

    assert caught.value.path == str(path)
    assert str(caught.value) == (
        f"{path}: 2 problem(s), nothing was registered; fix them and retry:\n"
        "  line 2, gtin: check digit is 3, expected 2\n"
        "  line 3, serial: contains '#' at position 2, outside GS1 character set 82"
    )


def test_parse_names_the_source_it_is_given() -> None:
    with pytest.raises(InputFileError, match=r"^upload\.csv: 1 problem\(s\), nothing was"):
        parse_item_csv("", source="upload.csv")


def test_input_file_error_is_a_422_veritag_error() -> None:
    error = InputFileError("x.csv", [RowProblem(2, "gtin", "bad")])

    assert error.status == 422
    assert str(error.problems[0]) == "line 2, gtin: bad"
