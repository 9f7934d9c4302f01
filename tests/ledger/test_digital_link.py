"""ledger.identifiers: GS1 Digital Link URIs, parsed as GS1's reference parser does, and built.

Layers: conformance (``digital-link-cases.json``: GS1's reference cases must all agree; other
libraries' cases run where they do not contradict the reference) → the AI table cross-check
(biip's table and the module's Digital Link tables against GS1's syntax dictionary) →
examples (error messages, canonical output) → hypothesis (build → parse round trip).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NotRequired, TypedDict

import pytest
from biip.gs1_application_identifiers import _GS1_APPLICATION_IDENTIFIERS
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import IdentifierError, InvalidDigitalLink, InvalidGTIN, InvalidSerial
from ledger.identifiers import (
    GTIN,
    DigitalLink,
    Serial,
    build_digital_link,
    check_digit,
    item_id,
    parse_digital_link,
)
from ledger.identifiers import digital_link as dl_module
from tests.conftest import conformance_dir

# GS1 General Specifications, figure 7.11-1, written out independently of the module.
CSET_82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

CASES_FILE = "digital-link-cases.json"
DICTIONARY_FILE = "gs1-gs1-syntax-engine/gs1-syntax-dictionary.txt"
REFERENCE_SOURCE = "gs1/gs1-syntax-engine"


def _missing(name: str) -> str:
    return (
        f"conformance file {conformance_dir() / name} not found; set VERITAG_CONFORMANCE_DIR"
        " to the folder holding the shared GS1 conformance material"
    )


# ───────────── conformance: digital-link-cases.json ─────────────


class DigitalLinkCase(TypedDict):
    uri: str
    valid: bool | None  # None: the source parses it without asserting a verdict
    gtin: str | None
    serial: str | None
    source: str
    source_line: int
    options: NotRequired[dict[str, bool]]
    expected_ais: NotRequired[dict[str, str]]
    expected_element_string: NotRequired[str]
    element_string_format: NotRequired[str]
    note: NotRequired[str]


OPTIONS = {
    "permitZeroSuppressedGTINinDLuris": "permit_zero_suppressed_gtin",
    "permitConvenienceAlphas": "permit_convenience_alphas",
}
"""The reference parser's leniencies that parse_digital_link implements, by keyword."""

ZERO_SUPPRESSED = {"permit_zero_suppressed_gtin": True}
BOTH_OPTIONS = {"permit_zero_suppressed_gtin": True, "permit_convenience_alphas": True}

LENIENT_BY_DEFAULT: dict[tuple[str, int], dict[str, bool]] = {
    **{
        ("test_gs1_digital_link_uris.py", line): ZERO_SUPPRESSED
        for line in (44, 354, 411, 416, 462)
    },
    **{("index.js", line): ZERO_SUPPRESSED for line in (173, 181, 190, 199, 221, 266, 289, 312)},
    ("README.md", 126): BOTH_OPTIONS,
}
"""Other libraries' cases that rely, without saying so, on a leniency we offer as an option.

biip and digital-link.js pad a zero-suppressed GTIN-8/12/13 by default; the GS1 toolkit's
README example also uses convenience alphas (/gtin/, /lot/). GS1's reference parser refuses
both by default (reference cases dl.c:1454, 1464, 1474 and 1435), so these cases run with
the matching options of parse_digital_link.
"""

CONFLICTS = {
    ("index.js", 611): "evrythng/digital-link.js is more lenient than GS1's reference parser:"
    " it decompresses compressed Digital Link URIs (/ARHKVAdpQg); dl.c has no decompression"
    " and finds no primary key in the path",
    ("index.js", 678): "evrythng/digital-link.js is more lenient than GS1's reference parser:"
    " it accepts a trailing slash after the last value, which dl.c refuses (dl.c:1531)",
    ("index.js", 783): "evrythng/digital-link.js is stricter than GS1's reference parser: it"
    " wants a check digit in a GIAI (8004), whose format in the GS1 syntax dictionary is"
    " X..30 without one",
    ("index.js", 785): "evrythng/digital-link.js is stricter than GS1's reference parser: it"
    " wants a check digit in a GIAI (8004), whose format in the GS1 syntax dictionary is"
    " X..30 without one",
}
"""Other libraries' cases whose verdict contradicts GS1's reference parser."""


