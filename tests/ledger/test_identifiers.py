"""ledger.identifiers: GTINs, serials, company prefixes and the canonical item id."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import NotRequired, TypedDict

import pytest
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import (
    IdentifierError,
    InvalidCompanyPrefix,
    InvalidGTIN,
    InvalidItemId,
    InvalidSerial,
)
from ledger.identifiers import (
    ItemId,
    check_digit,
    gs1_company_prefix_candidates,
    item_id,
    parse_item_id,
    validate_company_prefix,
    validate_gtin,
    validate_serial,
)

# GS1 General Specifications, figure 7.11-1, written out independently of the module.
CSET_82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

# --- conformance: gtin-check-digit-cases.json ------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = Path(
    os.environ.get("VERITAG_CONFORMANCE_DIR") or PROJECT_ROOT.parent / "shared" / "conformance"
)
CASES_FILE = "gtin-check-digit-cases.json"


class ValidityCase(TypedDict):
    value: str
    valid: bool
    kind: str
    source: str
    source_line: int
    expected_error: NotRequired[str]
    parsed_value: NotRequired[str]


class CheckDigitCase(TypedDict):
    payload: str
    check_digit: int
    source: str
    source_line: int


def _is_gtin_case(case: ValidityCase) -> bool:
    # Kinds are "GTIN", "GTIN?", "GTIN-8".."GTIN-14"; the rest are SSCC, GRAI, "18 chars", ...
    return case["kind"].startswith("GTIN")


def _validity_cases(*, gtin: bool) -> list[object]:
    if not CONFORMANCE_DIR.is_dir():
        return [_missing_conformance()]
    cases: list[ValidityCase] = json.loads(
        (CONFORMANCE_DIR / CASES_FILE).read_text(encoding="utf-8")
    )["validity"]
    return [
        pytest.param(
            case, id=f"{Path(case['source']).name}:{case['source_line']}:{case['value']!r}"
        )
        for case in cases
        if _is_gtin_case(case) is gtin
    ]


def _check_digit_cases() -> list[object]:
    if not CONFORMANCE_DIR.is_dir():
        return [_missing_conformance()]
    cases: list[CheckDigitCase] = json.loads(
        (CONFORMANCE_DIR / CASES_FILE).read_text(encoding="utf-8")
    )["check_digit"]
    return [
        pytest.param(
            case, id=f"{Path(case['source']).name}:{case['source_line']}:{case['payload']}"
        )
        for case in cases
    ]


def _missing_conformance() -> object:
    reason = (
        f"conformance folder {CONFORMANCE_DIR} not found; set VERITAG_CONFORMANCE_DIR to the"
        f" folder holding {CASES_FILE}"
    )
    return pytest.param(None, id="conformance-missing", marks=pytest.mark.skip(reason=reason))


def _expected_reason(case: ValidityCase) -> str | None:
    """The reason validate_gtin should give, translated from the source's own error."""
    error = case.get("expected_error", "")
    if error == "GS1_LINTER_NON_DIGIT_CHARACTER" or error.endswith("Expected a numerical value."):
        return "contains non-digit"
    if match := re.search(r"Expected 8, 12, 13, or 14 digits, got (\d+)\.", error):
        return f"must be 8, 12, 13 or 14 digits, got {match[1]}"
    if match := re.search(r"check digit for .*: Expected (\d), got (\d)\.", error):
        return f"check digit is {match[2]}, expected {match[1]}"
    if error == "GS1_LINTER_INCORRECT_CHECK_DIGIT":
        return "check digit is"
    return None  # the source names no error (digital-link.js): only the verdict is checked


@pytest.mark.parametrize("case", _validity_cases(gtin=True))
def test_validate_gtin_agrees_with_conformance_case(case: ValidityCase) -> None:
    if case["valid"]:
        assert validate_gtin(case["value"]) == case.get("parsed_value", case["value"]).zfill(14)
    else:
        with pytest.raises(InvalidGTIN) as raised:
            validate_gtin(case["value"])
        assert raised.value.value == case["value"]
        if reason := _expected_reason(case):
            assert raised.value.reason.startswith(reason)


