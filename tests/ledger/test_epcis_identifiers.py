"""EPC URNs and Digital Links in any form → canonical Digital Link (``epc-urn-to-dl-cases``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledger.epcis.identifiers import canonical_digital_link, epc_item
from ledger.errors import IdentifierError, InvalidDigitalLink
from tests.conftest import conformance_dir

CASES = conformance_dir() / "epc-urn-to-dl-cases.json"


def _cases(*, expected: bool) -> list[Any]:
    if not CASES.exists():
        return []
    cases = json.loads(CASES.read_text(encoding="utf-8"))["cases"]
    chosen = [c for c in cases if (c["expected_canonical_dl"] is not None) is expected]
    return [pytest.param(c, id=f"line{c['source_line']}-{c['input'][:40]}") for c in chosen]


def test_the_conformance_file_holds_the_cases_we_count_on() -> None:
    if not CASES.exists():
        pytest.skip(f"conformance file absent: {CASES} (see the conformance README)")
    assert (len(_cases(expected=True)), len(_cases(expected=False))) == (62, 8)


@pytest.mark.parametrize("case", _cases(expected=True))
def test_every_identifier_with_a_canonical_link_converts_to_it(case: dict[str, Any]) -> None:
    assert canonical_digital_link(case["input"]) == case["expected_canonical_dl"]


@pytest.mark.parametrize("case", _cases(expected=False))
def test_identifiers_naming_no_gs1_key_are_refused(case: dict[str, Any]) -> None:
    with pytest.raises(IdentifierError):
        canonical_digital_link(case["input"])


def test_an_item_is_read_from_a_link_under_any_domain_with_short_names() -> None:
    assert epc_item("https://ean-13.de/gtin/4012345123456/ser/ABC524", missing="-") == (
        "04012345123456",
        "ABC524",
    )
    assert epc_item("urn:epc:id:sgtin:4012345.011111.98%22", missing="-") == (
        "04012345111118",
        '98"',
    )


def test_a_link_naming_a_product_not_an_item_says_so() -> None:
    with pytest.raises(InvalidDigitalLink, match="names a product, not an item"):
        epc_item("https://id.gs1.org/01/09780345418913", missing="names a product, not an item")
