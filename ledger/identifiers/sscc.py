"""GS1 SSCC (AI 00): the 18-digit key of a logistic unit, and the container key on chain.

A case or pallet is a *container* in the registry. Its key mirrors ``item_id``::

    container_id = keccak256(utf8("00/" + sscc18))

so an item key (``"01/…"``) and a container key can never be the same string. Like GTINs
and serials, SSCCs never go on chain; the store keeps the SSCC behind each container id.
"""

from __future__ import annotations

from typing import NewType

from biip import ParseError
from biip.gs1_prefixes import GS1CompanyPrefix
from eth_utils.crypto import keccak

from ledger.errors import InvalidSSCC
from ledger.identifiers.keys import ItemId, check_digit

__all__ = [
    "SSCC",
    "container_id",
    "sscc_digital_link",
    "sscc_urn",
    "validate_sscc",
]

SSCC = NewType("SSCC", str)
"""A validated SSCC: exactly 18 ASCII digits, the last a correct GS1 check digit."""

_DIGITS = frozenset("0123456789")
_SSCC_LENGTH = 18
_ASCII_WHITESPACE = " \t\n\r\f\v"


def validate_sscc(value: str) -> SSCC:
    """Check an SSCC (18 digits with a GS1 mod-10 check digit) and return it.

    A leading ``(00)`` or ``00`` application identifier, as printed under a logistic
    label's barcode, is accepted and removed, as is surrounding ASCII whitespace.
    Raises ``InvalidSSCC`` naming the wrong character, length or check digit.
    """
    digits = value.strip(_ASCII_WHITESPACE)
    if digits.startswith("(00)"):
        digits = digits[4:]
    elif len(digits) == _SSCC_LENGTH + 2 and digits.startswith("00"):
        digits = digits[2:]
    for position, char in enumerate(digits, start=1):
        if char not in _DIGITS:
            raise InvalidSSCC(value, f"contains non-digit {char!r} at position {position}")
    if len(digits) != _SSCC_LENGTH:
        raise InvalidSSCC(value, f"must be {_SSCC_LENGTH} digits, got {len(digits)}")
    expected = check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise InvalidSSCC(value, f"check digit is {digits[-1]}, expected {expected}")
    return SSCC(digits)


def container_id(sscc: str) -> ItemId:
    """The registry key of the case or pallet with this SSCC: keccak256("00/" + sscc18).

    This is the only place the formula is computed. Raises ``InvalidSSCC`` first.
    """
    return ItemId(keccak(f"00/{validate_sscc(sscc)}".encode()))


def sscc_digital_link(sscc: str, base_url: str = "https://id.gs1.org") -> str:
    """The canonical GS1 Digital Link of a logistic unit: ``{base}/00/{sscc18}``."""
    return f"{base_url.rstrip('/')}/00/{validate_sscc(sscc)}"


def sscc_urn(sscc: str, company_prefix_length: int | None = None) -> str:
    """The EPC pure identity URN of an SSCC (GS1 EPC TDS §6.3.2).

    ``urn:epc:id:sscc:{CompanyPrefix}.{ExtensionDigit}{SerialReference}``: the company
    prefix (6 to 12 digits) then the extension digit and the serial reference (17 digits
    together with the prefix), the check digit dropped. ``company_prefix_length`` defaults
    to GS1's prefix table (via biip); raises ``InvalidSSCC`` when neither knows it.
    """
    digits = validate_sscc(sscc)
    length = company_prefix_length or _company_prefix_length(digits)
    if length is None:
        raise InvalidSSCC(
            sscc, "GS1's prefix table has no company prefix for it; give the prefix length"
        )
    if not 6 <= length <= 12:
        raise InvalidSSCC(sscc, f"a company prefix length of {length} is not 6 to 12")
    prefix = digits[1 : 1 + length]
    return f"urn:epc:id:sscc:{prefix}.{digits[0]}{digits[1 + length : 17]}"


def _company_prefix_length(sscc18: str) -> int | None:
    try:
        found = GS1CompanyPrefix.extract(sscc18[1:])
    except ParseError:
        return None
    return len(found.value) if found is not None else None