def _has_valid_check_digit(key: str, position: int) -> bool:
    """Whether the digit at 1-based ``position`` is check_digit of the digits before it."""
    try:
        expected = check_digit(key[: position - 1] if position else "")
    except InvalidGTIN:
        return False
    return key[position - 1 : position] == str(expected)


@pytest.mark.parametrize("case", _validity_cases(gtin=False))
def test_check_digit_agrees_with_conformance_key_of_other_types(case: ValidityCase) -> None:
    # A GRAI carries its check digit inside the key ("check digit at position 14"), every
    # other key carries it last.
    stated = re.search(r"check digit at position (\d+)", case["kind"])
    position = int(stated[1]) if stated else len(case["value"])

    assert _has_valid_check_digit(case["value"], position) is case["valid"]
    with pytest.raises(InvalidGTIN):
        validate_gtin(case["value"])  # an SSCC, GRAI or empty string is never a GTIN


@pytest.mark.parametrize("case", _check_digit_cases())
def test_check_digit_agrees_with_conformance_payload(case: CheckDigitCase) -> None:
    assert check_digit(case["payload"]) == case["check_digit"]


# --- GTIN and check digit examples -------------------------------------------------------


@pytest.mark.parametrize(
    ("gtin", "gtin14"),
    [
        ("96385074", "00000096385074"),
        ("614141000036", "00614141000036"),
        ("5901234123457", "05901234123457"),
        ("98765432109213", "98765432109213"),
    ],
)
def test_validate_gtin_returns_14_digit_form(gtin: str, gtin14: str) -> None:
    assert validate_gtin(gtin) == gtin14


def test_validate_gtin_ignores_surrounding_ascii_whitespace() -> None:
    assert validate_gtin(" \t5901234123457\r\n") == "05901234123457"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "invalid GTIN '': must be 8, 12, 13 or 14 digits, got 0"),
        ("12345678902", "invalid GTIN '12345678902': must be 8, 12, 13 or 14 digits, got 11"),
        (
            "123456789012345675",
            "invalid GTIN '123456789012345675': must be 8, 12, 13 or 14 digits, got 18",
        ),
        ("590x234123457", "invalid GTIN '590x234123457': contains non-digit 'x' at position 4"),
        (
            "5901234 123457",
            "invalid GTIN '5901234 123457': contains non-digit ' ' at position 8",
        ),
        (
            "  590123412345x",
            "invalid GTIN '  590123412345x': contains non-digit 'x' at position 15",
        ),
        (
            "\xa05901234123457",
            "invalid GTIN '\\xa05901234123457': contains non-digit '\\xa0' at position 1",
        ),
        (
            "590123412345\uff17",  # FULLWIDTH DIGIT SEVEN: int() would accept it
            "invalid GTIN '590123412345\uff17': contains non-digit '\uff17' at position 13",
        ),
        ("5901234123458", "invalid GTIN '5901234123458': check digit is 8, expected 7"),
        ("-5901234123457", "invalid GTIN '-5901234123457': contains non-digit '-' at position 1"),
    ],
)
def test_validate_gtin_rejects_with_reason(value: str, message: str) -> None:
    with pytest.raises(InvalidGTIN) as raised:
        validate_gtin(value)
    assert str(raised.value) == message
    assert raised.value.value == value
    assert isinstance(raised.value, ValueError)
    assert raised.value.status == 422


def test_check_digit_of_gtin13_payload() -> None:
    assert check_digit("590123412345") == 7


def test_check_digit_weights_from_the_right() -> None:
    # Leading zeros do not change the check digit, whatever the key length.
    assert check_digit("0000590123412345") == check_digit("590123412345")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "invalid GTIN '': is empty, there is nothing to compute a check digit over"),
        ("59012a", "invalid GTIN '59012a': contains non-digit 'a' at position 6"),
        (" 59012", "invalid GTIN ' 59012': contains non-digit ' ' at position 1"),
    ],
)
def test_check_digit_rejects_payload_that_is_not_digits(payload: str, message: str) -> None:
    with pytest.raises(InvalidGTIN) as raised:
        check_digit(payload)
    assert str(raised.value) == message


