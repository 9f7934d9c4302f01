"""A transaction stuck in a real anvil's pool is re-sent with the same nonce and higher fees,
and the operation is applied exactly once when a block is finally mined.

Anvil runs with automine off, so nothing is mined until the test says so; the submitter's
clock is the test's, so "stuck" is a step of the test, not a wait.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import Engine
from web3.exceptions import TransactionNotFound

from ledger.anvil import AnvilNode
from ledger.chain import Chain, connect_rpc
from ledger.identifiers import item_id
from ledger.outbox import OpStatus, Outbox, Senders, Submitter, signers_from_accounts
from ledger.registry import Registry
from ledger.store.orgs import Organisations, Role
from tests.conftest import GTIN, PREFIX
from tests.ledger.test_anvil import make_node
from tests.ledger.test_store import sqlite_engine

pytestmark = [pytest.mark.anvil]  # about 2 s: not slow

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STUCK_AFTER_S = 5.0
FEE_BUMP = 1.25


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    node: AnvilNode
    chain: Chain
    registry: Registry
    operator: LocalAccount
    engine: Engine
    org: int


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Anvil with the registry, a brand and its operator, then automine switched off."""
    node = make_node(tmp_path / "chain")
    node.start()
    try:
        chain = connect_rpc(node.url)
        admin, brand_admin, operator = chain.dev_accounts[:3]
        registry = Registry.deploy(chain.w3, admin)
        brand = registry.admit_brand(admin, brand_admin.address, "Acme", [PREFIX])
        registry.add_operator(brand_admin, brand, operator.address)
        rpc(chain, "evm_setAutomine", False)
        engine = sqlite_engine(tmp_path)
        org, _ = Organisations(engine, clock=lambda: T0).create("Acme", Role.BRAND, brand_id=brand)
        Senders(engine).assign(org.id, operator.address, registry.chain_id)
        yield World(node, chain, registry, operator, engine, org.id)
        engine.dispose()
    finally:
        node.stop()


def rpc(chain: Chain, method: str, *params: Any) -> Any:
    answer = chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer.get("result")


def pooled_for(chain: Chain, sender: str) -> dict[int, str]:
    """Pending transactions of ``sender`` in anvil's pool: nonce → transaction hash."""
    content = rpc(chain, "txpool_content")
    pending: dict[str, dict[str, dict[str, Any]]] = content["pending"]
    mine = next((txs for address, txs in pending.items() if address.lower() == sender.lower()), {})
    return {int(nonce): tx["hash"] for nonce, tx in mine.items()}


def test_a_stuck_transaction_is_resent_with_the_same_nonce_and_bumped_fees_and_applied_once(
    world: World,
) -> None:
    w3 = world.chain.w3
    operator = world.operator.address
    clock = Clock()
    outbox = Outbox(world.engine, clock)
    submitter = Submitter(
        world.engine,
        world.registry,
        signers_from_accounts(world.engine, [world.operator]),
        stuck_after_s=STUCK_AFTER_S,
        fee_bump=FEE_BUMP,
        clock=clock,
    )
    op, _ = outbox.submit(
        world.org, "reg-1", "register", {"items": [{"gtin": GTIN, "serial": "F1"}]}
    )
    nonce_before = w3.eth.get_transaction_count(operator)
    head_before = w3.eth.block_number

    assert submitter.run_once() == 1  # simulated, signed, stored, sent: not mined
    sent = outbox.get(world.org, op.id)
    clock.advance(STUCK_AFTER_S - 1)
    changed_while_fresh = submitter.run_once()  # in the pool, not stuck yet: left alone
    clock.advance(1)
    changed_when_stuck = submitter.run_once()  # stuck: the same nonce again, fees bumped
    bumped = outbox.get(world.org, op.id)
    pool = pooled_for(world.chain, operator)

    assert (sent.status, sent.nonce, len(sent.transactions)) == (
        OpStatus.SUBMITTED, nonce_before, 1,
    )  # fmt: skip
    assert (changed_while_fresh, changed_when_stuck) == (0, 1)
    assert w3.eth.block_number == head_before  # nothing mined yet
    first, second = bumped.transactions
    assert bumped.status is OpStatus.SUBMITTED
    assert bumped.nonce == nonce_before
    assert bumped.attempts == 2
    assert first == sent.transactions[0]
    assert second.hash != first.hash
    assert second.gas == first.gas
    assert second.max_fee_per_gas == math.ceil(first.max_fee_per_gas * FEE_BUMP)
    assert second.max_priority_fee_per_gas == math.ceil(first.max_priority_fee_per_gas * FEE_BUMP)
    assert second.max_priority_fee_per_gas > first.max_priority_fee_per_gas > 0
    assert second.sent_at == (T0 + timedelta(seconds=STUCK_AFTER_S)).timestamp()
    for tx in (first, second):  # each stored hash is its stored signed transaction's
        assert w3.keccak(HexBytes(tx.raw)).to_0x_hex() == tx.hash
    on_node = w3.eth.get_transaction(HexBytes(second.hash))
    assert (on_node["nonce"], on_node["maxFeePerGas"], on_node["maxPriorityFeePerGas"]) == (
        nonce_before, second.max_fee_per_gas, second.max_priority_fee_per_gas,
    )  # fmt: skip
    assert pool == {nonce_before: second.hash}  # the replacement took the first one's place

    rpc(world.chain, "evm_mine")
    assert submitter.run_once() == 1
    done = outbox.get(world.org, op.id)
    receipt = w3.eth.get_transaction_receipt(HexBytes(second.hash))

    assert done.status is OpStatus.CONFIRMED
    assert (done.tx_hash, done.block_number, done.nonce) == (
        second.hash, head_before + 1, nonce_before,
    )  # fmt: skip
    assert done.result is not None
    assert done.result["gas_used"] == receipt["gasUsed"]
    assert (receipt["status"], receipt["blockNumber"]) == (1, head_before + 1)
    assert w3.eth.get_block_transaction_count(head_before + 1) == 1
    assert w3.eth.get_transaction_by_block(head_before + 1, 0)["hash"].to_0x_hex() == second.hash
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt(HexBytes(first.hash))
    assert w3.eth.get_transaction_count(operator) == nonce_before + 1
    assert w3.eth.block_number == head_before + 1
    assert pooled_for(world.chain, operator) == {}
    logs = world.registry.contract.events.BatchItemRegistered().get_logs(from_block=head_before + 1)
    assert len(logs) == 1
    state = world.registry.item(item_id(GTIN, "F1"))
    assert state is not None
    assert state.custodian == operator

    rpc(world.chain, "evm_mine")
    clock.advance(10 * STUCK_AFTER_S)
    assert submitter.run_once() == 0  # confirmed stays confirmed: nothing re-sent or bumped
    assert outbox.get(world.org, op.id) == done
    assert w3.eth.get_transaction_count(operator) == nonce_before + 1
