"""How the store's chain-derived state follows from the registry's events: pure functions.

The indexer applies them going forward, and re-applies them to what remains after a
reorganisation took blocks back, so both paths compute state the same way. They mirror
``ProvenanceRegistry.sol``; the indexer tests compare the result with the contract's views.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.contract_errors import Status
from ledger.registry import ITEM_EVENTS, Flag

__all__ = [
    "ANCHOR_EVENT",
    "CONTAINER_CREATED",
    "GOVERNANCE_EVENTS",
    "REGISTRATION_EVENTS",
    "SUSPENSION_EVENTS",
    "BrandState",
    "ChainEvent",
    "ItemFold",
    "Suspensions",
    "apply_brand_event",
    "apply_item_event",
    "custody_parties",
    "event_seq",
    "status_name",
    "suspensions",
]

REGISTRATION_EVENTS = frozenset(
    {"ItemRegistered", "BatchItemRegistered", "BatchItemActivated", "ContainerCreated"}
)
"""Events that create a record at seq 1: an item, or a container (case or pallet)."""
CONTAINER_CREATED = "ContainerCreated"
ITEM_EVENT_NAMES = frozenset(ITEM_EVENTS)
BATCH_EVENT = "BatchRegistered"
ANCHOR_EVENT = "BatchAnchored"
"""A Merkle batch's root came on chain; its items come on chain one by one, each with
``BatchItemActivated``, registered as of the anchoring by the batch's operator."""
SUSPENSION_EVENTS = frozenset(
    {"BrandSuspended", "BrandReinstated", "OperatorSuspended", "OperatorReinstated"}
)
GOVERNANCE_EVENTS = frozenset(
    {
        "BrandAdmitted",
        "PrefixAssigned",
        "BrandAdminChanged",
        *SUSPENSION_EVENTS,
        "OperatorAdded",
        "OperatorRemoved",
        "PartnerSet",
        "OwnershipTransferStarted",
        "OwnershipTransferred",
        "EIP712DomainChanged",
    }
)
"""The registry's events about brands, operators, partners and its admin, kept as
``GovernanceEvent`` rows. With the item events, ``BatchRegistered`` and ``BatchAnchored``
(kept as ``BatchAnchor`` rows) they are every event
the store is derived from; the indexer skips any other (an event added to the contract
later is ignored until the store learns what it means)."""


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log of the registry. ``args`` hold plain values: ints, bools, strings,
    checksummed addresses, and bytes as ``0x`` hex."""

    name: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    timestamp: int
    args: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, int]:
        """What makes a log unique on one chain: its transaction and position."""
        return self.tx_hash, self.log_index

    @property
    def item_id(self) -> str:
        """The record the event is about (a container's own events name it ``containerId``)."""
        return str(self.args["itemId"] if "itemId" in self.args else self.args["containerId"])


def event_seq(event: ChainEvent) -> int:
    """The item's sequence number after ``event``; registrations are 1 by definition."""
    return 1 if event.name in REGISTRATION_EVENTS else int(event.args["seq"])


def status_name(status: Status) -> str:
    """How a status is stored: ``active``, ``in_transit``, …"""
    return status.name.lower()


# ───────────── items ─────────────


@dataclass
class ItemFold:
    """The part of an item's state that its events after registration change."""

    custodian: str
    status: Status
    flags: Flag
    seq: int
    last_block: int
    consignee: str | None = None
    container: str | None = None
    """Aggregation: the container it is packed in directly (its own record, not the top's)."""

    @classmethod
    def registered(cls, operator: str, block_number: int, *, container: bool = False) -> ItemFold:
        """Right after registration: the operator (or a container's packer) holds it, active,
        seq 1."""
        flags = Flag.CONTAINER if container else Flag(0)
        return cls(operator, Status.ACTIVE, flags, 1, block_number)


def apply_item_event(state: ItemFold, event: ChainEvent) -> None:
    """Move ``state`` past one item event (not a registration), as the contract does."""
    args = event.args
    name = event.name
    if name == "ItemShipped":  # the shipper stays custodian until receipt
        state.status, state.consignee = Status.IN_TRANSIT, args["to"]
    elif name == "ItemReceived":
        state.status, state.custodian, state.consignee = Status.ACTIVE, args["by"], None
    elif name == "ShipmentCancelled":
        state.status, state.consignee = Status.ACTIVE, None
    elif name == "CustodyTransferred":
        state.custodian = args["to"]
    elif name == "RetailSaleRecorded":
        state.status = Status.SOLD
    elif name == "ItemClaimed":
        state.status, state.custodian = Status.ACTIVE, args["owner"]
        state.flags |= Flag.CLAIMED
    elif name == "ItemRecalled":
        state.flags |= Flag.RECALLED
    elif name == "RecallLifted":
        state.flags &= ~Flag.RECALLED
    elif name == "ItemReportedStolen":
        state.flags |= Flag.STOLEN
    elif name == "StolenReportCleared":
        state.flags &= ~Flag.STOLEN
    elif name == "ItemDecommissioned":
        state.status = Status.DECOMMISSIONED
    elif name == "ItemDestroyed":
        state.status = Status.DESTROYED
    elif name == "ItemPacked":  # its own record keeps its holder; the container moves it
        state.container = args["containerId"]
        state.flags |= Flag.PACKED
    elif name == "ItemUnpacked":
        state.container, state.custodian = None, args["by"]
        state.flags &= ~Flag.PACKED
    else:
        raise ValueError(f"{name} is not an item event after registration")
    state.seq = event_seq(event)
    state.last_block = event.block_number


def custody_parties(event: ChainEvent, operator: str | None = None) -> dict[str, str | None]:
    """``from_address``, ``to_address`` and ``by_address`` of an item event, as applicable.

    A registration is *by* its operator (``operator`` gives a batch item's), who becomes the
    first custodian (*to*); a claim is *to* its new owner (whoever submitted it is not
    recorded on chain); other events name the account that acted as *by*, and a move names
    *from* and *to*.
    """
    args = event.args
    if event.name == CONTAINER_CREATED:
        return {"from_address": None, "to_address": args["by"], "by_address": args["by"]}
    if event.name in REGISTRATION_EVENTS:
        by = args.get("operator", operator)
        return {"from_address": None, "to_address": by, "by_address": by}
    if event.name == "ItemClaimed":
        return {"from_address": None, "to_address": args["owner"], "by_address": None}
    if "from" in args:
        return {"from_address": args["from"], "to_address": args["to"], "by_address": args["from"]}
    by = args.get("by", args.get("retailer"))
    return {"from_address": None, "to_address": None, "by_address": by}


# ───────────── brands ─────────────


@dataclass
class BrandState:
    brand_id: int
    admin: str
    name: str
    admitted_block: int
    suspended_from: int = 0
    prefixes: dict[str, int] = field(default_factory=dict)
    """Prefix → block it was assigned in."""


def apply_brand_event(state: BrandState | None, event: ChainEvent) -> BrandState | None:
    """The brand after ``event`` (a governance event of it); other events leave it as is."""
    args = event.args
    if event.name == "BrandAdmitted":
        return BrandState(int(args["brandId"]), args["admin"], args["name"], event.block_number)
    if state is None:
        return None
    if event.name == "PrefixAssigned":
        state.prefixes[args["prefix"]] = event.block_number
    elif event.name == "BrandAdminChanged":
        state.admin = args["newAdmin"]
    elif event.name == "BrandSuspended":
        state.suspended_from = int(args["since"])
    elif event.name == "BrandReinstated":
        state.suspended_from = 0
    return state


# ───────────── suspensions ─────────────


@dataclass(frozen=True)
class Suspensions:
    """A brand's or operator's suspension: the current one (0 = none) and past windows.

    An item is ``registered_while_suspended`` when its registration time falls at or after
    the current suspension's start, or inside a past window ``[start, end)`` (end = the
    reinstatement's block time), for its brand or for its operator.
    """

    current: int = 0
    past: tuple[tuple[int, int], ...] = ()

    def covers(self, registered_at: int) -> bool:
        if self.current and registered_at >= self.current:
            return True
        return any(start <= registered_at < end for start, end in self.past)

    @property
    def any(self) -> bool:
        return bool(self.current or self.past)


def suspensions(events: Iterable[ChainEvent]) -> Suspensions:
    """Fold the ``…Suspended``/``…Reinstated`` events of one brand or one operator, in order.

    A suspension event carries the effective start (the contract keeps the earliest); a
    reinstatement archives ``[start, now)`` when the suspension had begun.
    """
    current = 0
    past: list[tuple[int, int]] = []
    for event in events:
        if event.name.endswith("Suspended"):
            current = int(event.args["since"])
        elif event.name.endswith("Reinstated"):
            if current and current < event.timestamp:
                past.append((current, event.timestamp))
            current = 0
    return Suspensions(current, tuple(past))
