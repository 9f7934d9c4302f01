"""`veritag serve` for real: a managed, supervised anvil whose records survive SIGKILL of
everything; any node with --rpc-url/--contract; the refusals production needs.

Servers run as the installed console script (see test_serve_and_verify's ServeProcess).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.anvil import STATE_INTERVAL, AnvilNode, find_anvil
from ledger.errors import ChainError, ConfigError
from ledger.identifiers import build_digital_link, item_id
from ledger.settings import Settings
from tests.cli.test_serve_and_verify import ServeProcess, clean_env, free_port, http, scan
from veritag.cli import main
from veritag.session import Session

GTIN = "00614141123452"
REAL_SECRET = "q8Zr3VxL0pN7tYb2KmW5cJ9hF4dS1gAe6uQiRoTn"


def anvil_node(data_dir: Path) -> AnvilNode:
    try:
        binary = find_anvil()
    except ChainError as exc:
        pytest.skip(f"anvil binary missing: {exc}")
    return AnvilNode(data_dir, port=free_port(), anvil_path=binary)


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, **env: str
) -> tuple[int, str]:
    """`veritag ARGS…` in this process with only ``env`` as VERITAG_ settings; (code, stderr)."""
    for name in list(os.environ):
        if name.startswith("VERITAG_") and name != "VERITAG_ANVIL":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["veritag", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    return code, capsys.readouterr().err


def dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
            return True
        time.sleep(0.05)
    return False


def answers(printed: dict[str, str]) -> dict[str, tuple[str, int, list[str]]]:
    """Each demo item's verdict, seq and transaction hashes, as the API answers them."""
    found = {}
    for state, url in printed.items():
        body = scan(url).json()
        events = [event["transaction"] for event in body["proof"]["events"]]
        found[state] = (body["verdict"], body["proof"]["seq"], events)
    return found


# ───────────── settings: production refuses placeholder secrets ─────────────


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (None, "is not set"),
        ("   ", "is empty"),
        ("change-me", "is a placeholder"),
        ("secret", "is a placeholder"),
        ("development", "is a placeholder"),
        ("please-change-this-secret-before-going-live-0123", "is a placeholder"),
        ("x" * 40, "is a placeholder"),
        ("q8Zr3VxL0pN7tYb2", "is shorter than 32 characters"),
    ],
)
def test_production_refuses_a_missing_or_placeholder_secret(
    secret: str | None, problem: str
) -> None:
    settings = Settings(environment="production", secret_key=secret)  # type: ignore[arg-type]

    with pytest.raises(ConfigError) as refused:
        settings.require_production_secrets()

    assert str(refused.value) == (
        f"VERITAG_SECRET_KEY {problem}; production (VERITAG_ENVIRONMENT=production) needs a "
        "random secret of at least 32 characters, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
    )


def test_development_needs_no_secret_and_production_takes_a_real_one() -> None:
    Settings(environment="development").require_production_secrets()
    Settings(environment="production", secret_key=REAL_SECRET).require_production_secrets()  # type: ignore[arg-type]


def test_serve_in_production_with_a_placeholder_secret_exits_1_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_cli(
        monkeypatch,
        capsys,
        "serve", "--chain", "memory", "--data-dir", str(tmp_path),
        VERITAG_ENVIRONMENT="production",
        VERITAG_SECRET_KEY="change-me",
    )  # fmt: skip

    assert code == 1
    assert err.startswith("error: VERITAG_SECRET_KEY is a placeholder; production")
    assert list(tmp_path.iterdir()) == []  # refused before anything was made


def test_serve_with_several_workers_on_sqlite_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_cli(monkeypatch, capsys, "serve", "--workers", "2", "--data-dir", str(tmp_path))

    assert code == 1
    assert err.strip() == (
        "error: --workers 2 needs PostgreSQL (VERITAG_DATABASE_URL=postgresql+psycopg://…): "
        "SQLite lets one process write at a time, so several workers would fail each other's "
        "writes; run one worker on SQLite"
    )


# ───────────── the managed anvil ─────────────


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[tuple[ServeProcess, AnvilNode]]:
    """serve on a fresh data directory with its own managed anvil (port chosen free)."""
    data_dir = tmp_path / "data"
    node = anvil_node(data_dir)
    env = clean_env(VERITAG_ANVIL_PORT=str(node.port), VERITAG_DATA_DIR=str(data_dir))
    server = ServeProcess([], env, tmp_path, free_port())
    try:
        yield server, node
    finally:
        server.stop()
        node.stop()


