"""EPCIS 2.0 capture: which events of a partner's document the ledger can apply, and why not.

:func:`plan_capture` reads a whole ``EPCISDocument`` before anything is recorded. Each
ObjectEvent becomes one custody step per item (or case or pallet) it names, each
AggregationEvent one packing or unpacking of all its children; anything else is a refusal
with a reason:

================  ==================  =======  =============================================
event type        bizStep             action   what the ledger does (as the capturing org)
================  ==================  =======  =============================================
ObjectEvent       commissioning       ADD      registers the item (an operator of the GTIN's
                                               brand)
ObjectEvent       shipping            OBSERVE  ships it to the ``destinationList`` party; an
                                               SSCC's case or pallet with all it holds
ObjectEvent       receiving           OBSERVE  accepts its delivery (the consignee); an
                                               SSCC's case or pallet with all it holds
ObjectEvent       retail_selling      OBSERVE  records its retail sale (the custodian)
ObjectEvent       decommissioning     DELETE   takes it out of service (custodian or brand)
ObjectEvent       destroying          DELETE   records it destroyed (custodian or brand)
AggregationEvent  packing             ADD      packs the ``childEPCs`` into the ``parentID``
                                               (``pack``; the first packing opens it)
AggregationEvent  unpacking           DELETE   takes the ``childEPCs`` out of the
                                               ``parentID`` (``unpack``; the holder of the
                                               container then holds each)
================  ==================  =======  =============================================

Other event types, business steps and actions are refused: the ledger records the custody
of serialised items and their packing into cases and pallets, nothing else. An
AggregationEvent's ``parentID`` is a case's or pallet's SSCC (``urn:epc:id:sscc:…`` or a
Digital Link with AI 00); its ``childEPCs`` are items (SGTIN URNs or Digital Links) or, onto
a pallet, cases by SSCC; ``childQuantityList`` and an empty or missing ``childEPCs`` are
refused. The capturing organisation must hold the container and every child; nothing is
packed that is already packed or into a packed container, a container that holds cases is
not packed (item → case → pallet at most), and only what is directly in a container is
unpacked from it. The chain records no hash for a packing: the store's capture record
recognises an AggregationEvent sent again, as the chain's hash does an ObjectEvent.

An ObjectEvent's ``epcList`` may name a case or pallet by its SSCC for shipping and
receiving, which ``applyEpcisEvent`` applies to its container id as to an item (the hash
recorded beside it); everything packed in it moves with it. Commissioning an SSCC is refused
(a container is opened by its first packing), and so are selling and retiring one (the
contract refuses them, ``IsContainer``), an SSCC nothing was ever packed into, and moving an
item or case on its own while it is packed.

Events apply in ``eventTime`` order (document order breaks ties), each checked against the
chain state as left by the events before it, with the same rules as the contract, so that
a document that passes here applies in full unless the chain changes before its
transactions are mined.

Parties (``sourceList``/``destinationList``) are ledger accounts written as
``did:pkh:eip155:{chain id}:{address}`` (as exports write them) or GS1 location and party
numbers (SGLN, PGLN, or Digital Links with AI 414/417) of sites recorded with a GLN.
Every event's CBV 2.0 hash ID is computed under the document's ``@context``, without the
fields the document lists under ``ignoreFields`` (an export's chain annotations), which are
not kept; an event whose ``eventID`` is a hash ID must carry its own.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

from ledger.epcis.event_hash import (
    EPCIS_CONTEXT,
    event_hash_id,
    hash_id_digest,
    ignored_fields,
)
from ledger.epcis.identifiers import (
    canonical_digital_link,
    epc_item,
    epc_sscc,
    named_containers,
)
from ledger.errors import EventHashError, IdentifierError
from ledger.identifiers import ItemId, container_id, item_id, validate_sscc
from ledger.identifiers.digital_link import parse_digital_link
from ledger.registry import EpcisStep, ItemState, Registry, Status

__all__ = [
    "MAX_CAPTURE_STEPS",
    "Aggregation",
    "AggregationStep",
    "CapturePlan",
    "CaptureStep",
    "CaptureView",
    "Content",
    "PlannedStep",
    "Refusal",
    "RegistryCaptureView",
    "cbv_term",
    "plan_capture",
]

MAX_CAPTURE_STEPS = 500
"""Item steps one document may ask for (the registry's batch size): larger captures are
split by the sender, so one request never queues an unbounded number of transactions."""

_STEPS: dict[str, tuple[str, EpcisStep]] = {
    "commissioning": ("ADD", EpcisStep.COMMISSIONING),
    "shipping": ("OBSERVE", EpcisStep.SHIPPING),
    "receiving": ("OBSERVE", EpcisStep.RECEIVING),
    "retail_selling": ("OBSERVE", EpcisStep.RETAIL_SELLING),
    "decommissioning": ("DELETE", EpcisStep.DECOMMISSIONING),
    "destroying": ("DELETE", EpcisStep.DESTROYING),
}


class Aggregation(enum.Enum):
    """What a captured AggregationEvent does, by the outbox kind that applies it."""

    PACKING = "pack"
    UNPACKING = "unpack"


_AGGREGATIONS: dict[str, tuple[str, Aggregation]] = {
    "packing": ("ADD", Aggregation.PACKING),
    "unpacking": ("DELETE", Aggregation.UNPACKING),
}
_Step = TypeVar("_Step", EpcisStep, Aggregation)
_BIZ_STEP_PREFIXES = (
    "urn:epcglobal:cbv:bizstep:",
    "https://ref.gs1.org/cbv/BizStep-",
    "https://gs1.org/voc/BizStep-",
    "cbv:BizStep-",
    "gs1:BizStep-",
)
_PARTY_TYPES = ("possessing_party", "owning_party", "location")
_DID_PKH = re.compile(r"did:pkh:eip155:(\d+):(0x[0-9a-fA-F]{40})")
_RETIRED = (Status.DECOMMISSIONED, Status.DESTROYED)
_NOT_FOR_CONTAINERS = {
    EpcisStep.COMMISSIONING: "containers are not commissioned; the first packing into one "
    "(an AggregationEvent) opens it",
    EpcisStep.RETAIL_SELLING: "containers are not sold; unpack it and sell its items",
    EpcisStep.DECOMMISSIONING: "containers are not retired; unpack it and retire its items",
    EpcisStep.DESTROYING: "containers are not retired; unpack it and retire its items",
}
"""Why each ObjectEvent step the contract refuses a container for (``IsContainer``) is
refused for an SSCC: only shipping and receiving move a case or pallet."""


class CaptureView(Protocol):
    """What planning reads: the chain's item and role state, and the recorded sites."""

    def item(self, item: ItemId) -> ItemState | None: ...

    def operator_brand(self, address: str) -> int | None:
        """The brand ``address`` may register for (an active, unsuspended operator)."""
        ...

    def brand_authority(self, address: str, brand_id: int) -> bool:
        """Whether ``address`` is the brand's admin or one of its active operators."""
        ...

    def brand_of_gtin(self, gtin: str) -> int | None: ...

    def site_of_gln(self, gln: str) -> str | None:
        """The ledger address of the site recorded with GLN ``gln``."""
        ...

    def containers_in(self, container: ItemId) -> int:
        """How many cases are packed directly in ``container`` now (the contract's count
        behind ``NestingTooDeep``)."""
        ...


@dataclass(frozen=True)
class Refusal:
    """Why one event (or, with ``index`` None, the document) cannot be applied."""

    index: int | None
    event_id: str | None
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"index": self.index, "eventID": self.event_id, "reason": self.reason}


