"""A scan or a listing check → one verdict, with reasons and a proof, read from the chain.

Everything here comes from the chain alone (the item's state, its event logs, the brand that
owns the GS1 company prefix), at one pinned block, so the answer can be re-checked by anyone
with the proof: chain id, contract, block of the answer, the item's sequence number and the
block and transaction of every custody event. Signals only the store knows (scan analytics,
product documents) are added by the caller as further reasons.

Verdict precedence, first match wins:

==============  ==========================================================================
counterfeit     no brand registered this code under its own prefix, or the item is destroyed
unknown         the GTIN's prefix belongs to no registered brand
stolen          registered, reported stolen
recalled        registered, recalled by its brand
suspect         registered, but a risk signal holds (suspended key, decommissioned, …)
authentic       registered, under its brand's own prefix, and nothing above holds
==============  ==========================================================================
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ledger.contract_errors import Status
from ledger.identifiers import ItemId, item_id, parse_item_id, validate_gtin, validate_serial
from ledger.merkle import BatchProof
from ledger.registry import (
    MAX_NESTING,
    REGISTRATION_EVENTS,
    BatchInfo,
    BatchProofSource,
    Flag,
    ItemEvent,
    ItemState,
    Registry,
)

__all__ = [
    "BatchEvidence",
    "ContainerLink",
    "CustodyStep",
    "Proof",
    "Reason",
    "Verdict",
    "VerdictKind",
    "batch_evidence",
    "batch_registered_reason",
    "container_links",
    "judge",
    "leaf_state",
    "verify_item",
]


class VerdictKind(enum.StrEnum):
    AUTHENTIC = "authentic"
    SUSPECT = "suspect"
    COUNTERFEIT = "counterfeit"
    RECALLED = "recalled"
    STOLEN = "stolen"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reason:
    """A machine-readable reason code with a sentence for people."""

    code: str
    message: str


@dataclass(frozen=True)
class CustodyStep:
    """One event of the item's history, as a person reads it."""

    seq: int
    event: str
    from_: str | None
    to: str | None
    by: str | None
    """Who acted, for status changes (recall, theft report, sale, destruction)."""
    time: int
    block: int
    transaction: str
    container: str | None = None
    """Aggregation: the container (``0x`` id) whose own event this is; the item was inside
    it (directly, or in a case on it) and moved with it. ``seq`` is then the container's."""


@dataclass(frozen=True)
class ContainerLink:
    """A case or pallet the item is in now (``current``) or travelled in."""

    container_id: str
    current: bool


@dataclass(frozen=True)
class Proof:
    """What anyone needs to re-check the answer on chain."""

    chain_id: int
    contract: str
    block: int
    seq: int
    events: tuple[tuple[int, int, str], ...]
    """``(seq, block, transaction)`` of every event of the item."""


@dataclass(frozen=True)
class BatchEvidence:
    """Why an item not yet on chain itself is registered: it is a leaf of an anchored batch.

    Re-checked by recomputing the leaf from the item id and ``proof.claim_key``, folding
    ``proof.siblings`` into the root, and reading ``getBatch(root)`` on chain."""

    proof: BatchProof
    batch: BatchInfo
    anchor_block: int | None
    anchor_tx: str | None
    doc_hash: str | None = None
    """The product document hash the batch was anchored with (None: none)."""


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictKind
    reasons: tuple[Reason, ...]
    gtin: str
    serial: str
    item_id: ItemId
    brand_id: int | None
    state: ItemState | None
    custody: tuple[CustodyStep, ...]
    proof: Proof
    doc_hash: str | None = None
    """keccak256 of the product data document, as recorded on chain at registration."""
    batch: BatchEvidence | None = None
    """For an item registered only as a leaf of an anchored Merkle batch: the evidence."""
    containers: tuple[ContainerLink, ...] = ()
    """Aggregation: the containers it is in now (innermost first), then the ones it
    travelled in before, oldest first."""


