"""EPC pure identity URNs (GS1 EPC Tag Data Standard 2.x) ↔ GS1 Digital Link.

``epc_urn_to_digital_link`` reads every GS1 scheme of the TDS (``urn:epc:id:sgtin``, sscc,
sgln, grai, giai, gsrn, gsrnp, gdti, sgcn, cpi, ginc, gsin, itip, upui, pgln), the class
URN ``urn:epc:class:lgtin`` and the ``urn:epc:idpat:…:*`` patterns, and writes the
constrained Digital Link EPCIS 2.0 uses (the key and the qualifiers the URN names).
``digital_link_to_sgtin_urn`` goes back for items (GTIN + serial).

A URN's component values escape the characters a URN may not hold (``"%&/<>?#``) as
``%XX`` (TDS §6.4); the Digital Link percent-encodes everything but RFC 3986's unreserved
characters, as ``build_digital_link`` does. The URN carries the length of the GS1 Company
Prefix (the first component); the Digital Link does not, so the way back needs it: given by
the caller (the brand's registered prefix) or looked up in GS1's prefix table via biip.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from biip import ParseError
from biip.gs1_prefixes import GS1CompanyPrefix

from ledger.errors import InvalidDigitalLink, InvalidEpcUrn, InvalidSerial
from ledger.identifiers.digital_link import parse_digital_link
from ledger.identifiers.keys import _CSET_82, check_digit, validate_serial

__all__ = [
    "InvalidEpcUrn",
    "digital_link_to_sgtin_urn",
    "epc_urn_to_digital_link",
    "sgtin_urn_to_digital_link",
]

DEFAULT_BASE_URL = "https://id.gs1.org"

_URN = re.compile(r"^urn:epc:(id|class|idpat):([a-z]+):(.*)$")
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# TDS §6.4: the characters of GS1's set 82 a URN cannot hold literally.
_URN_ESCAPED = {c: f"%{ord(c):02X}" for c in '"%&/<>?'}
# TDS: the characters a CPI component reference may hold (digits, capitals, "#-/").
_CPI_CHARACTERS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ#-/")


def epc_urn_to_digital_link(urn: str, base_url: str = DEFAULT_BASE_URL) -> str:
    """The Digital Link naming what ``urn`` names, under ``base_url``.

    Raises ``InvalidEpcUrn`` when the URN is malformed, its scheme is not a GS1 one, or a
    component has the wrong length, character or escape.
    """
    match = _URN.match(urn)
    if match is None:
        raise InvalidEpcUrn(
            urn, "does not start 'urn:epc:id:', 'urn:epc:class:' or 'urn:epc:idpat:'"
        )
    kind, scheme, body = match.groups()
    if kind == "idpat":
        if not body.endswith(".*"):
            raise InvalidEpcUrn(urn, "a pattern must end in '.*' (only whole-class patterns)")
        table, body = _PATTERNS, body.removesuffix(".*")
    else:
        table = _CLASSES if kind == "class" else _IDENTITIES
    convert = table.get(scheme)
    if convert is None:
        raise InvalidEpcUrn(urn, f"the scheme {kind}:{scheme} is not one Veritag reads")
    reader = _Components(urn, body)
    elements = convert(reader)
    path = "/".join(f"{ai}/{quote(value, safe='')}" for ai, value in elements if value)
    return f"{base_url.removesuffix('/')}/{path}"


def sgtin_urn_to_digital_link(urn: str, base_url: str = DEFAULT_BASE_URL) -> str:
    """The item's Digital Link ``{base_url}/01/{gtin14}/21/{serial}`` for an SGTIN URN.

    Raises ``InvalidEpcUrn`` for anything but a well-formed ``urn:epc:id:sgtin:`` URN.
    """
    if not urn.startswith("urn:epc:id:sgtin:"):
        raise InvalidEpcUrn(urn, "is not an SGTIN URN ('urn:epc:id:sgtin:…')")
    return epc_urn_to_digital_link(urn, base_url)


def digital_link_to_sgtin_urn(uri: str, company_prefix_length: int | None = None) -> str:
    """The SGTIN URN of the item a Digital Link names (a GTIN with a serial).

    ``company_prefix_length`` is the length of the GTIN's GS1 Company Prefix (the brand's
    registered prefix); without it GS1's prefix table (via biip) decides. Raises
    ``InvalidDigitalLink`` when the link names no item or the prefix length is unknown.
    """
    link = parse_digital_link(uri)
    if link.gtin is None or link.serial is None:
        raise InvalidDigitalLink(uri, "an SGTIN needs a GTIN (01) and a serial (21)")
    gtin = link.gtin
    length = company_prefix_length or _company_prefix_length(gtin)
    if length is None:
        raise InvalidDigitalLink(
            uri,
            f"GS1's prefix table has no company prefix for GTIN {gtin}; give the company "
            "prefix length",
        )
    if not 6 <= length <= 12:
        raise InvalidDigitalLink(uri, f"a company prefix length of {length} is not 6 to 12")
    prefix = gtin[1 : 1 + length]
    item_reference = gtin[0] + gtin[1 + length : 13]
    serial = "".join(_URN_ESCAPED.get(c, c) for c in link.serial)
    return f"urn:epc:id:sgtin:{prefix}.{item_reference}.{serial}"


def _company_prefix_length(gtin14: str) -> int | None:
    try:
        found = GS1CompanyPrefix.extract(gtin14[1:])
    except ParseError:
        return None
    return len(found.value) if found is not None else None


class _Components:
    """The dot-separated components of a URN body, checked as each scheme reads them.

    ``expect`` splits the body; the last component (a serial) may itself hold dots.
    """

    def __init__(self, urn: str, body: str) -> None:
        self.urn = urn
        self.body = body
        self.parts: list[str] = []

    def fail(self, reason: str) -> InvalidEpcUrn:
        return InvalidEpcUrn(self.urn, reason)

    def expect(self, count: int) -> list[str]:
        self.parts = self.body.split(".", count - 1)
        if len(self.parts) != count:
            raise self.fail(f"has {len(self.parts)} dot-separated component(s), not {count}")
        return self.parts

    def prefix(self) -> str:
        prefix = self.parts[0] if self.parts else ""
        if not (6 <= len(prefix) <= 12 and prefix.isdigit() and prefix.isascii()):
            raise self.fail(f"the GS1 Company Prefix {prefix!r} is not 6 to 12 digits")
        return prefix

    def digits(self, index: int, total: int, what: str) -> str:
        """Component ``index``: digits making the prefix up to ``total`` digits."""
        value = self.parts[index]
        wanted = total - len(self.parts[0])
        if len(value) != wanted or not (value.isdigit() or value == "") or not value.isascii():
            raise self.fail(f"the {what} {value!r} must be {wanted} digit(s) after that prefix")
        return value

    def text(self, index: int, what: str, allowed: frozenset[str] = _CSET_82) -> str:
        """Component ``index`` with its URN escapes decoded."""
        raw = self.parts[index]
        if _ESCAPE.search(raw):
            raise self.fail(f"the {what} {raw!r} has a '%' not followed by two hex digits")
        value = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), raw)
        if not value:
            raise self.fail(f"the {what} is empty")
        if bad := next((c for c in value if c not in allowed), None):
            raise self.fail(f"the {what} {raw!r} holds {bad!r}, which it may not")
        return value

    def serial(self, index: int) -> str:
        """Component ``index`` as a serial (GS1 AI 21): at most 20 characters of set 82."""
        try:
            return validate_serial(self.text(index, "serial"))
        except InvalidSerial as error:
            raise self.fail(f"the serial {error.reason}") from None

    def number(self, index: int, what: str, maximum_length: int) -> str:
        value = self.parts[index]
        if not (value.isdigit() and value.isascii() and len(value) <= maximum_length):
            raise self.fail(f"the {what} {value!r} must be 1 to {maximum_length} digits")
        if len(value) > 1 and value.startswith("0"):
            raise self.fail(f"the {what} {value!r} may not start with a zero")
        return value


_Elements = list[tuple[str, str]]
_Converter = Callable[[_Components], _Elements]


def _with_check_digit(payload: str) -> str:
    return payload + str(check_digit(payload))


def _gtin(c: _Components) -> str:
    """GTIN-14 from the prefix and the indicator digit + item reference (components 0, 1)."""
    prefix = c.prefix()
    reference = c.digits(1, 13, "indicator and item reference")
    if not reference:
        raise c.fail("the indicator and item reference is empty")
    return _with_check_digit(reference[0] + prefix + reference[1:])


def _sgtin(c: _Components) -> _Elements:
    c.expect(3)
    gtin = _gtin(c)
    return [("01", gtin), ("21", c.serial(2))]


def _sscc(c: _Components) -> _Elements:
    c.expect(2)
    prefix = c.prefix()
    reference = c.digits(1, 17, "extension and serial reference")
    return [("00", _with_check_digit(reference[0] + prefix + reference[1:]))]


def _gln(c: _Components) -> str:
    return _with_check_digit(c.prefix() + c.digits(1, 12, "location reference"))


def _sgln(c: _Components) -> _Elements:
    c.expect(3)
    extension = c.text(2, "extension")
    # TDS: the extension "0" means the GLN alone, with no AI (254).
    return [("414", _gln(c)), ("254", "" if extension == "0" else extension)]


def _pgln(c: _Components) -> _Elements:
    c.expect(2)
    return [("417", _gln(c))]


def _grai_key(c: _Components) -> str:
    return "0" + _with_check_digit(c.prefix() + c.digits(1, 12, "asset type"))


def _grai(c: _Components) -> _Elements:
    c.expect(3)
    return [("8003", _grai_key(c) + c.text(2, "serial"))]


def _document(ai: str, what: str) -> _Converter:
    def convert(c: _Components) -> _Elements:
        c.expect(3)
        key = _with_check_digit(c.prefix() + c.digits(1, 12, what))
        serial = c.number(2, "serial", 12) if ai == "255" else c.text(2, "serial")
        return [(ai, key + serial)]

    return convert


def _giai(c: _Components) -> _Elements:
    c.expect(2)
    return [("8004", c.prefix() + c.text(1, "individual asset reference"))]


def _ginc(c: _Components) -> _Elements:
    c.expect(2)
    return [("401", c.prefix() + c.text(1, "consignment reference"))]


def _service(ai: str) -> _Converter:
    def convert(c: _Components) -> _Elements:
        c.expect(2)
        return [(ai, _with_check_digit(c.prefix() + c.digits(1, 17, "service reference")))]

    return convert


def _gsin(c: _Components) -> _Elements:
    c.expect(2)
    return [("402", _with_check_digit(c.prefix() + c.digits(1, 16, "shipper reference")))]


def _cpi_key(c: _Components) -> str:
    return c.prefix() + c.text(1, "component/part reference", _CPI_CHARACTERS)


def _cpi(c: _Components) -> _Elements:
    c.expect(3)
    return [("8010", _cpi_key(c)), ("8011", c.number(2, "serial", 12))]


def _itip_key(c: _Components) -> str:
    gtin = _gtin(c)
    piece, total = c.parts[2], c.parts[3]
    for what, value in (("piece", piece), ("total", total)):
        if not (len(value) == 2 and value.isdigit() and value.isascii()):
            raise c.fail(f"the {what} {value!r} must be two digits")
    return gtin + piece + total


def _itip(c: _Components) -> _Elements:
    c.expect(5)
    return [("8006", _itip_key(c)), ("21", c.serial(4))]


def _upui(c: _Components) -> _Elements:
    c.expect(3)
    return [("01", _gtin(c)), ("235", c.text(2, "third-party controlled serial"))]


def _lgtin(c: _Components) -> _Elements:
    c.expect(3)
    return [("01", _gtin(c)), ("10", c.text(2, "lot"))]


def _gtin_pattern(c: _Components) -> _Elements:
    c.expect(2)
    return [("01", _gtin(c))]


def _key_pattern(ai: str, what: str) -> _Converter:
    def convert(c: _Components) -> _Elements:
        c.expect(2)
        return [(ai, _with_check_digit(c.prefix() + c.digits(1, 12, what)))]

    return convert


def _grai_pattern(c: _Components) -> _Elements:
    c.expect(2)
    return [("8003", _grai_key(c))]


def _cpi_pattern(c: _Components) -> _Elements:
    c.expect(2)
    return [("8010", _cpi_key(c))]


def _itip_pattern(c: _Components) -> _Elements:
    c.expect(4)
    return [("8006", _itip_key(c))]


_IDENTITIES: dict[str, _Converter] = {
    "sgtin": _sgtin,
    "sscc": _sscc,
    "sgln": _sgln,
    "grai": _grai,
    "giai": _giai,
    "gsrn": _service("8018"),
    "gsrnp": _service("8017"),
    "gdti": _document("253", "document type"),
    "sgcn": _document("255", "coupon reference"),
    "cpi": _cpi,
    "ginc": _ginc,
    "gsin": _gsin,
    "itip": _itip,
    "upui": _upui,
    "pgln": _pgln,
}
_CLASSES: dict[str, _Converter] = {"lgtin": _lgtin}
_PATTERNS: dict[str, _Converter] = {
    "sgtin": _gtin_pattern,
    "upui": _gtin_pattern,
    "grai": _grai_pattern,
    "gdti": _key_pattern("253", "document type"),
    "sgcn": _key_pattern("255", "coupon reference"),
    "cpi": _cpi_pattern,
    "itip": _itip_pattern,
}