# --- serial examples ---------------------------------------------------------------------


def test_validate_serial_accepts_20_characters() -> None:
    assert validate_serial("A" * 20) == "A" * 20


@pytest.mark.parametrize("serial", [CSET_82[i : i + 20] for i in range(0, len(CSET_82), 20)])
def test_validate_serial_accepts_every_character_of_set_82(serial: str) -> None:
    assert validate_serial(serial) == serial


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "invalid serial '': is empty; a serial has 1 to 20 characters"),
        (
            "A" * 21,
            f"invalid serial '{'A' * 21}': has 21 characters, at most 20 are allowed",
        ),
        (
            "ABC#1",
            "invalid serial 'ABC#1': contains '#' at position 4, outside GS1 character set 82",
        ),
        (
            "ABC 1",
            "invalid serial 'ABC 1': contains ' ' at position 4, outside GS1 character set 82",
        ),
        (
            "ABC1 ",
            "invalid serial 'ABC1 ': contains ' ' at position 5, outside GS1 character set 82",
        ),
        (
            "caf\u00e9",
            "invalid serial 'caf\u00e9': contains '\u00e9' at position 4,"
            " outside GS1 character set 82",
        ),
    ],
)
def test_validate_serial_rejects_with_reason(value: str, message: str) -> None:
    with pytest.raises(InvalidSerial) as raised:
        validate_serial(value)
    assert str(raised.value) == message
    assert raised.value.value == value


# --- item id -----------------------------------------------------------------------------


def test_item_id_is_keccak_of_gs1_element_path() -> None:
    expected = keccak(b"01/09506000134352/21/ABC123")

    assert item_id("09506000134352", "ABC123") == ItemId(expected)
    assert item_id("09506000134352", "ABC123").hex() == "0x" + expected.hex()


def test_item_id_is_the_same_for_gtin13_and_its_gtin14_form() -> None:
    assert item_id("9506000134352", "ABC123") == item_id("09506000134352", "ABC123")


def test_item_id_rejects_invalid_gtin_before_hashing() -> None:
    with pytest.raises(InvalidGTIN) as raised:
        item_id("9506000134353", "ABC123")
    assert raised.value.reason == "check digit is 3, expected 2"


def test_item_id_rejects_invalid_serial_before_hashing() -> None:
    with pytest.raises(InvalidSerial) as raised:
        item_id("9506000134352", "ABC#123")
    assert raised.value.reason == "contains '#' at position 4, outside GS1 character set 82"


def test_parse_item_id_round_trips_hex() -> None:
    key = item_id("9506000134352", "ABC123")
    assert parse_item_id(key.hex()) == key
    assert parse_item_id(key.hex().upper().replace("0X", "0x")) == key
    assert str(key) == key.hex()
    assert bytes(key) == key.value


def test_item_id_hex_is_prefixed_lowercase() -> None:
    assert ItemId(bytes(range(32))).hex() == "0x" + "".join(f"{b:02x}" for b in range(32))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ab" * 32, f"invalid item id '{'ab' * 32}': must start with '0x'"),
        ("0X" + "ab" * 32, f"invalid item id '0X{'ab' * 32}': must start with '0x'"),
        (
            "0x" + "ab" * 31,
            f"invalid item id '0x{'ab' * 31}': must have 64 hex digits after '0x', got 62",
        ),
        (
            "0x" + "ab" * 33,
            f"invalid item id '0x{'ab' * 33}': must have 64 hex digits after '0x', got 66",
        ),
        (
            "0xg" + "a" * 63,
            f"invalid item id '0xg{'a' * 63}': contains non-hex 'g' at position 3",
        ),
        (
            "0x" + "a" * 63 + " ",
            f"invalid item id '0x{'a' * 63} ': contains non-hex ' ' at position 66",
        ),
    ],
)
def test_parse_item_id_rejects_with_reason(value: str, message: str) -> None:
    with pytest.raises(InvalidItemId) as raised:
        parse_item_id(value)
    assert str(raised.value) == message


