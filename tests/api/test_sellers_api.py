"""/v1/sellers: a marketplace links its sellers to ledger addresses with signed EIP-4361 messages.

The app runs with a clock the tests move, to expire challenges.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from fastapi.testclient import TestClient
from httpx2 import Response

from api.services import Services
from ledger.marketplace.siwe import SiweMessage, parse
from ledger.registry import Registry
from ledger.store.orgs import Organisations
from ledger.store.repository import Store
from tests.api.conftest import auth

PROBLEM = "application/problem+json"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def account(label: str) -> LocalAccount:
    key: LocalAccount = Account.from_key(keccak(text=label))
    return key


SELLER_KEY = account("api seller")
OTHER_KEY = account("api someone else")


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def services(api_registry: Registry, store: Store, clock: Clock) -> Services:
    return Services(api_registry, store, hash_salt=b"test-salt", clock=clock)


@pytest.fixture(scope="module")
def market_one_id(organisations: Organisations, marketplace_key: str) -> int:
    return organisations.authenticate(marketplace_key).org_id


@pytest.fixture(scope="module")
def market_two_id(organisations: Organisations, other_marketplace_key: str) -> int:
    return organisations.authenticate(other_marketplace_key).org_id


def sign(signer: LocalAccount, text: str) -> str:
    return signer.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


def challenge(
    client: TestClient, key: str, seller_id: str, address: str = SELLER_KEY.address
) -> str:
    response = client.post(
        f"/v1/sellers/{seller_id}/challenge", json={"address": address}, headers=auth(key)
    )
    assert response.status_code == 200, response.text
    message: str = response.json()["message"]
    return message


def link(
    client: TestClient,
    key: str,
    seller_id: str,
    message: str,
    signer: LocalAccount = SELLER_KEY,
    signature: str | None = None,
) -> Response:
    body = {"message": message, "signature": signature or sign(signer, message)}
    return client.post(f"/v1/sellers/{seller_id}/link", json=body, headers=auth(key))


def problem(response: Response, status: int, title: str) -> str:
    """The detail of a problem answer, after checking its status, title and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert (body["status"], body["title"], body["type"]) == (status, title, "about:blank")
    detail: str = body["detail"]
    return detail


# ───────────── the happy path ─────────────


def test_the_challenge_names_the_marketplace_the_seller_and_this_service(
    client: TestClient, marketplace_key: str, market_one_id: int, services: Services, clock: Clock
) -> None:
    response = client.post(
        "/v1/sellers/S-100/challenge",
        json={"address": SELLER_KEY.address},
        headers=auth(marketplace_key),
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"nonce", "message", "expires_at"}
    assert parse(body["message"]) == SiweMessage(
        domain="testserver",
        address=SELLER_KEY.address,
        statement=(
            f"Link seller account 'S-100' on marketplace 'Market One' (#{market_one_id}) "
            "to this address for Veritag."
        ),
        uri="http://testserver/",
        chain_id=services.registry.chain_id,
        nonce=body["nonce"],
        issued_at=clock.now,
        expiration_time=clock.now + timedelta(minutes=10),
    )
    assert datetime.fromisoformat(body["expires_at"]) == clock.now + timedelta(minutes=10)


def test_a_marketplace_links_a_seller_with_a_signed_challenge(
    client: TestClient, marketplace_key: str
) -> None:
    message = challenge(client, marketplace_key, "S-1")

    response = link(client, marketplace_key, "S-1", message)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["addresses"] == [SELLER_KEY.address]
    assert {k: body[k] for k in body if k not in ("created_at", "addresses")} == {
        "seller_id": "S-1",
        "listings_checked": 0,
        "listings_blocked": 0,
        "never_held": 0,
        "confirmed_reports": 0,
    }
    assert client.get("/v1/sellers/S-1", headers=auth(marketplace_key)).json() == body


