"""The one submitter: nonces, signatures, broadcasts, receipts, fee bumps, recovery.

Everything it knows is in the store, so a new submitter (after a crash or a restart) picks
up where the last one stopped. The rules, in the order each round applies them:

1. **The chain went back** (its head is lower, or a block we saw was replaced; anvil
   restarted from an older state, a reorganisation), or this submitter has just started:
   for every sender, the node's nonce ``N`` says which of our transactions it holds. An
   operation whose nonce is ``N`` or above was not mined on this chain, whatever we
   recorded: it goes back to ``submitted`` and its signed transaction is broadcast again,
   in the order first sent. A confirmed operation whose receipt is gone within the reorg
   window does too.
2. **Submitted operations**: a nonce below ``N`` was mined: its receipt (of whichever of
   the operation's transactions made it) makes it ``confirmed`` (once ``confirmations``
   deep) or ``failed`` with the decoded contract error. A nonce not mined yet whose
   transaction the node does not know is broadcast again; one unmined after
   ``stuck_after_s`` is signed again *with the same nonce* and fees times ``fee_bump``.
3. **Queued operations**, in creation order: simulated first; a refusal fails the
   operation with the decoded error and uses no nonce (unless an earlier operation is
   still in flight and could change the outcome: then it waits). Otherwise it gets its
   sender's next nonce, is signed, and nonce, fees and the signed transaction are stored
   ``submitted`` in one database transaction *before* the transaction is sent.

Exactly once: every transaction of an operation carries the same nonce, and a nonce once
given to an operation is never given to another (``SenderAccount.next_nonce`` only grows),
so at most one of them is ever mined. Run one submitter per store.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from sqlalchemy import Engine
from sqlmodel import col, select
from web3.contract.contract import ContractFunction
from web3.exceptions import TransactionNotFound, Web3Exception
from web3.types import TxParams, TxReceipt

from ledger.errors import ContractError, NotFound, VeritagError
from ledger.outbox.operations import contract_call
from ledger.outbox.signer import Signer
from ledger.outbox.store import OperationRead, OpStatus, SentTx, canonical_json, read_operation
from ledger.registry import Registry
from ledger.store.database import session
from ledger.store.operation_models import Operation, SenderAccount
from ledger.transactions import revert_data

ZERO = "0x" + "00" * 20

__all__ = ["Submitter"]

log = logging.getLogger(__name__)

_GAS_HEADROOM = 1.15
"""Estimates are exact on a quiet chain; headroom covers state that moves before mining."""
_ALREADY_THERE = ("nonce too low", "already known", "known transaction", "already imported")
"""What nodes answer when a re-broadcast transaction is already pooled or mined."""


@dataclass(frozen=True)
class _Gas:
    limit: int
    max_fee: int
    tip: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Submitter:
    """Sends the outbox's operations to the registry and follows them to the end."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        signer_for: Callable[[OperationRead], Signer],
        *,
        confirmations: int = 0,
        stuck_after_s: float = 30.0,
        fee_bump: float = 1.125,
        clock: Callable[[], datetime] = _utc_now,
        reorg_window: int = 64,
        batch: int = 200,
        poll_interval: float = 0.2,
        orphan_grace_s: float = 2.0,
    ) -> None:
        if fee_bump <= 1.1:
            raise ValueError(f"fee_bump {fee_bump} must exceed 1.1 (nodes' replacement minimum)")
        self.engine = engine
        self.registry = registry
        self.w3 = registry.w3
        self._signer_for = signer_for
        self.confirmations = confirmations
        self.stuck_after_s = stuck_after_s
        self.fee_bump = fee_bump
        self._clock = clock
        self.reorg_window = reorg_window
        self.batch = batch
        self.poll_interval = poll_interval
        self.orphan_grace_s = orphan_grace_s
        self._orphans: dict[str, float] = {}
        self._head: tuple[int, bytes] | None = None
        self._recovered = False
        self._synced: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ───────────── the loop ─────────────

    def run_once(self) -> int:
        """One round of the rules above; returns how many operations changed."""
        latest = self.w3.eth.get_block("latest")
        head = (int(latest["number"]), bytes(latest["hash"] or b""))
        changed = 0
        if not self._recovered or self._chain_went_back(head):
            changed += self._recover(head[0])
            self._recovered = True
        self._head = head
        changed += self._follow_submitted(head[0])
        changed += self._send_queued()
        return changed

    def run_until_idle(self, timeout: float = 60.0) -> None:
        """Run rounds until one changes nothing and no operation is queued or submitted."""
        deadline = time.monotonic() + timeout
        while True:
            changed = self.run_once()
            if not changed and not self._open_count():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._open_count()} operation(s) still open")
            if not changed:
                time.sleep(self.poll_interval / 4)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="outbox-submitter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once() > 0
            except (VeritagError, Web3Exception, OSError) as exc:
                # The node or the database is away (restarting): everything is in the
                # store, so the next round simply tries again.
                log.warning("submitter round failed, retrying: %s", exc)
                busy = False
            except Exception:
                log.exception("submitter round failed, retrying")
                busy = False
            if not busy:
                self._stop.wait(self.poll_interval)

    # ───────────── rule 1: the chain went back ─────────────

    def _chain_went_back(self, head: tuple[int, bytes]) -> bool:
        if self._head is None:
            return False
        number, block_hash = self._head
        if head[0] < number:
            return True
        if head[0] == number:
            return head[1] != block_hash
        seen = self.w3.eth.get_block(number)
        return bytes(seen["hash"] or b"") != block_hash

    def _recover(self, head: int) -> int:
        """Put back to ``submitted`` what this chain does not hold; re-broadcast it."""
        lost: list[Operation] = []
        with session(self.engine) as db:
            senders = db.exec(select(SenderAccount.address)).all()
            for address in senders:
                mined = self._nonce(address, "latest")
                rows = db.exec(
                    select(Operation).where(
                        Operation.sender == address,
                        col(Operation.nonce) >= mined,
                        col(Operation.status).in_([OpStatus.CONFIRMED, OpStatus.FAILED]),
                    )
                ).all()
                lost.extend(rows)
            recent = db.exec(
                select(Operation).where(
                    Operation.status == OpStatus.CONFIRMED,
                    col(Operation.block_number) > head - self.reorg_window,
                )
            ).all()
            for row in recent:
                if row not in lost and self._receipt_of(row) is None:
                    lost.append(row)
            for row in lost:
                log.warning("operation %s (nonce %s) is not on this chain", row.id, row.nonce)
                _back_to_submitted(row, self._clock())
                db.add(row)
        self._synced.clear()
        return len(lost)

    # ───────────── rule 2: submitted operations ─────────────

    def _follow_submitted(self, head: int) -> int:
        with session(self.engine) as db:
            rows = db.exec(
                select(Operation)
                .where(Operation.status == OpStatus.SUBMITTED)
                .order_by(col(Operation.submitted_at), col(Operation.nonce))
                .limit(self.batch)
            ).all()
        mined_nonce: dict[str, int] = {}
        changed = 0
        for row in rows:
            assert row.sender is not None
            assert row.nonce is not None
            if row.sender not in mined_nonce:
                mined_nonce[row.sender] = self._nonce(row.sender, "latest")
            if row.nonce < mined_nonce[row.sender]:
                changed += self._settle(row, head)
            else:
                changed += self._keep_moving(row)
        return changed

    def _settle(self, row: Operation, head: int) -> int:
        """The operation's nonce was mined: confirmed or failed, by its receipt."""
        receipt = self._receipt_of(row)
        if receipt is None:
            return self._requeue_orphan(row)
        block = int(receipt["blockNumber"])
        if head - block < self.confirmations:
            return 0
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        if receipt["status"] == 1:
            result = {"gas_used": int(receipt["gasUsed"]), "block_hash": _hex(receipt["blockHash"])}
            self._finish(row.id, OpStatus.CONFIRMED, tx_hash=tx_hash, block=block, result=result)
        else:
            error = self._explain_revert(read_operation(row), block)
            self._finish(row.id, OpStatus.FAILED, tx_hash=tx_hash, block=block, error=error)
        return 1

    def _requeue_orphan(self, row: Operation) -> int:
        """Its nonce was taken by a transaction that is none of its own, so none of its own
        can ever be mined: it was not applied. Once that still holds after
        ``orphan_grace_s`` (a node that has just restarted may not serve a receipt yet), it
        goes back to the queue, to be simulated again and sent with a new nonce: an accepted
        request is never dropped, and never applied twice."""
        first = self._orphans.setdefault(row.id, time.monotonic())
        if time.monotonic() - first < self.orphan_grace_s:
            return 0
        del self._orphans[row.id]
        with session(self.engine) as db:
            current = db.get(Operation, row.id)
            if current is None or current.status != OpStatus.SUBMITTED:
                return 0
            log.warning(
                "nonce %s of %s went to another transaction; operation %s is queued again",
                current.nonce, current.sender, current.id,
            )  # fmt: skip
            _back_to_queue(current, self._clock())
            db.add(current)
        return 1

    def _keep_moving(self, row: Operation) -> int:
        """An unmined operation: broadcast again if the node lost it, bump it if stuck."""
        sent = [SentTx(**t) for t in json.loads(row.tx_hashes_json)]
        latest = sent[-1]
        if self._seconds() - latest.sent_at >= self.stuck_after_s:
            self._bump(read_operation(row), latest)
            return 1
        try:
            self.w3.eth.get_transaction(HexBytes(latest.hash))
        except TransactionNotFound:
            log.info("re-broadcasting %s for operation %s", latest.hash, row.id)
            self._broadcast(latest)
            return 1
        return 0

    def _bump(self, op: OperationRead, latest: SentTx) -> None:
        """Sign the same nonce again with higher fees (at least the node's replacement
        minimum: both fee caps strictly higher, by more than 10 %)."""
        base_fee, tip = self._fees()
        new_tip = max(math.ceil(latest.max_priority_fee_per_gas * self.fee_bump),
                      latest.max_priority_fee_per_gas + 1, tip)  # fmt: skip
        new_max = max(
            math.ceil(latest.max_fee_per_gas * self.fee_bump),
            latest.max_fee_per_gas + 1,
            2 * base_fee + new_tip,
        )
        signer = self._signer_for(op)
        call = contract_call(self.registry, op.kind, op.request)
        gas = _Gas(latest.gas, new_max, new_tip)
        tx = self._transaction(call, signer, op.nonce or 0, gas)
        signed = signer.sign(tx)
        bumped = SentTx(
            signed.tx_hash, "0x" + signed.raw.hex(), latest.gas, new_max, new_tip, self._seconds()
        )
        with session(self.engine) as db:
            row = db.get(Operation, op.id)
            assert row is not None
            if row.status != OpStatus.SUBMITTED:
                return
            _record_sent(row, bumped, self._clock())
            db.add(row)
        log.info("operation %s stuck: re-sent as %s with fees × %s", op.id, bumped.hash,
                 self.fee_bump)  # fmt: skip
        self._broadcast(bumped)

    # ───────────── rule 3: queued operations ─────────────

    def _send_queued(self) -> int:
        with session(self.engine) as db:
            rows = db.exec(
                select(Operation)
                .where(Operation.status == OpStatus.QUEUED)
                .order_by(col(Operation.id))
                .limit(self.batch)
            ).all()
        if not rows:
            return 0
        base_fee, tip = self._fees()
        self._synced.clear()  # within a round only this submitter sends from its accounts
        changed = 0
        for row in rows:
            op = read_operation(row)
            try:
                signer = self._signer_for(op)
            except NotFound as exc:
                error = {"name": "NoSender", "message": str(exc), "data": {"org_id": op.org_id}}
                self._finish(op.id, OpStatus.FAILED, error=error)
                changed += 1
                continue
            call = contract_call(self.registry, op.kind, op.request)
            try:
                gas = int(call.estimate_gas({"from": signer.address}) * _GAS_HEADROOM)
            except Exception as exc:
                data = revert_data(exc)
                if data is None:
                    raise
                if self._in_flight_before(op.id):
                    break  # an earlier operation may change the outcome: try again later
                refusal = self.registry.errors.decode(data)
                self._finish(op.id, OpStatus.FAILED, error=_error_json(refusal))
                changed += 1
                continue
            fees = _Gas(gas, 2 * base_fee + tip, tip)
            sent = self._assign_and_store(op, signer, call, fees)
            if sent is not None:
                self._broadcast(sent)
                changed += 1
        return changed

    def _assign_and_store(
        self,
        op: OperationRead,
        signer: Signer,
        call: ContractFunction,
        gas: _Gas,
    ) -> SentTx | None:
        """In one database transaction: take the sender's next nonce, sign, store."""
        address = to_checksum_address(signer.address)
        with session(self.engine) as db:
            row = db.get(Operation, op.id)
            if row is None or row.status != OpStatus.QUEUED:
                return None
            account = db.exec(
                select(SenderAccount).where(SenderAccount.address == address).with_for_update()
            ).first()
            if account is None:
                account = SenderAccount(
                    address=address, chain_id=self.registry.chain_id, next_nonce=0
                )
            if address not in self._synced:
                # Someone else may have sent from this account; never go below the node.
                account.next_nonce = max(account.next_nonce, self._nonce(address, "pending"))
                self._synced.add(address)
            nonce = account.next_nonce
            account.next_nonce = nonce + 1
            db.add(account)
            signed = signer.sign(self._transaction(call, signer, nonce, gas))
            now = self._clock()
            sent = SentTx(
                signed.tx_hash,
                "0x" + signed.raw.hex(),
                gas.limit,
                gas.max_fee,
                gas.tip,
                now.timestamp(),
            )
            row.sender = address
            row.nonce = nonce
            row.status = OpStatus.SUBMITTED.value
            row.submitted_at = now
            _record_sent(row, sent, now)
            db.add(row)
        return sent

    def _in_flight_before(self, op_id: str) -> bool:
        with session(self.engine) as db:
            return (
                db.exec(
                    select(Operation.id)
                    .where(Operation.status == OpStatus.SUBMITTED, col(Operation.id) < op_id)
                    .limit(1)
                ).first()
                is not None
            )

    # ───────────── the node ─────────────

    def _transaction(
        self, call: ContractFunction, signer: Signer, nonce: int, gas: _Gas
    ) -> dict[str, Any]:
        params: TxParams = {
            "from": to_checksum_address(signer.address),
            "chainId": self.registry.chain_id,
            "nonce": cast(Any, nonce),
            "gas": gas.limit,
            "maxFeePerGas": cast(Any, gas.max_fee),
            "maxPriorityFeePerGas": cast(Any, gas.tip),
            "value": cast(Any, 0),
        }
        tx = dict(call.build_transaction(params))
        tx.pop("from", None)
        return tx

    def _broadcast(self, sent: SentTx) -> None:
        try:
            self.w3.eth.send_raw_transaction(HexBytes(sent.raw))
        except Exception as exc:
            message = str(exc).lower()
            if any(known in message for known in _ALREADY_THERE):
                return
            # Stored, so nothing is lost: the next rounds re-broadcast it, bump it, or find
            # its nonce used and say so.
            log.warning("the node refused %s: %s", sent.hash, exc)

    def _fees(self) -> tuple[int, int]:
        latest = self.w3.eth.get_block("latest")
        base_fee = int(latest.get("baseFeePerGas", 0))
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except (Web3Exception, ValueError, NotImplementedError):
            tip = 0
        return base_fee, tip

    def _seconds(self) -> float:
        return self._clock().timestamp()

    def _nonce(self, address: str, block: str) -> int:
        return int(self.w3.eth.get_transaction_count(to_checksum_address(address), block))  # type: ignore[arg-type]

    def _receipt_of(self, row: Operation) -> TxReceipt | None:
        """The receipt of whichever of the operation's transactions was mined, if any."""
        for sent in reversed(json.loads(row.tx_hashes_json)):
            try:
                return self.w3.eth.get_transaction_receipt(HexBytes(sent["hash"]))
            except TransactionNotFound:
                continue
        return None

    def _explain_revert(self, op: OperationRead, block: int) -> dict[str, Any]:
        call = contract_call(self.registry, op.kind, op.request)
        try:
            call.call(
                {"from": to_checksum_address(op.sender or ZERO)}, block_identifier=max(block - 1, 0)
            )
        except Exception as exc:
            data = revert_data(exc)
            if data is not None:
                return _error_json(self.registry.errors.decode(data))
        return {
            "name": "TransactionFailed",
            "message": f"transaction {op.transactions[-1].hash if op.transactions else '?'} "
            "reverted: out of gas or the state changed before it was mined",
            "data": {},
        }

    # ───────────── the store ─────────────

    def _finish(
        self,
        op_id: str,
        status: OpStatus,
        *,
        tx_hash: str | None = None,
        block: int | None = None,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        with session(self.engine) as db:
            row = db.get(Operation, op_id)
            assert row is not None
            now = self._clock()
            row.status = status.value
            row.updated_at = now
            if tx_hash is not None:
                row.tx_hash = tx_hash
            row.block_number = block
            row.result_json = canonical_json(result) if result is not None else None
            row.error_json = canonical_json(error) if error is not None else None
            if status is OpStatus.CONFIRMED:
                row.confirmed_at = now
            db.add(row)

    def _open_count(self) -> int:
        with session(self.engine) as db:
            return len(
                db.exec(
                    select(Operation.id).where(
                        col(Operation.status).in_([OpStatus.QUEUED, OpStatus.SUBMITTED])
                    )
                ).all()
            )


def _record_sent(row: Operation, sent: SentTx, now: datetime) -> None:
    sent_list = [*json.loads(row.tx_hashes_json), sent.as_json()]
    row.tx_hashes_json = canonical_json(sent_list)
    row.tx_hash = sent.hash
    row.max_fee_per_gas = sent.max_fee_per_gas
    row.max_priority_fee_per_gas = sent.max_priority_fee_per_gas
    row.attempts += 1
    row.updated_at = now


def _back_to_queue(row: Operation, now: datetime) -> None:
    """Unsent again: a new nonce and transaction come with the next round (the ones it had
    stay in ``tx_hashes_json``, for the record)."""
    row.status = OpStatus.QUEUED.value
    row.sender = None
    row.nonce = None
    row.tx_hash = None
    row.updated_at = now


def _back_to_submitted(row: Operation, now: datetime) -> None:
    row.status = OpStatus.SUBMITTED.value
    row.block_number = None
    row.confirmed_at = None
    row.error_json = None
    row.updated_at = now
    sent = json.loads(row.tx_hashes_json)
    if sent:
        # Its stuck timer starts again: this chain never saw it.
        sent[-1]["sent_at"] = now.timestamp()
        row.tx_hashes_json = canonical_json(sent)


def _error_json(error: ContractError) -> dict[str, Any]:
    data = getattr(error, "data", {})
    plain = json.loads(json.dumps(data if isinstance(data, dict) else {}, default=str))
    return {"name": type(error).__name__, "message": str(error), "data": plain}


def _hex(value: Any) -> str:
    return HexBytes(value).to_0x_hex()