@dataclass(frozen=True)
class Content:
    """A record an event names: an item (GTIN and serial) or a case or pallet (SSCC)."""

    epc: str
    item: ItemId
    """The item id, or for a case or pallet ``container_id(sscc)``."""
    gtin: str | None = None
    serial: str | None = None
    sscc: str | None = None

    def request(self) -> dict[str, str]:
        if self.sscc is not None:
            return {"sscc": self.sscc}
        assert self.gtin is not None
        assert self.serial is not None
        return {"gtin": self.gtin, "serial": self.serial}


@dataclass(frozen=True)
class CaptureStep:
    """One record's custody step of one captured ObjectEvent: an item's, or a case's or
    pallet's (shipping and receiving only), applied with the event's hash recorded."""

    kind: ClassVar[str] = "epcis"

    event_index: int
    event_id: str
    """The event's CBV 2.0 hash ID."""
    digest: str
    """The SHA-256 digest inside ``event_id``, 0x hex: what the chain records."""
    record: Content
    step: EpcisStep
    party: ChecksumAddress | None
    event: dict[str, Any]
    """The event as captured, with ``eventID`` set to its hash ID."""

    @property
    def item(self) -> ItemId:
        return self.record.item

    def request(self) -> dict[str, Any]:
        """The outbox request (kind ``epcis``) that applies this step."""
        return {
            **self.record.request(),
            "step": self.step.name.lower(),
            "party": self.party,
            "event_hash": self.digest,
        }

    def records(self) -> tuple[Content, ...]:
        return (self.record,)

    def item_steps(self) -> list[tuple[ItemId, str]]:
        """Each record the step changes, with the step's name: one row each in the store."""
        return [(self.item, self.step.name.lower())]