def verify_item(
    registry: Registry,
    gtin: str,
    serial: str,
    *,
    block: int | None = None,
    batch_proofs: BatchProofSource | None = None,
) -> Verdict:
    """The verdict for the item with this GTIN and serial, read at ``block`` (default: the
    chain's latest). The answer at a given block never changes, so callers may cache it.

    ``batch_proofs`` (the store's prepared Merkle batches) is asked only for an item not on
    chain: if it holds a proof that checks against a root anchored on chain at ``block``,
    the item is registered as of the anchoring, by the batch's operator."""
    gtin, serial = validate_gtin(gtin), validate_serial(serial)
    ident = item_id(gtin, serial)
    if block is None:
        block = registry.w3.eth.block_number
    state = registry.item(ident, block=block)
    evidence = None
    if state is None and batch_proofs is not None:
        leaf_proof = batch_proofs(ident)
        if leaf_proof is not None:
            evidence = batch_evidence(registry, ident, leaf_proof, block=block)
        if evidence is not None:
            state = _leaf_state_on_chain(registry, ident, evidence.batch)
    prefix_owner = registry.brand_of_gtin(gtin)
    events = registry.history(ident, block=block) if state and evidence is None else []
    packed = any(e.name == "ItemPacked" for e in events)
    travels = registry.travels(ident, block=block) if packed else []
    journey = sorted([*events, *travels], key=lambda e: (e.block_number, e.log_index))
    custody = tuple(_steps(registry, journey, state.operator if state else None))
    containers = _containers(registry, state, travels, block) if packed else ()
    proof = Proof(
        chain_id=registry.chain_id,
        contract=registry.address,
        block=block,
        seq=state.seq if state else 0,
        events=tuple((e.seq, e.block_number, e.tx_hash) for e in events),
    )
    kind, reasons = judge(state, prefix_owner, gtin, len(events))
    if evidence is not None and kind is VerdictKind.AUTHENTIC:
        reasons = [batch_registered_reason(evidence)]
    brand_id = state.brand_id if state else prefix_owner
    return Verdict(
        kind,
        tuple(reasons),
        gtin,
        serial,
        ident,
        brand_id,
        state,
        custody,
        proof,
        doc_hash=evidence.doc_hash if evidence else registry.doc_hash(events),
        batch=evidence,
        containers=containers,
    )


def batch_registered_reason(evidence: BatchEvidence) -> Reason:
    """The ``registered`` reason of an item registered only as a leaf of a Merkle batch."""
    return Reason(
        "registered",
        f"registered by brand {evidence.batch.brand_id} in Merkle batch "
        f"0x{evidence.proof.root.hex()} (leaf {evidence.proof.index}); not yet moved on chain",
    )


def batch_evidence(
    registry: Registry, item: ItemId, proof: BatchProof, *, block: int | None = None
) -> BatchEvidence | None:
    """The evidence that ``item`` is a leaf of a batch anchored on chain (at ``block``):
    the proof must fold the item's leaf into the root, and the chain must know the root.
    None otherwise: a leaf of a root the chain does not know registers nothing."""
    if not proof.verifies(item):
        return None
    batch = registry.batch(proof.root, block=block)
    if batch is None:
        return None
    logs = registry.contract.events.BatchAnchored().get_logs(
        argument_filters={"root": proof.root},
        from_block=registry.deploy_block,
        to_block="latest" if block is None else block,
    )
    if not logs:  # getBatch knows it, so the log is there unless the node pruned it
        return BatchEvidence(proof, batch, None, None)
    doc_hash = "0x" + bytes(logs[0]["args"]["docHash"]).hex()
    return BatchEvidence(
        proof,
        batch,
        int(logs[0]["blockNumber"]),
        logs[0]["transactionHash"].to_0x_hex(),
        None if doc_hash == "0x" + "00" * 32 else doc_hash,
    )


def _leaf_state_on_chain(registry: Registry, item: ItemId, batch: BatchInfo) -> ItemState:
    """The leaf's state, flagged by the brand's and the operator's current suspensions (the
    chain exposes no past windows for an item it does not hold yet)."""
    brand = registry.brand(batch.brand_id)
    operator = registry.operator(batch.operator)
    return leaf_state(
        item,
        batch,
        [brand.suspended_from if brand else 0, operator.suspended_from if operator else 0],
    )


def leaf_state(item: ItemId, batch: BatchInfo, suspended_from: Iterable[int]) -> ItemState:
    """What an unmoved Merkle batch item's record will be once activated: the batch's
    operator holds it, Active, registered at the anchoring. Registered while suspended when
    one of the ``suspended_from`` times (each a suspension's start, 0 for none) is at or
    before the anchoring."""
    return ItemState(
        item_id=item,
        custodian=batch.operator,
        status=Status.ACTIVE,
        flags=Flag(0),
        seq=0,
        registered_at=batch.anchored_at,
        brand_id=batch.brand_id,
        operator=batch.operator,
        consignee=None,
        claimable=False,
        registered_while_suspended=any(s and batch.anchored_at >= s for s in suspended_from),
    )


def _containers(
    registry: Registry, state: ItemState | None, travels: list[ItemEvent], block: int
) -> tuple[ContainerLink, ...]:
    def parent_of(container: str) -> str | None:
        above = registry.item(parse_item_id(container), block=block)
        return above.container.hex() if above and above.container else None

    return container_links(
        state.container.hex() if state and state.container else None,
        parent_of,
        (e.container.hex() for e in travels if e.container),
    )