@pytest.mark.anvil
@pytest.mark.slow
def test_every_record_survives_sigkill_of_serve_and_anvil(
    managed: tuple[ServeProcess, AnvilNode],
) -> None:
    server, node = managed
    server.args = ["--demo"]
    printed = server.start()
    before = answers(printed)
    anvil_pid = node.status().pid
    assert anvil_pid is not None
    time.sleep(STATE_INTERVAL + 1)  # anvil's last periodic dump covers every block

    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)
    os.kill(anvil_pid, signal.SIGKILL)
    assert dead(anvil_pid)
    server.stop()
    server.args = []
    again = server.start()
    after = answers(printed)
    with http() as client:
        ready = client.get(f"{server.url}/readyz")

    assert again == {}  # no --demo this time: nothing seeded, the old items answer
    assert before["in_shop"][0] == "authentic"
    assert after == before
    assert node.status().pid not in (None, anvil_pid)
    assert ready.status_code == 200, ready.text


@pytest.mark.anvil
@pytest.mark.slow
def test_serve_stops_the_anvil_it_started_but_not_one_it_found_running(
    managed: tuple[ServeProcess, AnvilNode],
) -> None:
    server, node = managed
    server.start()
    started = node.status().pid
    server.stop()  # SIGTERM
    after_own = node.status()

    node.start()  # a node that runs before serve
    found = node.status().pid
    server.start()
    server.stop()
    after_found = node.status()

    assert started is not None
    assert dead(started)
    assert after_own.running is False
    assert after_found.running is True
    assert after_found.pid == found


# ───────────── any node: --rpc-url and --contract ─────────────


@pytest.fixture
def foreign_registry(tmp_path: Path) -> Iterator[tuple[AnvilNode, str, str]]:
    """An anvil started here with a registry deployed from another data directory and one
    registered item: (node, registry address, the item's Digital Link path)."""
    node = anvil_node(tmp_path / "node")
    node.start()
    try:
        session = Session(Settings(data_dir=tmp_path / "deployer", rpc_url=node.url))
        admin, brand_admin, factory = session.chain.dev_accounts[:3]
        registry = session.deploy(admin)
        brand = registry.admit_brand(admin, brand_admin.address, "Acme", ["0614141"])
        registry.add_operator(brand_admin, brand, factory.address)
        registry.register(factory, item_id(GTIN, "RPC-1"))
        yield (
            node,
            registry.address,
            build_digital_link(GTIN, "RPC-1", "http://x").removeprefix("http://x"),
        )
    finally:
        node.stop()


@pytest.mark.anvil
@pytest.mark.slow
def test_serve_uses_an_existing_registry_on_any_node(
    tmp_path: Path, foreign_registry: tuple[AnvilNode, str, str]
) -> None:
    node, address, path = foreign_registry
    data_dir = tmp_path / "serve"
    server = ServeProcess(
        ["--rpc-url", node.url, "--contract", address, "--data-dir", str(data_dir)],
        clean_env(VERITAG_CHAIN_ID="31337"),
        tmp_path,
        free_port(),
    )
    try:
        server.start()
        answer = scan(server.url + path).json()
        deadline = time.monotonic() + 10
        with http() as client:
            while (ready := client.get(f"{server.url}/readyz")).status_code != 200:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.2)
    finally:
        server.stop()

    assert answer["verdict"] == "authentic"
    assert answer["proof"]["contract"] == address
    assert answer["proof"]["seq"] == 1
    assert ready.json()["chain"]["contract"] == address
    assert not (data_dir / "deployments.json").exists()  # nothing was deployed


@pytest.mark.anvil
def test_serve_refuses_a_node_on_another_chain_id(
    tmp_path: Path,
    foreign_registry: tuple[AnvilNode, str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    node, address, _ = foreign_registry
    args = ["serve", "--rpc-url", node.url, "--contract", address, "--data-dir", str(tmp_path)]

    code, err = run_cli(monkeypatch, capsys, *args, VERITAG_CHAIN_ID="10")

    assert code == 1
    assert err.strip() == (
        f"error: the node at {node.url} is on chain id 31337, but chain id 10 was expected; "
        "point the RPC URL at the right network or change the expected id"
    )


@pytest.mark.anvil
def test_serve_refuses_a_contract_address_without_code(
    tmp_path: Path,
    foreign_registry: tuple[AnvilNode, str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    node, _, _ = foreign_registry
    empty = "0x000000000000000000000000000000000000dEaD"
    args = ["serve", "--rpc-url", node.url, "--contract", empty, "--data-dir", str(tmp_path)]

    code, err = run_cli(monkeypatch, capsys, *args)

    assert code == 1
    assert err.strip() == (
        f"error: there is no contract at {empty} on chain 31337 ({node.url}); check "
        "--contract (VERITAG_CONTRACT) and --rpc-url"
    )
