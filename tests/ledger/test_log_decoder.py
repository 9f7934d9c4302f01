"""``LogDecoder`` gives exactly what web3's ``process_log`` gives, for every registry event."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError, InsufficientDataBytes
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st

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


_TYPES = ["address", "bool", "uint8", "uint24", "uint40", "uint256", "int8", "int64", "int256",
          "bytes1", "bytes4", "bytes32"]  # fmt: skip


def _one_value_event(abi_type: str, indexed: bool) -> dict[str, object]:
    return {
        "type": "event",
        "name": "Probe",
        "anonymous": False,
        "inputs": [{"name": "value", "type": abi_type, "indexed": indexed}],
    }


def _eth_abi_answer(abi_type: str, word: bytes) -> object:
    """What eth-abi (and so web3) decodes the word to, or the class of error it raises."""
    try:
        value = decode([abi_type], word)[0]
    except DecodingError as error:
        return type(error)
    return to_checksum_address(value) if abi_type == "address" else value


@settings(max_examples=300, deadline=None)
@given(abi_type=st.sampled_from(_TYPES), indexed=st.booleans(), data=st.data())
def test_every_32_byte_word_decodes_or_fails_exactly_as_eth_abi(
    abi_type: str, indexed: bool, data: st.DataObject
) -> None:
    word = data.draw(
        st.one_of(
            _words_of(abi_type),  # well-formed
            st.sampled_from(_TYPES).flatmap(_words_of),  # another type's value
            st.binary(min_size=32, max_size=32),  # mostly bad padding
        )
    )
    event = _one_value_event(abi_type, indexed)
    topic = HexBytes(event_abi_to_log_topic(event))  # type: ignore[arg-type]
    log = {"topics": [topic, HexBytes(word)] if indexed else [topic], "data": HexBytes(
        b"" if indexed else word
    )}  # fmt: skip
    decoder = LogDecoder([event], ["Probe"])

    try:
        answer: object = decoder.args(log)["value"]  # type: ignore[arg-type,index]
    except DecodingError as error:
        answer = type(error)

    assert answer == _eth_abi_answer(abi_type, word)


def _words_of(abi_type: str) -> st.SearchStrategy[bytes]:
    """32-byte words that encode a valid value of ``abi_type``."""
    if abi_type == "address":
        values: st.SearchStrategy[object] = st.binary(min_size=20, max_size=20).map(
            to_checksum_address
        )
    elif abi_type == "bool":
        values = st.booleans()
    elif abi_type.startswith("uint"):
        values = st.integers(0, 2 ** int(abi_type[4:]) - 1)
    elif abi_type.startswith("int"):
        bits = int(abi_type[3:])
        values = st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    else:
        size = int(abi_type[5:])
        values = st.binary(min_size=size, max_size=size)
    return values.map(lambda v: encode([abi_type], [v]))


def test_data_shorter_than_its_words_is_refused() -> None:
    event = _one_value_event("uint24", indexed=False)
    topic = HexBytes(event_abi_to_log_topic(event))  # type: ignore[arg-type]
    decoder = LogDecoder([event], ["Probe"])

    with pytest.raises(InsufficientDataBytes, match="Probe: 1 words of data expected, got 31"):
        decoder.args({"topics": [topic], "data": HexBytes(b"\x00" * 31)})  # type: ignore[typeddict-item]
