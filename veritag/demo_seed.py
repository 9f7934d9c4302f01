"""`veritag serve --demo`: a demo brand with one item in each state, and their label URLs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.errors import ConfigError
from ledger.identifiers import build_digital_link, item_id
from ledger.registry import Registry
from ledger.store.repository import Store

__all__ = ["DEMO_GTIN", "DemoRoles", "seed_demo"]

DEMO_PREFIX = "0614141"
DEMO_GTIN = "00614141123452"
DEMO_DOCUMENT = {
    "name": "Acme Diver 300",
    "model": "AD300",
    "image": "/static/diver.svg",
    "lot": "L2026-11",
    "manufacture_date": "2026-11-02",
    "factory": "Acme Watches, Biel",
}


@dataclass(frozen=True)
class DemoRoles:
    admin: LocalAccount
    brand_admin: LocalAccount
    factory: LocalAccount
    distributor: LocalAccount
    retailer: LocalAccount
    consumer: LocalAccount

    @classmethod
    def from_dev_accounts(cls, accounts: Sequence[LocalAccount]) -> DemoRoles:
        if len(accounts) < 6:
            raise ConfigError(
                "demo mode needs a development chain with funded dev accounts (the in-memory "
                "chain or a local anvil)"
            )
        return cls(*accounts[:6])


def seed_demo(
    registry: Registry, store: Store | None, roles: DemoRoles, base_url: str
) -> dict[str, str]:
    """Register the demo items, return ``{state: label URL}``.

    The registry's admin must be ``roles.admin``; the brand is admitted if no brand owns the
    demo prefix yet, so seeding twice on a persistent chain adds only what is missing.
    """
    brand = registry.brand_of_prefix(DEMO_PREFIX)
    if brand is None:
        brand = registry.admit_brand(
            roles.admin, roles.brand_admin.address, "Acme Watches", [DEMO_PREFIX]
        )
    if registry.operator(roles.factory.address) is None:
        registry.add_operator(roles.brand_admin, brand, roles.factory.address)
    doc_hash = bytes(HexBytes(store.record_document(DEMO_DOCUMENT))) if store else b"\x00" * 32
    states = [
        "in_shop", "sold_and_claimed", "in_transit", "recalled", "stolen", "destroyed",
    ]  # fmt: skip
    serials = {state: f"DEMO-{state.split('_')[-1].upper()}" for state in states}
    urls = {s: build_digital_link(DEMO_GTIN, serial, base_url) for s, serial in serials.items()}
    urls["unregistered"] = build_digital_link(DEMO_GTIN, "DEMO-FAKE", base_url)
    fresh = [s for s in states if registry.item(item_id(DEMO_GTIN, serials[s])) is None]
    if not fresh:
        return urls
    code = generate_claim_code()
    ids = {s: item_id(DEMO_GTIN, serials[s]) for s in fresh}
    keys = [
        claim_key(ids[s], code).address if s == "sold_and_claimed" else "0x" + "00" * 20
        for s in fresh
    ]
    registry.register_batch(roles.factory, list(ids.values()), doc_hash, keys)
    if store is not None:
        store.record_codes([(DEMO_GTIN, serials[s], ids[s].hex()) for s in fresh])
    movable = [ids[s] for s in fresh if s != "in_transit"]
    if "in_transit" in ids:
        registry.ship(roles.factory, ids["in_transit"], roles.distributor.address)
    if movable:
        registry.ship_batch(roles.factory, movable, roles.retailer.address)
        registry.receive_batch(roles.retailer, movable)
    if "sold_and_claimed" in ids:
        sold = ids["sold_and_claimed"]
        registry.record_retail_sale(roles.retailer, sold)
        signature = sign_claim(
            sold, code, roles.consumer.address, chain_id=registry.chain_id,
            contract=registry.address,
        )  # fmt: skip
        registry.claim(roles.retailer, sold, roles.consumer.address, signature)
    if "recalled" in ids:
        registry.recall(roles.brand_admin, [ids["recalled"]])
    if "stolen" in ids:
        registry.report_stolen(roles.retailer, ids["stolen"])
    if "destroyed" in ids:
        registry.destroy(roles.retailer, ids["destroyed"])
    return urls
