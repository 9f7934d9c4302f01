"""The parsers of outside input, fuzzed: whatever they are given, only their documented errors
escape, each with a message.

- ``parse_digital_link`` raises :class:`InvalidDigitalLink`; ``gtin_and_serial`` and
  ``build_digital_link`` an :class:`IdentifierError`;
- ``epc_urn_to_digital_link`` and ``sgtin_urn_to_digital_link`` raise :class:`InvalidEpcUrn`,
  ``digital_link_to_sgtin_urn`` :class:`InvalidDigitalLink`;
- ``parse_item_csv`` and ``read_item_file`` raise :class:`InputFileError`.

Inputs are arbitrary text (and bytes for files), and near-valid ones built from valid links,
URNs and CSV files by mutation: random AIs, percent escapes, unicode, odd quoting, BOMs,
line ends, huge lengths. The round trips of valid input are the other modules' tests.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.errors import (
    IdentifierError,
    InputFileError,
    InvalidDigitalLink,
    InvalidEpcUrn,
)
from ledger.identifiers import (
    build_digital_link,
    digital_link_to_sgtin_urn,
    epc_urn_to_digital_link,
    parse_digital_link,
    sgtin_urn_to_digital_link,
)
from ledger.identifiers.item_link import gtin_and_serial
from ledger.item_file import parse_item_csv, read_item_file

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GTIN = "00614141123452"
VALID_LINK = f"https://id.example.com/01/{GTIN}/21/ABC-123"
URI_CHARACTERS = st.sampled_from(
    [*"%/?#&=+.-_~:;@!$'()*,[]", "%00", "%25", "%2F", "%7F", "%80", "%FF", "%G1", "%", "%4"]
)
AIS = st.sampled_from(
    ["01", "21", "10", "17", "22", "235", "254", "414", "00", "8200", "8004", "7003", "99", "3"]
) | st.from_regex(r"\A[0-9]{1,5}\Z")
NASTY_TEXT = st.lists(
    st.characters(codec="utf-8") | URI_CHARACTERS | st.sampled_from(["\x00", "\r", "\n"]),
    max_size=20,
).map("".join)


def expect_only(
    errors: tuple[type[Exception], ...], call: Callable[..., Any], *args: Any, **kwargs: Any
) -> None:
    """Call; an exception must be one of ``errors`` and say something."""
    try:
        call(*args, **kwargs)
    except errors as error:
        refused: Exception | None = error
    else:
        refused = None
    assert refused is None or str(refused), f"{type(refused).__name__} without a message"


def mutated(text: str, position: int, insert: str, delete: int) -> str:
    position %= len(text) + 1
    return text[:position] + insert + text[position + delete :]


# ───────────── GS1 Digital Link ─────────────


@st.composite
def near_valid_links(draw: st.DrawFn) -> str:
    """A valid link with extra AI segments or query attributes, then a few mutations."""
    link = draw(st.sampled_from([VALID_LINK, f"http://x.test:8080/01/{GTIN}", "https://a.b/"]))
    for _ in range(draw(st.integers(0, 3))):
        ai, value = draw(AIS), draw(NASTY_TEXT)
        link += draw(st.sampled_from([f"/{ai}/{value}", f"?{ai}={value}", f"&{ai}={value}"]))
    for _ in range(draw(st.integers(0, 3))):
        insert = draw(NASTY_TEXT | URI_CHARACTERS)
        link = mutated(link, draw(st.integers(0, 500)), insert, draw(st.integers(0, 3)))
    return link


@FUZZ
@given(uri=st.text() | near_valid_links(), zero=st.booleans(), alphas=st.booleans())
@example(uri=VALID_LINK + "/10/" + "A" * 100_000, zero=False, alphas=False)
@example(uri="https://x/" + "01/" * 10_000, zero=True, alphas=True)
@example(uri=f"https://x/01/{GTIN}/21/%E2%82%AC", zero=False, alphas=False)
@example(uri=f"https://x/gtin/{GTIN}/ser/1?17=%", zero=True, alphas=True)
def test_parse_digital_link_raises_nothing_but_invalid_digital_link(
    uri: str, zero: bool, alphas: bool
) -> None:
    expect_only(
        (InvalidDigitalLink,),
        parse_digital_link,
        uri,
        permit_zero_suppressed_gtin=zero,
        permit_convenience_alphas=alphas,
    )


@FUZZ
@given(uri=st.text() | near_valid_links())
def test_an_items_link_is_read_or_refused_with_an_identifier_error(uri: str) -> None:
    expect_only((IdentifierError,), gtin_and_serial, uri)

    def item_id_of() -> None:
        parse_digital_link(uri).item_id()

    expect_only((IdentifierError,), item_id_of)


@FUZZ
@given(gtin=st.text(max_size=20) | st.just(GTIN), serial=NASTY_TEXT, base=st.text(max_size=30))
def test_building_a_link_from_bad_parts_raises_an_identifier_error(
    gtin: str, serial: str, base: str
) -> None:
    expect_only((IdentifierError,), build_digital_link, gtin, serial, base)


# ───────────── EPC URNs ─────────────

SCHEMES = st.sampled_from(
    ["sgtin", "sscc", "sgln", "grai", "giai", "gsrn", "gsrnp", "gdti", "cpi", "sgcn", "ginc",
     "gsin", "itip", "upui", "pgln", "lgtin", "gid", "usdod", "adi", "bic", "imovn", "x"]
)  # fmt: skip


@st.composite
def near_valid_urns(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["id", "class", "idpat", "ID", "raw"]))
    components = draw(
        st.lists(st.from_regex(r"\A[0-9]{0,14}\Z") | NASTY_TEXT, min_size=0, max_size=5)
    )
    urn = f"urn:epc:{kind}:{draw(SCHEMES)}:" + ".".join(components)
    if draw(st.booleans()):
        urn += ".*"
    if draw(st.booleans()):
        urn = mutated(urn, draw(st.integers(0, 80)), draw(URI_CHARACTERS), draw(st.integers(0, 2)))
    return urn


@FUZZ
@given(urn=st.text() | near_valid_urns())
@example(urn="urn:epc:id:sgtin:0614141.812345.6789")
@example(urn="urn:epc:id:sgtin:0614141.812345." + "9" * 100_000)
@example(urn="urn:epc:idpat:sgtin:0614141.812345.*")
@example(urn="urn:epc:id:sgtin:0614141.812345.%E2%82%AC")
@example(urn="urn:epc:id:cpi:0614141.%.1")
def test_epc_urns_convert_or_raise_invalid_epc_urn(urn: str) -> None:
    expect_only((InvalidEpcUrn,), epc_urn_to_digital_link, urn)
    expect_only((InvalidEpcUrn,), sgtin_urn_to_digital_link, urn)


@pytest.mark.parametrize(
    "urn",
    [
        "urn:epc:id:sgtin:0614141.812345." + "9" * 21,
        "urn:epc:id:itip:0614141.812345.01.02." + "9" * 21,
    ],
)
def test_an_sgtin_or_itip_serial_over_20_characters_is_an_invalid_epc_urn(urn: str) -> None:
    with pytest.raises(InvalidEpcUrn) as caught:
        epc_urn_to_digital_link(urn)

    assert type(caught.value) is InvalidEpcUrn
    assert caught.value.reason == "the serial has 21 characters, at most 20 are allowed"


@FUZZ
@given(uri=st.text() | near_valid_links(), length=st.none() | st.integers(-3, 20))
def test_a_link_converts_to_an_sgtin_urn_or_raises_invalid_digital_link(
    uri: str, length: int | None
) -> None:
    expect_only((InvalidDigitalLink,), digital_link_to_sgtin_urn, uri, length)


# ───────────── item files (CSV) ─────────────

CELLS = st.from_regex(r"\A[0-9]{8,14}\Z") | NASTY_TEXT | st.sampled_from(['"', '""', '"a"b', ""])
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r", "\n\n"])


@st.composite
def near_valid_csv(draw: st.DrawFn) -> str:
    header = draw(st.sampled_from(["gtin,serial", "GTIN , Serial,extra", "serial;gtin", ""]))
    end = draw(LINE_ENDS)
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        cells = draw(st.lists(CELLS, min_size=1, max_size=4))
        quoted = draw(st.booleans())
        rows.append(",".join(f'"{c}"' if quoted else c for c in cells))
    text = draw(st.sampled_from(["", "\ufeff"])) + end.join([header, *rows])
    if draw(st.booleans()):
        text = mutated(text, draw(st.integers(0, 200)), draw(CELLS), draw(st.integers(0, 2)))
    return text


@FUZZ
@given(text=st.text() | near_valid_csv())
@example(text='gtin,serial\n"' + "1" * 200_000 + '",A\n')  # longer than csv's field limit
@example(text="gtin,serial\n00614141123452,A\rB\n")  # a lone CR inside an unquoted field
@example(text='gtin,serial\n00614141123452,"A\n')  # a quote never closed
def test_item_csv_text_is_read_or_refused_with_an_input_file_error(text: str) -> None:
    expect_only((InputFileError,), parse_item_csv, text)


def test_a_field_longer_than_csvs_limit_is_a_row_problem_not_a_csv_error() -> None:
    text = "gtin,serial\n00614141123452,A\n" + "1" * 200_000 + ",B\n"

    with pytest.raises(InputFileError) as caught:
        parse_item_csv(text, source="items.csv")

    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (3, "file")
    assert problem.reason == (
        "cannot be read as CSV: field larger than field limit (131072); check its quoting"
    )


def test_a_lone_carriage_return_ends_a_row_like_a_newline() -> None:
    rows = parse_item_csv("gtin,serial\r00614141123452,A\r00614141123452,B\r")

    assert [(row.line, row.serial) for row in rows] == [(2, "A"), (3, "B")]


ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252", "utf-32"])


@settings(FUZZ, max_examples=60)
@given(
    data=st.binary(max_size=200)
    | st.builds(
        lambda text, encoding: text.encode(encoding, errors="replace"), near_valid_csv(), ENCODINGS
    )
)
@example(data=b"\xff\xfeg\x00t\x00i\x00n\x00")  # UTF-16 with its BOM
@example(data=b"gtin,serial\n00614141123452,\xe9\n")  # Latin-1, not UTF-8
def test_an_item_file_of_any_bytes_is_read_or_refused_with_an_input_file_error(
    data: bytes,
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "items.csv"
        path.write_bytes(data)
        expect_only((InputFileError,), read_item_file, path)
