"""Decode the registry's event logs without web3's per-log machinery.

``ContractEvent.process_log`` re-validates the ABI and re-normalises every value on every
call (about 1.5 ms a log); the indexer reads tens of thousands of logs per range, so it
decodes them from a table built once from the ABI instead: indexed arguments from the
topics, the others from the data, with eth-abi, and addresses checksummed as web3 gives them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from eth_abi.abi import decode
from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.types import LogReceipt

__all__ = ["LogDecoder"]


@dataclass(frozen=True)
class _EventLayout:
    name: str
    indexed: tuple[tuple[str, str], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]


class LogDecoder:
    """Decodes logs of the events named in ``names`` from ``abi``; others answer None."""

    def __init__(self, abi: Iterable[Mapping[str, Any]], names: Iterable[str]) -> None:
        wanted = set(names)
        self._layouts: dict[bytes, _EventLayout] = {}
        for entry in abi:
            if entry.get("type") != "event" or entry.get("name") not in wanted:
                continue
            inputs = entry["inputs"]
            if any(i["indexed"] and not _static(i["type"]) for i in inputs):
                raise ValueError(f"{entry['name']}: an indexed dynamic argument has no value")
            self._layouts[bytes(event_abi_to_log_topic(cast(ABIEvent, entry)))] = _EventLayout(
                name=str(entry["name"]),
                indexed=tuple((i["name"], i["type"]) for i in inputs if i["indexed"]),
                data_names=tuple(i["name"] for i in inputs if not i["indexed"]),
                data_types=tuple(i["type"] for i in inputs if not i["indexed"]),
            )

    def name_of(self, log: LogReceipt) -> str | None:
        layout = self._layout(log)
        return None if layout is None else layout.name

    def args(self, log: LogReceipt) -> dict[str, Any] | None:
        """The log's arguments by name, as ``process_log`` gives them, or None."""
        layout = self._layout(log)
        if layout is None:
            return None
        args: dict[str, Any] = {}
        for (name, abi_type), topic in zip(layout.indexed, log["topics"][1:], strict=True):
            args[name] = _normal(abi_type, decode([abi_type], bytes(topic))[0])
        values = decode(list(layout.data_types), bytes(HexBytes(log["data"])))
        for name, abi_type, value in zip(layout.data_names, layout.data_types, values, strict=True):
            args[name] = _normal(abi_type, value)
        return args

    def _layout(self, log: LogReceipt) -> _EventLayout | None:
        topics = log["topics"]
        return self._layouts.get(bytes(topics[0])) if topics else None


def _static(abi_type: str) -> bool:
    return abi_type not in ("string", "bytes") and not abi_type.endswith("]")


def _normal(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return _checksum(value)
    return value


@functools.lru_cache(maxsize=4096)  # a range names a few parties many times over
def _checksum(address: str) -> str:
    return to_checksum_address(address)
