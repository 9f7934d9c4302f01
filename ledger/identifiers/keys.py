"""GS1 identifiers (GTIN, serial, company prefix) and the canonical item key.

Everything that names a physical item goes through here: ``validate_gtin`` and
``validate_serial`` turn user input into canonical values, and ``item_id`` is the one
function that turns a (GTIN, serial) pair into the 32-byte key the registry stores.

Positions in error messages count characters from 1, in the value as it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NewType

from eth_utils.crypto import keccak  # = eth_utils.keccak, whose root lacks a typed re-export

from ledger.errors import (
    InvalidCompanyPrefix,
    InvalidGLN,
    InvalidGTIN,
    InvalidItemId,
    InvalidSerial,
)

__all__ = [
    "GTIN",
    "ItemId",
    "Serial",
    "check_digit",
    "gs1_company_prefix_candidates",
    "item_id",
    "parse_item_id",
    "validate_company_prefix",
    "validate_gln",
    "validate_gtin",
    "validate_serial",
]

GTIN = NewType("GTIN", str)
"""A validated GTIN in its 14-digit form (shorter GTINs left-padded with zeros)."""

Serial = NewType("Serial", str)
"""A validated GS1 AI (21) serial number."""

_DIGITS = frozenset("0123456789")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# GS1 General Specifications, figure 7.11-1: the 82 characters allowed in AI (21) and other
# "X" (CSET 82) fields of gs1-syntax-dictionary.txt. Deliberately no space and no '#'.
_CSET_82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
# Only ASCII whitespace is trimmed from a GTIN; a no-break space and the like is an error.
_ASCII_WHITESPACE = " \t\n\r\f\v"

_GTIN_LENGTHS = (8, 12, 13, 14)
_SERIAL_MAX_LENGTH = 20
_COMPANY_PREFIX_MIN, _COMPANY_PREFIX_MAX = 4, 12
_ITEM_ID_BYTES = 32


def _first_outside(value: str, allowed: frozenset[str], offset: int = 0) -> tuple[str, int] | None:
    """The first character of ``value`` not in ``allowed`` and its 1-based position."""
    if allowed.issuperset(value):  # the common case, without a Python-level loop
        return None
    for index, char in enumerate(value):
        if char not in allowed:
            return char, offset + index + 1
    return None


def check_digit(payload: str) -> int:
    """The GS1 mod-10 check digit of ``payload``, the key's digits without the check digit.

    Weights 3, 1, 3, … are applied from the rightmost digit, so the same function serves
    every GS1 key that carries a mod-10 check digit (GTIN, GLN, SSCC, GSIN, GRAI…).
    Only the ASCII digits 0-9 count as digits. Raises ``InvalidGTIN`` when the payload is
    empty or holds anything else.
    """
    if not payload:
        raise InvalidGTIN(payload, "is empty, there is nothing to compute a check digit over")
    if bad := _first_outside(payload, _DIGITS):
        char, position = bad
        raise InvalidGTIN(payload, f"contains non-digit {char!r} at position {position}")
    total = sum(
        int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(payload))
    )
    return (10 - total % 10) % 10


@lru_cache(maxsize=4096)  # a batch of a thousand codes names a handful of GTINs
def validate_gtin(value: str) -> GTIN:
    """Check a GTIN-8, -12, -13 or -14 and return its 14-digit form.

    Surrounding ASCII whitespace (as pasted from a spreadsheet) is ignored; it can never
    be part of a GTIN and the result is canonical either way. Anything else that is not
    an ASCII digit, including embedded spaces and non-ASCII digits, is rejected.

    Raises ``InvalidGTIN`` saying which character, which length or which check digit is
    wrong.
    """
    digits = value.strip(_ASCII_WHITESPACE)
    leading = len(value) - len(value.lstrip(_ASCII_WHITESPACE))
    if bad := _first_outside(digits, _DIGITS, offset=leading):
        char, position = bad
        raise InvalidGTIN(value, f"contains non-digit {char!r} at position {position}")
    if len(digits) not in _GTIN_LENGTHS:
        raise InvalidGTIN(value, f"must be 8, 12, 13 or 14 digits, got {len(digits)}")
    expected = check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise InvalidGTIN(value, f"check digit is {digits[-1]}, expected {expected}")
    return GTIN(digits.zfill(14))


def validate_gln(value: str) -> str:
    """Check a 13-digit GS1 Global Location Number (GLN) and return it."""
    if len(value) != 13 or _first_outside(value, _DIGITS):
        raise InvalidGLN(value, "must be exactly 13 ASCII digits")
    expected = check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise InvalidGLN(value, f"check digit is {value[-1]}, expected {expected}")
    return value


def validate_serial(value: str) -> Serial:
    """Check a GS1 AI (21) serial: 1 to 20 characters of GS1 character set 82.

    Nothing is trimmed: a serial is compared byte for byte, so it must arrive exactly.
    Raises ``InvalidSerial`` naming the offending character and its position, or the length.
    """
    if bad := _first_outside(value, _CSET_82):
        char, position = bad
        raise InvalidSerial(
            value, f"contains {char!r} at position {position}, outside GS1 character set 82"
        )
    if not value:
        raise InvalidSerial(value, f"is empty; a serial has 1 to {_SERIAL_MAX_LENGTH} characters")
    if len(value) > _SERIAL_MAX_LENGTH:
        raise InvalidSerial(
            value, f"has {len(value)} characters, at most {_SERIAL_MAX_LENGTH} are allowed"
        )
    return Serial(value)


@dataclass(frozen=True, slots=True)
class ItemId:
    """The 32-byte key of one item in the registry; see ``item_id`` for how it is made."""

    value: bytes

    def __post_init__(self) -> None:
        # Store plain bytes even when given a subclass such as web3's HexBytes.
        object.__setattr__(self, "value", bytes(self.value))
        if len(self.value) != _ITEM_ID_BYTES:
            raise InvalidItemId(
                "0x" + self.value.hex(),
                f"must be {_ITEM_ID_BYTES} bytes, got {len(self.value)}",
            )

    def hex(self) -> str:
        """``0x`` followed by 64 lowercase hex digits."""
        return "0x" + self.value.hex()

    def __bytes__(self) -> bytes:
        return self.value

    def __str__(self) -> str:
        return self.hex()

    def __repr__(self) -> str:
        return f"ItemId({self.hex()})"


def parse_item_id(value: str) -> ItemId:
    """Read an item id written as ``0x`` and 64 hex digits (either case).

    Raises ``InvalidItemId`` for a missing prefix, a wrong length or a non-hex character.
    """
    if not value.startswith("0x"):
        raise InvalidItemId(value, "must start with '0x'")
    hex_digits = value[2:]
    if bad := _first_outside(hex_digits, _HEX_DIGITS, offset=2):
        char, position = bad
        raise InvalidItemId(value, f"contains non-hex {char!r} at position {position}")
    if len(hex_digits) != 2 * _ITEM_ID_BYTES:
        raise InvalidItemId(
            value, f"must have {2 * _ITEM_ID_BYTES} hex digits after '0x', got {len(hex_digits)}"
        )
    return ItemId(bytes.fromhex(hex_digits))


def item_id(gtin: str, serial: str) -> ItemId:
    """The canonical key of the item with this GTIN and serial.

    ``item_id = keccak256(utf8("01/" + gtin14 + "/21/" + serial))`` where ``gtin14`` is
    the 14-digit form from ``validate_gtin`` (so a GTIN-13 and its zero-padded GTIN-14
    name the same item) and ``serial`` is exactly as validated by ``validate_serial``.
    Because ``gtin14`` has a fixed length the string splits back unambiguously, even when
    the serial contains '/'. This is the only place the formula is computed; the contract,
    the API and the CLI all take the key from here.

    Raises ``InvalidGTIN`` or ``InvalidSerial`` before hashing anything.
    """
    key = f"01/{validate_gtin(gtin)}/21/{validate_serial(serial)}"
    return ItemId(keccak(key.encode("utf-8")))


def validate_company_prefix(value: str) -> str:
    """Check a GS1 Company Prefix: 4 to 12 ASCII digits. Raises ``InvalidCompanyPrefix``."""
    if bad := _first_outside(value, _DIGITS):
        char, position = bad
        raise InvalidCompanyPrefix(value, f"contains non-digit {char!r} at position {position}")
    if not _COMPANY_PREFIX_MIN <= len(value) <= _COMPANY_PREFIX_MAX:
        raise InvalidCompanyPrefix(
            value,
            f"must be {_COMPANY_PREFIX_MIN} to {_COMPANY_PREFIX_MAX} digits, got {len(value)}",
        )
    return value


def gs1_company_prefix_candidates(gtin14: str) -> list[str]:
    """Every GS1 Company Prefix the GTIN could belong to, shortest first.

    The prefix starts after the indicator digit of the GTIN-14 (its second digit) and is
    4 to 12 digits long, so there are nine candidates; the brand whose registered prefix
    is among them owns the GTIN. Any GTIN length is accepted and normalised first. A
    GTIN-8 has no company prefix (GTIN-8s are allocated one by one), so its candidates,
    zeros followed by its own digits, are not expected to match a registered prefix.

    Raises ``InvalidGTIN`` if ``gtin14`` is not a valid GTIN.
    """
    digits = validate_gtin(gtin14)
    return [
        digits[1 : 1 + length] for length in range(_COMPANY_PREFIX_MIN, _COMPANY_PREFIX_MAX + 1)
    ]
