"""`veritag serve --workers 2` for real: a managed anvil, a PostgreSQL store, two uvicorn
worker processes of which exactly one (the holder of the leader advisory lock) runs the
background jobs, and another that takes them over when the leader is SIGKILLed.

Which process answered a request, and which holds the leader lock, is read from the kernel:
the worker owning the accepted socket of an HTTP connection, and the worker owning the
client socket of the PostgreSQL session that holds the advisory lock (its ``client_port``
in ``pg_stat_activity``).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine, text
from sqlmodel import func, select

from ledger.anvil import AnvilNode
from ledger.chain import connect_rpc
from ledger.identifiers import build_digital_link, item_id
from ledger.leader import lock_key
from ledger.registry import Registry
from ledger.store.database import make_engine, session
from ledger.store.models import CustodyEvent
from ledger.store.repository import Store
from tests.cli.test_serve_and_verify import ServeProcess, clean_env, free_port, http, scan
from tests.cli.test_serve_production import anvil_node, dead
from tests.ledger.test_store import postgres_schema
from veritag.demo_seed import DEMO_GTIN
from veritag.serving import LEADER_LOCK

pytestmark = [
    pytest.mark.slow,
    pytest.mark.anvil,
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets from /proc"),
]

WORKERS = 2
T = TypeVar("T")


@dataclass
class Served:
    server: ServeProcess
    node: AnvilNode
    engine: Engine
    schema: str
    printed: dict[str, str]

    @property
    def serve_pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`serve --demo --workers 2` on a fresh data directory and a fresh PostgreSQL schema."""
    data_dir = tmp_path / "data"
    node = anvil_node(data_dir)
    with postgres_schema() as url:
        env = clean_env(
            VERITAG_ANVIL_PORT=str(node.port),
            VERITAG_DATA_DIR=str(data_dir),
            VERITAG_DATABASE_URL=url,
            VERITAG_RATE_LIMIT_SCANS_PER_MINUTE="0",
        )
        server = ServeProcess(["--demo", "--workers", str(WORKERS)], env, tmp_path, free_port())
        engine = make_engine(url)
        try:
            printed = server.start()
            with engine.connect() as connection:
                schema = str(connection.scalar(text("SELECT current_schema()")))
            yield Served(server, node, engine, schema, printed)
        finally:
            server.stop()
            node.stop()
            engine.dispose()


# ───────────── processes and sockets, from /proc ─────────────


def children(pid: int) -> set[int]:
    """The live (non-zombie) child processes of ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def socket_inode(local_port: int, remote_port: int) -> int | None:
    """The inode of the loopback TCP socket from ``local_port`` to ``remote_port``."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)) == (
                local_port,
                remote_port,
            ) and inode:
                return inode
    return None


def owner_of(inode: int, candidates: set[int]) -> int | None:
    """Which of ``candidates`` holds the socket ``inode`` open."""
    target = f"socket:[{inode}]"
    for pid in candidates:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) == target:
                    return pid
            except OSError:
                continue
    return None


def answering_worker(served: Served, path: str, accept: str = "application/json") -> int:
    """GET ``path`` on a new connection; the pid of the worker that answered it (200)."""
    connection = HTTPConnection("127.0.0.1", served.server.port, timeout=10)
    try:
        connection.request("GET", path, headers={"Accept": accept})
        answer = connection.getresponse()
        body = answer.read()
        assert answer.status == 200, body
        client_port = connection.sock.getsockname()[1]
        inode = socket_inode(served.server.port, client_port)
        assert inode is not None, f"no server socket for client port {client_port}"
        pid = owner_of(inode, children(served.serve_pid))
        assert pid is not None, f"no worker holds the connection from port {client_port}"
        return pid
    finally:
        connection.close()


def leader_sessions(served: Served) -> list[tuple[int, bool, int]]:
    """(backend pid, granted, client port) of every session on the leader's advisory lock."""
    key = lock_key(f"{LEADER_LOCK}@test.{served.schema}") % 2**64
    with served.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT l.pid, l.granted, a.client_port FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.classid = :high AND l.objid = :low AND l.objsubid = 1"
            ),
            {"high": key >> 32, "low": key & 0xFFFFFFFF},
        ).all()
    return [(int(pid), bool(granted), int(port)) for pid, granted, port in rows]


def leader_worker(served: Served) -> int:
    """The worker process holding the leader lock (there must be exactly one holder)."""
    sessions = leader_sessions(served)
    assert len(sessions) == 1, sessions
    _backend, granted, client_port = sessions[0]
    assert granted
    inode = socket_inode(client_port, 5432)
    assert inode is not None, f"no client socket from port {client_port}"
    pid = owner_of(inode, children(served.serve_pid))
    assert pid is not None, f"no worker holds the leader's connection (port {client_port})"
    return pid