def _load_cases() -> list[DigitalLinkCase] | None:
    path = conformance_dir() / CASES_FILE
    if not path.is_file():
        return None
    cases: list[DigitalLinkCase] = json.loads(path.read_text(encoding="utf-8"))
    return cases


def _case_key(case: DigitalLinkCase) -> tuple[str, int]:
    return Path(case["source"]).name, case["source_line"]


def _case_id(case: DigitalLinkCase) -> str:
    name, line = _case_key(case)
    return f"{name}:{line}"


def _is_reference(case: DigitalLinkCase) -> bool:
    return case["source"].startswith(REFERENCE_SOURCE)


def _missing_cases() -> list[object]:
    reason = _missing(CASES_FILE)
    return [
        pytest.param(None, None, id="conformance-missing", marks=pytest.mark.skip(reason=reason))
    ]


def _reference_cases() -> list[object]:
    cases = _load_cases()
    if cases is None:
        return _missing_cases()
    return [
        pytest.param(case, {}, id=_case_id(case))
        for case in cases
        if _is_reference(case) and not case.get("options")
    ]


def _option_cases() -> list[object]:
    """Cases that name a leniency (mostly GS1's own): run those whose options we implement."""
    cases = _load_cases()
    if cases is None:
        return _missing_cases()
    params: list[object] = []
    for case in cases:
        options = case.get("options")
        if not options:
            continue
        missing = sorted(name for name in options if name not in OPTIONS)
        if missing:
            reason = f"option {' + '.join(missing)} of {case['source']} is not implemented"
            params.append(
                pytest.param(case, {}, id=_case_id(case), marks=pytest.mark.skip(reason=reason))
            )
        else:
            kwargs = {OPTIONS[name]: bool(value) for name, value in options.items()}
            params.append(pytest.param(case, kwargs, id=f"{_case_id(case)}+{'+'.join(kwargs)}"))
    return params


def _other_cases() -> list[object]:
    """Cases of biip, digital-link.js and the GS1 toolkit that name no option."""
    cases = _load_cases()
    if cases is None:
        return _missing_cases()
    params: list[object] = []
    for case in cases:
        if _is_reference(case) or case.get("options"):
            continue
        key = _case_key(case)
        if key in CONFLICTS:
            mark = pytest.mark.skip(reason=CONFLICTS[key])
            params.append(pytest.param(case, {}, id=_case_id(case), marks=mark))
        elif key in LENIENT_BY_DEFAULT:
            kwargs = LENIENT_BY_DEFAULT[key]
            params.append(pytest.param(case, kwargs, id=f"{_case_id(case)}+{'+'.join(kwargs)}"))
        else:
            params.append(pytest.param(case, {}, id=_case_id(case)))
    return params


def _expected_ais(case: DigitalLinkCase) -> set[tuple[str, str]] | None:
    """The AI/value pairs the case states, from whichever form it states them in."""
    if "expected_ais" in case:
        return set(case["expected_ais"].items())
    element_string = case.get("expected_element_string")
    if element_string is None:
        return None
    if element_string.startswith("^"):
        return set(_split_fnc1_element_string(element_string))
    return set(re.findall(r"\((\d{2,4})\)([^(]*)", element_string))  # HRI: (01)…(10)…


