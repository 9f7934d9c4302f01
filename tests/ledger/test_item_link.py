"""The fast reading of canonical item links agrees with the full Digital Link parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import IdentifierError
from ledger.identifiers import check_digit, parse_digital_link
from ledger.identifiers.item_link import gtin_and_serial

_hosts = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}(:[0-9]{1,5})?", fullmatch=True)
_serials = st.text(
    alphabet="ABCxyz019-._%/!'()*+,:;=", min_size=0, max_size=22
)  # some outside the fast alphabet, some too long, some empty
_payloads = st.text(alphabet="0123456789", min_size=13, max_size=13)


def _full(uri: str) -> tuple[str, str] | str:
    try:
        link = parse_digital_link(uri)
    except IdentifierError as error:
        return f"{type(error).__name__}: {error}"
    if link.gtin is None or link.serial is None:
        return "no item"
    return link.gtin, link.serial


def _fast(uri: str) -> tuple[str, str] | str:
    try:
        return gtin_and_serial(uri)
    except IdentifierError as error:
        if "needs a GTIN (01) and a serial (21)" in str(error):
            return "no item"
        return f"{type(error).__name__}: {error}"


@given(
    scheme=st.sampled_from(["https", "http", "HTTPS", "Https"]),
    host=_hosts,
    payload=_payloads,
    good_check_digit=st.booleans(),
    serial=_serials,
)
def test_the_fast_path_gives_the_full_parsers_answer_or_error(
    scheme: str, host: str, payload: str, good_check_digit: bool, serial: str
) -> None:
    digit = check_digit(payload) if good_check_digit else (check_digit(payload) + 1) % 10
    uri = f"{scheme}://{host}/01/{payload}{digit}/21/{serial}"
    assert _fast(uri) == _full(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "https://id.gs1.org/01/09506000134352/21/ABC-1.2_3",
        "https://example.com/resolver/01/09506000134352/21/X?17=250101",
        "https://id.gs1.org/01/09506000134352/21/A%2FB",
        "https://id.gs1.org/01/09506000134352",
    ],
)
def test_links_off_the_fast_path_are_read_by_the_full_parser(uri: str) -> None:
    assert _fast(uri) == _full(uri)
