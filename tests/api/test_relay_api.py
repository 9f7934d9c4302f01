"""Relaying over HTTP: a party without gas signs, the service checks, stores and pays."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ledger.batches import item_ids_for, prepare, save_and_anchor
from ledger.chain import connect_memory
from ledger.custodial import CustodialKeys
from ledger.identifiers import item_id
from ledger.outbox.signer import Senders, custodial_signers
from ledger.outbox.submitter import Submitter
from ledger.registry import Registry
from ledger.relay import Relayer
from ledger.store.database import make_engine, migrate
from ledger.store.merkle_batches import MerkleBatches
from ledger.store.orgs import Organisations, relayer_organisation
from ledger.store.repository import Store

GTIN = "00614141123452"
SECRET = b"relay-test-secret-of-at-least-32-bytes"


@dataclass
class Relay:
    client: TestClient
    registry: Registry
    submitter: Submitter
    shop: LocalAccount
    consumer: LocalAccount
    payer: str
    factory: LocalAccount
    batches: MerkleBatches


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    chain = connect_memory()
    admin, brand_admin, factory = chain.dev_accounts[:3]
    registry = Registry.deploy(chain.w3, admin)
    brand = registry.admit_brand(admin, brand_admin.address, "Acme", ["0614141"])
    registry.add_operator(brand_admin, brand, factory.address)
    shop, consumer = Account.create(), Account.create()  # neither holds any ether
    items = [item_id(GTIN, f"R-{n}") for n in range(3)]
    registry.register_batch(factory, items, b"\x00" * 32, None)
    registry.transfer_batch(factory, items, shop.address)
    path: Path = tmp_path_factory.mktemp("relay") / "veritag.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    keys = CustodialKeys(engine, SECRET)
    org = relayer_organisation(Organisations(engine))
    payer = keys.create(org.id)
    Senders(engine).assign(org.id, payer, chain.chain_id)
    chain.fund(payer, 10**18)
    batches = MerkleBatches(engine)
    registry.batch_proofs = batches.proof  # as `veritag serve` does
    services = Services(registry, Store(engine), hash_salt=b"t")
    services.relayer = Relayer(registry, keys.account(org.id, payer))
    services.relayer_org_id = org.id
    submitter = Submitter(engine, registry, custodial_signers(engine, keys))
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield Relay(client, registry, submitter, shop, consumer, payer, factory, batches)
    engine.dispose()


def prepared(relay: Relay, signer: LocalAccount, **body: Any) -> dict[str, Any]:
    response = relay.client.post("/v1/relay/prepare", json={"sender": signer.address, **body})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def signed(prepared_request: dict[str, Any], signer: LocalAccount) -> str:
    typed = encode_typed_data(full_message=prepared_request["typed_data"])
    return "0x" + bytes(signer.sign_message(typed).signature).hex()


def test_a_shop_without_gas_transfers_through_the_relay(relay: Relay) -> None:
    request = prepared(
        relay, relay.shop, operation="transfer", gtin=GTIN, serial="R-0", to=relay.consumer.address
    )
    body = {"request": request["request"], "signature": signed(request, relay.shop)}

    accepted = relay.client.post("/v1/relay", json=body)
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["location"] == f"/v1/relay/{accepted.json()['operation_id']}"
    relay.submitter.run_until_idle()

    followed = relay.client.get(accepted.headers["location"]).json()
    assert followed["status"] == "confirmed"
    state = relay.registry.item(item_id(GTIN, "R-0"))
    assert state is not None
    assert state.custodian == relay.consumer.address
    assert relay.registry.w3.eth.get_balance(relay.shop.address) == 0
    again = relay.client.post("/v1/relay", json=body)  # the same signed request: one operation
    assert (again.status_code, again.json()["operation_id"]) == (
        200,
        accepted.json()["operation_id"],
    )


def test_a_request_signed_by_someone_else_is_refused_before_it_is_stored(relay: Relay) -> None:
    request = prepared(relay, relay.shop, operation="report_stolen", gtin=GTIN, serial="R-1")
    forged = {"request": request["request"], "signature": signed(request, relay.consumer)}

    response = relay.client.post("/v1/relay", json=forged)

    assert (response.status_code, response.json()["title"]) == (
        403,
        "ERC2771ForwarderInvalidSigner",
    )
    assert relay.registry.item(item_id(GTIN, "R-1")).stolen is False  # type: ignore[union-attr]


def test_preparing_an_operation_the_registry_refuses_says_why(relay: Relay) -> None:
    response = relay.client.post(
        "/v1/relay/prepare",
        json={
            "sender": relay.consumer.address,
            "operation": "ship",
            "gtin": GTIN,
            "serial": "R-2",
            "to": relay.consumer.address,
        },
    )
    assert (response.status_code, response.json()["title"]) == (403, "NotCustodian")


def test_a_bad_code_in_a_prepare_request_is_a_422(relay: Relay) -> None:
    response = relay.client.post(
        "/v1/relay/prepare",
        json={"sender": relay.shop.address, "operation": "receive", "gtin": "123", "serial": "X"},
    )
    assert response.status_code == 422
    assert "invalid GTIN '123'" in response.json()["detail"]


def test_an_unknown_relayed_operation_is_a_404(relay: Relay) -> None:
    response = relay.client.get("/v1/relay/0000000000000000ffffffffffffffff")
    assert response.status_code == 404


def test_without_a_relayer_account_the_relay_answers_503_saying_how_to_set_it_up(
    relay: Relay,
) -> None:
    services = Services(relay.registry, None, hash_salt=b"t")
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/relay/prepare",
            json={
                "sender": relay.shop.address,
                "operation": "receive",
                "gtin": GTIN,
                "serial": "R-1",
            },
        )
    assert response.status_code == 503
    assert "veritag admin relayer" in response.json()["detail"]


def test_a_relayed_first_ship_of_a_merkle_batch_item_activates_it_in_the_same_transaction(
    relay: Relay,
) -> None:
    serials = [f"RB-{n}" for n in range(5)]
    ids = item_ids_for(GTIN, serials)
    tree = prepare(ids)
    save_and_anchor(relay.registry, relay.factory, relay.batches, tree, ids)
    before = relay.registry.w3.eth.get_balance(relay.factory.address)

    request = prepared(
        relay, relay.factory, operation="ship", gtin=GTIN, serial="RB-3", to=relay.shop.address
    )
    body = {"request": request["request"], "signature": signed(request, relay.factory)}
    accepted = relay.client.post("/v1/relay", json=body)
    assert accepted.status_code == 202, accepted.text
    relay.submitter.run_until_idle()
    followed = relay.client.get(accepted.headers["location"]).json()

    assert request["request"]["data"].startswith("0xac9650d8")  # multicall(bytes[])
    assert followed["status"] == "confirmed"
    mined = followed["tx_hash"]
    item = item_id(GTIN, "RB-3")
    assert [(e.name, e.seq) for e in relay.registry.history(item) if e.tx_hash == mined] == [
        ("BatchItemActivated", 1),
        ("ItemShipped", 2),
    ]
    state = relay.registry.item(item)
    assert state is not None
    assert (state.custodian, state.consignee) == (relay.factory.address, relay.shop.address)
    assert relay.registry.w3.eth.get_balance(relay.factory.address) == before