def test_item_id_value_must_be_32_bytes() -> None:
    with pytest.raises(InvalidItemId) as raised:
        ItemId(b"\x01\x02")
    assert str(raised.value) == "invalid item id '0x0102': must be 32 bytes, got 2"


# --- company prefix ----------------------------------------------------------------------


def test_company_prefix_candidates_skip_indicator_digit() -> None:
    assert gs1_company_prefix_candidates("09506000134352") == [
        "9506",
        "95060",
        "950600",
        "9506000",
        "95060001",
        "950600013",
        "9506000134",
        "95060001343",
        "950600013435",
    ]


def test_company_prefix_candidates_normalise_gtin13() -> None:
    assert gs1_company_prefix_candidates("9506000134352") == gs1_company_prefix_candidates(
        "09506000134352"
    )


def test_company_prefix_candidates_reject_invalid_gtin() -> None:
    with pytest.raises(InvalidGTIN):
        gs1_company_prefix_candidates("09506000134353")


def test_validate_company_prefix_accepts_4_to_12_digits() -> None:
    assert validate_company_prefix("9506") == "9506"
    assert validate_company_prefix("950600013435") == "950600013435"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("950", "invalid GS1 Company Prefix '950': must be 4 to 12 digits, got 3"),
        (
            "9506000134352",
            "invalid GS1 Company Prefix '9506000134352': must be 4 to 12 digits, got 13",
        ),
        ("95O6000", "invalid GS1 Company Prefix '95O6000': contains non-digit 'O' at position 3"),
    ],
)
def test_validate_company_prefix_rejects_with_reason(value: str, message: str) -> None:
    with pytest.raises(InvalidCompanyPrefix) as raised:
        validate_company_prefix(value)
    assert str(raised.value) == message
    assert isinstance(raised.value, IdentifierError)


# --- properties --------------------------------------------------------------------------

payloads_13 = st.text(alphabet="0123456789", min_size=13, max_size=13)
serials = st.text(alphabet=CSET_82, min_size=1, max_size=20)


@given(payloads_13)
def test_appending_check_digit_makes_a_valid_gtin14(payload: str) -> None:
    gtin = payload + str(check_digit(payload))
    assert validate_gtin(gtin) == gtin


@given(payloads_13, st.integers(min_value=0, max_value=13), st.integers(min_value=1, max_value=9))
def test_changing_any_single_digit_is_rejected(payload: str, index: int, shift: int) -> None:
    gtin = payload + str(check_digit(payload))
    changed = gtin[:index] + str((int(gtin[index]) + shift) % 10) + gtin[index + 1 :]

    with pytest.raises(InvalidGTIN) as raised:
        validate_gtin(changed)
    assert raised.value.reason.startswith("check digit is ")


@given(payloads_13, serials)
def test_item_id_is_deterministic(payload: str, serial: str) -> None:
    gtin = payload + str(check_digit(payload))
    assert item_id(gtin, serial) == item_id(gtin, serial)


@given(payloads_13, serials, serials)
def test_item_id_differs_for_different_serials(payload: str, first: str, second: str) -> None:
    gtin = payload + str(check_digit(payload))
    assert (item_id(gtin, first) == item_id(gtin, second)) is (first == second)


@given(st.text(min_size=1, max_size=20), st.characters().filter(lambda c: c not in CSET_82))
def test_serial_with_character_outside_set_82_is_rejected_at_its_position(
    text: str, bad: str
) -> None:
    prefix = "".join(c for c in text if c in CSET_82)
    serial = prefix + bad

    with pytest.raises(InvalidSerial) as raised:
        validate_serial(serial)
    assert raised.value.reason == (
        f"contains {bad!r} at position {len(prefix) + 1}, outside GS1 character set 82"
    )


@given(payloads_13)
def test_company_prefix_candidates_are_valid_prefixes_of_the_gtin(payload: str) -> None:
    gtin = payload + str(check_digit(payload))
    candidates = gs1_company_prefix_candidates(gtin)

    assert [len(c) for c in candidates] == list(range(4, 13))
    for candidate in candidates:
        assert validate_company_prefix(candidate) == candidate
        assert gtin[1:].startswith(candidate)
