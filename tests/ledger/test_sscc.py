"""SSCC (GS1 AI 00): validation, the container key, the EPC URN and the Digital Link."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak

from ledger.errors import InvalidSSCC
from ledger.identifiers import container_id, item_id, sscc_digital_link, sscc_urn, validate_sscc

# GS1 EPC Tag Data Standard's own example: SSCC 106141412345678908, prefix 0614141.
TDS_SSCC = "106141412345678908"
TDS_URN = "urn:epc:id:sscc:0614141.1234567890"


def test_tds_example_sscc_gives_the_tds_urn() -> None:
    assert sscc_urn(TDS_SSCC, company_prefix_length=7) == TDS_URN


def test_urn_falls_back_to_gs1s_prefix_table() -> None:
    assert sscc_urn(TDS_SSCC) == TDS_URN


@pytest.mark.parametrize(
    "written", [TDS_SSCC, f"(00){TDS_SSCC}", f"00{TDS_SSCC}", f" {TDS_SSCC}\n"]
)
def test_validate_accepts_the_ai_and_surrounding_whitespace(written: str) -> None:
    assert validate_sscc(written) == TDS_SSCC


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("10614141234567890", "must be 18 digits, got 17"),
        ("106141412345678907", "check digit is 7, expected 8"),
        ("1061414123456789O8", "contains non-digit 'O' at position 17"),
    ],
)
def test_validate_names_what_is_wrong(value: str, reason: str) -> None:
    with pytest.raises(InvalidSSCC) as caught:
        validate_sscc(value)
    assert caught.value.reason == reason


def test_container_id_is_keccak_of_00_slash_sscc_and_never_an_item_key() -> None:
    assert container_id(TDS_SSCC).value == keccak(text=f"00/{TDS_SSCC}")
    assert container_id(TDS_SSCC) != item_id("00614141123452", TDS_SSCC)


def test_digital_link_is_ai_00_on_the_resolver() -> None:
    assert sscc_digital_link(TDS_SSCC) == f"https://id.gs1.org/00/{TDS_SSCC}"
    assert sscc_digital_link(TDS_SSCC, "https://r.example/") == f"https://r.example/00/{TDS_SSCC}"