def eventually(probe: Callable[[], T | None], timeout: float, what: str) -> tuple[T, float]:
    """The first non-None value of ``probe`` and the seconds it took."""
    start = time.monotonic()
    while True:
        try:
            value = probe()
        except AssertionError:
            value = None
        if value is not None:
            return value, time.monotonic() - start
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout:g} s"
        time.sleep(0.1)


def other_leader(served: Served, old: int) -> int | None:
    pid = leader_worker(served)
    return pid if pid != old else None


def indexed_at(served: Served, serial: str) -> int | None:
    """The block the store's index has the item registered at (None: not indexed yet)."""
    with session(served.engine) as db:
        events = db.exec(
            select(CustodyEvent).where(CustodyEvent.item_id == item_id(DEMO_GTIN, serial).hex())
        ).all()
    return events[0].block_number if events else None


def register_on_chain(served: Served, serial: str) -> int:
    """Register an item with the ledger client, as the demo brand's factory; its block."""
    chain = connect_rpc(served.node.url)
    with http() as client:
        contract = client.get(f"{served.server.url}/readyz").json()["chain"]["contract"]
    registry = Registry(chain.w3, contract)
    factory = chain.dev_accounts[2]  # DemoRoles: admin, brand admin, factory, …
    return registry.register(factory, item_id(DEMO_GTIN, serial)).block_number


def ready_at_least(served: Served, block: int) -> int | None:
    with http() as client:
        answer = client.get(f"{served.server.url}/readyz")
    if answer.status_code != 200:
        return None
    indexed = answer.json()["indexer"]["indexed_block"]
    return indexed if isinstance(indexed, int) and indexed >= block else None


# ───────────── the test ─────────────


def test_two_workers_answer_one_leads_and_another_takes_over_when_it_is_killed(
    served: Served,
) -> None:
    in_shop = build_digital_link(DEMO_GTIN, "DEMO-SHOP", "http://x").removeprefix("http://x")
    workers = children(served.serve_pid) - {served.node.status().pid}
    started = time.monotonic()
    answered: list[int] = []
    # A worker that is still importing the app (slow on a loaded machine) accepts nothing
    # yet: give both up to a minute to answer, not a number of requests.
    while len(set(answered)) < WORKERS or len(answered) < 60:
        waited = time.monotonic() - started
        assert waited < 60, f"only workers {set(answered)} of {workers} answered in {waited:.0f} s"
        path = in_shop if len(answered) % 2 == 0 else "/readyz"
        answered.append(answering_worker(served, path))
    requests_s = time.monotonic() - started

    assert served.printed["in_shop"].endswith(in_shop)
    assert scan(served.server.url + in_shop).json()["verdict"] == "authentic"
    assert set(answered) <= workers
    assert len(set(answered)) == WORKERS  # both worker processes answered
    leader = leader_worker(served)
    assert leader in set(answered)

    # The leader indexes a block it did not see at start, exactly once.
    block = register_on_chain(served, "WORKERS-1")
    at, index_s = eventually(lambda: indexed_at(served, "WORKERS-1"), 20, "indexed WORKERS-1")
    eventually(lambda: ready_at_least(served, block), 10, "/readyz at the new block")
    assert at == block
    assert leader_worker(served) == leader  # still the one holder of the lock
    with session(served.engine) as db:
        events = db.exec(
            select(func.count())
            .select_from(CustodyEvent)
            .where(CustodyEvent.item_id == item_id(DEMO_GTIN, "WORKERS-1").hex())
        ).one()
    assert events == 1
    assert Store(served.engine).item(item_id(DEMO_GTIN, "WORKERS-1")) is not None

    # SIGKILL the leader: PostgreSQL drops its session and lock; another worker takes over.
    os.kill(leader, signal.SIGKILL)
    assert dead(leader)
    killed_at = time.monotonic()
    block = register_on_chain(served, "WORKERS-2")
    new_leader, takeover_s = eventually(lambda: other_leader(served, leader), 30, "a new leader")
    at, _ = eventually(lambda: indexed_at(served, "WORKERS-2"), 30, "indexed WORKERS-2")
    after_kill_s = time.monotonic() - killed_at
    eventually(lambda: ready_at_least(served, block), 10, "/readyz at the block after the kill")
    after = [answering_worker(served, in_shop) for _ in range(20)]

    assert new_leader != leader
    assert new_leader in children(served.serve_pid)
    assert at == block
    assert leader not in after
    assert served.server.running  # the supervisor lived through the worker's death
    print(
        f"\n{len(answered)} requests over {len(set(answered))} workers in {requests_s:.1f} s; "
        f"new block indexed {index_s:.1f} s after registration; after SIGKILL of the leader "
        f"{leader}, {'the other' if new_leader in workers else 'a restarted'} worker "
        f"{new_leader} led {takeover_s:.1f} s later and the next block was "
        f"indexed {after_kill_s:.1f} s after the kill"
    )
