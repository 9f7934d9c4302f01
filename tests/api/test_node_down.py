"""Faults: the chain node stops answering while the API serves.

Each test runs its own anvil node with the demo items, indexed into a SQLite store, and
then stops the node (SIGTERM: nothing listens on its port any more) or freezes it
(SIGSTOP: it accepts connections but never answers). Scans then answer from the index,
marked stale, with the block the answer is as of; /readyz says not ready; the listing
check, which reads the index already, keeps answering.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web3 import HTTPProvider

from api.app import create_app
from api.services import Services
from api.verdict_cache import CHAIN_TIMEOUT, VerdictCache
from ledger.anvil import AnvilNode, find_anvil
from ledger.chain import Chain, connect_rpc
from ledger.errors import ChainError
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import Store
from ledger.store.sellers import Sellers
from tests.api.conftest import UNKNOWN_GTIN
from tests.api.test_listings_api import link
from veritag.demo_seed import DemoRoles, seed_demo

pytestmark = pytest.mark.anvil

BASE = "http://testserver"
JSON = {"accept": "application/json"}
STATES = ("in_shop", "sold_and_claimed", "in_transit", "recalled", "stolen", "destroyed")


@dataclass
class World:
    node: AnvilNode
    chain: Chain
    registry: Registry
    store: Store
    services: Services
    urls: dict[str, str]
    indexed: int
    """The block the index reached (the head when the node went down)."""

    def stop_node(self) -> None:
        assert self.node.stop()

    @contextmanager
    def frozen_node(self) -> Iterator[None]:
        """The node process stopped (SIGSTOP): connections are accepted, never answered."""
        pid = self.node.status().pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    try:
        binary = find_anvil()
    except ChainError as exc:
        pytest.skip(f"anvil binary missing: {exc}")
    node = AnvilNode(tmp_path / "anvil", port=_free_port(), anvil_path=binary)
    node.start()
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    migrate(engine)
    try:
        chain = connect_rpc(node.url)
        registry = Registry.deploy(chain.w3, chain.dev_accounts[0])
        store = Store(engine)
        urls = seed_demo(registry, store, DemoRoles.from_dev_accounts(chain.dev_accounts), BASE)
        indexed = Indexer(registry, engine).sync().last_block
        services = Services(registry, store, hash_salt=b"test-salt")
        services.verdicts = VerdictCache(registry, store=store, head_ttl=0)  # every scan reads
        yield World(node, chain, registry, store, services, urls, indexed)
    finally:
        node.stop()
        engine.dispose()


def scan(client: TestClient, url: str) -> dict[str, Any]:
    response = client.get(url.removeprefix(BASE), headers=JSON)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stale_twin(fresh: dict[str, Any], block: int) -> dict[str, Any]:
    """What the index answers for an item whose chain answer was ``fresh``, one scan later
    (scans of registered items are counted)."""
    registered = fresh["item"]["status"] is not None
    reason = {
        "code": "chain_unavailable",
        "message": f"the chain node did not answer; this answer comes from Veritag's index "
        f"as of block {block} and was not checked on chain",
    }
    return {
        **fresh,
        "reasons": [*fresh["reasons"], reason],
        "proof": {**fresh["proof"], "block": block},
        "scan": {**fresh["scan"], "count": fresh["scan"]["count"] + registered},
        "stale": True,
        "as_of_block": block,
    }


# ───────────── scans ─────────────


def test_while_the_node_is_down_a_scan_answers_the_indexed_verdict_marked_stale(
    world: World,
) -> None:
    with TestClient(create_app(world.services)) as client:
        fresh = {state: scan(client, world.urls[state]) for state in STATES}
        world.stop_node()
        stale = {state: scan(client, world.urls[state]) for state in STATES}

    assert [fresh[s]["verdict"] for s in STATES] == [
        "authentic",
        "authentic",
        "authentic",
        "recalled",
        "stolen",
        "counterfeit",
    ]
    assert all("stale" not in body and "as_of_block" not in body for body in fresh.values())
    assert all(body["proof"]["block"] == world.indexed for body in fresh.values())
    for state in STATES:
        assert stale[state] == stale_twin(fresh[state], world.indexed), state


def test_while_the_node_is_down_unregistered_and_unknown_codes_answer_from_the_index(
    world: World,
) -> None:
    unknown = f"{BASE}/01/{UNKNOWN_GTIN}/21/NOPE"  # a prefix no brand holds
    with TestClient(create_app(world.services)) as client:
        fresh = [scan(client, world.urls["unregistered"]), scan(client, unknown)]
        world.stop_node()
        stale = [scan(client, world.urls["unregistered"]), scan(client, unknown)]

    assert [(b["verdict"], b["reasons"][0]["code"]) for b in fresh] == [
        ("counterfeit", "unregistered_code"),
        ("unknown", "unknown_prefix"),
    ]
    assert stale == [stale_twin(body, world.indexed) for body in fresh]


def test_the_scan_page_says_the_answer_is_from_the_index_while_the_node_is_down(
    world: World,
) -> None:
    page = {"accept": "text/html"}
    path = world.urls["in_shop"].removeprefix(BASE)
    with TestClient(create_app(world.services)) as client:
        before = client.get(path, headers=page)
        world.stop_node()
        after = client.get(path, headers=page)

    assert (before.status_code, after.status_code) == (200, 200)
    assert 'data-testid="stale"' not in before.text
    assert 'data-verdict="authentic"' in after.text
    assert 'data-testid="stale"' in after.text
    assert f'data-as-of-block="{world.indexed}"' in after.text
    assert f"copy of\n      the ledger as of block {world.indexed}" in after.text
    assert 'data-code="chain_unavailable"' in after.text
    assert f"<dt>Indexed up to block</dt><dd>{world.indexed}</dd>" in after.text


def test_a_node_that_accepts_connections_but_never_answers_gets_a_stale_answer(
    world: World,
) -> None:
    path = world.urls["stolen"].removeprefix(BASE)
    with TestClient(create_app(world.services)) as client, world.frozen_node():
        body = client.get(path, headers=JSON)

    assert body.status_code == 200
    assert (body.json()["verdict"], body.json()["stale"]) == ("stolen", True)
    assert body.json()["as_of_block"] == world.indexed


def test_scan_reads_give_up_after_the_short_timeout_and_never_retry(world: World) -> None:
    provider = world.services.verdicts.registry.w3.provider

    assert isinstance(provider, HTTPProvider)
    assert provider.endpoint_uri == world.node.url
    assert provider.get_request_kwargs()["timeout"] == CHAIN_TIMEOUT
    assert provider.exception_retry_configuration is None


def test_once_the_node_answers_again_scans_read_the_chain_again(world: World) -> None:
    clock = FakeClock()
    world.services.verdicts = VerdictCache(
        world.registry, store=world.store, head_ttl=0, retry_after=5, monotonic=clock
    )
    path = world.urls["in_transit"].removeprefix(BASE)
    with TestClient(create_app(world.services)) as client:
        with world.frozen_node():
            down = client.get(path, headers=JSON).json()
        clock.now += 1
        still_waiting = client.get(path, headers=JSON).json()  # the node is left alone 5 s
        clock.now += 5
        back = client.get(path, headers=JSON).json()

    assert (down["stale"], still_waiting["stale"]) == (True, True)
    assert "stale" not in back
    assert back["proof"]["block"] == world.registry.w3.eth.block_number


def test_without_a_store_a_scan_while_the_node_is_down_is_a_503_problem(world: World) -> None:
    services = Services(world.registry, hash_salt=b"test-salt")
    with TestClient(create_app(services)) as client:
        world.stop_node()
        response = client.get(world.urls["in_shop"].removeprefix(BASE), headers=JSON)

    assert response.status_code == 503
    assert response.json() == {
        "type": "about:blank",
        "title": "NodeUnavailable",
        "status": 503,
        "detail": "the chain node did not answer (ConnectionError) and this service has no "
        "index to answer from; try again shortly",
    }


# ───────────── readiness and the listing check ─────────────


def test_readyz_is_not_ready_while_the_node_is_down(world: World) -> None:
    with TestClient(create_app(world.services)) as client:
        up = client.get("/readyz")
        world.stop_node()
        down = client.get("/readyz")

    assert up.status_code == 200
    assert down.status_code == 503
    assert down.json() == {
        "type": "about:blank",
        "title": "NotReady",
        "status": 503,
        "detail": "the chain does not answer (ConnectionError)",
        "chain": {"chain_id": world.registry.chain_id, "status": "unreachable"},
        "database": "ok",
        "indexer": {"indexed_block": world.indexed, "head": None, "behind": None},
    }


def test_readyz_is_not_ready_while_the_node_accepts_connections_but_never_answers(
    world: World,
) -> None:
    with TestClient(create_app(world.services)) as client, world.frozen_node():
        down = client.get("/readyz")

    body = down.json()
    assert down.status_code == 503
    assert body["detail"].startswith("the chain does not answer (")  # a timeout, by its kind
    assert body["chain"] == {"chain_id": world.registry.chain_id, "status": "unreachable"}
    assert body["indexer"] == {"indexed_block": world.indexed, "head": None, "behind": None}


def test_the_listing_check_answers_from_the_index_while_the_node_is_down(world: World) -> None:
    org, key = Organisations(world.store.engine).create("Market", Role.MARKETPLACE)
    retailer = DemoRoles.from_dev_accounts(world.chain.dev_accounts).retailer
    link(Sellers(world.store.engine), org.id, "shop-1", retailer)
    listing = {
        "listings": [
            {"listing_id": "L-1", "seller_id": "shop-1", "code": world.urls["in_shop"]},
            {"listing_id": "L-2", "seller_id": "shop-1", "code": world.urls["stolen"]},
        ]
    }
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(world.services)) as client:
        up = client.post("/v1/listings/check", json=listing, headers=headers)
        world.stop_node()
        down = client.post("/v1/listings/check", json=listing, headers=headers)

    assert (up.status_code, down.status_code) == (200, 200), down.text
    assert _decisions(down.json()) == _decisions(up.json())
    assert [(r["listing_id"], r["status"]) for r in down.json()["results"]] == [
        ("L-1", 200),
        ("L-2", 200),
    ]


def _decisions(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["listing_id"], r["decision"], r["verdict"]) for r in body["results"]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
