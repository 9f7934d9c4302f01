"""Check an EPCIS document's events against the chain, with nothing but a node.

For each event of the document (its ``ignoreFields`` left out, as the hash algorithm says):

1. its ``eventID``, when it is a hash ID, must be the event's own CBV 2.0 hash ID;
2. for each item of its ``epcList`` (an ``AggregationEvent``'s ``childEPCs``), the chain
   must hold it, one of two ways:

   * **recorded**: an item event whose ``EpcisEventRecorded`` digest is the event's hash
     (a captured event: its whole content is bound by the chain);
   * **derived**: the event is what ``ledger.epcis.export`` writes for one of the item's
     chain events, compared field by field. ``readPoint`` and ``bizLocation`` come from the
     service's site register, not the chain, so they are reported, not checked; ``ilmd``
     must be the product document whose hash the item was registered with.

A case or pallet named by its SSCC (``urn:epc:id:sscc:…`` or ``…/00/{sscc}``) is checked
the same way against its own history on chain (``export_container``). The SSCCs a document
names are taken at their word only through their hash: ``container_id(sscc)`` must be the
container the chain's event names, so an export may name each parent by its SSCC.

An ``AggregationEvent`` of several children (an item's own export packs it alone), or of
one whose own export does not say it, is checked as a whole against its ``parentID``'s
export (a case or pallet named by its SSCC): the chain's packings into
or unpackings out of that container in one transaction must be exactly its children (in any
order), with the same action, time and disposition. Children are named by the GTINs and
serials (and SSCCs) the document gives, again only through their hash; a child the document
adds or leaves out, or a wrong action, is no packing the chain records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ledger.epcis.event_hash import (
    EPCIS_CONTEXT,
    document_events,
    event_hash_id,
    hash_id_digest,
)
from ledger.epcis.export import CHAIN_FIELDS, export_container, export_item
from ledger.epcis.identifiers import epc_item, epc_sscc, named_containers, named_items
from ledger.errors import ConfigError, EventHashError, IdentifierError, NotFound
from ledger.identifiers import container_id, item_id, validate_sscc
from ledger.identifiers.item_link import gtin_and_serial
from ledger.registry import Registry
from ledger.store.documents import document_hash

__all__ = ["EventCheck", "verify_document"]

_OFF_CHAIN = ("readPoint", "bizLocation")


@dataclass(frozen=True)
class EventCheck:
    """What the chain says about one event of the document."""

    index: int
    event_id: str | None
    """The event's CBV 2.0 hash ID (computed), or None when it cannot be computed."""
    ok: bool
    findings: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "eventID": self.event_id,
            "ok": self.ok,
            "findings": list(self.findings),
        }


def verify_document(registry: Registry, document: Mapping[str, Any]) -> list[EventCheck]:
    """One check per event of ``document``, in document order."""
    _same_chain(registry, document)
    context = document.get("@context", EPCIS_CONTEXT)
    events = document_events(document)
    named = named_containers(events)
    ssccs = {ident: sscc for ident, (sscc, _) in named.items()}
    checker = _Checker(registry, ssccs, named_items(events))
    return [checker.check(index, event, context) for index, event in enumerate(events)]


def _same_chain(registry: Registry, document: Mapping[str, Any]) -> None:
    chain_id, address = document.get("veritag:chainId"), document.get("veritag:registry")
    if chain_id is not None and chain_id != registry.chain_id:
        raise ConfigError(
            f"the document is from chain {chain_id}, but the node given is chain "
            f"{registry.chain_id}; pass --rpc-url of a node of chain {chain_id}"
        )
    if isinstance(address, str) and address.lower() != registry.address.lower():
        raise ConfigError(
            f"the document is from registry {address}, not {registry.address}; pass "
            f"--contract {address}"
        )