def _split_fnc1_element_string(data: str) -> Iterator[tuple[str, str]]:
    """Split ``^0112…^10ABC`` (FNC1 as ``^``) using the dictionary's predefined lengths."""
    dictionary = _dictionary_or_skip()
    rest = data.removeprefix("^")
    while rest:
        ai = next((rest[:n] for n in (2, 3, 4) if rest[:n] in dictionary), None)
        assert ai is not None, f"no AI of the dictionary starts {rest!r} in {data!r}"
        entry, rest = dictionary[ai], rest[len(ai) :]
        if entry.predefined_length:
            value, rest = rest[: entry.max_length], rest[entry.max_length :]
        else:
            value, _, rest = rest.partition("^")
        rest = rest.removeprefix("^")
        yield ai, value


def _check_case(case: DigitalLinkCase, kwargs: dict[str, bool]) -> None:
    """Invalid cases raise InvalidDigitalLink; the others (valid, or parsed by their source
    without a verdict) parse to the AI pairs, GTIN and serial they state."""
    if case["valid"] is False:
        with pytest.raises(InvalidDigitalLink) as raised:
            parse_digital_link(case["uri"], **kwargs)
        assert raised.value.uri == case["uri"]
        assert raised.value.reason in str(raised.value)
        return
    link = parse_digital_link(case["uri"], **kwargs)
    expected = _expected_ais(case)
    if expected is not None:
        assert set(link.ais.items()) == expected
    # A case that asserts no verdict leaves gtin/serial null when it does not state them.
    if case["valid"] or case["gtin"] is not None:
        assert link.gtin == case["gtin"]
    if case["valid"] or case["serial"] is not None:
        assert link.serial == case["serial"]


@pytest.mark.parametrize(("case", "kwargs"), _reference_cases())
def test_parse_agrees_with_gs1_reference_case(
    case: DigitalLinkCase, kwargs: dict[str, bool]
) -> None:
    _check_case(case, kwargs)


@pytest.mark.parametrize(("case", "kwargs"), _option_cases())
def test_parse_with_option_agrees_with_case(case: DigitalLinkCase, kwargs: dict[str, bool]) -> None:
    _check_case(case, kwargs)


@pytest.mark.parametrize(("case", "kwargs"), _other_cases())
def test_parse_agrees_with_other_library_case(
    case: DigitalLinkCase, kwargs: dict[str, bool]
) -> None:
    _check_case(case, kwargs)


def test_reference_set_is_the_documented_102_cases() -> None:
    cases = _load_cases()
    if cases is None:
        pytest.skip(_missing(CASES_FILE))
    reference = [c for c in cases if _is_reference(c) and not c.get("options")]

    assert (len(reference), sum(bool(c["valid"]) for c in reference)) == (102, 59)


def test_valid_reference_cases_state_their_ais_but_one() -> None:
    # So the AI comparison above is not vacuous. dl.c:1804 builds its URI in a loop and
    # states only the verdict (AI 99 at its 90-character limit); gtin is still compared.
    cases = _load_cases()
    if cases is None:
        pytest.skip(_missing(CASES_FILE))

    assert [
        _case_id(c)
        for c in cases
        if _is_reference(c) and not c.get("options") and c["valid"] and _expected_ais(c) is None
    ] == ["dl.c:1804"]


# ───────────── the AI table: biip and the module against GS1's syntax dictionary ─────────────


@dataclass(frozen=True)
class Component:
    """One component of an AI's format in the dictionary, e.g. ``[N3],iso3166``."""

    kind: str  # N, X, Y or Z
    min_length: int
    max_length: int
    optional: bool
    linters: tuple[str, ...]


@dataclass(frozen=True)
class DictionaryEntry:
    ai: str
    flags: str
    components: tuple[Component, ...]
    attributes: tuple[str, ...]

    @property
    def predefined_length(self) -> bool:
        return "*" in self.flags

    @property
    def data_attribute(self) -> bool:
        return "?" in self.flags

    @property
    def max_length(self) -> int:
        return sum(c.max_length for c in self.components)

    @property
    def key_qualifiers(self) -> tuple[tuple[str, ...], ...] | None:
        """``dlpkey=22,10,21|235`` → ``(("22", "10", "21"), ("235",))``; None if no key."""
        for attribute in self.attributes:
            if attribute == "dlpkey":
                return ()
            if attribute.startswith("dlpkey="):
                sequences = attribute.removeprefix("dlpkey=").split("|")
                return tuple(tuple(s.split(",")) for s in sequences)
        return None

    def check_digit_span(self) -> tuple[int, int] | None:
        offset = 0
        for component in self.components:
            if "csum" in component.linters:
                return offset, component.max_length
            offset += component.max_length
        return None


