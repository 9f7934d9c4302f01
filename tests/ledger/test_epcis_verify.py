"""``ledger.epcis.verify``: an exported document's events hold on chain; altered ones do not."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.chain import Chain, connect_memory
from ledger.epcis.event_hash import event_hash_id
from ledger.epcis.export import CHAIN_FIELDS, export_item
from ledger.epcis.verify import verify_document
from ledger.errors import ConfigError
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate
from ledger.store.repository import Store
from ledger.store.signals import SignalStore
from veritag.demo_seed import DEMO_GTIN, DemoRoles, seed_demo

CLAIMED = "DEMO-CLAIMED"


@pytest.fixture(scope="module")
def chain() -> Chain:
    return connect_memory()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('store') / 'veritag.sqlite'}")
    migrate(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def registry(chain: Chain, store: Store) -> Registry:
    registry = Registry.deploy(chain.w3, chain.dev_accounts[0])
    roles = DemoRoles.from_dev_accounts(chain.dev_accounts)
    seed_demo(registry, store, roles, "https://x")
    SignalStore(store.engine).set_site(
        roles.retailer.address, "Shop", 47.0, 8.0, gln="0614141000012"
    )
    return registry


def _exported(registry: Registry, store: Store | None = None) -> dict[str, Any]:
    return export_item(registry, DEMO_GTIN, CLAIMED, store=store)


def test_every_event_of_a_chain_only_export_is_what_the_chain_says(registry: Registry) -> None:
    document = _exported(registry)

    checks = verify_document(registry, document)

    assert [c.ok for c in checks] == [True] * 5
    assert [c.event_id for c in checks] == [
        e["eventID"] for e in document["epcisBody"]["eventList"]
    ]
    assert (
        checks[1]
        .findings[0]
        .endswith(
            f"the chain's ItemShipped (seq 2, transaction "
            f"{document['epcisBody']['eventList'][1]['veritag:txHash']}) says exactly this"
        )
    )


def test_the_product_document_and_site_of_a_full_export_are_checked_or_named(
    registry: Registry, store: Store
) -> None:
    document = _exported(registry, store)
    events = document["epcisBody"]["eventList"]
    assert "ilmd" in events[0]
    assert events[3]["bizLocation"] == {"id": "https://id.gs1.org/414/0614141000012"}

    checks = verify_document(registry, document)

    assert all(c.ok for c in checks)
    assert (
        checks[3]
        .findings[0]
        .endswith(
            "its readPoint and bizLocation come from the service's site register, not the chain, "
            "and are not checked"
        )
    )


def test_an_altered_event_does_not_hold_and_says_why(registry: Registry, store: Store) -> None:
    document = _exported(registry, store)
    events = document["epcisBody"]["eventList"]
    events[2]["disposition"] = "damaged"  # eventID left as it was
    events[0]["ilmd"]["veritag:name"] = "Something else"
    events[0]["eventID"] = event_hash_id(
        {k: v for k, v in events[0].items() if k not in CHAIN_FIELDS}, document["@context"]
    )  # re-hashed, so only the chain can tell

    checks = verify_document(registry, document)

    assert [c.ok for c in checks] == [False, True, False, True, True]
    assert checks[2].findings == (
        f"its eventID {events[2]['eventID']} is not its hash ID {checks[2].event_id}",
        f"https://id.gs1.org/01/{DEMO_GTIN}/21/{CLAIMED}: no event of this item on chain "
        "records or says this event",
    )
    assert (
        checks[0].findings[-1].endswith("no event of this item on chain records or says this event")
    )


def test_a_document_of_another_registry_is_refused_before_any_event(registry: Registry) -> None:
    document = copy.deepcopy(_exported(registry))
    document["veritag:registry"] = "0x" + "12" * 20

    with pytest.raises(ConfigError, match="the document is from registry 0x1212"):
        verify_document(registry, document)
