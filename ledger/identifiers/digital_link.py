"""GS1 Digital Link URIs: parse what a QR code holds, build what a label prints.

``parse_digital_link`` follows GS1's reference parser (``gs1_parseDLuri`` in
gs1-syntax-engine's ``dl.c``) with its default settings:

- the whole URI uses only URI characters; the scheme is ``http``/``https`` in one case
  (``HtTp://`` is refused); the host is not empty and holds none of ``_~?#@!$&'()*+,;=%``;
- the primary key is the rightmost ``/AI/value`` pair, found by walking the path backwards
  in pairs; everything before it is the ``base_url`` (a custom stem is fine), so a trailing
  slash, an empty segment or a segment that is not an AI where one is due leaves no key;
- the AIs after the key are key qualifiers in the order GS1 declares (for a GTIN:
  ``22, 10, 21`` or ``235``); nothing else goes in the path;
- query parameters with a numeric name are AIs and must be known; a query AI that could
  stand in the path as a key qualifier, one that repeats an AI, or one GS1 does not permit
  as a data attribute is refused; other parameters (``linkType``…) and the fragment are
  ignored; ``+`` is a space in the query and a plus sign in the path;
- every AI value is percent-decoded, must not be empty or hold a NUL, and must fit the AI's
  format (length, character set, dates) and check digit;
- a GTIN is exactly 14 digits: zero-suppressed GTIN-8/12/13 and convenience alphas such as
  ``/gtin/`` are refused unless the caller opts in, as the reference does.

biip does the per-AI work: its AI table (``GS1ElementString.parse``) checks each value's
length, character set and dates. What that table does not carry — which AIs are Digital
Link primary keys and their qualifier sequences, which may be data attributes, which carry
a mod-10 check digit — is written out below from GS1's syntax dictionary (the tests check
both against the dictionary). Beyond biip we also refuse a ``%`` that is not followed by
two hex digits (the reference keeps it as a literal ``%``; RFC 3986 does not allow it).
Not checked (the reference does): the dictionary's other linters (country and currency
codes, the GMN check character pair…) and its required/excluded AI pairings.

Positions in errors are 1-based characters of the URI as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from string import ascii_letters, digits
from urllib.parse import quote

from biip import ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_element_strings import GS1ElementString

from ledger.errors import InvalidDigitalLink
from ledger.identifiers.keys import (
    _CSET_82,
    GTIN,
    ItemId,
    Serial,
    check_digit,
    item_id,
    validate_gtin,
    validate_serial,
)

__all__ = ["DigitalLink", "build_digital_link", "parse_digital_link"]

_URI_CHARACTERS = frozenset(ascii_letters + digits + "-._~:/?#[]@!$&'()*+,;=%")
_BAD_HOST_CHARACTERS = frozenset("_~?#@!$&'()*+,;=%")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset(digits)
_SCHEMES = ("https://", "HTTPS://", "http://", "HTTP://")

# From gs1-syntax-dictionary.txt: the AIs with a "dlpkey" attribute, each with its
# alternative sequences of optional, ordered key qualifiers ("dlpkey=22,10,21|235").
_KEY_QUALIFIERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "00": (),
    "01": (("22", "10", "21"), ("235",)),
    "253": (),
    "255": (),
    "401": (),
    "402": (),
    "414": (("254",), ("7040",)),
    "415": (("8020",),),
    "417": (("7040",),),
    "8003": (),
    "8004": (("7040",),),
    "8006": (("22", "10", "21"),),
    "8010": (("8011",),),
    "8013": (),
    "8017": (("8019",),),
    "8018": (("8019",),),
}
# From gs1-syntax-dictionary.txt: the AIs without the "?" flag, which may not be Digital
# Link data attributes (query parameters). Every other known AI may.
_NOT_DATA_ATTRIBUTES = frozenset(
    {"03", "21", "22", "235", "254", "7040", "7041", "8011", "8014", "8019", "8020"}
    | {"8040", "8041", "8042", "8043", "8200"}
)
# From gs1-syntax-dictionary.txt: AI -> (offset, length) of the value's component that
# ends in a GS1 mod-10 check digit (linter "csum").
_CHECK_DIGITS: dict[str, tuple[int, int]] = {
    "00": (0, 18),
    "01": (0, 14),
    "02": (0, 14),
    "03": (0, 14),
    "253": (0, 13),
    "255": (0, 13),
    "402": (0, 17),
    **dict.fromkeys(("410", "411", "412", "413", "414", "415", "416", "417"), (0, 13)),
    "8003": (1, 13),
    "8006": (0, 14),
    "8017": (0, 18),
    "8018": (0, 18),
    "8026": (0, 14),
}
# From dl.c: the deprecated convenience alphas, accepted only on request.
_CONVENIENCE_ALPHAS = {
    "cpid": "8010",
    "cpsn": "8011",
    "cpv": "22",
    "gcn": "255",
    "gdti": "253",
    "giai": "8004",
    "ginc": "401",
    "gln": "414",
    "glnx": "254",
    "gmn": "8013",
    "grai": "8003",
    "gsin": "402",
    "gsrn": "8018",
    "gsrnp": "8017",
    "gtin": "01",
    "itip": "8006",
    "lot": "10",
    "party": "417",
    "refno": "8020",
    "ser": "21",
    "srin": "8019",
    "sscc": "00",
}
_ZERO_SUPPRESSED_GTIN_LENGTHS = (8, 12, 13)
_AI_PREFIX = re.compile(r"^N[234]\+")
_SINGLE_COMPONENT = re.compile(r"^([NXYZ])(\.\.)?(\d+)$")


@dataclass(frozen=True, slots=True)
class DigitalLink:
    """A parsed GS1 Digital Link URI.

    ``ais`` holds every AI in the link (primary key, key qualifiers, then query data
    attributes) as numeric AI code -> decoded value. ``gtin`` is AI (01) wherever it
    stands (14 digits); ``serial`` is AI (21) when it qualifies a GTIN primary key. Links
    whose primary key is not a GTIN (SSCC, GLN…) parse with ``gtin``/``serial`` as found,
    usually ``None``; only a GTIN with a serial names one item (``item_id``).
    """

    uri: str = field(compare=False)
    """The URI as given."""
    base_url: str
    """Scheme, host and any path before the primary key, e.g. ``https://id.gs1.org``."""
    primary_key: str
    """The AI of the primary key, e.g. ``01`` (GTIN), ``00`` (SSCC), ``414`` (GLN)."""
    gtin: GTIN | None
    serial: Serial | None
    ais: dict[str, str] = field(hash=False)

    def item_id(self) -> ItemId:
        """The registry key of the item this link names (``ledger.identifiers.item_id``).

        Raises ``InvalidDigitalLink`` when the link names no single item: no GTIN, or a
        GTIN without a serial (a product, lot or variant, not one item).
        """
        if self.gtin is None:
            raise InvalidDigitalLink(
                self.uri,
                f"names no GTIN (its primary key is AI ({self.primary_key})); only a GTIN"
                " with a serial, /01/<GTIN>/21/<serial>, names a registered item",
            )
        if self.serial is None:
            raise InvalidDigitalLink(
                self.uri,
                "names a product, not one item: it has no serial; add /21/<serial> after the GTIN",
            )
        return item_id(self.gtin, self.serial)


