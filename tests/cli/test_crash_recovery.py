"""Kill the API, or the chain's node, in the middle of 1,000 registrations and transfers.

A real anvil (state persisted to a file) and a real API process (uvicorn, with the outbox
submitter) take 1,000 register requests and 200 transfers from clients that retry with
the same idempotency keys. One test SIGKILLs the API process mid-way and starts a new one;
the other SIGKILLs anvil, which loses what it had not yet saved, and restarts it on the
same state file. Either way every accepted request ends confirmed exactly once and the
index matches the chain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from sqlalchemy import Engine, func
from sqlmodel import select

from ledger.anvil import AnvilNode
from ledger.chain import Chain, connect_rpc
from ledger.identifiers import item_id
from ledger.indexer import Indexer
from ledger.outbox import OpStatus, Senders
from ledger.registry import Registry
from ledger.store.database import make_engine, migrate, session
from ledger.store.models import Item
from ledger.store.operation_models import Operation
from ledger.store.orgs import Organisations, Role
from ledger.store.repository import Store
from tests.conftest import GTIN, PREFIX, PROJECT_ROOT
from tests.ledger.test_anvil import free_port, make_node
from tests.ledger.test_store import postgres_schema

pytestmark = [pytest.mark.slow(seconds=100), pytest.mark.anvil]

REGISTRATIONS = 1000
TRANSFERS = 200
WORKERS = 8
CRASH_AFTER = 400
"""Operations stored (API test) or confirmed (anvil test) before the kill."""


def serial(n: int) -> str:
    return f"CR{n:04d}"


@dataclass
class World:
    node: AnvilNode
    chain: Chain
    registry: Registry
    engine: Engine
    database_url: str
    api_key: str
    port: int
    log: Path
    answers: dict[str, str] = field(default_factory=dict)
    """Idempotency key → operation id, from every answer the clients got."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def operator(self) -> ChecksumAddress:
        return to_checksum_address(self.chain.dev_accounts[2].address)

    @property
    def recipient(self) -> ChecksumAddress:
        return to_checksum_address(self.chain.dev_accounts[3].address)


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    node = make_node(tmp_path / "chain")
    node.start()
    try:
        with _database(request.param, tmp_path) as url:
            chain = connect_rpc(node.url)
            admin, brand_admin, operator = chain.dev_accounts[:3]
            registry = Registry.deploy(chain.w3, admin)
            brand = registry.admit_brand(admin, brand_admin.address, "Acme", [PREFIX])
            registry.add_operator(brand_admin, brand, operator.address)
            engine = make_engine(url)
            migrate(engine)
            org, key = Organisations(engine).create("Acme", Role.BRAND, brand_id=brand)
            Senders(engine).assign(org.id, operator.address, registry.chain_id)
            yield World(node, chain, registry, engine, url, key, free_port(), tmp_path / "api.log")
            engine.dispose()
    finally:
        node.stop()


@contextmanager
def _database(kind: str, tmp_path: Path) -> Iterator[str]:
    # Each test runs on one backend: both paths are covered, and the suite stays short.
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    with postgres_schema() as url:
        yield url


def start_api(world: World) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "tests.cli.outbox_server", world.node.url,
        world.registry.address, str(world.registry.deploy_block), world.database_url,
        str(world.port),
    ]  # fmt: skip
    with world.log.open("ab") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(
                f"http://127.0.0.1:{world.port}/v1/operations?limit=1",
                headers={"Authorization": f"Bearer {world.api_key}"},
                timeout=1,
            )
            if answer.status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert process.poll() is None, world.log.read_text()[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"the API did not start:\n{world.log.read_text()[-3000:]}")


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def post_everything(world: World) -> int:
    """Every request, in order per item (register before transfer), by several clients;
    a client that gets no answer stops its share there, as a real one would, to retry later.
    Returns how many requests were answered."""
    base = f"http://127.0.0.1:{world.port}"
    headers = {"Authorization": f"Bearer {world.api_key}"}

    def share(worker: int) -> int:
        done = 0
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            for n in range(worker, REGISTRATIONS, WORKERS):
                code = {"gtin": GTIN, "serial": serial(n)}
                requests: list[tuple[str, str, dict[str, object]]] = [
                    ("/v1/items/register", f"reg-{n}", {"items": [code]})
                ]
                if n < TRANSFERS:
                    path = f"/v1/items/{GTIN}/{serial(n)}/transfer"
                    requests.append((path, f"tr-{n}", {"to": world.recipient}))
                for path, key, body in requests:
                    try:
                        answer = client.post(path, json=body, headers={"Idempotency-Key": key})
                    except httpx.TransportError:
                        return done
                    assert answer.status_code in (200, 202), answer.text
                    operation = answer.json()["operation_id"]
                    with world.lock:
                        assert world.answers.setdefault(key, operation) == operation
                    done += 1
        return done

    with ThreadPoolExecutor(WORKERS) as pool:
        return sum(pool.map(share, range(WORKERS)))