@dataclass(frozen=True)
class AggregationStep:
    """One captured AggregationEvent: its children packed into, or unpacked from, the case
    or pallet ``sscc`` in one transaction. The chain records no hash for it, so the store's
    rows (one per child) are what recognise it when it is sent again."""

    event_index: int
    event_id: str
    digest: str
    sscc: str
    contents: tuple[Content, ...]
    action: Aggregation
    event: dict[str, Any]

    @property
    def kind(self) -> str:
        """The outbox kind that applies it: ``pack`` or ``unpack``."""
        return self.action.value

    def request(self) -> dict[str, Any]:
        return {"sscc": self.sscc, "items": [c.request() for c in self.contents]}

    def records(self) -> tuple[Content, ...]:
        return self.contents

    def item_steps(self) -> list[tuple[ItemId, str]]:
        return [(c.item, self.action.name.lower()) for c in self.contents]


PlannedStep = CaptureStep | AggregationStep


@dataclass(frozen=True)
class CapturePlan:
    steps: list[PlannedStep]
    """In the order they apply: one outbox operation each."""
    refusals: list[Refusal]
    context: Any
    """The document's ``@context``, kept with each event to hash it again later."""

    def codes(self) -> Iterator[tuple[str, str, str]]:
        """GTIN, serial and item id (hex) of every item the steps name."""
        for step in self.steps:
            for record in step.records():
                if record.gtin is not None and record.serial is not None:
                    yield record.gtin, record.serial, record.item.hex()

    def ssccs(self) -> list[str]:
        """Every case and pallet the steps name, by SSCC (they never go on chain)."""
        named = [
            sscc
            for step in self.steps
            for sscc in (
                step.sscc if isinstance(step, AggregationStep) else None,
                *(record.sscc for record in step.records()),
            )
            if sscc is not None
        ]
        return list(dict.fromkeys(named))


def plan_capture(
    document: Mapping[str, Any],
    view: CaptureView,
    *,
    actor: str,
    chain_id: int,
    already_captured: Callable[[str, ItemId], str | None] = lambda _d, _i: None,
) -> CapturePlan:
    """Every step the document's events ask of the ledger, and every refusal.

    ``actor`` is the account the capturing organisation acts through. ``already_captured``
    names the capture that already recorded an event (by digest) for an item, if any.
    The document's JSON shape is the caller's to check first (GS1's JSON schema); what is
    checked here is what the ledger needs of each event.
    """
    context = document.get("@context", EPCIS_CONTEXT)
    events = _event_list(document)
    planner = _Planner(view, to_checksum_address(actor), chain_id, already_captured)
    planner.names = {ident: epc for ident, (_, epc) in named_containers(events).items()}
    ordered = sorted(enumerate(events), key=lambda pair: _event_time_key(pair[1]))
    for index, event in ordered:
        planner.plan(index, event, context)
    steps = planner.steps
    count = sum(len(step.item_steps()) for step in steps)
    if count > MAX_CAPTURE_STEPS:
        planner.refusals.append(
            Refusal(
                None,
                None,
                f"the document asks for {count} item steps, more than the "
                f"{MAX_CAPTURE_STEPS} one capture may queue; split it",
            )
        )
    refusals = sorted(planner.refusals, key=lambda r: -1 if r.index is None else r.index)
    return CapturePlan(steps=steps, refusals=refusals, context=context)


