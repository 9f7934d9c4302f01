"""An item's on-chain history as a GS1 EPCIS 2.0 JSON-LD ``EPCISDocument``.

One ``ObjectEvent`` per chain event, except ``CustodyTransferred``, a hand-over with no
transit, which becomes a ``shipping`` and a ``receiving`` event at the same instant: CBV has
no transfer step, and the pair is what any EPCIS reader already understands.

The mapping (chain event → action, bizStep, disposition):

=====================  ======  ===============  ==========================================
ItemRegistered,        ADD     commissioning    active; the product document in ``ilmd``
BatchItemRegistered,
BatchItemActivated
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
ItemPacked             ADD     packing          (AggregationEvent, see below)
ItemUnpacked           DELETE  unpacking        (AggregationEvent, see below)
=====================  ======  ===============  ==========================================

Aggregation (cases and pallets): packing and unpacking are ``AggregationEvent``s whose
``parentID`` is the container's SSCC as an EPC URN (``urn:epc:id:sscc:…``, TDS §6.3.2) and
whose ``childEPCs`` name the item as an SGTIN URN (or a case by its SSCC URN); the SSCC
comes from the store (it never goes on chain), and without it the parent is named
``{VERITAG_NAMESPACE}container/{containerId}``. While the item is packed, the container's
own moves (shipping, receiving, …) are exported as ``ObjectEvent``s on the container's EPC:
they moved the item too. ``export_container`` exports a container's own history and what
was packed into it and unpacked out of it: one ``AggregationEvent`` per packing (or
unpacking) transaction with the container as ``parentID`` and all the records it packed as
``childEPCs`` (``veritag:seq`` then lists each child's seq), in chain order among its moves;
a child the store cannot name is ``{VERITAG_NAMESPACE}item/{itemId}`` (a case,
``…container/{containerId}``). Packings are written from the chain even when captured: the
chain records no hash for them (see ``export_container``).

Parties are ledger addresses, written as W3C DIDs of the ``did:pkh`` method
(``did:pkh:eip155:{chain id}:{address}``, CAIP-10 account ids): a URI, as the schema wants
for ``source``/``destination``, that names the account on its own chain. The chain records
custody, so shipping and receiving name ``possessing_party``; only a claim names an
``owning_party``. Where the acting party's site is recorded with a GLN, ``readPoint`` (and,
except for shipping, ``bizLocation``) name it as a Digital Link with AI 414 (SGLN).

Each event carries its chain event under the ``veritag:`` prefix (``txHash``, ``block``,
``logIndex``, ``seq``, ``event``), re-checkable against the registry named by the
document's ``veritag:chainId`` and ``veritag:registry``. Those annotations are listed in the
document's ``veritag:ignoreFields``, so each ``eventID``, the event's CBV 2.0 event hash ID,
is computed without them (as the hash algorithm's ``ignoreFields`` provides).

An item event caused by a captured EPCIS event (``POST /v1/epcis/capture``) records that
event's hash on chain; given the store, it is exported as the partner captured it, with
``recordTime`` (when it was captured), the annotations and the captured document's
extension prefixes, so re-hashing it gives back the digest on chain. The same holds for a
case's or pallet's shipping and receiving captured on its SSCC, in its own export and in
those of the items it carried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ledger.epcis.event_hash import event_hash_id
from ledger.errors import InvalidDigitalLink, InvalidSSCC, NotFound
from ledger.identifiers import (
    ItemId,
    build_digital_link,
    container_id,
    digital_link_to_sgtin_urn,
    item_id,
    sscc_urn,
    validate_gtin,
    validate_serial,
    validate_sscc,
)
from ledger.registry import ItemEvent, Registry
from ledger.store.captures import CapturedItemEvent, Captures
from ledger.store.containers import Containers
from ledger.store.repository import Store
from ledger.store.signals import SignalStore

__all__ = [
    "EPCIS_CONTEXT",
    "VERITAG_NAMESPACE",
    "epcis_time",
    "export_container",
    "export_item",
    "party_uri",
]

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
VERITAG_NAMESPACE = "https://veritag.example/epcis/"
"""The IRI the ``veritag:`` prefix of extension fields expands to."""

_ZERO_HASH = "0x" + "00" * 32
CHAIN_FIELDS = (
    "veritag:event",
    "veritag:seq",
    "veritag:txHash",
    "veritag:block",
    "veritag:logIndex",
)
"""The annotations export adds to each event: not part of the event or its hash ID."""
IGNORE_FIELDS = "veritag:ignoreFields"
_LOCATED_STEPS = frozenset(
    {
        "commissioning",
        "shipping",
        "receiving",
        "retail_selling",
        "decommissioning",
        "destroying",
        "packing",
        "unpacking",
    }
)
GLN_BASE = "https://id.gs1.org/414/"
_OBJECT_ONLY = frozenset({"type", "eventTime", "eventTimeZoneOffset", "epcList"})


def export_item(
    registry: Registry,
    gtin: str,
    serial: str,
    *,
    store: Store | None = None,
    created_at: datetime | None = None,
    ssccs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The whole history of the item ``gtin``/``serial`` as an ``EPCISDocument``.

    ``ssccs`` (container id → SSCC) names containers beside the store's record of them.

    The product document goes into the commissioning event's ``ilmd`` only when ``store``
    holds it unaltered (its hash is the one on chain). Raises ``InvalidGTIN`` or
    ``InvalidSerial`` for a malformed code and ``NotFound`` for an item never registered.
    """
    gtin14, checked_serial = validate_gtin(gtin), validate_serial(serial)
    ident = item_id(gtin14, checked_serial)
    history = registry.history(ident)
    if not history:
        raise NotFound("registered item", f"01/{gtin14}/21/{checked_serial}")
    captured = _captured_events(store, ident)
    sites = SignalStore(store.engine) if store is not None else None
    gln_of = (lambda address: _gln(sites, address)) if sites is not None else _no_gln
    link = build_digital_link(gtin14, checked_serial)
    epcs = _ContainerEpcs(store, ssccs)
    writer = _EventWriter(
        registry=registry,
        epc=link,
        ilmd=_ilmd(registry, history, store),
        gln_of=gln_of,
        child_epc=_sgtin_urn(link),
        parent_epc=epcs.of,
    )
    prefixes: dict[str, str] = {"veritag": VERITAG_NAMESPACE}
    moved_with = _container_events(
        registry, ident, writer, epcs, gln_of, store=store, prefixes=prefixes
    )
    events = [e for event in history for e in _written(event, writer, captured, prefixes)]
    if moved_with:
        events = sorted([*events, *moved_with], key=_chain_position)
    return _document(registry, events, prefixes, created_at)