_COMPONENT = re.compile(r"^(\[)?([NXYZ])(\.\.)?(\d+)\]?((?:,\w+)*)$")
_FLAGS = re.compile(r"^[*!?\"$%&'()+,\-./:;<=>@\[\\\]^_`{|}~]+$")


@cache
def _dictionary() -> dict[str, DictionaryEntry] | None:
    path = conformance_dir() / DICTIONARY_FILE
    if not path.is_file():
        return None
    entries: dict[str, DictionaryEntry] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        ais, rest = tokens[0], tokens[1:]
        flags = rest.pop(0) if rest and _FLAGS.match(rest[0]) else ""
        components, attributes = [], []
        for token in rest:
            if match := _COMPONENT.match(token):
                optional, kind, variable, size, linters = match.groups()
                components.append(
                    Component(
                        kind,
                        1 if variable else int(size),
                        int(size),
                        bool(optional),
                        tuple(linters.split(",")[1:]),
                    )
                )
            else:
                attributes.append(token)
        first, _, last = ais.partition("-")
        for number in range(int(first), int(last or first) + 1):
            ai = str(number).zfill(len(first))
            entries[ai] = DictionaryEntry(ai, flags, tuple(components), tuple(attributes))
    return entries


def _dictionary_or_skip() -> dict[str, DictionaryEntry]:
    dictionary = _dictionary()
    if dictionary is None:
        pytest.skip(_missing(DICTIONARY_FILE))
    return dictionary


def _accepted_in_digital_links() -> list[str]:
    """Every AI parse_digital_link accepts: primary keys, key qualifiers, data attributes."""
    keys = set(dl_module._KEY_QUALIFIERS)
    qualifiers = {
        q for sequences in dl_module._KEY_QUALIFIERS.values() for s in sequences for q in s
    }
    attributes = set(_GS1_APPLICATION_IDENTIFIERS) - dl_module._NOT_DATA_ATTRIBUTES
    return sorted(keys | qualifiers | attributes)


# Values that satisfy the dictionary's content linters, for probing biip's patterns.
_FILLERS = {
    "yymmd0": "250100",
    "yymmdd": "250101",
    "yyyymmdd": "20250101",
    "hhmi": "1200",
    "hh": "12",
    "mi": "30",
    "ss": "30",
    "iso3166": "250",
    "iso3166999": "250",
    "iso4217": "978",
    "iso5218": "1",
    "yesno": "1",
    "zero": "0",
    "winding": "0",
    "pieceoftotal": "0102",
    "mediatype": "01",
    "hyphen": "-",
    "iso3166alpha2": "GB",
    "posinseqslash": "1/2",
}


def _filler(component: Component, length: int) -> str:
    for linter in component.linters:
        if linter in _FILLERS:
            return _FILLERS[linter]
    return ("1" if component.kind == "N" else "A") * length


def _probe(components: tuple[Component, ...], *, longest: bool) -> list[str]:
    """One filler per component: every component at its longest, or mandatory ones shortest."""
    if longest:
        return [_filler(c, c.max_length) for c in components]
    return [_filler(c, c.min_length) for c in components if not c.optional]


def _biip_accepts(ai: str, value: str) -> bool:
    """Whether the parser's format check (biip's pattern; empty values never get there) passes."""
    pattern = _GS1_APPLICATION_IDENTIFIERS[ai].pattern
    return bool(value) and re.fullmatch(pattern, ai + value) is not None