def _event_list(document: Mapping[str, Any]) -> list[Any]:
    """The events, without the fields the document lists under ``ignoreFields`` (an export's
    chain annotations: not part of the event, nor of its hash ID)."""
    body = document.get("epcisBody")
    events = body.get("eventList") if isinstance(body, Mapping) else None
    if not isinstance(events, list):
        return []
    ignored = ignored_fields(document)
    if not ignored:
        return events
    return [
        {k: v for k, v in e.items() if k not in ignored} if isinstance(e, Mapping) else e
        for e in events
    ]


def _event_time_key(event: Any) -> tuple[int, float]:
    # Unreadable times sort first; the event is refused for it when planned.
    if isinstance(event, Mapping):
        moment = _event_time(event)
        if moment is not None:
            return (1, moment.timestamp())
    return (0, 0.0)


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    value = event.get("eventTime")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@dataclass
class _ItemSim:
    """An item's state as the document's earlier events leave it."""

    exists: bool
    status: Status = Status.NONE
    custodian: str | None = None
    consignee: str | None = None
    frozen: str | None = None
    brand_id: int | None = None
    is_container: bool = False
    container: str | None = None
    """The container (hex id) it is packed in directly."""
    cases: int | None = None
    """For a container, how many cases it holds directly (read from the chain when needed)."""


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class _Planner:
    view: CaptureView
    actor: ChecksumAddress
    chain_id: int
    already_captured: Callable[[str, ItemId], str | None]
    steps: list[PlannedStep] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    items: dict[str, _ItemSim] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    """The EPC the document names each container by (hex id → EPC), for refusals."""

    def plan(self, index: int, event: Any, context: Any) -> None:
        event_id = event.get("eventID") if isinstance(event, Mapping) else None
        label = event_id if isinstance(event_id, str) else None
        try:
            self._plan(index, event, context)
        except _Refused as refused:
            self.refusals.append(Refusal(index, label, refused.reason))

    def _plan(self, index: int, event: Any, context: Any) -> None:
        if not isinstance(event, Mapping):
            raise _Refused("an event must be a JSON object")
        kind = event.get("type")
        if kind not in ("ObjectEvent", "AggregationEvent"):
            raise _Refused(
                f"{kind} events are not applied: the ledger records the custody of "
                "individual serialised items, which ObjectEvents carry, and their packing "
                "into cases and pallets, which AggregationEvents carry"
            )
        if _event_time(event) is None:
            raise _Refused("its eventTime is missing or not an ISO 8601 time with an offset")
        if kind == "AggregationEvent":
            self._plan_aggregation(index, event, context)
            return
        step = _step_of(event, _STEPS)
        if event.get("quantityList"):
            raise _Refused(
                "it counts quantities of a class (quantityList); the ledger records "
                "individual items, named in epcList"
            )
        epcs = event.get("epcList")
        if not isinstance(epcs, list) or not epcs:
            raise _Refused("its epcList names no item")
        hash_id, digest = self._hash(event, context)
        recipient = self._parties(event, step)
        captured = {**event, "eventID": hash_id}
        planned: list[CaptureStep] = []
        for epc in epcs:
            record = _content(epc, listed_in="epcList", missing=_NO_OBJECT)
            if record.sscc is not None and step in _NOT_FOR_CONTAINERS:
                raise _Refused(f"{epc} is a case or pallet (SSCC): {_NOT_FOR_CONTAINERS[step]}")
            if any(p.item == record.item for p in planned):
                raise _Refused(f"its epcList names {epc} twice")
            earlier = self.already_captured(digest, record.item)
            if earlier is not None:
                raise _Refused(f"it was already captured for {epc} (capture {earlier})")
            planned.append(CaptureStep(index, hash_id, digest, record, step, recipient, captured))
        # All of the event's records must pass before any of them counts as moved.
        after = {p.item.hex(): self._apply(p) for p in planned}
        self.items.update(after)
        self.steps.extend(planned)

    def _plan_aggregation(self, index: int, event: Mapping[str, Any], context: Any) -> None:
        aggregation = _step_of(event, _AGGREGATIONS, " to an AggregationEvent")
        if event.get("childQuantityList"):
            raise _Refused(
                "it counts quantities of a class (childQuantityList); the ledger packs "
                "individual items and cases, named in childEPCs"
            )
        parent = event.get("parentID")
        if not isinstance(parent, str) or not parent:
            raise _Refused(
                "it has no parentID: the ledger packs into and unpacks from a case or pallet "
                "named by its SSCC"
            )
        sscc = _parent_sscc(parent)
        children = event.get("childEPCs")
        if not isinstance(children, list) or not children:
            raise _Refused(
                f"its childEPCs names nothing to {aggregation.value}: the ledger "
                f"{aggregation.value}s the items and cases an event lists, one by one"
            )
        hash_id, digest = self._hash(event, context)
        box = container_id(sscc)
        contents: list[Content] = []
        for epc in children:
            content = _content(epc, listed_in="childEPCs", missing=_NO_CHILD)
            if any(c.item == content.item for c in contents):
                raise _Refused(f"its childEPCs names {epc} twice")
            earlier = self.already_captured(digest, content.item)
            if earlier is not None:
                raise _Refused(f"it was already captured for {epc} (capture {earlier})")
            contents.append(content)
        if aggregation is Aggregation.PACKING:
            after = self._pack(box, parent, contents)
        else:
            after = self._unpack(box, parent, contents)
        self.items.update(after)
        captured = {**event, "eventID": hash_id}
        self.steps.append(
            AggregationStep(index, hash_id, digest, sscc, tuple(contents), aggregation, captured)
        )

    def _pack(self, box_id: ItemId, parent: str, contents: list[Content]) -> dict[str, _ItemSim]:
        """The records after packing ``contents`` into ``box_id``, by the contract's rules."""
        box = self._sim(box_id)
        if not box.exists:  # the first pack opens the container, held by the packer
            box = _ItemSim(
                exists=True, status=Status.ACTIVE, custodian=self.actor, is_container=True, cases=0
            )
        else:
            if not box.is_container:
                raise _Refused(f"{parent} is registered as an item, not as a case or pallet")
            self._require_movable(box, parent)
        after: dict[str, _ItemSim] = {}
        cases = 0
        for content in contents:
            if content.item == box_id:
                raise _Refused(f"{content.epc} cannot be packed into itself")
            sim = self._sim(content.item)
            self._require_movable(sim, content.epc)
            if sim.is_container:
                if self._cases(content.item, sim):
                    raise _Refused(
                        f"{content.epc} holds cases itself, so it cannot be packed into "
                        f"{parent}: containers nest at most two levels above an item "
                        "(item → case → pallet)"
                    )
                cases += 1
            after[content.item.hex()] = replace(sim, container=box_id.hex())
        if cases:
            box = replace(box, cases=self._cases(box_id, box) + cases)
        after[box_id.hex()] = box
        return after

    def _unpack(self, box_id: ItemId, parent: str, contents: list[Content]) -> dict[str, _ItemSim]:
        """The records after taking ``contents`` out of ``box_id``: its custodian holds each."""
        box = self._sim(box_id)
        if not box.exists:
            raise _Refused(f"{parent} is not on the ledger: nothing was ever packed into it")
        self._require_movable(box, parent)
        if not box.is_container:
            raise _Refused(f"{parent} is registered as an item, not as a case or pallet")
        after: dict[str, _ItemSim] = {}
        cases = 0
        for content in contents:
            sim = self._sim(content.item)
            if sim.container != box_id.hex():
                where = (
                    "it is not registered on the ledger"
                    if not sim.exists
                    else "it is not packed"
                    if sim.container is None
                    else f"it is packed in {self._name(sim.container)}"
                )
                raise _Refused(f"{content.epc} is not in {parent}; {where}")
            cases += sim.is_container
            after[content.item.hex()] = replace(
                sim, container=None, custodian=self.actor, status=Status.ACTIVE, consignee=None
            )
        if cases:
            box = replace(box, cases=self._cases(box_id, box) - cases)
        after[box_id.hex()] = box
        return after

    def _cases(self, container: ItemId, sim: _ItemSim) -> int:
        if sim.cases is None:
            sim.cases = self.view.containers_in(container)
        return sim.cases

    def _name(self, container: str) -> str:
        return self.names.get(container, f"container {container}")

    def _hash(self, event: Mapping[str, Any], context: Any) -> tuple[str, str]:
        try:
            hash_id = event_hash_id(event, context)
        except EventHashError as error:
            raise _Refused(error.reason) from None
        claimed = event.get("eventID")
        if isinstance(claimed, str) and claimed.startswith("ni:///") and claimed != hash_id:
            raise _Refused(f"its eventID is {claimed}, but the event's hash ID is {hash_id}")
        return hash_id, hash_id_digest(hash_id)

    def _parties(self, event: Mapping[str, Any], step: EpcisStep) -> ChecksumAddress | None:
        sources = self._party_list(event, "sourceList", "source")
        destinations = self._party_list(event, "destinationList", "destination")
        if step is EpcisStep.SHIPPING:
            if sources and self.actor not in sources:
                raise _Refused(
                    f"it is shipped from {', '.join(sorted(sources))}, not from the "
                    f"capturing organisation's account {self.actor}"
                )
            recipients = sorted(set(destinations))
            if not recipients:
                raise _Refused(
                    "a shipping event must name its recipient in destinationList "
                    "(possessing_party, owning_party or location) for the ledger to hand "
                    "the item over"
                )
            if len(recipients) > 1:
                raise _Refused(f"it names several recipients ({', '.join(recipients)})")
            return to_checksum_address(recipients[0])
        if step is EpcisStep.RECEIVING and destinations and self.actor not in destinations:
            raise _Refused(
                f"it is received by {', '.join(sorted(destinations))}, not by the capturing "
                f"organisation's account {self.actor}"
            )
        return None

    def _party_list(self, event: Mapping[str, Any], name: str, key: str) -> list[str]:
        entries = event.get(name) or []
        if not isinstance(entries, list):
            raise _Refused(f"its {name} is not a list")
        parties = []
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get(key), str):
                raise _Refused(f"each {name} entry needs a type and a {key} URI")
            if cbv_term(entry.get("type"), "SDT") in _PARTY_TYPES:
                parties.append(self._account(entry[key]))
        return parties

    def _account(self, uri: str) -> str:
        did = _DID_PKH.fullmatch(uri)
        if did is not None:
            chain, address = did.groups()
            if int(chain) != self.chain_id:
                raise _Refused(f"party {uri} is an account on chain {chain}, not {self.chain_id}")
            if not is_address(address):
                raise _Refused(f"party {uri} is not a valid account")
            return to_checksum_address(address)
        gln = _gln_of(uri)
        if gln is None:
            raise _Refused(
                f"party {uri} is neither a ledger account (did:pkh:eip155:…) nor a GLN "
                "(SGLN, PGLN or a Digital Link with AI 414 or 417)"
            )
        address = self.view.site_of_gln(gln)
        if address is None:
            raise _Refused(
                f"party {uri} names GLN {gln}, which no recorded site has "
                "(the registry records it with PUT /v1/sites/{address})"
            )
        return to_checksum_address(address)

    def _apply(self, planned: CaptureStep) -> _ItemSim:
        # Only shipping and receiving get here for a case or pallet (_NOT_FOR_CONTAINERS).
        sim, epc = self._sim(planned.item), planned.record.epc
        if planned.record.sscc is not None and not sim.exists:
            raise _Refused(f"{epc} is not on the ledger: nothing was ever packed into it")
        match planned.step:
            case EpcisStep.COMMISSIONING:
                return self._commission(sim, planned, epc)
            case EpcisStep.SHIPPING:
                self._require_movable(sim, epc)
                assert planned.party is not None
                if planned.party == self.actor:
                    raise _Refused(f"{epc} would be shipped to its own custodian {self.actor}")
                return replace(sim, status=Status.IN_TRANSIT, consignee=planned.party)
            case EpcisStep.RECEIVING:
                self._require_live(sim, epc)
                if sim.status is not Status.IN_TRANSIT:
                    raise _Refused(f"{epc} is {_status(sim.status)}, not in transit")
                if sim.consignee != self.actor:
                    raise _Refused(
                        f"{epc} is shipped to {sim.consignee}, not to the capturing "
                        f"organisation's account {self.actor}"
                    )
                self._require_unfrozen(sim, epc)
                return replace(sim, status=Status.ACTIVE, custodian=self.actor, consignee=None)
            case EpcisStep.RETAIL_SELLING:
                self._require_movable(sim, epc)
                return replace(sim, status=Status.SOLD)
            case _:
                self._require_live(sim, epc)
                if sim.custodian != self.actor and not (
                    sim.brand_id is not None and self.view.brand_authority(self.actor, sim.brand_id)
                ):
                    raise _Refused(
                        f"{epc} is held by {sim.custodian}; only its custodian or its brand "
                        f"may retire it, and {self.actor} is neither"
                    )
                if sim.status is Status.IN_TRANSIT:
                    raise _Refused(f"{epc} is in transit; it must be received first")
                retired = (
                    Status.DESTROYED
                    if planned.step is EpcisStep.DESTROYING
                    else Status.DECOMMISSIONED
                )
                return replace(sim, status=retired)

    def _commission(self, sim: _ItemSim, planned: CaptureStep, epc: str) -> _ItemSim:
        if sim.exists:
            raise _Refused(f"{epc} is already registered")
        brand = self.view.operator_brand(self.actor)
        if brand is None:
            raise _Refused(
                f"the capturing organisation's account {self.actor} is not an active "
                "operator of an unsuspended brand, so it cannot register items"
            )
        gtin = planned.record.gtin
        owner = self.view.brand_of_gtin(str(gtin))
        if owner != brand:
            whose = "no brand's" if owner is None else f"brand {owner}'s"
            raise _Refused(
                f"GTIN {gtin} of {epc} is under {whose} prefix, not under a prefix "
                f"of brand {brand}, for which {self.actor} registers"
            )
        return _ItemSim(exists=True, status=Status.ACTIVE, custodian=self.actor, brand_id=brand)

    def _sim(self, item: ItemId) -> _ItemSim:
        key = item.hex()
        if key not in self.items:
            state = self.view.item(item)
            self.items[key] = _from_chain(state)
        return self.items[key]

    def _require_live(self, sim: _ItemSim, epc: str) -> None:
        if not sim.exists:
            raise _Refused(f"{epc} is not registered on the ledger")
        if sim.status in _RETIRED:
            raise _Refused(f"{epc} is {_status(sim.status)}; retired items do not move")
        if sim.container is not None:
            raise _Refused(
                f"{epc} is packed in {self._name(sim.container)} and moves with it; it must "
                "be unpacked first"
            )

    def _require_unfrozen(self, sim: _ItemSim, epc: str) -> None:
        if sim.frozen is not None:
            raise _Refused(f"{epc} is {sim.frozen}; it cannot move until that is lifted")

    def _require_movable(self, sim: _ItemSim, epc: str) -> None:
        self._require_live(sim, epc)
        if sim.status is not Status.ACTIVE:
            raise _Refused(f"{epc} is {_status(sim.status)}, not active")
        if sim.custodian != self.actor:
            raise _Refused(
                f"{epc} is held by {sim.custodian}, not by the capturing organisation's "
                f"account {self.actor}"
            )
        self._require_unfrozen(sim, epc)