def container_links(
    direct: str | None, parent_of: Callable[[str], str | None], travelled: Iterable[str]
) -> tuple[ContainerLink, ...]:
    """The containers an item is in now, innermost first (``direct``, then each
    ``parent_of`` the one below, up to ``MAX_NESTING``), then the others it ``travelled``
    in, in order and each once."""
    now: list[str] = []
    parent = direct
    while parent is not None and len(now) < MAX_NESTING:
        now.append(parent)
        parent = parent_of(parent)
    before = [c for c in dict.fromkeys(travelled) if c not in now]
    return (
        *(ContainerLink(c, current=True) for c in now),
        *(ContainerLink(c, current=False) for c in before),
    )


def judge(
    state: ItemState | None, prefix_owner: int | None, gtin: str, indexed: int
) -> tuple[VerdictKind, list[Reason]]:
    """The verdict and its reasons from an item's state (None: not registered), the brand that
    owns the GTIN's prefix, and how many of its ``state.seq`` events were found."""
    if state is None:
        if prefix_owner is None:
            return VerdictKind.UNKNOWN, [
                Reason("unknown_prefix", f"GTIN {gtin} belongs to no brand registered here")
            ]
        return VerdictKind.COUNTERFEIT, [
            Reason(
                "unregistered_code",
                f"brand {prefix_owner} owns GTIN {gtin}'s prefix but never registered this serial",
            )
        ]
    reasons: list[Reason] = []
    if prefix_owner != state.brand_id:
        reasons.append(
            Reason(
                "prefix_not_owned",
                f"registered by brand {state.brand_id}, but GTIN {gtin}'s prefix belongs to "
                f"{'brand ' + str(prefix_owner) if prefix_owner else 'no registered brand'}",
            )
        )
    if state.status is Status.DESTROYED:
        reasons.append(Reason("destroyed", "the brand or custodian recorded it destroyed"))
    if reasons:
        return VerdictKind.COUNTERFEIT, reasons
    if Flag.STOLEN in state.flags:
        reasons.append(Reason("stolen", "its custodian reported it stolen"))
    if Flag.RECALLED in state.flags:
        reasons.append(Reason("recalled", "its brand recalled it"))
    if state.status is Status.DECOMMISSIONED:
        reasons.append(Reason("decommissioned", "it was taken out of service"))
    if state.registered_while_suspended:
        reasons.append(
            Reason("suspended_key", "registered while its brand or operator key was suspended")
        )
    if indexed != state.seq:
        reasons.append(
            Reason("incomplete_history", f"{indexed} of {state.seq} events found in the logs")
        )
    if Flag.STOLEN in state.flags:
        return VerdictKind.STOLEN, reasons
    if Flag.RECALLED in state.flags:
        return VerdictKind.RECALLED, reasons
    if reasons:
        return VerdictKind.SUSPECT, reasons
    return VerdictKind.AUTHENTIC, [Reason("registered", _authentic_message(state))]


def _authentic_message(state: ItemState) -> str:
    holder = "its owner" if Flag.CLAIMED in state.flags else "its custodian"
    return f"registered by brand {state.brand_id}; {state.status.label}, held by {holder}"


_PARTIES = {
    "ItemRegistered": (None, None),
    "BatchItemRegistered": (None, None),
    "BatchItemActivated": (None, None),
    "ItemShipped": ("from", "to"),
    "ItemReceived": (None, "by"),
    "ShipmentCancelled": (None, "by"),
    "CustodyTransferred": ("from", "to"),
    "RetailSaleRecorded": (None, None),
    "ItemClaimed": (None, "owner"),
    "ItemUnpacked": (None, "by"),
}


_REGISTRATIONS = REGISTRATION_EVENTS


def _actor(event: ItemEvent) -> str | None:
    value = event.args.get("by") or event.args.get("retailer")
    return str(value) if value else None


def _steps(registry: Registry, events: list[ItemEvent], operator: str | None) -> list[CustodyStep]:
    times: dict[int, int] = {}
    steps = []
    for event in events:
        if event.block_number not in times:
            times[event.block_number] = int(
                registry.w3.eth.get_block(event.block_number)["timestamp"]
            )
        sender_key, receiver_key = _PARTIES.get(event.name, (None, None))
        steps.append(
            CustodyStep(
                seq=event.seq,
                event=event.name,
                from_=event.args.get(sender_key) if sender_key else None,
                to=operator
                if event.name in _REGISTRATIONS
                else (event.args.get(receiver_key) if receiver_key else None),
                by=None if receiver_key or event.name in _REGISTRATIONS else _actor(event),
                time=times[event.block_number],
                block=event.block_number,
                transaction=event.tx_hash,
                container=event.container.hex() if event.container else None,
            )
        )
    return steps
