"""ledger.identifiers.epc_urn: EPC URNs (Tag Data Standard) ↔ GS1 Digital Link.

Conformance (``epc-urn-to-dl-cases.json``: every EPC URN case with a Digital Link expected)
→ examples (SGTIN both ways, escapes, errors) → hypothesis (SGTIN URN → link → URN).
"""

from __future__ import annotations

import json
from functools import cache
from typing import TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import IdentifierError, InvalidDigitalLink
from ledger.identifiers import (
    InvalidEpcUrn,
    check_digit,
    digital_link_to_sgtin_urn,
    epc_urn_to_digital_link,
    sgtin_urn_to_digital_link,
)
from tests.conftest import conformance_dir

CSET_82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
CASES_FILE = "epc-urn-to-dl-cases.json"


class Case(TypedDict):
    input: object
    expected_canonical_dl: str | None
    kind: str
    source_line: int


@cache
def _urn_cases() -> list[Case]:
    path = conformance_dir() / CASES_FILE
    if not path.exists():
        return []
    cases: list[Case] = json.loads(path.read_text(encoding="utf-8"))["cases"]
    return [
        case
        for case in cases
        if str(case["input"]).startswith("urn:epc:") and case["expected_canonical_dl"]
    ]


def _urn_params() -> list[object]:
    cases = _urn_cases()
    if not cases:
        reason = f"conformance file {conformance_dir() / CASES_FILE} is absent"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    return [pytest.param(case, id=f"line{case['source_line']}") for case in cases]


def test_the_conformance_file_holds_the_31_urn_cases_we_count_on() -> None:
    if not _urn_cases():
        pytest.skip(f"conformance file {conformance_dir() / CASES_FILE} is absent")
    assert len(_urn_cases()) == 31


@pytest.mark.parametrize("case", _urn_params())
def test_epc_urn_converts_to_the_expected_digital_link(case: Case) -> None:
    assert epc_urn_to_digital_link(str(case["input"])) == case["expected_canonical_dl"]


def test_sgtin_urn_converts_under_the_given_base_url() -> None:
    assert (
        sgtin_urn_to_digital_link("urn:epc:id:sgtin:0614141.112345.ABC%2F1", "https://v.example/")
        == "https://v.example/01/10614141123459/21/ABC%2F1"
    )


def test_digital_link_converts_to_sgtin_urn_with_prefix_length_from_gs1_table() -> None:
    assert (
        digital_link_to_sgtin_urn("https://id.gs1.org/01/80614141123458/21/6789%2F%26%25%22%21")
        == "urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!"
    )


def test_digital_link_converts_to_sgtin_urn_with_the_given_prefix_length() -> None:
    assert (
        digital_link_to_sgtin_urn(
            "https://example.com/01/00614141123452/21/A%3Fb%3C%3E", company_prefix_length=9
        )
        == "urn:epc:id:sgtin:061414112.0345.A%3Fb%3C%3E"
    )


def test_digital_link_without_serial_has_no_sgtin_urn() -> None:
    with pytest.raises(InvalidDigitalLink, match="an SGTIN needs a GTIN \\(01\\) and a serial"):
        digital_link_to_sgtin_urn("https://id.gs1.org/01/00614141123452")


def test_prefix_length_outside_6_to_12_is_refused() -> None:
    with pytest.raises(InvalidDigitalLink, match="a company prefix length of 5 is not 6 to 12"):
        digital_link_to_sgtin_urn("https://id.gs1.org/01/00614141123452/21/1", 5)


@pytest.mark.parametrize(
    ("urn", "message"),
    [
        ("urn:epc:id:sgtin:0614141.12345.1", "'12345' must be 6 digit\\(s\\) after that prefix"),
        ("urn:epc:id:sgtin:0614141.112345", "has 2 dot-separated component\\(s\\), not 3"),
        ("urn:epc:id:sgtin:061.1123456789.1", "Company Prefix '061' is not 6 to 12 digits"),
        ("urn:epc:id:sgtin:0614141.112345.a%2", "has a '%' not followed by two hex digits"),
        ("urn:epc:id:sgtin:0614141.112345.a%23", "holds '#', which it may not"),
        ("urn:epc:id:sgtin:0614141.112345.", "the serial is empty"),
        ("urn:epc:id:usdod:CAGE.1", "the scheme id:usdod is not one Veritag reads"),
        ("urn:epc:idpat:sgtin:0614141.*.*", "item reference '\\*' must be 6 digit"),
        ("urn:epc:idpat:sgtin:0614141.112345.1", "a pattern must end in '\\.\\*'"),
        ("https://id.gs1.org/01/00614141123452", "does not start 'urn:epc:id:'"),
        ("urn:epc:id:cpi:0614141.ab.1", "holds 'a', which it may not"),
        ("urn:epc:id:cpi:0614141.AB.01", "serial '01' may not start with a zero"),
    ],
)
def test_malformed_urn_is_refused_saying_what_is_wrong(urn: str, message: str) -> None:
    with pytest.raises(InvalidEpcUrn, match=message) as caught:
        epc_urn_to_digital_link(urn)
    assert isinstance(caught.value, IdentifierError)
    assert caught.value.urn == urn


def test_sgtin_conversion_refuses_another_scheme() -> None:
    with pytest.raises(InvalidEpcUrn, match="is not an SGTIN URN"):
        sgtin_urn_to_digital_link("urn:epc:id:sscc:4012345.3111111111")


_URN_ESCAPES = {c: f"%{ord(c):02X}" for c in '"%&/<>?'}


@st.composite
def sgtin_parts(draw: st.DrawFn) -> tuple[str, str, str]:
    prefix_length = draw(st.integers(min_value=6, max_value=12))
    prefix = draw(st.text("0123456789", min_size=prefix_length, max_size=prefix_length))
    reference = draw(
        st.text("0123456789", min_size=13 - prefix_length, max_size=13 - prefix_length)
    )
    serial = draw(st.text(CSET_82, min_size=1, max_size=20))
    return prefix, reference, serial


@given(sgtin_parts())
def test_sgtin_urn_round_trips_through_the_digital_link(parts: tuple[str, str, str]) -> None:
    prefix, reference, serial = parts
    urn = f"urn:epc:id:sgtin:{prefix}.{reference}.{''.join(_URN_ESCAPES.get(c, c) for c in serial)}"
    link = sgtin_urn_to_digital_link(urn)
    payload = reference[0] + prefix + reference[1:]
    assert link.startswith(f"https://id.gs1.org/01/{payload}{check_digit(payload)}/21/")
    assert digital_link_to_sgtin_urn(link, company_prefix_length=len(prefix)) == urn