def _from_chain(state: ItemState | None) -> _ItemSim:
    if state is None:
        return _ItemSim(exists=False)
    frozen = "recalled" if state.recalled else "reported stolen" if state.stolen else None
    return _ItemSim(
        exists=True,
        status=state.status,
        custodian=state.custodian,
        consignee=state.consignee,
        frozen=frozen,
        brand_id=state.brand_id,
        is_container=state.is_container,
        container=None if state.container is None else state.container.hex(),
    )


def _status(status: Status) -> str:
    return status.name.lower().replace("_", " ")


def _biz_step(value: Any) -> str | None:
    return cbv_term(value, "BizStep")


def _step_of(
    event: Mapping[str, Any], table: Mapping[str, tuple[str, _Step]], applied_to: str = ""
) -> _Step:
    """What the event's bizStep does, from ``table`` (bizStep → action, step), if its
    action is the one that bizStep takes."""
    biz_step = _biz_step(event.get("bizStep"))
    if biz_step is None or biz_step not in table:
        raise _Refused(
            f"bizStep {event.get('bizStep')!r} is not one the ledger applies{applied_to} "
            f"({', '.join(table)})"
        )
    action, step = table[biz_step]
    if event.get("action") != action:
        raise _Refused(f"a {biz_step} event must have action {action}, not {event.get('action')!r}")
    return step