def export_container(
    registry: Registry,
    sscc: str,
    *,
    store: Store | None = None,
    created_at: datetime | None = None,
    ssccs: Mapping[str, str] | None = None,
    items: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The whole history of the case or pallet ``sscc`` as an ``EPCISDocument``, in chain
    order: its moves as ``ObjectEvent``s on its SSCC URN, its own packing onto a pallet as
    ``AggregationEvent``s, and what was packed into and unpacked out of it as
    ``AggregationEvent``s whose ``parentID`` is its SSCC URN (see :class:`_ChildEpcs` for
    how the children are named).

    Packings come from ``Registry.contents_events``: one ``AggregationEvent`` for each run
    of ``ItemPacked`` (or ``ItemUnpacked``) events of one transaction, whatever its number
    of children (in the order the transaction packed them), with ``veritag:seq`` the list
    of each child's seq, ``veritag:logIndex`` the first's and ``disposition`` the
    container's. They are always written from the chain, also when captured: the chain
    records no hash for a packing, so only the chain's own account of it is re-checkable;
    a captured AggregationEvent is one ``pack`` or ``unpack`` transaction, so it comes back
    once, with all its children.

    ``ssccs`` (container id → SSCC) and ``items`` (item id → GTIN and serial) name records
    beside the store's record of them. Raises ``InvalidSSCC`` or ``NotFound``."""
    checked = validate_sscc(sscc)
    ident = container_id(checked)
    history = registry.history(ident)
    if not history:
        raise NotFound("container", f"00/{checked}")
    sites = SignalStore(store.engine) if store is not None else None
    epcs = _ContainerEpcs(store, {**(ssccs or {}), ident.hex(): checked})
    writer = _EventWriter(
        registry=registry,
        epc=epcs.of(ident.hex()),
        ilmd=None,
        gln_of=(lambda address: _gln(sites, address)) if sites is not None else _no_gln,
        parent_epc=epcs.of,
    )
    children = _ChildEpcs(registry, store, epcs, items)
    captured = _captured_events(store, ident)
    prefixes: dict[str, str] = {"veritag": VERITAG_NAMESPACE}
    events: list[dict[str, Any]] = []
    for step in _with_contents(history, registry.contents_events(ident)):
        if isinstance(step, ItemEvent):
            events.extend(_written(step, writer, captured, prefixes))
        else:
            events.append(writer.contents_of(step, children.of))
    return _document(registry, events, prefixes, created_at)


def _with_contents(
    history: list[ItemEvent], contents: list[ItemEvent]
) -> list[ItemEvent | tuple[ItemEvent, ...]]:
    """A container's own events and, among them in chain order, its contents' packings and
    unpackings: each run of one action in one transaction together."""
    runs: list[tuple[ItemEvent, ...]] = []
    for event in contents:
        last = runs[-1][-1] if runs else None
        if last is not None and (last.tx_hash, last.name) == (event.tx_hash, event.name):
            runs[-1] = (*runs[-1], event)
        else:
            runs.append((event,))
    steps: list[ItemEvent | tuple[ItemEvent, ...]] = [*history, *runs]
    return sorted(
        steps, key=lambda step: _position(step if isinstance(step, ItemEvent) else step[0])
    )


def _document(
    registry: Registry,
    events: list[dict[str, Any]],
    prefixes: dict[str, str],
    created_at: datetime | None,
) -> dict[str, Any]:
    context: list[Any] = [EPCIS_CONTEXT, prefixes]
    for epcis in events:
        if "eventID" not in epcis:
            epcis["eventID"] = event_hash_id(_without_annotations(epcis), context)
    return {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": epcis_time(created_at or datetime.now(UTC)),
        "veritag:chainId": registry.chain_id,
        "veritag:registry": registry.address,
        IGNORE_FIELDS: list(CHAIN_FIELDS),
        "epcisBody": {"eventList": [_event_id_first(e) for e in events]},
    }


def _chain_position(event: Mapping[str, Any]) -> tuple[int, int]:
    return int(event["veritag:block"]), int(event["veritag:logIndex"])


def _position(event: ItemEvent) -> tuple[int, int]:
    return event.block_number, event.log_index


class _ContainerEpcs:
    """The EPC of each container: its SSCC URN when the store knows the SSCC."""

    def __init__(self, store: Store | None, known: Mapping[str, str] | None = None) -> None:
        self._containers = Containers(store.engine) if store is not None else None
        self._ssccs = dict(known or {})

    def of(self, container: str) -> str:
        sscc = self.sscc(container)
        if sscc is not None:
            try:
                return sscc_urn(sscc)
            except InvalidSSCC:  # a company prefix GS1's table does not know
                return f"https://id.gs1.org/00/{sscc}"
        return f"{VERITAG_NAMESPACE}container/{container.lower()}"

    def sscc(self, container: str) -> str | None:
        container = container.lower()
        if container not in self._ssccs and self._containers is not None:
            self._ssccs.update(self._containers.ssccs([container]))
        return self._ssccs.get(container)


class _ChildEpcs:
    """The EPC of each record packed into a container: an item's SGTIN URN (its Digital Link
    when GS1's table does not know its company prefix) from its GTIN and serial in ``items``
    or the store (``ItemCode``); a case's as :class:`_ContainerEpcs` names it. A record the
    store cannot name is named by its id, as an item's export names an unknown container:
    ``{VERITAG_NAMESPACE}container/{id}`` for a case (the chain flags it CONTAINER), else
    ``{VERITAG_NAMESPACE}item/{id}``."""

    def __init__(
        self,
        registry: Registry,
        store: Store | None,
        containers: _ContainerEpcs,
        items: Mapping[str, tuple[str, str]] | None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._containers = containers
        self._items = {ident.lower(): code for ident, code in (items or {}).items()}

    def of(self, record: str) -> str:
        record = record.lower()
        code = self._items.get(record)
        if code is None and self._store is not None:
            row = self._store.code(record)
            code = None if row is None else (row.gtin, row.serial)
        if code is not None:
            return _sgtin_urn(build_digital_link(*code))
        if self._containers.sscc(record) is not None or self._is_container(record):
            return self._containers.of(record)
        return f"{VERITAG_NAMESPACE}item/{record}"

    def _is_container(self, record: str) -> bool:
        state = self._registry.item(ItemId(bytes.fromhex(record.removeprefix("0x"))))
        return state is not None and state.is_container


def _sgtin_urn(link: str) -> str:
    """The SGTIN URN of an item's Digital Link, or the link when its prefix is unknown."""
    try:
        return digital_link_to_sgtin_urn(link)
    except InvalidDigitalLink:
        return link


def _container_events(
    registry: Registry,
    item: ItemId,
    item_writer: _EventWriter,
    epcs: _ContainerEpcs,
    gln_of: Callable[[str], str | None],
    *,
    store: Store | None,
    prefixes: dict[str, str],
) -> list[dict[str, Any]]:
    """The events of the containers that carried ``item`` (``Registry.travels``), each as its
    container's own export writes it (its whole history read, so dispositions agree; a
    captured move as it was captured, its prefixes added to ``prefixes``)."""
    travels = registry.travels(item)
    if not travels:
        return []
    wanted = {(e.tx_hash, e.log_index) for e in travels}
    out: list[dict[str, Any]] = []
    for container in dict.fromkeys(e.container for e in travels if e.container is not None):
        writer = _EventWriter(
            registry=registry,
            epc=epcs.of(container.hex()),
            ilmd=None,
            gln_of=gln_of,
            parent_epc=epcs.of,
            _block_times=item_writer._block_times,
        )
        captured = _captured_events(store, container)
        for event in registry.history(container):
            native = writer.events_of(event)
            if (event.tx_hash, event.log_index) in wanted:
                out.extend(_as_captured(event, native, captured, prefixes))
    return out


def _captured_events(store: Store | None, record: ItemId) -> dict[str, CapturedItemEvent]:
    """The record's captured events in ``store``, by digest."""
    return {} if store is None else Captures(store.engine).of_item(record)


def _written(
    event: ItemEvent,
    writer: _EventWriter,
    captured: Mapping[str, CapturedItemEvent],
    prefixes: dict[str, str],
) -> list[dict[str, Any]]:
    """The EPCIS events of one chain event (see :func:`_as_captured`)."""
    return _as_captured(event, writer.events_of(event), captured, prefixes)


def _as_captured(
    event: ItemEvent,
    native: list[dict[str, Any]],
    captured: Mapping[str, CapturedItemEvent],
    prefixes: dict[str, str],
) -> list[dict[str, Any]]:
    """The captured event that caused the chain event ``event``, as it was sent, when the
    store has it; else ``native``, what the writer made of the chain event."""
    body = captured.get(event.event_hash) if event.event_hash is not None else None
    return [_captured(body, native[0], prefixes)] if body is not None else native


def _without_annotations(event: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key not in CHAIN_FIELDS}


def _event_id_first(event: dict[str, Any]) -> dict[str, Any]:
    return {"eventID": event["eventID"], **event}


def _captured(
    body: CapturedItemEvent, native: Mapping[str, Any], prefixes: dict[str, str]
) -> dict[str, Any]:
    """The captured event as it was sent, annotated with its chain event."""
    renamed = _merge_prefixes(prefixes, body.context)
    event = _renamed_keys(body.event, renamed) if renamed else dict(body.event)
    event["recordTime"] = epcis_time(body.captured_at)
    event.update({key: native[key] for key in CHAIN_FIELDS})
    return event


def _merge_prefixes(prefixes: dict[str, str], context: Any) -> dict[str, str]:
    """Add the captured document's prefixes; a prefix the export already uses for another
    IRI gets a new name, returned old → new (the hash reads IRIs, not prefix names)."""
    renamed: dict[str, str] = {}
    for entry in context if isinstance(context, list) else [context]:
        if not isinstance(entry, Mapping):
            continue
        for prefix, iri in entry.items():
            if not isinstance(iri, str) or prefixes.setdefault(prefix, iri) == iri:
                continue
            known = {v: k for k, v in prefixes.items()}
            if iri not in known:
                number = 2
                while f"{prefix}{number}" in prefixes:
                    number += 1
                prefixes[f"{prefix}{number}"] = iri
                known[iri] = f"{prefix}{number}"
            renamed[prefix] = known[iri]
    return renamed


def _renamed_keys(value: Any, renamed: Mapping[str, str]) -> Any:
    if isinstance(value, list):
        return [_renamed_keys(v, renamed) for v in value]
    if not isinstance(value, Mapping):
        return value
    out = {}
    for key, item in value.items():
        prefix, colon, local = key.partition(":")
        new_key = f"{renamed[prefix]}:{local}" if colon and prefix in renamed else key
        out[new_key] = _renamed_keys(item, renamed)
    return out


def _gln(sites: SignalStore | None, address: str) -> str | None:
    if sites is None:
        return None
    site = sites.site(address)
    return None if site is None else site.gln


def _no_gln(_address: str) -> str | None:
    return None


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
    gln_of: Callable[[str], str | None]
    child_epc: str | None = None
    """How an AggregationEvent names this record as a child (default: ``epc``)."""
    parent_epc: Callable[[str], str] = str
    """The EPC of a container, from its ``0x`` id."""
    disposition: _Disposition = field(default_factory=_Disposition)
    shipment: tuple[str, str] | None = None
    _block_times: dict[int, int] = field(default_factory=dict)

    def events_of(self, event: ItemEvent) -> list[dict[str, Any]]:
        args, state = event.args, self.disposition
        match event.name:
            case "ItemRegistered" | "BatchItemRegistered" | "BatchItemActivated":
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
            case "ItemPacked" | "ItemUnpacked":
                return [self._aggregation(event, [self.child_epc or self.epc])]
        return []

    def contents_of(
        self, run: Sequence[ItemEvent], child_epc: Callable[[str], str]
    ) -> dict[str, Any]:
        """One packing into (or unpacking out of) this container of every record of ``run``
        (events of one transaction, from ``Registry.contents_events``); ``veritag:seq``
        lists each child's seq."""
        children = [child_epc(str(event.args["itemId"])) for event in run]
        epcis = self._aggregation(run[0], children)
        epcis["veritag:seq"] = [event.seq for event in run]
        return epcis

    def _aggregation(self, event: ItemEvent, children: list[str]) -> dict[str, Any]:
        """Packing (ADD) or unpacking (DELETE) of ``children`` into or out of a container."""
        packed = event.name == "ItemPacked"
        epcis = self._event(
            event, "ADD" if packed else "DELETE", "packing" if packed else "unpacking"
        )
        parent = self.parent_epc(str(event.args["containerId"]))
        return {
            "type": "AggregationEvent",
            "eventTime": epcis["eventTime"],
            "eventTimeZoneOffset": epcis["eventTimeZoneOffset"],
            "parentID": parent,
            "childEPCs": children,
            **{k: v for k, v in epcis.items() if k not in _OBJECT_ONLY},
        }

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
            "eventTime": epcis_time(self._block_time(event.block_number)),
            "eventTimeZoneOffset": "+00:00",
            "epcList": [self.epc],
            "action": action,
        }
        if biz_step is not None:
            epcis["bizStep"] = biz_step
        epcis["disposition"] = disposition or self.disposition.current
        self._locate(epcis, event, biz_step)
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

    def _locate(self, epcis: dict[str, Any], event: ItemEvent, biz_step: str | None) -> None:
        """Name the acting party's site, where it is recorded with a GLN."""
        if biz_step not in _LOCATED_STEPS:
            return
        args = event.args
        if biz_step in ("packing", "unpacking"):
            actor = args.get("by")
        elif biz_step == "shipping":
            actor = args.get("from")
        elif event.name == "CustodyTransferred":  # its receiving half
            actor = args.get("to")
        else:
            actor = args.get("by") or args.get("retailer") or args.get("operator")
        gln = self.gln_of(actor) if isinstance(actor, str) else None
        if gln is None:
            return
        epcis["readPoint"] = {"id": GLN_BASE + gln}
        if biz_step != "shipping":
            epcis["bizLocation"] = {"id": GLN_BASE + gln}

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


def epcis_time(moment: datetime) -> str:
    """``moment`` as EPCIS writes times: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
