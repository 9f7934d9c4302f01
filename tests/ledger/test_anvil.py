"""ledger.anvil: finding the binary, and a background node whose chain outlives restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from ledger.anvil import STATE_INTERVAL, AnvilNode, AnvilStatus, find_anvil
from ledger.chain import connect_rpc
from ledger.errors import ChainError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_node(datadir: Path, port: int | None = None) -> AnvilNode:
    try:
        anvil = find_anvil()
    except ChainError as exc:
        pytest.skip(f"anvil binary missing: {exc}")
    return AnvilNode(datadir, port=port or free_port(), anvil_path=anvil)


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_anvil_prefers_the_veritag_anvil_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom = executable(tmp_path / "my-anvil")
    monkeypatch.setenv("VERITAG_ANVIL", str(custom))

    assert find_anvil(tmp_path / "elsewhere") == custom


def test_find_anvil_rejects_a_veritag_anvil_that_is_not_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERITAG_ANVIL", str(tmp_path / "missing"))

    with pytest.raises(ChainError, match=r"VERITAG_ANVIL=.*missing is not an executable file"):
        find_anvil()


@pytest.mark.skipif(sys.platform != "linux", reason="the fake package tree is Linux's")
def test_find_anvil_uses_the_npm_package_under_the_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VERITAG_ANVIL", raising=False)
    for package in ("anvil-linux-amd64", "anvil-linux-arm64"):
        executable(tmp_path / "node_modules" / "@foundry-rs" / package / "bin" / "anvil")

    found = find_anvil(tmp_path)

    assert found.parent.parent.parent == tmp_path / "node_modules" / "@foundry-rs"
    assert found.name == "anvil"


def test_find_anvil_says_run_npm_ci_when_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VERITAG_ANVIL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    with pytest.raises(ChainError, match=r"anvil not found: run `npm ci`"):
        find_anvil(tmp_path)


def test_stop_when_nothing_runs_is_fine(tmp_path: Path) -> None:
    node = AnvilNode(tmp_path, anvil_path=tmp_path / "never-run")

    assert node.stop() is False
    assert node.status() == AnvilStatus(running=False, pid=None, url="http://127.0.0.1:8545")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to tell processes")
def test_a_stale_pid_file_never_gets_another_process_signalled(tmp_path: Path) -> None:
    # Our own pid, recorded with another start time: as if anvil died and the id was reused.
    node = AnvilNode(tmp_path, anvil_path=tmp_path / "never-run")
    node.pid_file.write_text(f"{os.getpid()}\n")
    node.info_file.write_text(json.dumps({"url": node.url, "pid": os.getpid(), "started": "1"}))

    assert node.stop() is False  # and this test process is still alive to check it
    assert not node.pid_file.exists()
    assert not node.info_file.exists()


@pytest.mark.anvil
def test_chain_state_survives_stop_and_start(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    status = node.start()
    try:
        assert (status.running, status.chain_id, status.block_number) == (True, 31337, 0)
        assert status.pid == int(node.pid_file.read_text())
        assert json.loads(node.info_file.read_text()) | {"started": None} == {
            "url": node.url,
            "pid": status.pid,
            "port": node.port,
            "chain_id": 31337,
            "started": None,
        }
        chain = connect_rpc(node.url)
        recipient = Account.create().address
        chain.fund(recipient, 12345)
        sender, receiver = chain.dev_accounts[:2]
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": chain.chain_id,
            "nonce": 0,
            "to": receiver.address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 2 * chain.w3.eth.get_block("pending")["baseFeePerGas"],
            "maxPriorityFeePerGas": 0,
        }
        chain.w3.eth.wait_for_transaction_receipt(
            chain.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        )
    finally:
        assert node.stop() is True
    assert not node.status().running
    assert not node.pid_file.exists()
    assert not node.info_file.exists()
    assert node.state_file.exists()

    restarted = make_node(tmp_path, node.port)  # a new object, as a new CLI process would make
    try:
        status = restarted.start()
        chain = connect_rpc(restarted.url)
        assert status.block_number == 1
        assert chain.w3.eth.get_balance(recipient) == 12345
        assert chain.w3.eth.get_transaction_count(sender.address) == 1
    finally:
        restarted.stop()


@pytest.mark.anvil
def test_a_second_start_while_running_is_a_no_op(tmp_path: Path) -> None:
    with make_node(tmp_path) as node:
        first = node.status()
        again = make_node(tmp_path, node.port).start()

        assert again == first
        assert again.running


@pytest.mark.anvil
def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with make_node(tmp_path) as node:
        pid = node.status().pid
        assert pid is not None

    assert node.status() == AnvilStatus(running=False, pid=None, url=node.url)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.anvil
def test_start_on_a_taken_port_raises_chain_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        node = make_node(tmp_path, port)

        with pytest.raises(ChainError, match=f"port {port} on 127.0.0.1 is taken"):
            node.start()

    assert not node.pid_file.exists()


@pytest.mark.anvil
def test_start_reports_the_log_tail_when_anvil_exits(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.state_file.write_text("{not json")

    with pytest.raises(ChainError, match=r"(?s)anvil exited with code \d+ at start.*anvil-state"):
        node.start()

    assert not node.pid_file.exists()


@pytest.mark.anvil
@pytest.mark.slow
def test_a_killed_node_keeps_the_state_of_its_last_periodic_dump(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    status = node.start()
    assert status.pid is not None
    connect_rpc(node.url).mine(4)
    time.sleep(STATE_INTERVAL + 1.5)

    os.kill(status.pid, signal.SIGKILL)  # no chance to dump its state on exit
    deadline = time.monotonic() + 5
    while node.status().pid is not None and time.monotonic() < deadline:
        time.sleep(0.05)  # the kernel takes a moment to end it and free its port
    assert node.status() == AnvilStatus(running=False, pid=None, url=node.url)

    try:
        assert node.start().block_number == 4
    finally:
        node.stop()


@pytest.mark.anvil
def test_foreground_start_runs_until_interrupted_and_keeps_the_state(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    script = (
        "import sys; from pathlib import Path; from ledger.anvil import AnvilNode; "
        "AnvilNode(Path(sys.argv[1]), port=int(sys.argv[2]), anvil_path=Path(sys.argv[3]))"
        ".start(background=False)"
    )
    root = Path(__file__).resolve().parents[2]
    argv = [sys.executable, "-c", script, str(tmp_path), str(node.port), str(node.anvil_path)]
    # Its own session, so that the Ctrl-C below reaches it and anvil, as a terminal's would.
    cli = subprocess.Popen(argv, cwd=root, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while not node.status().running:
            assert cli.poll() is None, "the foreground start exited early"
            assert time.monotonic() < deadline, "anvil never answered"
            time.sleep(0.05)
        connect_rpc(node.url).mine(2)

        os.killpg(cli.pid, signal.SIGINT)
        assert cli.wait(timeout=15) == 0
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()

    assert not node.pid_file.exists()
    with node:
        assert node.status().block_number == 2
