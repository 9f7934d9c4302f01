"""``LogDecoder`` gives exactly what web3's ``process_log`` gives, for every registry event."""

from __future__ import annotations

import pytest
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes

from ledger.chain import connect_memory
from ledger.log_decoder import LogDecoder
from ledger.registry import Registry
from veritag.demo_seed import DemoRoles, seed_demo


@pytest.fixture(scope="module")
def demo() -> Registry:
    chain = connect_memory()
    registry = Registry.deploy(chain.w3, chain.dev_accounts[0])
    seed_demo(registry, None, DemoRoles.from_dev_accounts(chain.dev_accounts), "https://x")
    return registry


def test_every_log_of_the_demo_decodes_as_web3_decodes_it(demo: Registry) -> None:
    events = [e for e in demo.contract.abi if e["type"] == "event"]
    names = {HexBytes(event_abi_to_log_topic(e)): e["name"] for e in events}
    decoder = LogDecoder(demo.contract.abi, [e["name"] for e in events])
    logs = demo.w3.eth.get_logs({"address": demo.address, "fromBlock": 0, "toBlock": "latest"})

    decoded = [(decoder.name_of(log), decoder.args(log)) for log in logs]
    expected = [
        (names[HexBytes(log["topics"][0])], dict(
            demo.contract.events[names[HexBytes(log["topics"][0])]]().process_log(log)["args"]
        ))
        for log in logs
    ]  # fmt: skip

    assert decoded == expected
    assert len({name for name, _ in decoded}) >= 10  # the demo's history names most events


def test_logs_of_events_not_asked_for_decode_to_none(demo: Registry) -> None:
    decoder = LogDecoder(demo.contract.abi, ["ItemRecalled"])
    logs = demo.w3.eth.get_logs({"address": demo.address, "fromBlock": 0, "toBlock": "latest"})

    names = {decoder.name_of(log) for log in logs}

    assert names == {"ItemRecalled", None}
    assert next(decoder.args(log) for log in logs if decoder.name_of(log) is None) is None