KNOWN_LENGTH_DIFFERENCES = {
    "(8010) shortest accepted": "biip wants a CPID of 5 to 30 characters where the dictionary's"
    " format says Y..30; its gcppos1 linter, which we do not run, wants room for a GS1 Company"
    " Prefix anyway",
}


def test_parser_accepts_only_ais_of_the_dictionary() -> None:
    dictionary = _dictionary_or_skip()

    assert sorted(set(_accepted_in_digital_links()) - set(dictionary)) == []
    assert sorted(set(_GS1_APPLICATION_IDENTIFIERS) ^ set(dictionary)) == []


def test_digital_link_primary_keys_and_qualifiers_are_the_dictionarys() -> None:
    dictionary = _dictionary_or_skip()
    declared = {
        ai: entry.key_qualifiers
        for ai, entry in dictionary.items()
        if entry.key_qualifiers is not None
    }

    assert declared == dl_module._KEY_QUALIFIERS


def test_digital_link_data_attributes_are_the_dictionarys() -> None:
    dictionary = _dictionary_or_skip()

    assert {
        ai for ai, entry in dictionary.items() if not entry.data_attribute
    } == dl_module._NOT_DATA_ATTRIBUTES


def test_check_digit_flags_are_the_dictionarys() -> None:
    dictionary = _dictionary_or_skip()
    spans = {ai: dictionary[ai].check_digit_span() for ai in _accepted_in_digital_links()}
    # AIs not accepted in a Digital Link (AI 03) may carry a span the parser never uses.
    checked = {ai: span for ai, span in dl_module._CHECK_DIGITS.items() if ai in spans}

    assert checked == {ai: span for ai, span in spans.items() if span is not None}


def test_biip_lengths_match_the_dictionary_for_every_ai_accepted_in_digital_links() -> None:
    dictionary = _dictionary_or_skip()
    wrong = []
    for ai in _accepted_in_digital_links():
        components = dictionary[ai].components
        longest = "".join(_probe(components, longest=True))
        shortest = "".join(_probe(components, longest=False))
        extra = "1" if components[-1].kind == "N" else "A"
        verdicts = {
            "longest accepted": _biip_accepts(ai, longest),
            "shortest accepted": _biip_accepts(ai, shortest),
            "one too long refused": not _biip_accepts(ai, longest + extra),
            "one too short refused": not _biip_accepts(ai, shortest[:-1]),
        }
        wrong += [f"({ai}) {check}" for check, ok in verdicts.items() if not ok]

    assert sorted(set(wrong) - set(KNOWN_LENGTH_DIFFERENCES)) == []
    assert sorted(set(KNOWN_LENGTH_DIFFERENCES) - set(wrong)) == []  # not fixed upstream yet


def test_biip_character_sets_match_the_dictionary_for_every_ai_accepted_in_digital_links() -> None:
    dictionary = _dictionary_or_skip()
    wrong = []
    for ai in _accepted_in_digital_links():
        components = dictionary[ai].components
        parts = _probe(components, longest=True)
        for index, component in enumerate(components):
            if component.linters and component.kind != "N":
                continue  # a linted X component (hyphen, country code…) is narrower than X
            # Numeric components refuse a letter; CSET 82 ones take any of its symbols.
            probe = "A" if component.kind == "N" else {"X": "!", "Y": "#", "Z": "_"}[component.kind]
            changed = [*parts[:index], probe + parts[index][1:], *parts[index + 1 :]]
            accepted = _biip_accepts(ai, "".join(changed))
            if accepted != (component.kind == "X" or component.kind == "Z"):
                wrong.append(f"({ai}) component {index + 1} ({component.kind}) with {probe!r}")

    assert wrong == []


# ───────────── examples: what a typical mistake is told ─────────────


