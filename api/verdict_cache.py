"""Answers at a block never change: cache them per (code, block), and the head briefly.

Scans of one code cluster in time (a cloned code is scanned many times an hour), and a
chain adds a block every few seconds, so most scans are answered from memory while every
answer still names the block it was read at. The head is polled at most every
``head_ttl`` seconds: an answer can be that much older than the newest block, never more.

When the node does not answer, a scan still gets an answer: :meth:`VerdictCache.lookup`
judges the item from the index instead, as of the last indexed block, and says so
(``stale``). Chain reads here give up after ``chain_timeout`` seconds without retrying,
and after a failure the node is left alone for ``retry_after`` seconds, so a dead node
costs a scan at most one timeout. While the node answers, verdicts come from the chain
alone, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from eth_utils.address import to_checksum_address
from web3.exceptions import Web3Exception

from ledger.chain import with_timeout
from ledger.contract_errors import Status
from ledger.errors import ChainError
from ledger.identifiers import ItemId, item_id, parse_item_id, validate_gtin, validate_serial
from ledger.registry import BatchInfo, Flag, ItemState, Registry
from ledger.store.containers import Containers
from ledger.store.derive import REGISTRATION_EVENTS
from ledger.store.merkle_batches import MerkleBatches
from ledger.store.repository import Store
from ledger.store.schemas import CustodyEventRead, ItemRead
from ledger.verify import (
    BatchEvidence,
    ContainerLink,
    CustodyStep,
    Proof,
    Verdict,
    VerdictKind,
    batch_registered_reason,
    container_links,
    judge,
    leaf_state,
    verify_item,
)

__all__ = [
    "CHAIN_TIMEOUT",
    "NODE_DOWN",
    "Lookup",
    "NodeUnavailable",
    "VerdictCache",
    "indexed_verdict",
]

_log = logging.getLogger(__name__)
T = TypeVar("T")

CHAIN_TIMEOUT = 2.0
"""Seconds a scan waits for one read from the node before answering from the index."""
RETRY_AFTER = 5.0
"""Seconds after a failed read during which scans answer from the index at once."""
NODE_DOWN = (OSError, Web3Exception)
"""What a read from a node that is down or does not answer raises (requests' connection
errors and timeouts are ``OSError``s)."""


class NodeUnavailable(ChainError):
    """The node did not answer and there is no index to answer from instead (503)."""

    def __init__(self, cause: str) -> None:
        self.cause = cause
        super().__init__(
            f"the chain node did not answer ({cause}) and this service has no index to answer "
            "from; try again shortly"
        )


@dataclass(frozen=True)
class Lookup:
    """A verdict and whether it came from the index because the node did not answer."""

    verdict: Verdict
    stale: bool = False


class VerdictCache:
    def __init__(
        self,
        registry: Registry,
        *,
        store: Store | None = None,
        head_ttl: float = 0.5,
        max_entries: int = 10_000,
        chain_timeout: float = CHAIN_TIMEOUT,
        retry_after: float = RETRY_AFTER,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = Registry(
            with_timeout(registry.w3, chain_timeout),
            registry.address,
            deploy_block=registry.deploy_block,
        )
        """The registry, read with ``chain_timeout`` and no retries."""
        self._chain_id = registry.chain_id
        self._contract = registry.address
        self._store = store
        self._batch_proofs = None if store is None else MerkleBatches(store.engine).proof
        """Proofs of items prepared in Merkle batches: asked only for items not on chain."""
        self._head_ttl = head_ttl
        self._max_entries = max_entries
        self._retry_after = retry_after
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._head: tuple[float, int] | None = None
        self._down_until = float("-inf")
        self._entries: OrderedDict[tuple[str, str, int], Verdict] = OrderedDict()

    @property
    def node_down(self) -> bool:
        """Whether a read failed less than ``retry_after`` seconds ago."""
        with self._lock:
            return self._monotonic() < self._down_until

    def head(self) -> int:
        now = self._monotonic()
        with self._lock:
            if self._head is not None and now - self._head[0] < self._head_ttl:
                return self._head[1]
        block = int(self._read(lambda: self.registry.w3.eth.block_number))
        with self._lock:
            self._head = (now, block)
        return block

    def verdict(self, gtin: str, serial: str) -> Verdict:
        """The verdict read on chain; ``NodeUnavailable`` when the node does not answer."""
        block = self.head()
        key = (gtin, serial, block)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                return cached
        verdict = self._read(
            lambda: verify_item(
                self.registry, gtin, serial, block=block, batch_proofs=self._batch_proofs
            )
        )
        with self._lock:
            self._entries[key] = verdict
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return verdict

    def lookup(self, gtin: str, serial: str) -> Lookup:
        """The verdict on chain; from the index, marked stale, when the node does not answer."""
        try:
            return Lookup(self.verdict(gtin, serial))
        except NodeUnavailable:
            if self._store is None:
                raise
        verdict = indexed_verdict(
            self._store, gtin, serial, chain_id=self._chain_id, contract=self._contract
        )
        return Lookup(verdict, stale=True)

    def _read(self, read: Callable[[], T]) -> T:
        if self.node_down:
            raise NodeUnavailable("it failed moments ago")
        try:
            return read()
        except NODE_DOWN as exc:
            with self._lock:
                self._down_until = self._monotonic() + self._retry_after
            _log.warning("the chain node did not answer a scan's read: %s", type(exc).__name__)
            raise NodeUnavailable(type(exc).__name__) from None


def indexed_verdict(
    store: Store, gtin: str, serial: str, *, chain_id: int, contract: str
) -> Verdict:
    """The verdict the index gives, as of its last block: the chain's rules applied to the
    item's indexed state and history. Only for when the chain cannot be read."""
    gtin, serial = validate_gtin(gtin), validate_serial(serial)
    ident = item_id(gtin, serial)
    block = store.indexed_block()
    row = store.item(ident)
    history = store.history(ident) if row is not None else []
    state = None if row is None else _state(ident, row)
    evidence = None if row is not None else _indexed_batch_evidence(store, ident)
    if evidence is not None:
        # The index keeps no operator suspension for an item it does not hold yet.
        brand = store.brand(evidence.batch.brand_id)
        state = leaf_state(ident, evidence.batch, [0 if brand is None else brand.suspended_from])
    prefix_owner = store.brand_of_gtin(gtin)
    kind, reasons = judge(state, prefix_owner, gtin, len(history))
    if evidence is not None and kind is VerdictKind.AUTHENTIC:
        reasons = [batch_registered_reason(evidence)]
    travels = Containers(store.engine).travels(ident.hex()) if row is not None else []
    journey = sorted(
        [*((e, None) for e in history), *((e, e.container_id) for e in travels)],
        key=lambda pair: (pair[0].block_number, pair[0].log_index),
    )
    return Verdict(
        kind,
        tuple(reasons),
        gtin,
        serial,
        ident,
        state.brand_id if state else prefix_owner,
        state,
        tuple(_step(event, row.operator, via) for event, via in journey) if row is not None else (),
        Proof(
            chain_id=chain_id,
            contract=contract,
            block=-1 if block is None else block,
            seq=0 if row is None else row.seq,
            events=tuple((e.seq, e.block_number, e.tx_hash) for e in history),
        ),
        doc_hash=evidence.doc_hash if evidence else (None if row is None else row.doc_hash),
        batch=evidence,
        containers=_containers(store, row, travels),
    )


