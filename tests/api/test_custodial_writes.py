"""Custodial mode end to end: a brand's writes, signed with the key the service holds for it,
queued in the outbox and confirmed on chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ledger.chain import Chain, connect_memory
from ledger.custodial import CustodialKeys
from ledger.identifiers import item_id
from ledger.outbox.signer import Senders, custodial_signers
from ledger.outbox.submitter import Submitter
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import Store
from tests.api.conftest import auth

GTIN = "00614141123452"
SECRET = b"custodial-test-secret-of-32-bytes!!"


@dataclass
class Custodial:
    client: TestClient
    chain: Chain
    registry: Registry
    submitter: Submitter
    brand_key: str
    brand_address: str
    other_key: str


@pytest.fixture(scope="module")
def custodial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Custodial]:
    chain = connect_memory()
    admin, brand_admin = chain.dev_accounts[:2]
    registry = Registry.deploy(chain.w3, admin)
    brand = registry.admit_brand(admin, brand_admin.address, "Acme", ["0614141"])
    path: Path = tmp_path_factory.mktemp("custodial") / "veritag.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    organisations = Organisations(engine)
    brand_org, brand_key = organisations.create("Acme", Role.BRAND, brand_id=brand)
    _, other_key = organisations.create("Other Brand", Role.BRAND, brand_id=2)
    keys = CustodialKeys(engine, SECRET)
    address = keys.create(brand_org.id)
    Senders(engine).assign(brand_org.id, address, chain.chain_id)
    chain.fund(address, 10**18)
    registry.add_operator(brand_admin, brand, address)
    submitter = Submitter(engine, registry, custodial_signers(engine, keys))
    services = Services(registry, Store(engine), hash_salt=b"t")
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield Custodial(client, chain, registry, submitter, brand_key, address, other_key)
    engine.dispose()


def register(custodial: Custodial, key: str, serial: str, idempotency: str) -> dict[str, object]:
    response = custodial.client.post(
        "/v1/items/register",
        json={"items": [{"gtin": GTIN, "serial": serial}]},
        headers={**auth(key), "Idempotency-Key": idempotency},
    )
    assert response.status_code == 202, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_brands_registration_is_signed_with_its_custodial_key_and_confirmed(
    custodial: Custodial,
) -> None:
    accepted = register(custodial, custodial.brand_key, "C-1", "c-1")
    custodial.submitter.run_until_idle()

    operation = custodial.client.get(
        f"/v1/operations/{accepted['operation_id']}", headers=auth(custodial.brand_key)
    ).json()
    assert operation["status"] == "confirmed"
    state = custodial.registry.item(item_id(GTIN, "C-1"))
    assert state is not None
    assert state.operator == custodial.brand_address
    assert state.custodian == custodial.brand_address


def test_an_organisation_without_a_sending_key_is_refused_before_anything_is_queued(
    custodial: Custodial,
) -> None:
    response = custodial.client.post(
        "/v1/items/register",
        json={"items": [{"gtin": GTIN, "serial": "C-2"}]},
        headers={**auth(custodial.other_key), "Idempotency-Key": "c-2"},
    )
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "not allowed to register items: Other Brand has no sending account yet; the service "
        "operator assigns one"
    )
    assert custodial.registry.item(item_id(GTIN, "C-2")) is None
