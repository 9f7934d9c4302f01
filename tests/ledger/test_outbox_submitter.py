"""The submitter on the in-process chain: confirmed, refused, recovered after lost blocks."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from ledger.chain import Chain
from ledger.identifiers import item_id
from ledger.outbox import OperationRead, OpStatus, Outbox, Senders, Signer, Submitter
from ledger.outbox.signer import signers_from_accounts
from ledger.registry import Registry
from ledger.store.database import session
from ledger.store.operation_models import SenderAccount
from ledger.store.orgs import Organisations, Role
from tests.conftest import GTIN, Roles

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def brand_org(engine: Engine, registry: Registry, roles: Roles) -> int:
    org, _key = Organisations(engine, clock=lambda: T0).create("Acme", Role.BRAND, brand_id=1)
    Senders(engine).assign(org.id, roles.operator.address, registry.chain_id)
    return org.id


@pytest.fixture
def signer_for(engine: Engine, roles: Roles) -> Callable[[OperationRead], Signer]:
    return signers_from_accounts(engine, [roles.operator, roles.retailer])


def make_submitter(
    engine: Engine, registry: Registry, signer_for: Callable[[OperationRead], Signer]
) -> Submitter:
    return Submitter(engine, registry, signer_for, clock=lambda: T0)


def register(outbox: Outbox, org: int, key: str, *serials: str) -> OperationRead:
    items = [{"gtin": GTIN, "serial": s} for s in serials]
    return outbox.submit(org, key, "register", {"items": items})[0]


def test_a_registration_is_confirmed_with_its_transaction_block_and_gas(
    engine: Engine,
    registry: Registry,
    roles: Roles,
    brand_org: int,
    signer_for: Callable[[OperationRead], Signer],
) -> None:
    outbox = Outbox(engine, lambda: T0)
    queued = register(outbox, brand_org, "k1", "A1", "A2")

    make_submitter(engine, registry, signer_for).run_until_idle()

    done = outbox.get(brand_org, queued.id)
    assert done.status is OpStatus.CONFIRMED
    assert done.sender == roles.operator.address
    receipt = registry.w3.eth.get_transaction_receipt(done.tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 1
    assert done.block_number == receipt["blockNumber"]
    assert done.result is not None
    assert done.result["gas_used"] == receipt["gasUsed"]
    assert [t.hash for t in done.transactions] == [done.tx_hash]
    for serial in ("A1", "A2"):
        state = registry.item(item_id(GTIN, serial))
        assert state is not None
        assert state.custodian == roles.operator.address


def test_a_refused_operation_fails_with_the_decoded_error_and_uses_no_nonce(
    engine: Engine,
    registry: Registry,
    roles: Roles,
    brand_org: int,
    signer_for: Callable[[OperationRead], Signer],
) -> None:
    outbox = Outbox(engine, lambda: T0)
    unknown = item_id(GTIN, "NEVER")
    moved, _ = outbox.submit(
        brand_org, "t1", "transfer", {"gtin": GTIN, "serial": "NEVER", "to": roles.retailer.address}
    )
    before = registry.w3.eth.get_transaction_count(roles.operator.address)

    make_submitter(engine, registry, signer_for).run_until_idle()

    failed = outbox.get(brand_org, moved.id)
    assert failed.status is OpStatus.FAILED
    assert failed.nonce is None
    assert failed.tx_hash is None
    assert failed.error == {
        "name": "UnknownItem",
        "message": f"UnknownItem: item {unknown.hex()[:6]}…{unknown.hex()[-4:]} is not registered",
        "data": {"itemId": unknown.hex()},
    }
    assert registry.w3.eth.get_transaction_count(roles.operator.address) == before


def test_operations_are_sent_in_creation_order_with_consecutive_nonces(
    engine: Engine,
    registry: Registry,
    roles: Roles,
    brand_org: int,
    signer_for: Callable[[OperationRead], Signer],
) -> None:
    outbox = Outbox(engine, lambda: T0)
    first = register(outbox, brand_org, "r1", "B1")
    moved, _ = outbox.submit(
        brand_org, "t1", "transfer", {"gtin": GTIN, "serial": "B1", "to": roles.retailer.address}
    )
    start = registry.w3.eth.get_transaction_count(roles.operator.address)

    make_submitter(engine, registry, signer_for).run_until_idle()

    done = [outbox.get(brand_org, first.id), outbox.get(brand_org, moved.id)]
    assert [op.status for op in done] == [OpStatus.CONFIRMED, OpStatus.CONFIRMED]
    assert [op.nonce for op in done] == [start, start + 1]
    state = registry.item(item_id(GTIN, "B1"))
    assert state is not None
    assert state.custodian == roles.retailer.address
    with session(engine) as db:
        account = db.exec(
            select(SenderAccount).where(SenderAccount.address == roles.operator.address)
        ).one()
    assert account.next_nonce == start + 2


def test_operations_lost_with_the_chains_blocks_are_sent_again_with_their_nonces(
    engine: Engine,
    chain: Chain,
    registry: Registry,
    roles: Roles,
    brand_org: int,
    signer_for: Callable[[OperationRead], Signer],
) -> None:
    outbox = Outbox(engine, lambda: T0)
    kept = register(outbox, brand_org, "r1", "C1")
    submitter = make_submitter(engine, registry, signer_for)
    submitter.run_until_idle()
    before_loss = chain.snapshot()
    lost = [register(outbox, brand_org, f"r{n}", f"C{n}") for n in range(2, 5)]
    submitter.run_until_idle()
    confirmed = [outbox.get(brand_org, op.id) for op in lost]
    assert {op.status for op in confirmed} == {OpStatus.CONFIRMED}

    chain.revert(before_loss)  # the node forgets the last three blocks
    assert registry.item(item_id(GTIN, "C4")) is None
    submitter.run_until_idle()

    again = [outbox.get(brand_org, op.id) for op in lost]
    assert [op.status for op in again] == [OpStatus.CONFIRMED] * 3
    assert [op.nonce for op in again] == [op.nonce for op in confirmed]
    assert [op.tx_hash for op in again] == [op.tx_hash for op in confirmed]
    assert outbox.get(brand_org, kept.id).status is OpStatus.CONFIRMED
    for n in range(1, 5):
        assert registry.item(item_id(GTIN, f"C{n}")) is not None


def test_a_new_submitter_recovers_what_the_chain_lost_while_it_was_down(
    engine: Engine,
    chain: Chain,
    registry: Registry,
    brand_org: int,
    signer_for: Callable[[OperationRead], Signer],
) -> None:
    outbox = Outbox(engine, lambda: T0)
    before_loss = chain.snapshot()
    lost = register(outbox, brand_org, "r1", "D1")
    make_submitter(engine, registry, signer_for).run_until_idle()
    chain.revert(before_loss)

    make_submitter(engine, registry, signer_for).run_until_idle()

    again = outbox.get(brand_org, lost.id)
    assert again.status is OpStatus.CONFIRMED
    assert len(again.transactions) == 1
    assert registry.item(item_id(GTIN, "D1")) is not None


def test_an_organisation_without_a_sending_account_gets_a_failed_operation(
    engine: Engine, registry: Registry, signer_for: Callable[[OperationRead], Signer]
) -> None:
    org, _ = Organisations(engine).create("Nobody", Role.BRAND, brand_id=2)
    outbox = Outbox(engine, lambda: T0)
    op = register(outbox, org.id, "r1", "E1")

    make_submitter(engine, registry, signer_for).run_until_idle()

    failed = outbox.get(org.id, op.id)
    assert failed.status is OpStatus.FAILED
    assert failed.error == {
        "name": "NoSender",
        "message": f"no sending account of organisation '{org.id}'",
        "data": {"org_id": org.id},
    }
    assert json.loads(json.dumps(failed.error)) == failed.error


def test_an_operation_whose_nonce_another_transaction_took_is_sent_again_with_a_new_one(
    engine: Engine,
    chain: Chain,
    registry: Registry,
    roles: Roles,
    brand_org: int,
    signer_for: Callable[[OperationRead], Signer],
) -> None:
    outbox = Outbox(engine, lambda: T0)
    before_loss = chain.snapshot()
    queued = register(outbox, brand_org, "o1", "E1")
    submitter = Submitter(engine, registry, signer_for, clock=lambda: T0, orphan_grace_s=0)
    submitter.run_until_idle()
    first = outbox.get(brand_org, queued.id)
    assert first.nonce is not None
    chain.revert(before_loss)  # the registration is gone with its block...
    w3 = registry.w3
    base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"] or 0)
    other = roles.operator.sign_transaction(  # ...and another transaction takes its nonce
        {
            "to": roles.retailer.address,
            "value": 1,
            "nonce": first.nonce,
            "gas": 21_000,
            "maxFeePerGas": 2 * base_fee + 1,
            "maxPriorityFeePerGas": 1,
            "chainId": registry.chain_id,
        }
    )
    w3.eth.send_raw_transaction(other.raw_transaction)

    submitter.run_until_idle()

    again = outbox.get(brand_org, queued.id)
    assert again.status is OpStatus.CONFIRMED
    assert again.nonce == first.nonce + 1
    assert again.transactions[0].hash == first.tx_hash
    assert len(again.transactions) == 2
    assert registry.item(item_id(GTIN, "E1")) is not None