def cbv_term(value: Any, vocabulary: str) -> str | None:
    """A CBV term of ``vocabulary`` (``BizStep``, ``Disp``, ``SDT``…) in any of its
    spellings, as its bare name (``shipping``)."""
    if not isinstance(value, str):
        return None
    prefixes = [p.replace("BizStep", vocabulary) for p in _BIZ_STEP_PREFIXES]
    prefixes.append(f"urn:epcglobal:cbv:{vocabulary.lower()}:")
    for prefix in prefixes:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


_NO_OBJECT = "it names neither an individual item (SGTIN) nor a case or pallet (SSCC)"
_NO_CHILD = "it names neither an individual item (SGTIN) nor a case (SSCC)"


def _content(epc: Any, *, listed_in: str, missing: str) -> Content:
    """An item, or a case or pallet by its SSCC, as an event's ``listed_in`` names it."""
    if not isinstance(epc, str):
        raise _Refused(f"each {listed_in} entry must be a URI string")
    sscc = epc_sscc(epc)
    if sscc is not None:
        checked = _checked_sscc(sscc, epc)
        return Content(epc, container_id(checked), sscc=checked)
    try:
        gtin, serial = epc_item(epc, missing=missing)
    except IdentifierError as error:
        raise _Refused(f"EPC {epc}: {error}") from None
    return Content(epc, item_id(gtin, serial), gtin=str(gtin), serial=str(serial))