def build_digital_link(gtin: str, serial: str, base_url: str = "https://id.gs1.org") -> str:
    """The canonical Digital Link of one item: ``{base_url}/01/{gtin14}/21/{serial}``.

    The GTIN is written with 14 digits; the serial is percent-encoded as GS1's reference
    encoder does it: RFC 3986 unreserved characters (letters, digits, ``-._~``) stay,
    every other character becomes ``%XX`` (``/`` -> ``%2F``, ``+`` -> ``%2B``). One
    trailing slash of ``base_url`` is dropped.

    Raises ``InvalidGTIN`` or ``InvalidSerial`` for a bad GTIN or serial, and
    ``InvalidDigitalLink`` for a ``base_url`` that ``parse_digital_link`` would not accept
    as the part before the primary key.
    """
    gtin14 = validate_gtin(gtin)
    encoded = quote(validate_serial(serial), safe="")
    _check_base_url(base_url)
    return f"{base_url.removesuffix('/')}/01/{gtin14}/21/{encoded}"


def parse_digital_link(
    uri: str,
    *,
    permit_zero_suppressed_gtin: bool = False,
    permit_convenience_alphas: bool = False,
) -> DigitalLink:
    """Parse a GS1 Digital Link URI the way GS1's reference parser does by default.

    ``permit_zero_suppressed_gtin`` accepts a GTIN-8, -12 or -13 as AI (01), in the path
    or the query, and pads it to 14 digits (the reference's
    ``permitZeroSuppressedGTINinDLuris``); ``permit_convenience_alphas`` accepts the
    deprecated path names such as ``/gtin/`` and ``/ser/`` (``permitConvenienceAlphas``).

    Raises ``InvalidDigitalLink`` saying what is wrong and at which character.
    """
    return _Parser(uri, permit_zero_suppressed_gtin, permit_convenience_alphas).parse()