def test_a_seller_id_with_spaces_and_accents_travels_in_the_path(
    client: TestClient, marketplace_key: str
) -> None:
    message = challenge(client, marketplace_key, "Señor Relojes")

    response = link(client, marketplace_key, "Señor Relojes", message)

    assert response.status_code == 200, response.text
    assert "Link seller account 'Se[U+00F1]or Relojes'" in message


def test_unlinking_an_address_answers_204_and_a_second_time_404(
    client: TestClient, marketplace_key: str
) -> None:
    link(client, marketplace_key, "S-2", challenge(client, marketplace_key, "S-2"))
    path = f"/v1/sellers/S-2/addresses/{SELLER_KEY.address}"

    first = client.delete(path, headers=auth(marketplace_key))
    second = client.delete(path, headers=auth(marketplace_key))

    assert (first.status_code, first.content) == (204, b"")
    assert client.get("/v1/sellers/S-2", headers=auth(marketplace_key)).json()["addresses"] == []
    assert problem(second, 404, "NotFound") == (
        f"no address of seller 'S-2' {SELLER_KEY.address!r}"
    )


# ───────────── rejected proofs ─────────────


def test_a_replayed_link_is_rejected_as_a_used_nonce(
    client: TestClient, marketplace_key: str, clock: Clock
) -> None:
    message = challenge(client, marketplace_key, "S-3")
    assert link(client, marketplace_key, "S-3", message).status_code == 200

    replay = link(client, marketplace_key, "S-3", message)

    assert problem(replay, 400, "ProofRejected") == (
        f"address proof rejected: nonce already used (at {clock.now:%Y-%m-%d %H:%M:%S} UTC); "
        "ask for a new challenge"
    )


def test_a_challenge_signed_after_it_expired_is_rejected(
    client: TestClient, marketplace_key: str, clock: Clock
) -> None:
    message = challenge(client, marketplace_key, "S-4")
    expiry = parse(message).expiration_time
    assert expiry is not None
    clock.now += timedelta(minutes=10, seconds=1)

    response = link(client, marketplace_key, "S-4", message)

    assert problem(response, 400, "ProofRejected") == (
        f"address proof rejected: nonce expired at {expiry:%Y-%m-%d %H:%M:%S} UTC; "
        "ask for a new challenge"
    )
    assert client.get("/v1/sellers/S-4", headers=auth(marketplace_key)).json()["addresses"] == []


def test_a_message_issued_to_another_marketplace_is_rejected_naming_it(
    client: TestClient,
    marketplace_key: str,
    other_marketplace_key: str,
    market_one_id: int,
    market_two_id: int,
) -> None:
    message = challenge(client, other_marketplace_key, "S-5")

    response = link(client, marketplace_key, "S-5", message)

    detail = problem(response, 400, "ProofRejected")
    assert detail == (
        "address proof rejected: the message reads \"Link seller account 'S-5' on marketplace "
        f"'Market Two' (#{market_two_id}) to this address for Veritag.\", but linking seller "
        f"'S-5' of marketplace 'Market One' (#{market_one_id}) needs \"Link seller account "
        f"'S-5' on marketplace 'Market One' (#{market_one_id}) to this address for Veritag.\""
    )


def test_a_message_for_another_seller_is_rejected(client: TestClient, marketplace_key: str) -> None:
    message = challenge(client, marketplace_key, "S-6")

    response = link(client, marketplace_key, "S-7", message)

    assert problem(response, 400, "ProofRejected").startswith(
        "address proof rejected: the message reads \"Link seller account 'S-6' on"
    )


def test_a_signature_by_another_key_is_rejected(client: TestClient, marketplace_key: str) -> None:
    message = challenge(client, marketplace_key, "S-8")

    response = link(client, marketplace_key, "S-8", message, signer=OTHER_KEY)

    assert problem(response, 400, "ProofRejected") == (
        f"address proof rejected: it was signed by {OTHER_KEY.address}, not by "
        f"{SELLER_KEY.address} which it names"
    )