def _parent_sscc(parent: str) -> str:
    sscc = epc_sscc(parent)
    if sscc is None:
        raise _Refused(
            f"its parentID {parent} is not an SSCC (urn:epc:id:sscc:… or a Digital Link with "
            "AI 00): the ledger packs into cases and pallets only"
        )
    return _checked_sscc(sscc, parent)


def _checked_sscc(sscc: str, epc: str) -> str:
    try:
        return str(validate_sscc(sscc))
    except IdentifierError as error:
        raise _Refused(f"EPC {epc}: {error}") from None


def _gln_of(uri: str) -> str | None:
    """The GLN a location or party identifier names, if it is one."""
    try:
        parsed = parse_digital_link(canonical_digital_link(uri))
    except IdentifierError:
        return None
    for ai in ("414", "417"):
        if parsed.primary_key == ai:
            return parsed.ais[ai]
    return None


@dataclass(frozen=True)
class RegistryCaptureView:
    """A :class:`CaptureView` over the registry (state at the latest block) and the sites
    recorded in the store (``site_of_gln``)."""

    registry: Registry
    site_of_gln: Callable[[str], str | None]
    now: Callable[[], float] = time.time

    def item(self, item: ItemId) -> ItemState | None:
        return self.registry.item(item)

    def operator_brand(self, address: str) -> int | None:
        operator = self.registry.operator(address)
        if operator is None or not operator.active or self._suspended(operator.suspended_from):
            return None
        brand = self.registry.brand(operator.brand_id)
        if brand is None or self._suspended(brand.suspended_from):
            return None
        return operator.brand_id

    def brand_authority(self, address: str, brand_id: int) -> bool:
        brand = self.registry.brand(brand_id)
        if brand is not None and brand.admin == to_checksum_address(address):
            return True
        operator = self.registry.operator(address)
        return operator is not None and operator.active and operator.brand_id == brand_id

    def brand_of_gtin(self, gtin: str) -> int | None:
        return self.registry.brand_of_gtin(gtin)

    def containers_in(self, container: ItemId) -> int:
        # Every record ever packed here (ItemPacked's second topic), then the chain's word
        # on which of them are still inside and are cases.
        logs = self.registry.w3.eth.get_logs(
            {
                "address": self.registry.address,
                "fromBlock": self.registry.deploy_block,
                "toBlock": "latest",
                "topics": [self.registry.contract.events.ItemPacked.topic, None, container.hex()],
            }
        )
        packed = {ItemId(bytes(log["topics"][1])) for log in logs}
        states = (self.registry.item(record) for record in packed)
        return sum(
            1 for s in states if s is not None and s.is_container and s.container == container
        )

    def _suspended(self, since: int) -> bool:
        return since != 0 and since <= self.now()
