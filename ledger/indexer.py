"""Follow the registry's logs into the store: checkpoints, confirmations, reorgs, completeness.

``Indexer.sync`` reads the registry's logs from the block after the checkpoint to the chain
head, in ranges of ``batch_blocks``, and stores each range in one transaction together with
the checkpoint, so a crash leaves the store at the end of the last whole range and the next
sync resumes there. Applying is idempotent (see :mod:`ledger.store.writer`).

Confirmations and reorganisations: blocks up to ``head - confirmations`` are final; the
ones above are indexed too, and the hashes of blocks ``head - confirmations`` … ``head``
are kept in ``IndexedBlock``. Each sync first checks the checkpoint block's hash against
the chain; as a block hash commits to all earlier blocks, a match means nothing indexed
changed. On a mismatch the indexer walks the kept hashes down to the newest block the
chain still holds (the common ancestor), takes back everything derived from later blocks
(:func:`ledger.store.writer.rollback_to`), moves the checkpoint there, and indexes forward
again. A reorganisation deeper than the kept window raises ``ReorgTooDeep``. Each range
must also continue the indexed chain (its first block's parent is the checkpoint block), so
a reorganisation that strikes between that check and the reading of the range sends the
sync back to the check instead of joining two forks in the store.

Completeness: every item event carries the item's ``seq``, so an item's indexed history is
complete when it holds events 1..seq with seq equal to the chain's. Each range checks
every item it touched against the chain at the range's last block before committing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_typing import ChecksumAddress
from eth_utils.abi import function_signature_to_4byte_selector
from hexbytes import HexBytes
from sqlalchemy import Engine, delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from web3 import HTTPProvider
from web3.exceptions import Web3Exception
from web3.types import BlockData, BlockIdentifier, LogReceipt, RPCEndpoint

from ledger.errors import (
    ChainError,
    IndexIncomplete,
    ReorgTooDeep,
    StoreMismatch,
    VeritagError,
)
from ledger.identifiers import ItemId, parse_item_id
from ledger.log_decoder import LogDecoder
from ledger.registry import Registry
from ledger.store.database import session
from ledger.store.derive import (
    ANCHOR_EVENT,
    BATCH_EVENT,
    GOVERNANCE_EVENTS,
    ITEM_EVENT_NAMES,
    ChainEvent,
)
from ledger.store.models import CustodyEvent, IndexedBlock, IndexerCheckpoint, Item
from ledger.store.writer import apply_events, clear_derived, rollback_to

__all__ = ["Completeness", "Indexer", "Reorg", "SyncReport"]

_log = logging.getLogger(__name__)
_ATTEMPTS = 3
_CHUNK = 500
_GET_ITEM = "0x" + function_signature_to_4byte_selector("getItem(bytes32)").hex()
"""Calldata prefix of ``getItem``; its one argument is the 32-byte item id."""
_KNOWN_EVENTS = ITEM_EVENT_NAMES | GOVERNANCE_EVENTS | {BATCH_EVENT, ANCHOR_EVENT}


@dataclass(frozen=True)
class Reorg:
    """A reorganisation the sync rolled back."""

    ancestor: int
    """The newest block both the store's chain and the node's share."""
    depth: int
    """Indexed blocks taken back (old checkpoint − ancestor)."""
    item_events: int
    items_removed: int
    items_recomputed: int


@dataclass(frozen=True)
class SyncReport:
    """What one ``sync`` did. ``first_block`` is None when there was nothing new."""

    chain_id: int
    contract: str
    first_block: int | None
    last_block: int
    head: int
    confirmed_block: int
    item_events: int
    governance_events: int
    items: int
    ranges: int
    reorg: Reorg | None = None


@dataclass(frozen=True)
class Completeness:
    """An item's indexed history against the chain at the checkpoint block."""

    item_id: str
    indexed: int
    on_chain: int
    missing: tuple[int, ...]
    block: int

    @property
    def complete(self) -> bool:
        return self.indexed == self.on_chain and not self.missing


class _ChainMoved(Exception):
    """The chain changed while a range was read; read it again."""