def _indexed_batch_evidence(store: Store, ident: ItemId) -> BatchEvidence | None:
    """A stored proof of ``ident`` whose root the index saw anchored, as the index has it."""
    batches = MerkleBatches(store.engine)
    proof = batches.proof(ident)
    if proof is None or not proof.verifies(ident):
        return None
    anchor = batches.anchor(proof.root)
    if anchor is None:
        return None
    operator = to_checksum_address(anchor.operator)
    info = BatchInfo(proof.root, anchor.brand_id, operator, anchor.anchored_at, anchor.count)
    return BatchEvidence(proof, info, anchor.block_number, anchor.tx_hash, anchor.doc_hash)


def _containers(
    store: Store, row: ItemRead | None, travels: list[CustodyEventRead]
) -> tuple[ContainerLink, ...]:
    def parent_of(container: str) -> str | None:
        above = store.item(container)
        return None if above is None else above.container_id

    return container_links(
        None if row is None else row.container_id,
        parent_of,
        (str(e.container_id) for e in travels),
    )


def _state(ident: ItemId, row: ItemRead) -> ItemState:
    return ItemState(
        item_id=ident,
        custodian=to_checksum_address(row.custodian),
        status=Status[row.status.upper()],
        flags=Flag(row.flags),
        seq=row.seq,
        registered_at=row.registered_at,
        brand_id=row.brand_id,
        operator=to_checksum_address(row.operator),
        consignee=None if row.consignee is None else to_checksum_address(row.consignee),
        claimable=False,  # the index does not hold claim keys; no answer shows it
        registered_while_suspended=row.registered_while_suspended,
        container=None if row.container_id is None else parse_item_id(row.container_id),
    )


_MOVES = frozenset({"ItemShipped", "CustodyTransferred"})
_RECEIPTS = frozenset({"ItemReceived", "ShipmentCancelled", "ItemClaimed"})


def _step(event: CustodyEventRead, operator: str, via: str | None = None) -> CustodyStep:
    """An indexed event as ``ledger.verify`` tells it from the logs: a registration is *to*
    its operator, a move *from* → *to*, a receipt, call-back or claim *to* whoever now
    holds it, anything else *by* whoever acted."""
    if event.name in REGISTRATION_EVENTS:
        parties: tuple[str | None, str | None, str | None] = (None, operator, None)
    elif event.name in _MOVES:
        parties = (event.from_address, event.to_address, None)
    elif event.name in _RECEIPTS:
        parties = (None, event.to_address or event.by_address, None)
    else:
        parties = (None, None, event.by_address)
    return CustodyStep(
        seq=event.seq,
        event=event.name,
        from_=parties[0],
        to=parties[1],
        by=parties[2],
        time=event.timestamp,
        block=event.block_number,
        transaction=event.tx_hash,
        container=via,
    )