def count(world: World, *statuses: OpStatus) -> int:
    query = select(func.count()).select_from(Operation)
    if statuses:
        query = query.where(Operation.status.in_([s.value for s in statuses]))  # type: ignore[attr-defined]
    with session(world.engine) as db:
        return int(db.exec(query).one())


def when(condition: Callable[[], bool], then: Callable[[], None]) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 120
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)
        then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def wait_until_settled(world: World, timeout: float = 240) -> float:
    start = time.monotonic()
    while count(world, OpStatus.QUEUED, OpStatus.SUBMITTED):
        assert time.monotonic() - start < timeout, (
            f"{count(world, OpStatus.QUEUED, OpStatus.SUBMITTED)} operations still open"
        )
        time.sleep(0.2)
    return time.monotonic() - start


def assert_confirmed_exactly_once(world: World) -> None:
    with session(world.engine) as db:
        operations = db.exec(select(Operation)).all()
    assert len(operations) == REGISTRATIONS + TRANSFERS
    assert {op.idempotency_key: op.id for op in operations} == world.answers
    failed = [(op.idempotency_key, op.error_json) for op in operations if op.status != "confirmed"]
    assert failed == []
    w3 = world.chain.w3
    # Every nonce of the sender is one operation's, and every operation has one nonce: the
    # chain holds exactly one transaction per operation, the successful one.
    assert sorted(op.nonce for op in operations if op.nonce is not None) == list(
        range(w3.eth.get_transaction_count(world.operator) - len(operations),
              w3.eth.get_transaction_count(world.operator))
    )  # fmt: skip
    for op in operations:
        receipt = w3.eth.get_transaction_receipt(op.tx_hash)  # type: ignore[arg-type]
        assert (receipt["status"], receipt["blockNumber"]) == (1, op.block_number)
    contract = world.registry.contract
    registered = contract.events.BatchItemRegistered().get_logs(from_block=0)
    transferred = contract.events.CustodyTransferred().get_logs(from_block=0)
    assert len(registered) == REGISTRATIONS
    assert len(transferred) == TRANSFERS
    Indexer(world.registry, world.engine).sync()
    store = Store(world.engine)
    with session(world.engine) as db:
        assert db.exec(select(func.count()).select_from(Item)).one() == REGISTRATIONS
    for n in range(REGISTRATIONS):
        item = item_id(GTIN, serial(n))
        on_chain = world.registry.item(item)
        indexed = store.item(item)
        assert on_chain is not None
        assert indexed is not None
        expected = world.recipient if n < TRANSFERS else world.operator
        assert (on_chain.custodian, indexed.custodian) == (expected, expected)


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)
def test_every_request_is_confirmed_exactly_once_after_the_api_is_killed(
    world: World,
) -> None:
    api = start_api(world)
    when(lambda: count(world) >= CRASH_AFTER, lambda: kill(api.pid))
    started = time.monotonic()
    first_pass = post_everything(world)
    accepting = time.monotonic() - started
    api.wait(timeout=10)
    assert api.returncode == -signal.SIGKILL
    assert first_pass < REGISTRATIONS + TRANSFERS

    api = start_api(world)
    try:
        started = time.monotonic()
        assert post_everything(world) == REGISTRATIONS + TRANSFERS
        retried = time.monotonic() - started
        settled = wait_until_settled(world)
        print(
            f"\nAPI killed after {first_pass} answers ({first_pass / accepting:.0f}/s); "
            f"re-posting all {REGISTRATIONS + TRANSFERS} took {retried:.1f} s; "
            f"settled {settled:.1f} s later"
        )
        assert_confirmed_exactly_once(world)
    finally:
        kill(api.pid)
        api.wait(timeout=10)


@pytest.mark.parametrize("world", ["postgresql"], indirect=True)
def test_every_request_is_confirmed_exactly_once_after_the_node_is_killed(
    world: World,
) -> None:
    api = start_api(world)
    try:

        def crash_node() -> None:
            pid = world.node.status().pid
            assert pid is not None
            kill(pid)
            time.sleep(0.5)
            world.node.start()

        crash = when(lambda: count(world, OpStatus.CONFIRMED) >= CRASH_AFTER, crash_node)
        started = time.monotonic()
        assert post_everything(world) == REGISTRATIONS + TRANSFERS
        accepting = time.monotonic() - started
        crash.join(timeout=150)
        settled = wait_until_settled(world)
        print(
            f"\n{REGISTRATIONS + TRANSFERS} requests accepted in {accepting:.1f} s "
            f"({(REGISTRATIONS + TRANSFERS) / accepting:.0f}/s); all confirmed "
            f"{settled:.1f} s after the last was accepted"
        )
        assert post_everything(world) == REGISTRATIONS + TRANSFERS  # retries change nothing
        assert_confirmed_exactly_once(world)
    finally:
        kill(api.pid)
        api.wait(timeout=10)