class Indexer:
    """Indexes ``registry`` into the store behind ``engine`` (already migrated)."""

    def __init__(
        self,
        registry: Registry,
        engine: Engine,
        *,
        confirmations: int = 0,
        batch_blocks: int = 2000,
        verify: bool = True,
    ) -> None:
        if confirmations < 0 or batch_blocks < 1:
            raise ValueError("confirmations must be ≥ 0 and batch_blocks ≥ 1")
        self.registry = registry
        self.engine = engine
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        self.verify = verify
        self._w3 = registry.w3
        # The events the store is derived from; any other log is skipped.
        self._decoder = LogDecoder(registry.contract.abi, _KNOWN_EVENTS)

    @property
    def chain_id(self) -> int:
        return self.registry.chain_id

    @property
    def contract(self) -> ChecksumAddress:
        return self.registry.address

    # ───────────── public ─────────────

    def sync(self, to_block: int | None = None) -> SyncReport:
        """Index from the checkpoint to the head (or ``to_block``), rolling back a
        reorganisation first."""
        for _ in range(_ATTEMPTS):
            try:
                return self._sync(to_block)
            except _ChainMoved:
                _log.info("the chain moved while indexing; reading again")
            except IntegrityError:
                _log.info("another indexer stored the same blocks first; reading again")
        raise ChainError(
            f"the chain at {self._url} kept changing while it was read (or another indexer kept "
            "writing the same store); try again later"
        )

    def rebuild(self) -> SyncReport:
        """Forget everything derived from the chain and index again from the deploy block.

        Item codes, product documents and scans are the store's own and stay.
        """
        with session(self.engine) as db:
            clear_derived(db)
        return self.sync()

    def follow(
        self,
        stop_event: threading.Event,
        poll_interval: float = 2.0,
        on_sync: Callable[[SyncReport], None] | None = None,
    ) -> None:
        """Sync every ``poll_interval`` seconds until ``stop_event`` is set.

        Failures (node or database away, an index problem) are logged and retried at the
        next poll, so the process that runs this keeps serving.
        """
        while not stop_event.is_set():
            try:
                report = self.sync()
            except VeritagError as exc:
                _log.warning("indexing failed, retrying in %ss: %s", poll_interval, exc)
            except Exception:  # a bug must not silently end the API's indexing thread
                _log.exception("indexing failed unexpectedly, retrying in %ss", poll_interval)
            else:
                if on_sync is not None:
                    on_sync(report)
            stop_event.wait(poll_interval)

    def check_completeness(self, item: ItemId | str) -> Completeness:
        """Compare an item's indexed events with its ``seq`` on chain at the checkpoint."""
        key = item.hex() if isinstance(item, ItemId) else parse_item_id(item).hex()
        with session(self.engine) as db:
            seqs = list(db.exec(select(CustodyEvent.seq).where(CustodyEvent.item_id == key)))
            checkpoint = self._checkpoint(db)
        block: BlockIdentifier = (
            "latest" if checkpoint is None else HexBytes(checkpoint.last_block_hash)
        )
        on_chain = self._seq_on_chain(key, block)
        return Completeness(
            item_id=key,
            indexed=len(seqs),
            on_chain=on_chain,
            missing=tuple(sorted(set(range(1, on_chain + 1)) - set(seqs))),
            block=-1 if checkpoint is None else checkpoint.last_indexed_block,
        )

    # ───────────── one sync ─────────────

    def _sync(self, to_block: int | None) -> SyncReport:
        head: int = self._call(lambda: self._w3.eth.block_number)
        target = head if to_block is None else min(head, to_block)
        with session(self.engine) as db:
            checkpoint = self._checkpoint(db)
        reorg = None
        if checkpoint is None:
            last, confirmed = self.registry.deploy_block - 1, -1
        else:
            last, confirmed = checkpoint.last_indexed_block, checkpoint.confirmed_block
            if self._reorganised(checkpoint, head):
                reorg = self._roll_back(checkpoint, head)
                last, confirmed = reorg.ancestor, min(confirmed, reorg.ancestor)
        final = head - self.confirmations
        item_events = governance_events = items = ranges = 0
        for start in range(last + 1, target + 1, self.batch_blocks):
            end = min(start + self.batch_blocks - 1, target)
            applied = self._index_range(start, end, final)
            item_events += applied[0]
            governance_events += applied[1]
            items += applied[2]
            ranges += 1
        if ranges:
            confirmed = min(final, target)
        elif checkpoint is not None and min(final, last) != confirmed:
            confirmed = self._set_confirmed(min(final, last))
        return SyncReport(
            chain_id=self.chain_id,
            contract=self.contract,
            first_block=last + 1 if ranges else None,
            last_block=target if ranges else last,
            head=head,
            confirmed_block=confirmed,
            item_events=item_events,
            governance_events=governance_events,
            items=items,
            ranges=ranges,
            reorg=reorg,
        )

    def _index_range(self, start: int, end: int, final: int) -> tuple[int, int, int]:
        """Read blocks ``start``..``end`` and store them in one transaction."""
        end_block = self._block(end)
        logs = self._logs(start, end)
        window = range(max(start, final), end + 1)
        numbers = sorted({int(log["blockNumber"]) for log in logs} | set(window))
        blocks = {n: end_block if n == end else self._block(n) for n in numbers}
        decoded = (self._decode(log, blocks) for log in logs)
        events = sorted(
            (e for e in decoded if e is not None), key=lambda e: (e.block_number, e.log_index)
        )
        start_block = blocks.get(start) or self._block(start)
        if _hash(self._block(end)) != _hash(end_block):
            raise _ChainMoved
        with session(self.engine) as db:
            self._check_parent(db, start, start_block)
            applied = apply_events(db, events)
            db.exec(delete(IndexedBlock).where(col(IndexedBlock.number) >= start))
            for number in window:
                db.add(IndexedBlock(number=number, hash=_hash(blocks[number])))
            db.exec(delete(IndexedBlock).where(col(IndexedBlock.number) < final))
            self._save_checkpoint(db, end, _hash(end_block), min(end, final))
            db.flush()
            if self.verify:
                self._verify(db, sorted(applied.items), _hash(end_block))
        return applied.item_events, applied.governance_events, len(applied.items)

    def _logs(self, start: int, end: int) -> list[LogReceipt]:
        """The registry's logs of blocks ``start``..``end``. Over HTTP they are read raw and
        only the fields used are converted: web3's per-field formatting of each log cost
        more than reading it."""
        provider = self._w3.provider
        if not isinstance(provider, HTTPProvider):
            return list(
                self._call(
                    lambda: self._w3.eth.get_logs(
                        {"address": self.contract, "fromBlock": start, "toBlock": end}
                    )
                )
            )
        params = {"address": self.contract, "fromBlock": hex(start), "toBlock": hex(end)}
        answer = self._call(lambda: provider.make_request(RPCEndpoint("eth_getLogs"), [params]))
        if "result" not in answer:
            raise ChainError(f"eth_getLogs at {self._url} failed: {answer.get('error')}")
        return [_log_receipt(raw) for raw in answer["result"]]

    def _check_parent(self, db: Session, start: int, start_block: BlockData) -> None:
        """The range must continue the indexed chain: its first block's parent is the
        checkpoint block. A reorganisation that struck after this sync compared the
        checkpoint with the chain, and before the range was read, breaks that link; then
        the sync starts again, and its check finds and rolls back the reorganisation."""
        checkpoint = self._checkpoint(db)
        if checkpoint is None or checkpoint.last_indexed_block != start - 1:
            return
        if HexBytes(start_block["parentHash"]).to_0x_hex() != checkpoint.last_block_hash:
            raise _ChainMoved

    def _decode(self, log: LogReceipt, blocks: dict[int, BlockData]) -> ChainEvent | None:
        name = self._decoder.name_of(log)
        args = self._decoder.args(log)
        if name is None or args is None:
            return None  # not an event the store is derived from
        number = int(log["blockNumber"])
        block = blocks[number]
        block_hash = "0x" + bytes(log["blockHash"]).hex()
        if block_hash != _hash(block):
            raise _ChainMoved
        return ChainEvent(
            name=name,
            block_number=number,
            block_hash=block_hash,
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            log_index=int(log["logIndex"]),
            timestamp=int(block["timestamp"]),
            args={k: _plain(v) for k, v in args.items()},
        )

    def _verify(self, db: Session, item_ids: Sequence[str], block_hash: str) -> None:
        """Every touched item holds events 1..seq, and seq is the chain's at ``block_hash``."""
        for start in range(0, len(item_ids), _CHUNK):
            chunk = item_ids[start : start + _CHUNK]
            rows = db.exec(
                select(
                    CustodyEvent.item_id,
                    func.count(),
                    func.max(CustodyEvent.seq),
                    Item.seq,
                )
                .join(Item, col(Item.item_id) == col(CustodyEvent.item_id))
                .where(col(CustodyEvent.item_id).in_(chunk))
                .group_by(col(CustodyEvent.item_id), col(Item.seq))
            ).all()
            counts = {item_id: (int(n), int(top), int(seq)) for item_id, n, top, seq in rows}
            seqs = self._seqs_on_chain(chunk, block_hash)
            for item_id, on_chain in zip(chunk, seqs, strict=True):
                indexed, top, seq = counts.get(item_id, (0, 0, 0))
                if not indexed == top == seq == on_chain:
                    stored = set(
                        db.exec(select(CustodyEvent.seq).where(CustodyEvent.item_id == item_id))
                    )
                    missing = tuple(s for s in range(1, on_chain + 1) if s not in stored)
                    raise IndexIncomplete(item_id, indexed, on_chain, missing)

    # ───────────── reorganisations ─────────────

    def _reorganised(self, checkpoint: IndexerCheckpoint, head: int) -> bool:
        if checkpoint.last_indexed_block > head:
            return True
        return _hash(self._block(checkpoint.last_indexed_block)) != checkpoint.last_block_hash

    def _roll_back(self, checkpoint: IndexerCheckpoint, head: int) -> Reorg:
        """Find the common ancestor among the kept hashes and take back what came after."""
        with session(self.engine) as db:
            kept = db.exec(
                select(IndexedBlock)
                .where(col(IndexedBlock.number) <= min(checkpoint.last_indexed_block, head))
                .order_by(col(IndexedBlock.number).desc())
            ).all()
            ancestor = next((b for b in kept if _hash(self._block(b.number)) == b.hash), None)
            if ancestor is None:
                oldest = db.exec(select(func.min(IndexedBlock.number))).one()
                raise ReorgTooDeep(
                    checkpoint.last_indexed_block,
                    checkpoint.last_indexed_block if oldest is None else int(oldest),
                    self.confirmations,
                )
            numbers = {b.number for b in kept}
            undone = rollback_to(db, ancestor.number)
            db.exec(delete(IndexedBlock).where(col(IndexedBlock.number) > ancestor.number))
            self._keep_window_below(db, ancestor, head, numbers)
            confirmed = min(checkpoint.confirmed_block, ancestor.number)
            self._save_checkpoint(db, ancestor.number, ancestor.hash, confirmed)
        reorg = Reorg(
            ancestor=ancestor.number,
            depth=checkpoint.last_indexed_block - ancestor.number,
            item_events=undone.item_events,
            items_removed=undone.items_removed,
            items_recomputed=undone.items_recomputed,
        )
        _log.warning("chain reorganisation rolled back to block %s: %s", ancestor.number, reorg)
        return reorg

    def _keep_window_below(
        self, db: Session, ancestor: IndexedBlock, head: int, kept: set[int]
    ) -> None:
        """Keep the hashes of blocks ``head - confirmations`` … ``ancestor`` again.

        When the new chain is shorter than the indexed one, its final block lies below the
        one the index had taken as final, and the hashes of the blocks in between were
        already dropped: without them a later reorganisation within the confirmations
        would look deeper than the kept window. Those blocks are the ancestor's own
        ancestors, so their hashes are read from the chain, each checked to be the parent
        of the one above.
        """
        low = max(head - self.confirmations, self.registry.deploy_block)
        missing = [n for n in range(low, ancestor.number) if n not in kept]
        if not missing:  # the usual case: the new chain is no shorter than the index
            return
        child = self._block(ancestor.number)
        if _hash(child) != ancestor.hash:
            raise _ChainMoved
        for number in range(ancestor.number - 1, missing[0] - 1, -1):
            block = self._block(number)
            if _hash(block) != HexBytes(child["parentHash"]).to_0x_hex():
                raise _ChainMoved
            if number not in kept:
                db.add(IndexedBlock(number=number, hash=_hash(block)))
            child = block

    # ───────────── checkpoint ─────────────

    def _checkpoint(self, db: Session) -> IndexerCheckpoint | None:
        rows = db.exec(select(IndexerCheckpoint)).all()
        for row in rows:
            if row.chain_id != self.chain_id or row.contract != self.contract:
                raise StoreMismatch(row.chain_id, row.contract, self.chain_id, self.contract)
        return rows[0] if rows else None

    def _save_checkpoint(self, db: Session, block: int, block_hash: str, confirmed: int) -> None:
        row = db.get(IndexerCheckpoint, (self.chain_id, self.contract))
        if row is None:
            row = IndexerCheckpoint(
                chain_id=self.chain_id,
                contract=self.contract,
                last_indexed_block=block,
                last_block_hash=block_hash,
                confirmed_block=confirmed,
            )
        row.last_indexed_block = block
        row.last_block_hash = block_hash
        row.confirmed_block = confirmed
        db.add(row)

    def _set_confirmed(self, confirmed: int) -> int:
        """Nothing new to index, but the final block moved (``confirmations`` changed)."""
        with session(self.engine) as db:
            row = db.get(IndexerCheckpoint, (self.chain_id, self.contract))
            if row is not None:
                row.confirmed_block = confirmed
                db.add(row)
            db.exec(delete(IndexedBlock).where(col(IndexedBlock.number) < confirmed))
        return confirmed

    # ───────────── the chain ─────────────

    @property
    def _url(self) -> str:
        return str(getattr(self._w3.provider, "endpoint_uri", None) or "the node")

    def _call(self, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except (OSError, Web3Exception) as exc:
            raise ChainError(f"reading the chain at {self._url} failed: {exc}") from None

    def _block(self, number: int) -> BlockData:
        block: BlockData | None = self._call(lambda: self._w3.eth.get_block(number))
        if block is None:
            raise _ChainMoved
        return block

    def _seqs_on_chain(self, item_ids: Sequence[str], block_hash: str) -> list[int]:
        """Each item's seq at ``block_hash``: over HTTP, one JSON-RPC batch for them all
        (one request per item made ingest a round trip per item)."""
        provider = self._w3.provider
        if not isinstance(provider, HTTPProvider) or len(item_ids) < 2:
            return [self._seq_on_chain(i, HexBytes(block_hash)) for i in item_ids]
        calls = [
            (
                RPCEndpoint("eth_call"),
                [
                    {"to": self.registry.address, "data": _GET_ITEM + i[2:]},
                    {"blockHash": block_hash},
                ],
            )
            for i in item_ids
        ]
        answers = self._call(lambda: provider.make_batch_request(calls))
        if not isinstance(answers, list) or len(answers) != len(item_ids):
            raise ChainError(f"the node at {self._url} refused a batch of eth_call: {answers}")
        seqs = []
        for answer in answers:
            if "result" not in answer:
                raise ChainError(f"eth_call of getItem at {self._url} failed: {answer}")
            # ItemView is a static struct: eleven words (container last), seq the fourth.
            seqs.append(int.from_bytes(HexBytes(answer["result"])[96:128], "big"))
        return seqs

    def _seq_on_chain(self, item_id: str, block: BlockIdentifier) -> int:
        view = self._call(
            lambda: self.registry.contract.functions.getItem(bytes.fromhex(item_id[2:])).call(
                block_identifier=block
            )
        )
        return int(view[3])  # ItemView.seq; 0 for an unknown item


def _log_receipt(raw: dict[str, Any]) -> LogReceipt:
    """A raw JSON-RPC log with the fields the indexer reads in web3's types."""
    # bytes.fromhex, not HexBytes: its checks cost a third of reading a range.
    return cast(
        LogReceipt,
        {
            "topics": [bytes.fromhex(t[2:]) for t in raw["topics"]],
            "data": bytes.fromhex(raw["data"][2:]),
            "blockNumber": int(raw["blockNumber"], 16),
            "blockHash": bytes.fromhex(raw["blockHash"][2:]),
            "transactionHash": bytes.fromhex(raw["transactionHash"][2:]),
            "logIndex": int(raw["logIndex"], 16),
        },
    )


def _hash(block: BlockData) -> str:
    return HexBytes(block["hash"]).to_0x_hex()


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value
