"""The GTIN and serial an item's Digital Link names, fast for the canonical form on labels.

A listing check parses a thousand links per request. Canonical links
(``http(s)://host[:port]/01/<GTIN-14>/21/<serial>``, serial of letters, digits, ``-``, ``.``
and ``_``) are read with one regular expression; anything else, and any link whose GTIN
or serial is invalid, goes through :func:`parse_digital_link`, so the answer and the error
are always the full parser's (a property test holds the two to that).
"""

from __future__ import annotations

import re

from ledger.errors import IdentifierError, InvalidDigitalLink
from ledger.identifiers.digital_link import parse_digital_link
from ledger.identifiers.keys import GTIN, Serial, validate_gtin, validate_serial

__all__ = ["gtin_and_serial"]

_CANONICAL = re.compile(
    r"(?:https?|HTTPS?)://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/01/([0-9]{14})/21/([A-Za-z0-9._-]{1,20})"
)


def gtin_and_serial(
    uri: str, *, missing: str = "an item's link needs a GTIN (01) and a serial (21)"
) -> tuple[GTIN, Serial]:
    """The item a Digital Link names; ``InvalidDigitalLink`` (or an identifier error) if
    it is malformed, or with ``missing`` as the reason if it names no GTIN and serial."""
    match = _CANONICAL.fullmatch(uri)
    if match is not None:
        try:
            return validate_gtin(match.group(1)), validate_serial(match.group(2))
        except IdentifierError:
            pass  # the full parser words the error
    link = parse_digital_link(uri)
    if link.gtin is None or link.serial is None:
        raise InvalidDigitalLink(uri, missing)
    return link.gtin, link.serial
