"""The anvil supervisor: a dead node is restarted on its own state; a cut state is repaired."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from ledger.anvil import STATE_INTERVAL, AnvilNode, AnvilSupervisor
from ledger.chain import connect_rpc
from tests.ledger.test_anvil import make_node

pytestmark = pytest.mark.anvil


def kill(node: AnvilNode) -> None:
    """SIGKILL the node (no state dump on exit) and wait until the kernel has ended it."""
    pid = node.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while node.status().pid is not None and time.monotonic() < deadline:
        time.sleep(0.05)


def wait_for_dump(node: AnvilNode) -> None:
    time.sleep(STATE_INTERVAL + 0.5)  # anvil writes its state file once a second


def test_check_leaves_a_running_node_alone(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    pid = node.start().pid
    supervisor = AnvilSupervisor(node)
    try:
        assert supervisor.check() is False
        assert (supervisor.restarts, node.status().pid) == (0, pid)
    finally:
        node.stop()


@pytest.mark.slow
def test_the_supervisor_restarts_a_killed_node_on_its_saved_state(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    first_pid = node.start().pid
    connect_rpc(node.url).mine(3)
    wait_for_dump(node)
    supervisor = AnvilSupervisor(node, interval=0.2)
    supervisor.start()
    try:
        kill(node)
        deadline = time.monotonic() + 15
        while supervisor.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        status = node.status()
    finally:
        supervisor.stop()
        node.stop()

    assert supervisor.restarts == 1
    assert status.running
    assert status.pid != first_pid
    assert status.block_number == 3


def test_stopping_the_supervisor_leaves_the_node_running(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.start()
    supervisor = AnvilSupervisor(node, interval=0.1)
    supervisor.start()
    supervisor.stop()
    try:
        assert node.status().running
    finally:
        node.stop()


def test_each_check_keeps_a_copy_of_the_last_whole_state(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.start()
    connect_rpc(node.url).mine(2)
    wait_for_dump(node)
    try:
        assert AnvilSupervisor(node).check() is False
        assert node.keep_good_state() is False  # unchanged since the check's copy
    finally:
        node.stop()

    assert json.loads(node.good_state_file.read_bytes())["block"]["number"] in (2, "0x2")


def test_a_cut_state_file_is_replaced_by_the_last_good_copy_at_start(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.start()
    connect_rpc(node.url).mine(2)
    node.stop()  # SIGTERM: anvil dumps its state
    assert node.keep_good_state() is True
    whole = node.state_file.read_bytes()
    node.state_file.write_bytes(whole[: len(whole) // 2])  # as a SIGKILL mid-write leaves it

    try:
        assert node.start().block_number == 2
    finally:
        node.stop()

    assert node.state_file.with_suffix(".damaged.json").read_bytes() == whole[: len(whole) // 2]