@dataclass(frozen=True, slots=True)
class _Element:
    ai: str
    value: str
    position: int  # 1-based position of the AI (path) or parameter (query) in the URI


class _Parser:
    """One parse of one URI; keeps the URI so that every error can name it."""

    def __init__(self, uri: str, zero_suppressed: bool, alphas: bool) -> None:
        self.uri = uri
        self.zero_suppressed = zero_suppressed
        self.alphas = alphas

    def fail(self, reason: str, position: int | None = None) -> InvalidDigitalLink:
        return InvalidDigitalLink(self.uri, reason, position)

    def parse(self) -> DigitalLink:
        path_start = self._check_scheme_and_host()
        end = _find(self.uri, "#", path_start)
        query_start = _find(self.uri, "?", path_start, end)
        key_index, segments = self._find_primary_key(path_start, query_start)
        path = self._path_elements(segments[key_index:])
        self._check_key_qualifiers(path)
        query = self._query_elements(query_start + 1, end) if query_start < end else []
        self._check_data_attributes(path, query)
        ais = {element.ai: element.value for element in (*path, *query)}
        key = path[0].ai
        gtin = validate_gtin(ais["01"]) if "01" in ais else None
        serial = validate_serial(ais["21"]) if key == "01" and "21" in ais else None
        base_url = self.uri[: segments[key_index][0] - 2]
        return DigitalLink(self.uri, base_url, key, gtin, serial, ais)

    def _check_scheme_and_host(self) -> int:
        """Check characters, scheme and host; the 0-based index of the path's first '/'."""
        uri = self.uri
        if not uri:
            raise self.fail("is empty; expected e.g. https://id.gs1.org/01/<GTIN-14>")
        for index, char in enumerate(uri):
            if char not in _URI_CHARACTERS:
                raise self.fail(f"contains {char!r}, which a URI cannot hold unencoded", index + 1)
        scheme = next((s for s in _SCHEMES if uri.startswith(s)), None)
        if scheme is None:
            if uri.lower().startswith(_SCHEMES):
                raise self.fail(
                    f"scheme {uri.split(':', 1)[0]!r} mixes cases; write http(s) or HTTP(S)", 1
                )
            raise self.fail("is not an http:// or https:// URI", 1)
        slash = _find(uri, "/", len(scheme))
        if slash == len(scheme):
            raise self.fail("has no host", slash + 1)
        if slash == len(uri):
            raise self.fail("has no path; expected e.g. /01/<GTIN-14> after the host")
        for index in range(len(scheme), slash):
            if uri[index] in _BAD_HOST_CHARACTERS:
                raise self.fail(f"host contains {uri[index]!r}", index + 1)
        return slash

    def _ai_of_segment(self, segment: str) -> str | None:
        """The AI a path segment names (numeric, or a convenience alpha if permitted)."""
        if self.alphas and 3 <= len(segment) <= 5 and segment[0] not in _DIGITS:
            alpha = _CONVENIENCE_ALPHAS.get(segment)
            if alpha is not None:
                return alpha
        return segment if _is_known_ai(segment) else None

    def _find_primary_key(
        self, path_start: int, path_end: int
    ) -> tuple[int, list[tuple[int, str]]]:
        """Walk the path backwards in (AI, value) pairs to the rightmost primary key.

        Returns the key's index among the path segments and the segments as (1-based
        position, text).
        """
        path = self.uri[path_start:path_end]
        segments: list[tuple[int, str]] = []
        position = path_start + 2
        for text in path[1:].split("/"):
            segments.append((position, text))
            position += len(text) + 1
        index = len(segments) - 2
        while index >= 0:
            ai = self._ai_of_segment(segments[index][1])
            if ai is None:
                break
            if ai in _KEY_QUALIFIERS:
                return index, segments
            index -= 2
        raise self._no_primary_key(path, segments, index)

    def _no_primary_key(
        self, path: str, segments: list[tuple[int, str]], stop: int
    ) -> InvalidDigitalLink:
        """The most helpful error for a path in which the backward walk found no key."""
        if len(segments) > 1 and not segments[-1][1]:
            return self.fail(
                f"path {path!r} ends with '/'; a Digital Link has no trailing slash",
                segments[-1][0] - 1,
            )
        for position, text in segments[1:]:
            if not text:
                return self.fail(f"path {path!r} has an empty segment ('//')", position)
        for position, text in segments:
            if text.lower() in _CONVENIENCE_ALPHAS and not self.alphas:
                ai = _CONVENIENCE_ALPHAS[text.lower()]
                return self.fail(
                    f"path uses the convenience alpha {text!r}; write the numeric AI ({ai})",
                    position,
                )
        if stop < 0 and len(segments) > 1:
            position, text = segments[len(segments) % 2]  # the leftmost AI walked over
            return self.fail(
                f"path has no primary key before AI ({text}); it must follow one, e.g."
                f" /01/<GTIN-14>/{text}/…",
                position,
            )
        if stop >= 0:
            position, text = segments[stop]
            if 2 <= len(text) <= 4 and set(text) <= _DIGITS:
                return self.fail(
                    f"path segment {text!r} stands where an AI is due, but ({text}) is not a"
                    " known GS1 Application Identifier",
                    position,
                )
        return self.fail(
            f"path {path!r} holds no GS1 primary key as an /AI/value pair; expected e.g."
            " /01/<GTIN-14>",
            segments[0][0],
        )

    def _path_elements(self, segments: list[tuple[int, str]]) -> list[_Element]:
        elements = []
        for (position, text), (value_position, raw) in zip(
            segments[::2], segments[1::2], strict=True
        ):
            ai = self._ai_of_segment(text)
            assert ai is not None  # the backward walk looked at every AI segment
            value = self._decode(ai, raw, value_position, plus_is_space=False)
            elements.append(_Element(ai, value, position))
        return elements

    def _query_elements(self, start: int, end: int) -> list[_Element]:
        elements = []
        position = start + 1
        for parameter in self.uri[start:end].split("&"):
            here, position = position, position + len(parameter) + 1
            name, equals, raw = parameter.partition("=")
            if not equals or (name and not set(name) <= _DIGITS):
                continue  # a singleton or a non-AI parameter such as linkType: ignored
            if not _is_known_ai(name):
                shown = f"({name}) is not a known GS1 Application Identifier" if name else ""
                raise self.fail(
                    f"query parameter {parameter!r} has a numeric name, so it must be an AI,"
                    f" but {shown or 'its name is empty'}",
                    here,
                )
            value = self._decode(name, raw, here + len(name) + 1, plus_is_space=True)
            elements.append(_Element(name, value, here))
        return elements

    def _decode(self, ai: str, raw: str, position: int, *, plus_is_space: bool) -> str:
        """Percent-decode and check one AI value that starts at ``position``."""
        where = "query" if plus_is_space else "path"
        if not raw:
            raise self.fail(f"AI ({ai}) has an empty value in the {where}", position)
        chars: list[str] = []
        index = 0
        while index < len(raw):
            char = raw[index]
            if char == "%":
                escape = raw[index + 1 : index + 3]
                if len(escape) < 2 or not set(escape) <= _HEX_DIGITS:
                    raise self.fail(
                        f"AI ({ai}) value has '%' not followed by two hex digits"
                        " (write a literal '%' as %25)",
                        position + index,
                    )
                code = int(escape, 16)
                if code == 0:
                    raise self.fail(f"AI ({ai}) value holds a NUL (%00)", position + index)
                if code > 0x7F:
                    raise self.fail(
                        f"AI ({ai}) value holds %{escape}, a byte outside ASCII; GS1 character"
                        " set 82 is ASCII only",
                        position + index,
                    )
                chars.append(chr(code))
                index += 3
            else:
                chars.append(" " if char == "+" and plus_is_space else char)
                index += 1
        value = "".join(chars)
        if ai == "01" and self.zero_suppressed and len(value) in _ZERO_SUPPRESSED_GTIN_LENGTHS:
            value = value.zfill(14)
        self._check_value(ai, value, position, plus_is_space=plus_is_space)
        return value

    def _check_value(self, ai: str, value: str, position: int, *, plus_is_space: bool) -> None:
        """Check format (through biip) and check digit of one decoded AI value."""
        try:
            GS1ElementString.parse(ai + value)
        except ParseError as error:
            raise self.fail(
                _format_problem(ai, value, str(error), plus_is_space=plus_is_space), position
            ) from error
        if ai in _CHECK_DIGITS:
            offset, length = _CHECK_DIGITS[ai]
            key = value[offset : offset + length]
            expected = check_digit(key[:-1])
            if int(key[-1]) != expected:
                raise self.fail(
                    f"AI ({ai}) value {value!r} has check digit {key[-1]}, expected {expected}",
                    position,
                )

    def _check_key_qualifiers(self, path: list[_Element]) -> None:
        ais = [element.ai for element in path]
        valid = next(n for n in range(len(ais), 0, -1) if _is_key_sequence(ais[:n]))
        if valid == len(ais):
            return
        key, wrong = ais[0], path[valid]
        alternatives = _KEY_QUALIFIERS[key]
        if not alternatives:
            reason = f"AI ({key}) takes no key qualifiers in the path, got AI ({wrong.ai})"
        else:
            allowed = " or ".join(", ".join(sequence) for sequence in alternatives)
            reason = (
                f"AI ({wrong.ai}) cannot follow AI ({ais[valid - 1]}) in the path: after"
                f" AI ({key}) come the key qualifiers {allowed}, each optional, in that order"
            )
        if wrong.ai not in _NOT_DATA_ATTRIBUTES and wrong.ai not in _KEY_QUALIFIERS:
            reason += f"; a data attribute goes in the query string: ?{wrong.ai}=…"
        raise self.fail(reason, wrong.position)

    def _check_data_attributes(self, path: list[_Element], query: list[_Element]) -> None:
        path_ais = [element.ai for element in path]
        seen = {element.ai: element.position for element in path}
        for element in query:
            ai = element.ai
            if ai in seen:
                raise self.fail(
                    f"AI ({ai}) appears twice (first at character {seen[ai]})", element.position
                )
            seen[ai] = element.position
            for index in range(1, len(path_ais) + 1):
                if _is_key_sequence([*path_ais[:index], ai, *path_ais[index:]]):
                    raise self.fail(
                        f"AI ({ai}) is a key qualifier of AI ({path_ais[0]}): it belongs in the"
                        f" path (/{ai}/…), not in the query string",
                        element.position,
                    )
            if ai in _NOT_DATA_ATTRIBUTES:
                raise self.fail(
                    f"AI ({ai}) is not a permitted Digital Link data attribute", element.position
                )


