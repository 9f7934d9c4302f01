"""An item's on-chain history as a GS1 EPCIS 2.0 JSON-LD ``EPCISDocument``.

One ``ObjectEvent`` per chain event, except ``CustodyTransferred``, a hand-over with no
transit, which becomes a ``shipping`` and a ``receiving`` event at the same instant: CBV has
no transfer step, and the pair is what any EPCIS reader already understands.

The mapping (chain event → action, bizStep, disposition):

=====================  ======  ===============  ==========================================
ItemRegistered,        ADD     commissioning    active; the product document in ``ilmd``
BatchItemRegistered
ItemShipped            OBSERVE shipping         in_transit
ItemReceived           OBSERVE receiving        in_progress
ShipmentCancelled      OBSERVE void_shipping    what it was before the shipment
CustodyTransferred     OBSERVE shipping, then receiving (see above)
RetailSaleRecorded     OBSERVE retail_selling   retail_sold
ItemClaimed            OBSERVE accepting        retail_sold; the consumer becomes owner
ItemRecalled           OBSERVE —                recalled
ItemReportedStolen     OBSERVE —                stolen
RecallLifted,          OBSERVE —                what it would be without the flag
StolenReportCleared
ItemDecommissioned     DELETE  decommissioning  inactive
ItemDestroyed          DELETE  destroying       destroyed
=====================  ======  ===============  ==========================================

Parties are ledger addresses, written as W3C DIDs of the ``did:pkh`` method
(``did:pkh:eip155:{chain id}:{address}``, CAIP-10 account ids): a URI, as the schema wants
for ``source``/``destination``, that names the account on its own chain. The chain records
custody, so shipping and receiving name ``possessing_party``; only a claim names an
``owning_party``. Where the item was is not on chain, so ``readPoint``/``bizLocation`` are
left out. Each event carries its chain event under the ``veritag:`` prefix (``txHash``,
``block``, ``logIndex``, ``seq``, ``event``), re-checkable against the registry named by the
document's ``veritag:chainId`` and ``veritag:registry``. Each ``eventID`` is the event's
CBV 2.0 event hash ID.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ledger.epcis.event_hash import event_hash_id
from ledger.errors import NotFound
from ledger.identifiers import build_digital_link, item_id, validate_gtin, validate_serial
from ledger.registry import ItemEvent, Registry
from ledger.store.repository import Store

__all__ = [
    "EPCIS_CONTEXT",
    "VERITAG_NAMESPACE",
    "export_item",
    "party_uri",
]

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
VERITAG_NAMESPACE = "https://veritag.example/epcis/"
"""The IRI the ``veritag:`` prefix of extension fields expands to."""

_ZERO_HASH = "0x" + "00" * 32


def export_item(
    registry: Registry,
    gtin: str,
    serial: str,
    *,
    store: Store | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """The whole history of the item ``gtin``/``serial`` as an ``EPCISDocument``.

    The product document goes into the commissioning event's ``ilmd`` only when ``store``
    holds it unaltered (its hash is the one on chain). Raises ``InvalidGTIN`` or
    ``InvalidSerial`` for a malformed code and ``NotFound`` for an item never registered.
    """
    gtin14, checked_serial = validate_gtin(gtin), validate_serial(serial)
    ident = item_id(gtin14, checked_serial)
    history = registry.history(ident)
    if not history:
        raise NotFound("registered item", f"01/{gtin14}/21/{checked_serial}")
    writer = _EventWriter(
        registry=registry,
        epc=build_digital_link(gtin14, checked_serial),
        ilmd=_ilmd(registry, history, store),
    )
    context: list[Any] = [EPCIS_CONTEXT, {"veritag": VERITAG_NAMESPACE}]
    events = [
        {"eventID": event_hash_id(epcis, context), **epcis}
        for event in history
        for epcis in writer.events_of(event)
    ]
    return {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _timestamp(created_at or datetime.now(UTC)),
        "veritag:chainId": registry.chain_id,
        "veritag:registry": registry.address,
        "epcisBody": {"eventList": events},
    }


def party_uri(chain_id: int, address: str) -> str:
    """A ledger address as a URI: ``did:pkh:eip155:{chain_id}:{address}``."""
    return f"did:pkh:eip155:{chain_id}:{address}"


@dataclass
class _Disposition:
    """The item's CBV disposition, built from its status and the flags laid over it."""

    base: str = "active"
    before_shipment: str = "active"
    recalled: bool = False
    stolen: bool = False

    @property
    def current(self) -> str:
        if self.recalled:
            return "recalled"
        return "stolen" if self.stolen else self.base


