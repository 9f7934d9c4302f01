"""The identifiers EPCIS events carry (EPC URNs and Digital Links in any form), read as items.

The normalising is RalphTro's ``dl_normaliser`` (shipped with the event-hash library, the
same code the CBV hash algorithm uses): EPC URNs, class and pattern URNs, and Digital Links
under any domain, with short names (``gtin``, ``ser``) or qualifiers, all become one
canonical ``https://id.gs1.org/…`` link of the finest identification level.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from epcis_event_hash_generator.dl_normaliser import (  # type: ignore[import-untyped]
    normaliser,
)

from ledger.errors import IdentifierError, InvalidDigitalLink, InvalidEpcUrn
from ledger.identifiers import GTIN, Serial, container_id, item_id, validate_sscc
from ledger.identifiers.epc_urn import epc_urn_to_digital_link
from ledger.identifiers.item_link import gtin_and_serial

__all__ = ["canonical_digital_link", "epc_item", "epc_sscc", "named_containers", "named_items"]

_SSCC_LINK = re.compile(r"https://id\.gs1\.org/00/(\d{18})")


def canonical_digital_link(identifier: str) -> str:
    """The canonical GS1 Digital Link of an EPC URN or a Digital Link in any form.

    Raises ``InvalidEpcUrn`` or ``InvalidDigitalLink`` (with our parser's words where it has
    them) for anything that names no GS1 key.
    """
    canonical = normaliser(identifier) if isinstance(identifier, str) else None
    if isinstance(canonical, str):
        return canonical
    if isinstance(identifier, str) and identifier.startswith("urn:epc:"):
        epc_urn_to_digital_link(identifier)  # raises saying what is wrong
        raise InvalidEpcUrn(identifier, "names no GS1 key")
    gtin_and_serial(str(identifier))  # raises saying what is wrong, if it can
    raise InvalidDigitalLink(str(identifier), "names no GS1 key in a form EPCIS accepts")


def epc_item(epc: str, *, missing: str) -> tuple[GTIN, Serial]:
    """The item (GTIN and serial) an EPC names; ``missing`` says why when it names none."""
    return gtin_and_serial(canonical_digital_link(epc), missing=missing)


def epc_sscc(epc: object) -> str | None:
    """The 18 digits of the SSCC an EPC names (as a URN or a Digital Link with AI 00), or
    None for anything else; the check digit is the caller's to check (``validate_sscc``)."""
    if not isinstance(epc, str):
        return None
    try:
        link = canonical_digital_link(epc)
    except IdentifierError:
        return None
    match = _SSCC_LINK.fullmatch(link)
    return match.group(1) if match else None


def named_containers(events: Iterable[object]) -> dict[str, tuple[str, str]]:
    """Container id (hex) → (SSCC, the EPC as written) of every valid SSCC the events name
    as a parent, an EPC or a child."""
    named: dict[str, tuple[str, str]] = {}
    for event in events:
        if not isinstance(event, Mapping):
            continue
        epcs = [event.get("parentID"), *_list(event.get("epcList")), *_list(event.get("childEPCs"))]
        for epc in epcs:
            sscc = epc_sscc(epc)
            if sscc is None:
                continue
            try:
                checked = validate_sscc(sscc)
            except IdentifierError:
                continue
            named.setdefault(container_id(checked).hex(), (checked, str(epc)))
    return named


def named_items(events: Iterable[object]) -> dict[str, tuple[str, str]]:
    """Item id (hex) → (GTIN, serial) of every individual item the events name as a child."""
    named: dict[str, tuple[str, str]] = {}
    for event in events:
        if not isinstance(event, Mapping):
            continue
        for epc in _list(event.get("childEPCs")):
            try:
                gtin, serial = epc_item(str(epc), missing="it names no individual item")
            except IdentifierError:
                continue
            named.setdefault(item_id(gtin, serial).hex(), (gtin, serial))
    return named


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