def _find(text: str, char: str, start: int, end: int | None = None) -> int:
    """Index of ``char`` in ``text[start:end]``, or ``end`` (default: the length) if absent."""
    stop = len(text) if end is None else end
    index = text.find(char, start, stop)
    return stop if index == -1 else index


def _is_known_ai(code: str) -> bool:
    """Whether ``code`` is exactly an AI of biip's table (so ``999`` is not ``99``)."""
    if not code or not set(code) <= _DIGITS:
        return False
    try:
        return GS1ApplicationIdentifier.extract(code).ai == code
    except ParseError:
        return False


def _is_key_sequence(ais: list[str]) -> bool:
    """Whether the path's AIs are a primary key and an ordered choice of its qualifiers."""
    if not ais or ais[0] not in _KEY_QUALIFIERS:
        return False
    alternatives = _KEY_QUALIFIERS[ais[0]]
    qualifiers = ais[1:]
    if not qualifiers:
        return True
    for sequence in alternatives:
        remaining = iter(sequence)
        if all(ai in remaining for ai in qualifiers):
            return True
    return False


def _format_problem(ai: str, value: str, biip_error: str, *, plus_is_space: bool) -> str:
    """Say why biip refused ``value`` for ``ai``, from its AI table's format."""
    entry = GS1ApplicationIdentifier.extract(ai)
    spec = _AI_PREFIX.sub("", entry.format)
    shown = f"AI ({ai}) value {value!r}"
    for index, char in enumerate(value, start=1):
        if char not in _CSET_82:
            plus = char == " " and plus_is_space
            hint = " ('+' in a query string means a space: write %2B)" if plus else ""
            return (
                f"{shown} contains {char!r} at position {index}, outside GS1 character set 82{hint}"
            )
    single = _SINGLE_COMPONENT.match(spec)
    if single:
        kind, variable, size = single[1], single[2], int(single[3])
        if kind == "N" and not set(value) <= _DIGITS:
            char = next(c for c in value if c not in _DIGITS)
            return f"{shown} contains non-digit {char!r}; AI ({ai}) is numeric ({spec})"
        unit = "digits" if kind == "N" else "characters"
        if variable and len(value) > size:
            return f"{shown} has {len(value)} {unit}, AI ({ai}) takes at most {size} ({spec})"
        if not variable and len(value) != size:
            hint = ""
            if ai == "01" and len(value) in _ZERO_SUPPRESSED_GTIN_LENGTHS:
                hint = f"; write the GTIN with 14 digits: {value.zfill(14)}"
            return f"{shown} has {len(value)} {unit}, AI ({ai}) takes exactly {size}{hint}"
    if "date" in biip_error:
        return f"{shown} is not a valid date or time ({spec})"
    return f"{shown} does not fit the format of AI ({ai}): {spec}"


def _check_base_url(base: str) -> None:
    """Refuse a base URL that a Digital Link cannot start with."""
    scheme = next((s for s in _SCHEMES if base.startswith(s)), None)
    if scheme is None:
        raise InvalidDigitalLink(base, "base URL must start with http:// or https:// (one case)", 1)
    host_end = _find(base, "/", len(scheme))
    if host_end == len(scheme):
        raise InvalidDigitalLink(base, "base URL has no host", host_end + 1)
    for index, char in enumerate(base):
        bad_in_host = len(scheme) <= index < host_end and char in _BAD_HOST_CHARACTERS
        if char not in _URI_CHARACTERS or char in "?#" or bad_in_host:
            raise InvalidDigitalLink(base, f"base URL cannot hold {char!r}", index + 1)
