"""Assertions shared by the registry test modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3.types import TxReceipt

from ledger.contract_errors import RegistryError
from ledger.identifiers import ItemId
from ledger.registry import ItemState, Registry


@contextmanager
def reverts(error: type[RegistryError], **data: Any) -> Iterator[None]:
    """Expect exactly ``error`` (not a subclass) carrying exactly ``data``."""
    with pytest.raises(error) as caught:
        yield
    assert type(caught.value) is error
    assert caught.value.data == data


def refusal(action: Callable[[], object]) -> tuple[str, dict[str, Any]] | None:
    """The registry error ``action`` raised, as (name, data), or None if it went through."""
    try:
        action()
    except RegistryError as exc:
        return type(exc).__name__, exc.data
    return None


def history(registry: Registry, item: ItemId) -> list[tuple[str, int, dict[str, Any]]]:
    return [(e.name, e.seq, e.args) for e in registry.history(item)]


def emitted(registry: Registry, receipt: TxReceipt) -> list[tuple[str, dict[str, Any]]]:
    """Every registry event of ``receipt``, in log order, as (name, args)."""
    by_topic = {
        HexBytes(event_abi_to_log_topic(entry)): str(entry["name"])
        for entry in registry.contract.abi
        if entry["type"] == "event"
    }
    events = []
    for log in receipt["logs"]:
        name = by_topic[HexBytes(log["topics"][0])]
        args = dict(registry.contract.events[name]().process_log(log)["args"])
        events.append((name, {k: _hex(v) for k, v in args.items()}))
    return events


def _hex(value: Any) -> Any:
    return "0x" + bytes(value).hex() if isinstance(value, bytes) else value


def state(registry: Registry, item: ItemId) -> ItemState:
    found = registry.item(item)
    assert found is not None, f"{item} is not registered"
    return found