def test_a_message_tampered_with_after_signing_is_rejected(
    client: TestClient, marketplace_key: str
) -> None:
    message = challenge(client, marketplace_key, "S-9")
    signature = sign(SELLER_KEY, message)
    signed = parse(message)
    assert signed.expiration_time is not None
    extended = replace(signed, expiration_time=signed.expiration_time + timedelta(days=365))

    response = link(client, marketplace_key, "S-9", extended.text(), signature=signature)

    detail = problem(response, 400, "ProofRejected")
    assert detail.startswith("address proof rejected: it was signed by 0x")
    assert detail.endswith(f", not by {SELLER_KEY.address} which it names")
    assert link(client, marketplace_key, "S-9", message, signature=signature).status_code == 200


@pytest.mark.parametrize(
    ("signature", "detail"),
    [
        ("0x1234", "signature rejected: it must be 65 bytes written as 0x and 130 hex digits"),
        (
            "0x" + "11" * 64 + "05",
            "signature rejected: its recovery id (last byte) is 5, not 27 or 28 (or 0, 1)",
        ),
    ],
)
def test_a_malformed_signature_is_a_400(
    client: TestClient, marketplace_key: str, signature: str, detail: str
) -> None:
    message = challenge(client, marketplace_key, "S-10")

    response = link(client, marketplace_key, "S-10", message, signature=signature)

    assert problem(response, 400, "ProofRejected") == detail


def test_a_challenge_for_a_malformed_address_is_a_422(
    client: TestClient, marketplace_key: str
) -> None:
    response = client.post(
        "/v1/sellers/S-11/challenge", json={"address": "0xnothex"}, headers=auth(marketplace_key)
    )

    assert problem(response, 422, "InvalidRecord") == (
        "cannot record address '0xnothex': a ledger address is 0x and 40 hex digits"
    )


# ───────────── who may do what ─────────────


def test_a_marketplace_cannot_read_link_or_unlink_another_marketplaces_seller(
    client: TestClient, marketplace_key: str, other_marketplace_key: str
) -> None:
    message = challenge(client, marketplace_key, "S-12")
    assert link(client, marketplace_key, "S-12", message).status_code == 200

    read = client.get("/v1/sellers/S-12", headers=auth(other_marketplace_key))
    relink = link(client, other_marketplace_key, "S-12", message)
    unlink = client.delete(
        f"/v1/sellers/S-12/addresses/{SELLER_KEY.address}", headers=auth(other_marketplace_key)
    )

    assert problem(read, 404, "NotFound") == "no seller 'S-12'"
    assert problem(relink, 400, "ProofRejected").startswith(
        "address proof rejected: the message reads \"Link seller account 'S-12' on marketplace "
        "'Market One'"
    )
    assert problem(unlink, 404, "NotFound") == "no seller 'S-12'"
    assert client.get("/v1/sellers/S-12", headers=auth(marketplace_key)).json()["addresses"] == [
        SELLER_KEY.address
    ]


def test_sellers_need_a_marketplace_key(
    client: TestClient, brand_key: str, custodian_key: str
) -> None:
    anonymous = client.post("/v1/sellers/S-1/challenge", json={"address": SELLER_KEY.address})
    brand = client.get("/v1/sellers/S-1", headers=auth(brand_key))
    custodian = client.post(
        "/v1/sellers/S-1/link",
        json={"message": "m", "signature": "0x"},
        headers=auth(custodian_key),
    )

    assert problem(anonymous, 401, "AuthenticationRequired").startswith(
        "authentication required: send an API key"
    )
    assert problem(brand, 403, "Forbidden") == (
        "not allowed to act for a marketplace: it needs a marketplace key, and Demo Brand is "
        "a brand"
    )
    assert problem(custodian, 403, "Forbidden").endswith("Some Retailer is a custodian")


def test_an_unknown_seller_is_a_404(client: TestClient, marketplace_key: str) -> None:
    response = client.get("/v1/sellers/nobody", headers=auth(marketplace_key))

    assert problem(response, 404, "NotFound") == "no seller 'nobody'"