class _Checker:
    def __init__(
        self,
        registry: Registry,
        ssccs: Mapping[str, str],
        items: Mapping[str, tuple[str, str]],
    ) -> None:
        self.registry = registry
        self._ssccs = ssccs
        self._items = items
        self._exports: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def check(self, index: int, event: Mapping[str, Any], context: Any) -> EventCheck:
        try:
            hash_id = event_hash_id(event, context)
        except EventHashError as error:
            return EventCheck(index, None, False, (str(error),))
        findings: list[str] = []
        claimed = event.get("eventID")
        ok = True
        if isinstance(claimed, str) and claimed.startswith("ni:///") and claimed != hash_id:
            ok = False
            findings.append(f"its eventID {claimed} is not its hash ID {hash_id}")
        epcs = event.get("childEPCs" if event.get("type") == "AggregationEvent" else "epcList")
        if not isinstance(epcs, list) or not epcs:
            return EventCheck(index, hash_id, False, (*findings, "it names no item (epcList)"))
        if event.get("type") == "AggregationEvent":
            checks = self._check_aggregation(epcs, event, hash_id)
        else:
            checks = [self._check_item(epc, event, hash_id) for epc in epcs]
        for item_ok, finding in checks:
            ok = ok and item_ok
            findings.append(finding)
        return EventCheck(index, hash_id, ok, tuple(findings))

    def _check_aggregation(
        self, epcs: list[Any], event: Mapping[str, Any], hash_id: str
    ) -> list[tuple[bool, str]]:
        """A single child's own export may say the event (an item's export packs it alone);
        else, and always for several children, one of its parent's packings must."""
        checks = [self._check_item(epcs[0], event, hash_id)] if len(epcs) == 1 else []
        if checks and checks[0][0]:
            return checks
        whole = self._check_packing(event)
        if whole is None:  # no case or pallet as parent: each child as its own
            return checks or [self._check_item(epc, event, hash_id) for epc in epcs]
        return [whole] if whole[0] else [*checks, whole]

    def _check_packing(self, event: Mapping[str, Any]) -> tuple[bool, str] | None:
        """The AggregationEvent against its parent container's export, all its children at
        once; None when its ``parentID`` names no valid SSCC."""
        parent = event.get("parentID")
        sscc = epc_sscc(parent)
        if sscc is None:
            return None
        try:
            checked = validate_sscc(sscc)
        except IdentifierError:
            return None
        exported = self._said(("00", checked), event)
        if exported is None:
            return False, (
                f"{parent}: no packing into or unpacking out of this container on chain says "
                "this event"
            )
        return True, (
            f"{parent}: the chain's {exported['veritag:event']} of "
            f"{len(exported['childEPCs'])} in transaction {exported['veritag:txHash']} says "
            f"exactly this{_off_chain_note(event)}"
        )

    def _check_item(self, epc: Any, event: Mapping[str, Any], hash_id: str) -> tuple[bool, str]:
        sscc = epc_sscc(epc)
        if sscc is not None:
            record, key = container_id(sscc), ("00", sscc)
        else:
            try:
                gtin, serial = epc_item(str(epc), missing="it names no individual item")
            except IdentifierError as error:
                return False, f"{epc}: not an item the ledger can name ({error})"
            record, key = item_id(gtin, serial), (gtin, serial)
        history = self.registry.history(record)
        if not history:
            return False, f"{epc}: not registered on chain {self.registry.chain_id}"
        digest = hash_id_digest(hash_id)
        for chain_event in history:
            if chain_event.event_hash == digest:
                return True, (
                    f"{epc}: recorded on chain with {chain_event.name} (seq {chain_event.seq}, "
                    f"block {chain_event.block_number}, transaction {chain_event.tx_hash})"
                )
        return self._derived(epc, key, event)

    def _derived(
        self, epc: Any, key: tuple[str, str], event: Mapping[str, Any]
    ) -> tuple[bool, str]:
        exported = self._said(key, event)
        if exported is None:
            return False, f"{epc}: no event of this item on chain records or says this event"
        return True, (
            f"{epc}: the chain's {exported['veritag:event']} (seq {exported['veritag:seq']}, "
            f"transaction {exported['veritag:txHash']}) says exactly this{_off_chain_note(event)}"
        )

    def _said(self, key: tuple[str, str], event: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The event of the export of ``key`` (see :meth:`_export`) that says ``event``."""
        ours = _comparable(event)
        for exported in self._export(*key):
            theirs = _comparable(exported)
            ilmd = event.get("ilmd")
            if ilmd is not None and "ilmd" not in exported:
                theirs["ilmd"] = ilmd if self._is_registered_document(ilmd, exported) else None
            if ours == theirs:
                return exported
        return None

    def _export(self, gtin: str, serial: str) -> list[dict[str, Any]]:
        """The export of an item (GTIN, serial), or of a container (``"00"``, SSCC)."""
        key = (gtin, serial)
        if key not in self._exports:
            try:
                if gtin == "00":
                    document = export_container(
                        self.registry, serial, ssccs=self._ssccs, items=self._items
                    )
                else:
                    document = export_item(self.registry, gtin, serial, ssccs=self._ssccs)
            except NotFound:
                document = {"epcisBody": {"eventList": []}}
            self._exports[key] = document["epcisBody"]["eventList"]
        return self._exports[key]

    def _is_registered_document(self, ilmd: Any, exported: Mapping[str, Any]) -> bool:
        if not isinstance(ilmd, Mapping) or exported.get("bizStep") != "commissioning":
            return False
        product = {
            unquote(key.removeprefix("veritag:")): value
            for key, value in ilmd.items()
            if key.startswith("veritag:")
        }
        if len(product) != len(ilmd):
            return False
        history = self.registry.history(item_id(*_code(exported)))
        on_chain = self.registry.doc_hash(history)
        try:
            return on_chain is not None and document_hash(product).lower() == on_chain.lower()
        except (TypeError, ValueError):
            return False


def _code(exported: Mapping[str, Any]) -> tuple[str, str]:
    return gtin_and_serial(exported["epcList"][0])


def _off_chain_note(event: Mapping[str, Any]) -> str:
    off_chain = [name for name in _OFF_CHAIN if name in event]
    if not off_chain:
        return ""
    return (
        f"; its {' and '.join(off_chain)} come from the service's site register, not the "
        "chain, and are not checked"
    )


def _comparable(event: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the chain says, ``childEPCs`` as a set (as the event hash reads it)."""
    skipped = {"eventID", "recordTime", *CHAIN_FIELDS, *_OFF_CHAIN}
    fields = {key: value for key, value in event.items() if key not in skipped}
    children = fields.get("childEPCs")
    if isinstance(children, list):
        fields["childEPCs"] = sorted(children, key=str)
    return fields
