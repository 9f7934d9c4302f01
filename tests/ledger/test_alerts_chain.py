"""ledger.alerts.chain_alerts: recalls and theft reports on a real (eth-tester) chain, indexed
into a SQLite store, become exactly one delivery each, to the brand and to the marketplaces
listing the item — however often, and however interrupted, the publishing runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine
from sqlmodel import col, delete

from ledger.alerts import AlertKind, publish_chain_alerts
from ledger.alerts.chain_alerts import CHAIN_CURSOR, chain_alert_id
from ledger.identifiers import ItemId, item_id
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store.database import session
from ledger.store.market_models import AlertCursor, Listing
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import Store
from ledger.store.webhooks import DeliveryRead, Webhooks
from tests.conftest import GTIN
from tests.ledger.test_alerts_delivery import T0, migrated_engine

if TYPE_CHECKING:
    from tests.conftest import Roles

URL = "https://alerts.example.com/hook"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = migrated_engine(tmp_path)
    yield engine
    engine.dispose()


class Subscribers:
    def __init__(self, engine: Engine) -> None:
        organisations, webhooks = Organisations(engine), Webhooks(engine)
        self.engine = engine
        self.brand = organisations.create("Acme", Role.BRAND, brand_id=1)[0].id
        self.other_brand = organisations.create("Other", Role.BRAND, brand_id=2)[0].id
        self.listing_market = organisations.create("Market One", Role.MARKETPLACE)[0].id
        self.idle_market = organisations.create("Market Two", Role.MARKETPLACE)[0].id
        self.hooks = {
            org: webhooks.create(org, URL, list(AlertKind))[0].id
            for org in (self.brand, self.other_brand, self.listing_market, self.idle_market)
        }

    def log(self, org_id: int) -> list[DeliveryRead]:
        return Webhooks(self.engine).deliveries(org_id, self.hooks[org_id])[::-1]


def block_time(registry: Registry, number: int) -> int:
    return int(registry.w3.eth.get_block(number)["timestamp"])


def list_item(
    engine: Engine, marketplace_id: int, item: ItemId, serial: str, *, active: bool
) -> None:
    with session(engine) as db:
        db.add(
            Listing(
                marketplace_id=marketplace_id,
                listing_id=f"L-{serial}-{active}",
                seller_id="seller-1",
                code=f"https://id.example.com/01/{GTIN}/21/{serial}",
                gtin=GTIN,
                serial=serial,
                item_id=item.hex(),
                brand_id=1,
                decision="allow",
                verdict="authentic",
                reasons="[]",
                block_number=1,
                active=active,
                first_checked_at=T0,
                checked_at=T0,
            )
        )


def test_recall_and_theft_each_give_one_delivery_even_when_published_twice(
    registry: Registry, roles: Roles, engine: Engine
) -> None:
    recalled, stolen = item_id(GTIN, "AL-R"), item_id(GTIN, "AL-S")
    registry.register_batch(roles.operator, [recalled, stolen])
    recall_tx = registry.recall(roles.brand_admin, [recalled])
    theft_tx = registry.report_stolen(roles.operator, stolen)
    Store(engine).record_codes([(GTIN, "AL-R", recalled.hex())])  # the stolen one's is unknown
    Indexer(registry, engine).sync()
    subscribers = Subscribers(engine)
    list_item(engine, subscribers.listing_market, stolen, "AL-S", active=True)
    list_item(engine, subscribers.idle_market, stolen, "AL-S", active=False)

    assert publish_chain_alerts(engine, now=T0) == 2
    assert publish_chain_alerts(engine, now=T0) == 0

    recall, theft = subscribers.log(subscribers.brand)
    assert (recall.kind, theft.kind) == (AlertKind.RECALL, AlertKind.THEFT)
    history = {e.name: e for e in registry.history(recalled) + registry.history(stolen)}
    recall_event, theft_event = history["ItemRecalled"], history["ItemReportedStolen"]
    assert recall_event.tx_hash == recall_tx.tx_hash
    assert recall.alert_id == chain_alert_id(recall_tx.tx_hash, recall_event.log_index)
    assert recall.payload == {
        "id": recall.alert_id,
        "kind": "recall",
        "created_at": T0.isoformat(),
        "data": {
            "event": "ItemRecalled",
            "item_id": recalled.hex(),
            "gtin": GTIN,
            "serial": "AL-R",
            "brand_id": 1,
            "seq": 2,
            "by": roles.brand_admin.address,
            "block": recall_event.block_number,
            "tx": recall_tx.tx_hash,
            "log_index": recall_event.log_index,
            "timestamp": block_time(registry, recall_event.block_number),
        },
    }
    assert theft.payload["data"] == {
        "event": "ItemReportedStolen",
        "item_id": stolen.hex(),
        "gtin": None,
        "serial": None,
        "brand_id": 1,
        "seq": 2,
        "by": roles.operator.address,
        "block": theft_event.block_number,
        "tx": theft_tx.tx_hash,
        "log_index": theft_event.log_index,
        "timestamp": block_time(registry, theft_event.block_number),
    }
    # The marketplace listing the stolen item hears of the theft, not of the other recall.
    assert [(d.kind, d.alert_id) for d in subscribers.log(subscribers.listing_market)] == [
        (AlertKind.THEFT, theft.alert_id)
    ]
    assert subscribers.log(subscribers.idle_market) == []
    assert subscribers.log(subscribers.other_brand) == []


def test_publishing_again_from_a_lost_cursor_sends_nothing_twice(
    registry: Registry, roles: Roles, engine: Engine
) -> None:
    item = item_id(GTIN, "AL-LOST")
    registry.register(roles.operator, item)
    registry.report_stolen(roles.operator, item)
    Indexer(registry, engine).sync()
    subscribers = Subscribers(engine)
    assert publish_chain_alerts(engine) == 1
    with session(engine) as db:  # as if the process died before the cursor was saved
        db.exec(delete(AlertCursor).where(col(AlertCursor.name) == CHAIN_CURSOR))

    assert publish_chain_alerts(engine) == 1
    assert [d.kind for d in subscribers.log(subscribers.brand)] == [AlertKind.THEFT]


def test_later_events_are_published_after_the_cursor_and_other_events_never(
    registry: Registry, roles: Roles, engine: Engine
) -> None:
    first, second = item_id(GTIN, "AL-1"), item_id(GTIN, "AL-2")
    registry.register_batch(roles.operator, [first, second])
    registry.recall(roles.brand_admin, [first])
    indexer = Indexer(registry, engine)
    indexer.sync()
    subscribers = Subscribers(engine)
    assert publish_chain_alerts(engine) == 1

    registry.lift_recall(roles.brand_admin, [first])
    registry.ship(roles.operator, second, roles.retailer.address)
    registry.recall(roles.brand_admin, [first, second])
    indexer.sync()

    assert publish_chain_alerts(engine) == 2
    assert [d.payload["data"]["item_id"] for d in subscribers.log(subscribers.brand)] == [
        first.hex(),
        first.hex(),
        second.hex(),
    ]


def test_events_in_blocks_not_yet_final_wait_for_their_confirmations(
    registry: Registry, roles: Roles, engine: Engine
) -> None:
    item = item_id(GTIN, "AL-CONF")
    registry.register(roles.operator, item)
    registry.recall(roles.brand_admin, [item])
    indexer = Indexer(registry, engine, confirmations=2)
    indexer.sync()
    Subscribers(engine)
    assert publish_chain_alerts(engine) == 0

    for serial in ("AL-PAD-1", "AL-PAD-2"):
        registry.register(roles.operator, item_id(GTIN, serial))
    indexer.sync()
    assert publish_chain_alerts(engine) == 1


def test_nothing_is_published_before_anything_is_indexed(engine: Engine) -> None:
    assert publish_chain_alerts(engine, now=datetime.now(UTC)) == 0
