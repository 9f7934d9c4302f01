"""``POST /v1/listings/check`` end to end: a real chain, indexed into a real SQLite store,
sellers linked with signed EIP-4361 messages, decisions signed with EIP-712."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlmodel import select

from api.app import create_app
from api.services import Services
from ledger.chain import connect_memory
from ledger.identifiers import build_digital_link, item_id
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate, session
from ledger.store.market_models import WebhookDelivery
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import ScanRecord, Store
from ledger.store.sellers import Sellers
from ledger.store.signals import SignalStore
from ledger.store.webhooks import Webhooks
from tests.api.conftest import auth
from veritag.demo_seed import DEMO_GTIN, DemoRoles, seed_demo

BASE = "http://testserver"


@dataclass
class Market:
    client: TestClient
    services: Services
    registry: Registry
    roles: DemoRoles
    key: str
    other_key: str
    marketplace_id: int
    rogue: LocalAccount

    def check(self, *listings: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        response = self.client.post(
            "/v1/listings/check", json={"listings": list(listings)}, headers=auth(key or self.key)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def decide(self, listing_id: str, seller_id: str, state: str) -> dict[str, Any]:
        result: dict[str, Any] = self.check(
            {"listing_id": listing_id, "seller_id": seller_id, "code": code(state)}
        )["results"][0]
        return result


SERIALS = {
    "in_shop": "DEMO-SHOP",
    "sold_and_claimed": "DEMO-CLAIMED",
    "in_transit": "DEMO-TRANSIT",
    "recalled": "DEMO-RECALLED",
    "stolen": "DEMO-STOLEN",
    "destroyed": "DEMO-DESTROYED",
    "unregistered": "DEMO-FAKE",
    "sold": "DEMO-SOLD",
    "spare": "DEMO-SPARE",
}


def code(state: str) -> str:
    return build_digital_link(DEMO_GTIN, SERIALS[state], "https://brand.example")


def link(sellers: Sellers, marketplace_id: int, seller_id: str, account: LocalAccount) -> None:
    name = Organisations(sellers.engine).get(marketplace_id).name
    challenge = sellers.issue_nonce(
        marketplace_id, name, seller_id, account.address,
        domain="testserver", uri=BASE, chain_id=31337,
    )  # fmt: skip
    signed = Account.sign_message(encode_defunct(text=challenge.message_text), account.key)
    sellers.link(
        marketplace_id,
        seller_id,
        challenge.message_text,
        "0x" + signed.signature.hex().removeprefix("0x"),
        chain_id=31337,
    )


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    chain = connect_memory()
    roles = DemoRoles.from_dev_accounts(chain.dev_accounts)
    registry = Registry.deploy(chain.w3, roles.admin)
    path: Path = tmp_path_factory.mktemp("listings") / "veritag.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    store = Store(engine)
    seed_demo(registry, store, roles, BASE)
    extra = {s: item_id(DEMO_GTIN, SERIALS[s]) for s in ("sold", "spare")}
    registry.register_batch(roles.factory, list(extra.values()), b"\x00" * 32, None)
    store.record_codes([(DEMO_GTIN, SERIALS[s], i.hex()) for s, i in extra.items()])
    registry.transfer_batch(roles.factory, list(extra.values()), roles.retailer.address)
    registry.record_retail_sale(roles.retailer, extra["sold"])
    Indexer(registry, engine).sync()

    organisations = Organisations(engine)
    market_org, key = organisations.create("Market", Role.MARKETPLACE)
    other_org, other_key = organisations.create("Other Market", Role.MARKETPLACE)
    rogue = Account.create()
    sellers = Sellers(engine)
    for seller_id, account in [
        ("shop", roles.retailer),
        ("owner", roles.consumer),
        ("factory", roles.factory),
        ("rogue", rogue),
        ("risky", roles.retailer),
    ]:
        link(sellers, market_org.id, seller_id, account)
    link(sellers, other_org.id, "shop", roles.retailer)
    link(sellers, other_org.id, "rogue", rogue)
    sellers.issue_nonce(
        market_org.id, "Market", "unlinked", rogue.address,
        domain="testserver", uri=BASE, chain_id=31337,
    )  # fmt: skip
    services = Services(registry, store, hash_salt=b"t", decision_key=bytes.fromhex("22" * 32))
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield Market(client, services, registry, roles, key, other_key, market_org.id, rogue)
    engine.dispose()


@pytest.mark.parametrize(
    ("seller", "state", "decision", "reasons"),
    [
        ("shop", "in_shop", "allow", ["holder"]),
        ("owner", "sold_and_claimed", "allow", ["holder"]),
        ("rogue", "in_shop", "block", ["seller_not_holder"]),
        ("shop", "sold_and_claimed", "block", ["claimed_by_another_owner"]),
        ("rogue", "unregistered", "block", ["unregistered_code"]),
        ("shop", "recalled", "block", ["recalled"]),
        ("shop", "stolen", "block", ["stolen"]),
        ("shop", "destroyed", "block", ["destroyed"]),
        ("shop", "sold", "block", ["sold_unclaimed"]),
        ("factory", "in_transit", "review", ["in_transit"]),
    ],
)
def test_each_kind_of_listing_gets_its_decision(
    market: Market, seller: str, state: str, decision: str, reasons: list[str]
) -> None:
    result = market.decide(f"{seller}-{state}", seller, state)
    assert (result["status"], result["decision"]) == (200, decision)
    assert [r["code"] for r in result["reasons"]] == reasons
    assert result["problem"] is None
    market.client.delete(f"/v1/listings/{seller}-{state}", headers=auth(market.key))


def test_the_answer_carries_the_items_verdict_and_its_proof(market: Market) -> None:
    body = market.check({"listing_id": "proof-1", "seller_id": "shop", "code": code("in_shop")})
    verdict = body["results"][0]["verdict"]
    assert verdict["verdict"] == "authentic"
    assert verdict["item"]["serial"] == "DEMO-SHOP"
    assert verdict["item"]["holder"] == market.roles.retailer.address
    assert verdict["proof"]["chain_id"] == market.registry.chain_id
    assert verdict["proof"]["contract"] == market.registry.address
    assert verdict["proof"]["block"] == body["block"] == market.registry.w3.eth.block_number
    assert verdict["proof"]["seq"] == market.registry.item(item_id(DEMO_GTIN, "DEMO-SHOP")).seq  # type: ignore[union-attr]
    market.client.delete("/v1/listings/proof-1", headers=auth(market.key))


def test_every_decision_is_signed_by_the_published_signer(market: Market) -> None:
    body = market.check(
        {"listing_id": "sig-1", "seller_id": "shop", "code": code("in_shop")},
        {"listing_id": "sig-2", "seller_id": "rogue", "code": code("unregistered")},
    )
    published = market.client.get("/v1/listings/signer").json()
    assert published["address"] == body["signer"]
    checked_at = int(datetime.fromisoformat(body["checked_at"]).timestamp())
    for result in body["results"]:
        message = {
            "marketplace": body["marketplace"],
            "listingId": result["listing_id"],
            "sellerId": result["seller_id"],
            "itemId": bytes.fromhex(result["verdict"]["item"]["item_id"][2:]),
            "decision": {"allow": 0, "review": 1, "block": 2}[result["decision"]],
            "reasons": _reasons_hash([r["code"] for r in result["reasons"]]),
            "atBlock": body["block"],
            "checkedAt": checked_at,
        }
        typed = {
            "types": published["types"],
            "primaryType": published["primary_type"],
            "domain": published["domain"],
            "message": message,
        }
        signable = encode_typed_data(full_message=typed)
        assert Account.recover_message(signable, signature=result["signature"]) == body["signer"]
    market.client.delete("/v1/listings/sig-1", headers=auth(market.key))


def _reasons_hash(codes: list[str]) -> bytes:
    from eth_hash.auto import keccak  # noqa: PLC0415

    return keccak(",".join(codes).encode())


def test_bad_listings_get_their_own_problem_and_the_rest_are_answered(market: Market) -> None:
    body = market.check(
        {"listing_id": "bad-1", "seller_id": "shop", "code": "https://x.example/01/123/21/A"},
        {"listing_id": "bad-2", "seller_id": "nobody", "code": code("in_shop")},
        {"listing_id": "bad-3", "seller_id": "unlinked", "code": code("in_shop")},
        {"listing_id": "bad-4", "seller_id": "rogue", "code": code("in_shop")},
    )
    statuses = [(r["status"], r["problem"] and r["problem"]["title"]) for r in body["results"]]
    assert statuses == [
        (422, "InvalidDigitalLink"),
        (404, "NotFound"),
        (404, "NotFound"),
        (200, None),
    ]
    assert body["results"][1]["problem"]["detail"] == "no seller 'nobody'"
    assert body["results"][2]["problem"]["detail"] == (
        "no ledger address linked to seller 'unlinked'"
    )
    assert body["results"][0]["decision"] is None
    assert body["results"][0]["signature"] is None
    assert body["results"][3]["decision"] == "block"


def test_gtin_and_serial_may_stand_in_for_the_code(market: Market) -> None:
    body = market.check(
        {"listing_id": "pair-1", "seller_id": "shop", "gtin": DEMO_GTIN, "serial": "DEMO-SHOP"}
    )
    assert body["results"][0]["decision"] == "allow"
    market.client.delete("/v1/listings/pair-1", headers=auth(market.key))


def test_more_than_a_thousand_listings_is_a_422_problem(market: Market) -> None:
    listing = {"listing_id": "x", "seller_id": "shop", "code": code("in_shop")}
    response = market.client.post(
        "/v1/listings/check", json={"listings": [listing] * 1001}, headers=auth(market.key)
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith("body.listings: List should have at most 1000")


def test_a_listing_without_any_code_is_a_422_problem(market: Market) -> None:
    response = market.client.post(
        "/v1/listings/check",
        json={"listings": [{"listing_id": "x", "seller_id": "shop"}]},
        headers=auth(market.key),
    )
    assert response.status_code == 422
    assert "give `code` (a Digital Link) or both `gtin` and `serial`" in response.json()["detail"]


def test_rechecking_a_listing_is_idempotent(market: Market) -> None:
    first = market.decide("again-1", "shop", "in_shop")
    second = market.decide("again-1", "shop", "in_shop")
    assert second["decision"] == first["decision"] == "allow"
    stored = market.client.get("/v1/listings/again-1", headers=auth(market.key)).json()
    assert (stored["checks"], stored["active"], stored["reasons"]) == (2, True, ["holder"])
    market.client.delete("/v1/listings/again-1", headers=auth(market.key))


def test_a_listing_id_cannot_be_reused_for_another_item_while_it_lives(market: Market) -> None:
    market.decide("reuse-1", "shop", "in_shop")
    result = market.decide("reuse-1", "shop", "spare")
    assert result["status"] == 409
    assert "checked for another item or seller" in result["problem"]["detail"]
    market.client.delete("/v1/listings/reuse-1", headers=auth(market.key))


def test_one_seller_listing_one_item_twice_is_blocked_until_the_first_ends(
    market: Market,
) -> None:
    assert market.decide("twice-1", "shop", "in_shop")["decision"] == "allow"
    second = market.decide("twice-2", "shop", "in_shop")
    assert [r["code"] for r in second["reasons"]] == ["duplicate_listing"]
    assert market.client.delete("/v1/listings/twice-1", headers=auth(market.key)).status_code == 204
    assert market.decide("twice-3", "shop", "in_shop")["decision"] == "allow"
    market.client.delete("/v1/listings/twice-3", headers=auth(market.key))


def test_two_listings_of_one_item_in_one_batch_are_decided_in_order(market: Market) -> None:
    body = market.check(
        {"listing_id": "batch-1", "seller_id": "shop", "code": code("in_shop")},
        {"listing_id": "batch-2", "seller_id": "shop", "code": code("in_shop")},
    )
    assert [r["decision"] for r in body["results"]] == ["allow", "block"]
    market.client.delete("/v1/listings/batch-1", headers=auth(market.key))


def test_the_same_address_may_list_on_two_marketplaces(market: Market) -> None:
    assert market.decide("cross-1", "shop", "in_shop")["decision"] == "allow"
    other = market.check(
        {"listing_id": "cross-1", "seller_id": "shop", "code": code("in_shop")},
        key=market.other_key,
    )["results"][0]
    assert (other["decision"], [r["code"] for r in other["reasons"]]) == ("allow", ["holder"])
    market.client.delete("/v1/listings/cross-1", headers=auth(market.key))
    market.client.delete("/v1/listings/cross-1", headers=auth(market.other_key))


def test_a_new_holder_listing_while_the_old_listing_lives_is_held_for_review(
    market: Market,
) -> None:
    roles, registry = market.roles, market.registry
    moved = item_id(DEMO_GTIN, "DEMO-MOVED")
    registry.register(roles.factory, moved, b"\x00" * 32)
    registry.transfer(roles.factory, moved, roles.retailer.address)
    indexer = Indexer(registry, market.services.engine)
    indexer.sync()
    listing = {"seller_id": "shop", "gtin": DEMO_GTIN, "serial": "DEMO-MOVED"}
    assert market.check({"listing_id": "moved-1", **listing})["results"][0]["decision"] == "allow"
    registry.transfer(roles.retailer, moved, roles.distributor.address)
    indexer.sync()
    link(Sellers(market.services.engine), market.marketplace_id, "dist", roles.distributor)
    result = market.check(
        {"listing_id": "moved-2", "seller_id": "dist", "gtin": DEMO_GTIN, "serial": "DEMO-MOVED"}
    )["results"][0]
    assert (result["decision"], [r["code"] for r in result["reasons"]]) == (
        "review",
        ["listed_by_another_seller"],
    )
    assert result["reasons"][0]["message"] == "1 other seller(s) list this same item right now"


def test_a_marketplace_cannot_read_or_end_another_marketplaces_listing(market: Market) -> None:
    market.decide("private-1", "shop", "in_shop")
    assert (
        market.client.get("/v1/listings/private-1", headers=auth(market.other_key)).status_code
        == 404
    )
    response = market.client.delete("/v1/listings/private-1", headers=auth(market.other_key))
    assert response.status_code == 404
    assert response.json()["detail"] == "no listing 'private-1'"
    market.client.delete("/v1/listings/private-1", headers=auth(market.key))


def test_take_down_metrics_count_each_listing_once(market: Market) -> None:
    organisations = Organisations(market.services.engine)
    org, key = organisations.create("Metrics Market", Role.MARKETPLACE)
    sellers = Sellers(market.services.engine)
    link(sellers, org.id, "shop", market.roles.retailer)
    link(sellers, org.id, "rogue", market.rogue)
    listings = [
        {"listing_id": "m-1", "seller_id": "shop", "code": code("in_shop")},
        {"listing_id": "m-2", "seller_id": "rogue", "code": code("in_shop")},
        {"listing_id": "m-3", "seller_id": "rogue", "code": code("unregistered")},
        {"listing_id": "m-4", "seller_id": "shop", "code": code("stolen")},
    ]
    market.check(*listings, key=key)
    market.check(*listings, key=key)
    metrics = market.client.get("/v1/metrics/takedowns", headers=auth(key)).json()
    assert metrics == {
        "scope": f"marketplace {org.id}",
        "since": None,
        "listings_checked": 4,
        "allowed": 1,
        "review": 0,
        "blocked": 3,
        "block_rate": 0.75,
        "reasons": {"seller_not_holder": 1, "stolen": 1, "unregistered_code": 1},
    }


def test_a_risky_seller_has_its_allowed_listings_held_for_review(market: Market) -> None:
    fakes = [
        {"listing_id": f"risky-fake-{n}", "seller_id": "risky", "gtin": DEMO_GTIN,
         "serial": f"FAKE-{n}"}
        for n in range(12)
    ]  # fmt: skip
    fakes.append({"listing_id": "risky-clone", "seller_id": "risky", "code": code("in_transit")})
    assert {r["decision"] for r in market.check(*fakes)["results"]} == {"block"}
    risk = market.client.get("/v1/sellers/risky/risk", headers=auth(market.key)).json()
    assert risk["level"] == "high"
    assert risk["listings_checked"] == 13
    assert risk["listings_blocked"] == 13
    assert risk["never_held"] == 1
    assert {f["code"] for f in risk["factors"] if f["points"] > 0} >= {
        "blocked_share",
        "never_held",
    }
    held = market.decide("risky-real", "risky", "spare")
    assert (held["decision"], [r["code"] for r in held["reasons"]]) == ("review", ["seller_risk"])


def test_the_risk_of_another_marketplaces_seller_is_not_found(market: Market) -> None:
    response = market.client.get("/v1/sellers/risky/risk", headers=auth(market.other_key))
    assert response.status_code == 404


def test_checked_at_is_the_services_clock(market: Market) -> None:
    body = market.check({"listing_id": "clock-1", "seller_id": "rogue", "code": code("spare")})
    checked = datetime.fromisoformat(body["checked_at"])
    assert abs((datetime.now(UTC) - checked).total_seconds()) < 60


def test_a_blocked_listing_alerts_the_brand_and_the_marketplace_once(market: Market) -> None:
    engine = market.services.engine
    organisations = Organisations(engine)
    brand_org, _ = organisations.create("Acme Watches Org", Role.BRAND, brand_id=1)
    webhooks = Webhooks(engine)
    brand_hook, _ = webhooks.create(
        brand_org.id, "https://brand.example/listings", ["listing_blocked"]
    )
    market_hook, _ = webhooks.create(
        market.marketplace_id, "https://market.example/listings", ["listing_blocked"]
    )
    listing = {"listing_id": "alert-1", "seller_id": "rogue", "code": code("in_shop")}
    market.check(listing)
    market.check(listing)
    with session(engine) as db:
        deliveries = db.exec(
            select(WebhookDelivery).where(WebhookDelivery.kind == "listing_blocked")
        ).all()
    assert sorted(d.webhook_id for d in deliveries) == sorted([brand_hook.id, market_hook.id])
    payload = json.loads(deliveries[0].payload)
    assert payload["kind"] == "listing_blocked"
    assert payload["data"]["listing_id"] == "alert-1"
    assert payload["data"]["reasons"][0]["code"] == "seller_not_holder"


def test_clone_signals_hold_the_holders_listing_for_review(market: Market) -> None:
    roles, registry = market.roles, market.registry
    cloned = item_id(DEMO_GTIN, "DEMO-CLONED")
    registry.register(roles.factory, cloned, b"\x00" * 32)
    registry.transfer(roles.factory, cloned, roles.retailer.address)
    store = market.services.store
    assert store is not None
    Indexer(registry, store.engine).sync()
    now = datetime.now(UTC)
    store.record_scans(
        [
            ScanRecord(cloned.hex(), DEMO_GTIN, "DEMO-CLONED", now, "a" * 64, "b" * 64, 48.9, 2.4),
            ScanRecord(
                cloned.hex(), DEMO_GTIN, "DEMO-CLONED", now + timedelta(minutes=1),
                "c" * 64, "d" * 64, -33.9, 151.2,
            ),
        ]
    )  # fmt: skip
    assert [s.signal.code for s in SignalStore(store.engine).detect([cloned.hex()])] == [
        "impossible_travel"
    ]
    result = market.check(
        {"listing_id": "cloned-1", "seller_id": "shop", "gtin": DEMO_GTIN, "serial": "DEMO-CLONED"}
    )["results"][0]
    assert (result["decision"], [r["code"] for r in result["reasons"]]) == (
        "review",
        ["impossible_travel"],
    )