@pytest.mark.parametrize(
    ("uri", "reason", "position"),
    [
        pytest.param(
            "https://id.gs1.org/21/12345",
            "path has no primary key before AI (21); it must follow one, e.g. /01/<GTIN-14>/21/…",
            20,
            id="no-gtin",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134353/21/A1",
            "AI (01) value '09506000134353' has check digit 3, expected 2",
            23,
            id="bad-check-digit",
        ),
        pytest.param(
            "https://id.gs1.org/01/9506000134352/21/A1",
            "AI (01) value '9506000134352' has 13 digits, AI (01) takes exactly 14;"
            " write the GTIN with 14 digits: 09506000134352",
            23,
            id="zero-suppressed-gtin",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/21/ABCDEFGHIJKLMNOPQRSTU",
            "AI (21) value 'ABCDEFGHIJKLMNOPQRSTU' has 21 characters, AI (21) takes at most 20"
            " (X..20)",
            41,
            id="serial-too-long",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/21/AB%2",
            "AI (21) value has '%' not followed by two hex digits (write a literal '%' as %25)",
            43,
            id="percent-without-hex-digits",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/21/AB%00",
            "AI (21) value holds a NUL (%00)",
            43,
            id="percent-encoded-nul",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/21/AB%C3%A9",
            "AI (21) value holds %C3, a byte outside ASCII; GS1 character set 82 is ASCII only",
            43,
            id="percent-encoded-utf8",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/21/A1?99=X+Y",
            "AI (99) value 'X Y' contains ' ' at position 2, outside GS1 character set 82"
            " ('+' in a query string means a space: write %2B)",
            47,
            id="plus-in-query",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/89/X",
            "path segment '89' stands where an AI is due, but (89) is not a known GS1"
            " Application Identifier",
            38,
            id="unknown-ai-in-path",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352?899=X",
            "query parameter '899=X' has a numeric name, so it must be an AI, but (899) is not"
            " a known GS1 Application Identifier",
            38,
            id="unknown-ai-in-query",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/21/A1/10/B2",
            "AI (10) cannot follow AI (21) in the path: after AI (01) come the key qualifiers"
            " 22, 10, 21 or 235, each optional, in that order; a data attribute goes in the"
            " query string: ?10=…",
            44,
            id="key-qualifiers-out-of-order",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/22/A/235/B",
            "AI (235) cannot follow AI (22) in the path: after AI (01) come the key qualifiers"
            " 22, 10, 21 or 235, each optional, in that order",
            43,
            id="key-qualifier-alternatives-mixed",
        ),
        pytest.param(
            "https://id.gs1.org/8003/050606547800230002",
            "AI (8003) value '050606547800230002' has check digit 3, expected 9",
            25,
            id="bad-check-digit-of-grai",
        ),
        pytest.param(
            "https://id.gs1.org/00/106141412345678908?21=X",
            "AI (21) is not a permitted Digital Link data attribute",
            42,
            id="not-a-data-attribute",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/21/A1?10=B2",
            "AI (10) is a key qualifier of AI (01): it belongs in the path (/10/…), not in the"
            " query string",
            44,
            id="qualifier-in-query",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/21/A1?17=251231&17=251231",
            "AI (17) appears twice (first at character 44)",
            54,
            id="duplicate-ai",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/21/A1/",
            "path '/01/09506000134352/21/A1/' ends with '/'; a Digital Link has no trailing slash",
            43,
            id="trailing-slash",
        ),
        pytest.param(
            "HttpS://id.gs1.org/01/09506000134352/21/A1",
            "scheme 'HttpS' mixes cases; write http(s) or HTTP(S)",
            1,
            id="mixed-case-scheme",
        ),
        pytest.param(
            "https://id.gs1.org/gtin/09506000134352/ser/A1",
            "path uses the convenience alpha 'gtin'; write the numeric AI (01)",
            20,
            id="convenience-alpha",
        ),
        pytest.param(
            "https://id.gs1.org/01/09506000134352/21/A B",
            "contains ' ', which a URI cannot hold unencoded",
            42,
            id="unencoded-space",
        ),
    ],
)
def test_parse_says_what_is_wrong_and_where(uri: str, reason: str, position: int) -> None:
    with pytest.raises(InvalidDigitalLink) as raised:
        parse_digital_link(uri)

    assert (raised.value.uri, raised.value.reason, raised.value.position) == (
        uri,
        reason,
        position,
    )
    assert (
        str(raised.value) == f"invalid GS1 Digital Link {uri!r}: {reason} (at character {position})"
    )