@dataclass
class _EventWriter:
    registry: Registry
    epc: str
    ilmd: dict[str, Any] | None
    disposition: _Disposition = field(default_factory=_Disposition)
    shipment: tuple[str, str] | None = None
    _block_times: dict[int, int] = field(default_factory=dict)

    def events_of(self, event: ItemEvent) -> list[dict[str, Any]]:
        args, state = event.args, self.disposition
        match event.name:
            case "ItemRegistered" | "BatchItemRegistered":
                return [self._commissioning(event)]
            case "ItemShipped":
                state.before_shipment, state.base = state.base, "in_transit"
                self.shipment = (args["from"], args["to"])
                return [self._moved(event, "shipping", args["from"], args["to"])]
            case "ItemReceived":
                sender = self.shipment[0] if self.shipment else None
                state.base, self.shipment = "in_progress", None
                return [self._moved(event, "receiving", sender, args["by"])]
            case "ShipmentCancelled":
                state.base, self.shipment = state.before_shipment, None
                return [self._event(event, "OBSERVE", "void_shipping")]
            case "CustodyTransferred":
                shipped = self._moved(event, "shipping", args["from"], args["to"], "in_transit")
                state.base = "in_progress"
                return [shipped, self._moved(event, "receiving", args["from"], args["to"])]
            case "RetailSaleRecorded":
                state.base = "retail_sold"
                return [self._event(event, "OBSERVE", "retail_selling")]
            case "ItemClaimed":
                claimed = self._event(event, "OBSERVE", "accepting")
                claimed["destinationList"] = [
                    {"type": "owning_party", "destination": self._party(args["owner"])}
                ]
                return [claimed]
            case "ItemRecalled" | "RecallLifted":
                state.recalled = event.name == "ItemRecalled"
                return [self._event(event, "OBSERVE", None)]
            case "ItemReportedStolen" | "StolenReportCleared":
                state.stolen = event.name == "ItemReportedStolen"
                return [self._event(event, "OBSERVE", None)]
            case "ItemDecommissioned":
                state.base = "inactive"
                return [self._event(event, "DELETE", "decommissioning")]
            case "ItemDestroyed":
                state.base = "destroyed"
                return [self._event(event, "DELETE", "destroying")]
        return []

    def _commissioning(self, event: ItemEvent) -> dict[str, Any]:
        commissioned = self._event(event, "ADD", "commissioning")
        if self.ilmd is not None:
            commissioned["ilmd"] = self.ilmd
        return commissioned

    def _moved(
        self,
        event: ItemEvent,
        biz_step: str,
        sender: str | None,
        recipient: str,
        disposition: str | None = None,
    ) -> dict[str, Any]:
        moved = self._event(event, "OBSERVE", biz_step, disposition)
        if sender is not None:
            moved["sourceList"] = [{"type": "possessing_party", "source": self._party(sender)}]
        moved["destinationList"] = [
            {"type": "possessing_party", "destination": self._party(recipient)}
        ]
        return moved

    def _event(
        self, event: ItemEvent, action: str, biz_step: str | None, disposition: str | None = None
    ) -> dict[str, Any]:
        epcis: dict[str, Any] = {
            "type": "ObjectEvent",
            "eventTime": _timestamp(self._block_time(event.block_number)),
            "eventTimeZoneOffset": "+00:00",
            "epcList": [self.epc],
            "action": action,
        }
        if biz_step is not None:
            epcis["bizStep"] = biz_step
        epcis["disposition"] = disposition or self.disposition.current
        epcis.update(
            {
                "veritag:event": event.name,
                "veritag:seq": event.seq,
                "veritag:txHash": event.tx_hash,
                "veritag:block": event.block_number,
                "veritag:logIndex": event.log_index,
            }
        )
        return epcis

    def _party(self, address: str) -> str:
        return party_uri(self.registry.chain_id, address)

    def _block_time(self, block_number: int) -> datetime:
        if block_number not in self._block_times:
            block = self.registry.w3.eth.get_block(block_number)
            self._block_times[block_number] = int(block["timestamp"])
        return datetime.fromtimestamp(self._block_times[block_number], UTC)


def _ilmd(
    registry: Registry, history: list[ItemEvent], store: Store | None
) -> dict[str, Any] | None:
    if store is None:
        return None
    doc_hash = registry.doc_hash(history)
    if doc_hash is None or doc_hash.lower() == _ZERO_HASH:
        return None
    check = store.document_matches(_OnChainDocument(doc_hash))
    if check.document is None:
        return None
    return _prefixed(check.document)


def _prefixed(document: Mapping[str, Any]) -> dict[str, Any]:
    # ilmd keys must be URIs: each becomes a term of the veritag namespace.
    return {f"veritag:{quote(str(key), safe='')}": value for key, value in document.items()}


@dataclass(frozen=True)
class _OnChainDocument:
    doc_hash: str | None


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
