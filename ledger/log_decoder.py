"""Decode the registry's event logs without web3's per-log machinery.

``ContractEvent.process_log`` re-validates the ABI and re-normalises every value on every
call (about 1.5 ms a log); the indexer reads tens of thousands of logs per range, so it
decodes them from a table built once from the ABI instead: indexed arguments from the
topics, the others from the data, and addresses checksummed as web3 gives them.

Every registry event but one carries only static elementary values (addresses, integers,
``bytesN``, booleans), one 32-byte word each: those are read straight from their words, with
eth-abi's own checks on the padding, which halves the indexer's decoding time. Events with a
dynamic argument (a brand's name) go through eth-abi whole.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from eth_abi.abi import decode
from eth_abi.exceptions import InsufficientDataBytes, NonEmptyPaddingBytes
from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.types import LogReceipt

__all__ = ["LogDecoder"]


_WordReader = Callable[[bytes], Any]
"""Decodes one static elementary ABI value from its 32-byte word."""


@dataclass(frozen=True)
class _EventLayout:
    name: str
    indexed: tuple[tuple[str, _WordReader], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    data_readers: tuple[_WordReader, ...] | None
    """One reader per data word, or None when the data holds a dynamic value."""


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
            data_types = tuple(i["type"] for i in inputs if not i["indexed"])
            readers = tuple(_word_reader(t) for t in data_types)
            self._layouts[bytes(event_abi_to_log_topic(cast(ABIEvent, entry)))] = _EventLayout(
                name=str(entry["name"]),
                indexed=tuple(
                    (i["name"], _word_reader(i["type"]) or _eth_abi_reader(i["type"]))
                    for i in inputs
                    if i["indexed"]
                ),
                data_names=tuple(i["name"] for i in inputs if not i["indexed"]),
                data_types=data_types,
                data_readers=None if None in readers else cast(tuple[_WordReader, ...], readers),
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
        for (name, read), topic in zip(layout.indexed, log["topics"][1:], strict=True):
            args[name] = read(bytes(topic))
        data = bytes(HexBytes(log["data"]))
        if layout.data_readers is None:
            values = decode(list(layout.data_types), data)
            for name, abi_type, value in zip(
                layout.data_names, layout.data_types, values, strict=True
            ):
                args[name] = _checksum(value) if abi_type == "address" else value
            return args
        if len(data) < 32 * len(layout.data_readers):
            raise InsufficientDataBytes(
                f"{layout.name}: {len(layout.data_readers)} words of data expected, "
                f"got {len(data)} bytes"
            )
        for offset, (name, read) in enumerate(
            zip(layout.data_names, layout.data_readers, strict=True)
        ):
            args[name] = read(data[32 * offset : 32 * offset + 32])
        return args

    def _layout(self, log: LogReceipt) -> _EventLayout | None:
        topics = log["topics"]
        return self._layouts.get(bytes(topics[0])) if topics else None


def _static(abi_type: str) -> bool:
    return abi_type not in ("string", "bytes") and not abi_type.endswith("]")


def _word_reader(abi_type: str) -> _WordReader | None:
    """A reader for a static elementary type, or None for any other type."""
    if abi_type == "address":
        return _address
    if abi_type == "bool":
        return _bool
    if match := re.fullmatch(r"(u?)int(\d*)", abi_type):
        bits = int(match[2] or 256)
        return _unsigned(bits) if match[1] else _signed(bits)
    if match := re.fullmatch(r"bytes(\d+)", abi_type):
        return _fixed_bytes(int(match[1]))
    return None


def _eth_abi_reader(abi_type: str) -> _WordReader:
    return lambda word: decode([abi_type], word)[0]


def _padding(word: bytes, value: slice, what: str) -> None:
    if any(word[: value.start] + word[value.stop :]):
        raise NonEmptyPaddingBytes(f"Padding bytes were not empty around the {what}: {word!r}")


def _address(word: bytes) -> str:
    _padding(word, slice(12, 32), "address")
    return _checksum("0x" + word[12:].hex())


def _bool(word: bytes) -> bool:
    _padding(word, slice(31, 32), "boolean")
    if word[31] > 1:
        raise NonEmptyPaddingBytes(f"Boolean must be either 0x0 or 0x1.  Got: {word[31:]!r}")
    return word[31] == 1


def _unsigned(bits: int) -> _WordReader:
    def read(word: bytes) -> int:
        _padding(word, slice(32 - bits // 8, 32), f"uint{bits}")
        return int.from_bytes(word, "big")

    return read


def _signed(bits: int) -> _WordReader:
    width = bits // 8

    def read(word: bytes) -> int:
        value = int.from_bytes(word[32 - width :], "big", signed=True)
        fill = b"\xff" if value < 0 else b"\x00"
        if word[: 32 - width] != fill * (32 - width):
            raise NonEmptyPaddingBytes(f"Padding bytes were not empty around int{bits}: {word!r}")
        return value

    return read


def _fixed_bytes(size: int) -> _WordReader:
    def read(word: bytes) -> bytes:
        _padding(word, slice(0, size), f"bytes{size}")
        return word[:size]

    return read


@functools.lru_cache(maxsize=4096)  # a range names a few parties many times over
def _checksum(address: str) -> str:
    return to_checksum_address(address)