def test_invalid_digital_link_is_an_identifier_error_and_a_value_error() -> None:
    with pytest.raises(IdentifierError) as raised:
        parse_digital_link("ftp://id.gs1.org/01/09506000134352")

    assert isinstance(raised.value, ValueError)
    assert raised.value.status == 422


def test_parse_reads_every_ai_of_path_and_query() -> None:
    link = parse_digital_link(
        "https://brand.example/dl/01/09506000134352/10/LOT%2F7/21/A%2B1"
        "?17=251231&linkType=gs1:pip&3103=000195#top"
    )

    assert link == DigitalLink(
        uri="(not compared)",
        base_url="https://brand.example/dl",
        primary_key="01",
        gtin=GTIN("09506000134352"),
        serial=Serial("A+1"),
        ais={"01": "09506000134352", "10": "LOT/7", "21": "A+1", "17": "251231", "3103": "000195"},
    )
    assert link.item_id() == item_id("09506000134352", "A+1")


def test_parse_keeps_plus_in_the_path_as_a_plus() -> None:
    link = parse_digital_link("https://id.gs1.org/01/09506000134352/21/A+1")

    assert link.serial == "A+1"


def test_item_id_needs_a_serial() -> None:
    link = parse_digital_link("https://id.gs1.org/01/09506000134352/10/LOT1")

    with pytest.raises(InvalidDigitalLink) as raised:
        link.item_id()

    assert raised.value.reason == (
        "names a product, not one item: it has no serial; add /21/<serial> after the GTIN"
    )


def test_item_id_needs_a_gtin() -> None:
    link = parse_digital_link("https://id.gs1.org/00/106141412345678908?02=00614141123452&37=25")

    assert (link.primary_key, link.gtin, link.serial) == ("00", None, None)
    with pytest.raises(InvalidDigitalLink) as raised:
        link.item_id()
    assert raised.value.reason == (
        "names no GTIN (its primary key is AI (00)); only a GTIN with a serial,"
        " /01/<GTIN>/21/<serial>, names a registered item"
    )


def test_serial_of_a_non_gtin_key_is_not_a_gtin_serial() -> None:
    # AI (21) qualifies an ITIP here, not a GTIN: it must not become DigitalLink.serial.
    link = parse_digital_link("https://id.gs1.org/8006/095060001343520102/21/A1")

    assert (link.primary_key, link.gtin, link.serial) == ("8006", None, None)
    assert link.ais["21"] == "A1"


def test_options_are_off_by_default() -> None:
    for uri in ("https://id.gs1.org/01/9506000134352", "https://id.gs1.org/gtin/09506000134352"):
        with pytest.raises(InvalidDigitalLink):
            parse_digital_link(uri)

    assert parse_digital_link(
        "https://id.gs1.org/gtin/9506000134352/ser/A1",
        permit_zero_suppressed_gtin=True,
        permit_convenience_alphas=True,
    ).ais == {"01": "09506000134352", "21": "A1"}


# ───────────── building: the canonical form ─────────────


@pytest.mark.parametrize(
    ("gtin", "serial", "base_url", "expected"),
    [
        pytest.param(
            "9506000134352",
            "ABC/1",
            "https://veritag.example",
            "https://veritag.example/01/09506000134352/21/ABC%2F1",
            id="gtin13-and-slash",
        ),
        pytest.param(
            "09506000134352",
            "A-b.c_d",
            "https://id.gs1.org",
            "https://id.gs1.org/01/09506000134352/21/A-b.c_d",
            id="unreserved-stay",
        ),
        pytest.param(
            "09506000134352",
            "!\"%&'()*+,",
            "https://id.gs1.org",
            "https://id.gs1.org/01/09506000134352/21/%21%22%25%26%27%28%29%2A%2B%2C",
            id="reserved-and-others-encoded",
        ),
        pytest.param(
            "95012346",
            ":;<=>?",
            "https://brand.example/dl/",
            "https://brand.example/dl/01/00000095012346/21/%3A%3B%3C%3D%3E%3F",
            id="gtin8-and-trailing-slash-of-base",
        ),
    ],
)
def test_build_writes_the_canonical_form(
    gtin: str, serial: str, base_url: str, expected: str
) -> None:
    assert build_digital_link(gtin, serial, base_url) == expected


def test_build_defaults_to_gs1s_resolver() -> None:
    assert build_digital_link("09506000134352", "1") == "https://id.gs1.org/01/09506000134352/21/1"


@pytest.mark.parametrize(
    ("base_url", "reason", "position"),
    [
        ("ftp://files.example", "base URL must start with http:// or https:// (one case)", 1),
        ("https://", "base URL has no host", 9),
        ("https://a_b.example", "base URL cannot hold '_'", 10),
        ("https://brand.example/dl?x=1", "base URL cannot hold '?'", 25),
        ("https://brand.example/d l", "base URL cannot hold ' '", 24),
    ],
)
def test_build_rejects_a_base_url_a_link_cannot_start_with(
    base_url: str, reason: str, position: int
) -> None:
    with pytest.raises(InvalidDigitalLink) as raised:
        build_digital_link("09506000134352", "1", base_url)

    assert (raised.value.uri, raised.value.reason, raised.value.position) == (
        base_url,
        reason,
        position,
    )


def test_build_rejects_bad_gtin_and_serial() -> None:
    with pytest.raises(InvalidGTIN):
        build_digital_link("09506000134353", "1")
    with pytest.raises(InvalidSerial):
        build_digital_link("09506000134352", "A B")


# ───────────── properties: build → parse ─────────────


@st.composite
def gtins(draw: st.DrawFn) -> str:
    """A valid GTIN-8, -12, -13 or -14 as written on a product."""
    length = draw(st.sampled_from([8, 12, 13, 14]))
    payload = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return payload + str(check_digit(payload))


serials = st.text(alphabet=CSET_82, min_size=1, max_size=20)
base_urls = st.sampled_from(
    [
        "https://id.gs1.org",
        "https://veritag.example",
        "http://192.0.2.1:8080/resolver/v1",
        "HTTPS://BRAND.EXAMPLE/01/09506000134352",  # a stem that looks like a link itself
    ]
)


@given(gtin=gtins(), serial=serials, base_url=base_urls)
def test_parse_gives_back_what_build_wrote(gtin: str, serial: str, base_url: str) -> None:
    uri = build_digital_link(gtin, serial, base_url)
    link = parse_digital_link(uri)

    gtin14 = gtin.zfill(14)
    assert (link.gtin, link.serial, link.base_url) == (gtin14, serial, base_url)
    assert link.ais == {"01": gtin14, "21": serial}
    assert link.item_id() == item_id(gtin, serial)


@given(gtin=gtins(), serial=serials)
def test_built_serial_segment_is_unreserved_or_percent_encoded(gtin: str, serial: str) -> None:
    segment = build_digital_link(gtin, serial).rsplit("/", 1)[1]

    assert re.fullmatch(r"(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})+", segment)


@given(gtin=gtins(), serial=serials)
def test_biip_reads_the_built_link_as_we_do(gtin: str, serial: str) -> None:
    uri = build_digital_link(gtin, serial, "https://veritag.example")
    element_strings = GS1DigitalLinkURI.parse(uri).element_strings

    assert [(e.ai.ai, e.value) for e in element_strings] == [
        ("01", gtin.zfill(14)),
        ("21", serial),
    ]
