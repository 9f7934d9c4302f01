"""What each kind of operation is: how its request is checked, and which registry call it makes.

A request is validated and normalised *before* it is stored (14-digit GTINs, checksummed
addresses, lowercase hashes), so the same request always has the same canonical JSON and
the outbox can tell a retry from a different request under the same idempotency key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from web3.contract.contract import ContractFunction

from ledger.errors import IdentifierError, InvalidRecord
from ledger.identifiers import (
    ItemId,
    container_id,
    item_id,
    parse_item_id,
    validate_gtin,
    validate_serial,
    validate_sscc,
)
from ledger.registry import EpcisStep, Registry
from ledger.relay import ForwardRequest, forwarder_execute

__all__ = ["DEFAULT_MAX_BATCH_SIZE", "KINDS", "OperationKind", "contract_call", "validate_request"]

DEFAULT_MAX_BATCH_SIZE = 500
"""The registry's ``MAX_BATCH_SIZE``; the API passes the deployed registry's own."""

_ZERO_HASH = "0x" + "00" * 32
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")

Request = dict[str, Any]


@dataclass(frozen=True)
class OperationKind:
    name: str
    fields: frozenset[str]
    """The request's fields; any other is refused."""
    normalise: Callable[[Mapping[str, Any], int], Request]
    call: Callable[[Registry, Request], ContractFunction]


def validate_request(kind: str, request: Mapping[str, Any], *, max_batch_size: int) -> Request:
    """The normalised request; InvalidRecord naming what is wrong."""
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidRecord("operation", f"kind {kind!r} is not one of {', '.join(sorted(KINDS))}")
    if not isinstance(request, Mapping):
        raise InvalidRecord(f"{kind} request", "it must be a JSON object")
    unknown = sorted(set(request) - spec.fields)
    if unknown:
        raise InvalidRecord(f"{kind} request", f"unknown field(s): {', '.join(unknown)}")
    return spec.normalise(request, max_batch_size)


def contract_call(registry: Registry, kind: str, request: Request) -> ContractFunction:
    """The registry function a stored (already normalised) request calls."""
    return KINDS[kind].call(registry, request)


def item_of(request: Mapping[str, Any]) -> ItemId:
    """The item a single-item request names."""
    return parse_item_id(str(request["item_id"]))


# ───────────── validation ─────────────


def _text(request: Mapping[str, Any], name: str, what: str) -> str:
    value = request.get(name)
    if not isinstance(value, str):
        raise InvalidRecord(what, f"{name!r} must be a string")
    return value


def _code(request: Mapping[str, Any], what: str) -> dict[str, str]:
    gtin = _text(request, "gtin", what)
    serial = _text(request, "serial", what)
    try:
        return {
            "gtin": validate_gtin(gtin),
            "serial": validate_serial(serial),
            "item_id": item_id(gtin, serial).hex(),
        }
    except IdentifierError as exc:
        raise InvalidRecord(what, str(exc)) from None


def _sscc(request: Mapping[str, Any], what: str) -> dict[str, str]:
    sscc = _text(request, "sscc", what)
    try:
        return {"sscc": validate_sscc(sscc), "item_id": container_id(sscc).hex()}
    except IdentifierError as exc:
        raise InvalidRecord(what, str(exc)) from None


def _record(request: Mapping[str, Any], what: str) -> dict[str, str]:
    """An item (``gtin`` and ``serial``) or a container (``sscc``, a case or pallet)."""
    if "sscc" in request:
        if "gtin" in request or "serial" in request:
            raise InvalidRecord(what, "name an item ('gtin', 'serial') or a container ('sscc')")
        return _sscc(request, what)
    return _code(request, what)


def _address(request: Mapping[str, Any], name: str, what: str) -> str:
    value = _text(request, name, what)
    if not is_address(value) or int(value, 16) == 0:
        raise InvalidRecord(what, f"{name!r} must be a non-zero 0x address, not {value!r}")
    return to_checksum_address(value)


def _register(request: Mapping[str, Any], max_batch_size: int) -> Request:
    items = request.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidRecord("register request", "'items' must be a non-empty list")
    if len(items) > max_batch_size:
        raise InvalidRecord(
            "register request",
            f"{len(items)} items is more than the registry's batch size of {max_batch_size}; "
            "split them over several requests",
        )
    codes = []
    for number, entry in enumerate(items, start=1):
        what = f"register request, item {number}"
        if not isinstance(entry, Mapping) or set(entry) != {"gtin", "serial"}:
            raise InvalidRecord(what, "each item must be an object with 'gtin' and 'serial'")
        codes.append(_code(entry, what))
    seen: set[str] = set()
    for number, code in enumerate(codes, start=1):
        if code["item_id"] in seen:
            raise InvalidRecord(
                f"register request, item {number}",
                f"{code['gtin']}/{code['serial']} appears twice",
            )
        seen.add(code["item_id"])
    doc_hash = request.get("doc_hash")
    if doc_hash is None:
        doc_hash = _ZERO_HASH
    elif not isinstance(doc_hash, str) or not _HASH.fullmatch(doc_hash):
        raise InvalidRecord("register request", "'doc_hash' must be 0x and 64 hex digits")
    return {"items": codes, "doc_hash": doc_hash.lower()}


def _move(*, to: bool) -> Callable[[Mapping[str, Any], int], Request]:
    def normalise(request: Mapping[str, Any], _max: int) -> Request:
        what = "item request"
        normalised: Request = _record(request, what)
        if to:
            normalised["to"] = _address(request, "to", what)
        return normalised

    return normalise


def _aggregation(request: Mapping[str, Any], max_batch_size: int) -> Request:
    """Pack into, or unpack from, the container ``sscc``: items and cases in ``items``."""
    what = "pack request"
    normalised: Request = _sscc(request, what)
    entries = request.get("items")
    if not isinstance(entries, list) or not entries:
        raise InvalidRecord(what, "'items' must be a non-empty list")
    if len(entries) > max_batch_size:
        raise InvalidRecord(
            what,
            f"{len(entries)} items is more than the registry's batch size of {max_batch_size}; "
            "split them over several requests",
        )
    records = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        where = f"{what}, item {number}"
        if not isinstance(entry, Mapping) or set(entry) not in ({"gtin", "serial"}, {"sscc"}):
            raise InvalidRecord(where, "each must be an object with 'gtin' and 'serial', or 'sscc'")
        record = _record(entry, where)
        if record["item_id"] in seen:
            raise InvalidRecord(where, "it appears twice")
        seen.add(record["item_id"])
        records.append(record)
    normalised["items"] = records
    return normalised


def _aggregation_call(name: str) -> Callable[[Registry, Request], ContractFunction]:
    def call(registry: Registry, request: Request) -> ContractFunction:
        ids = [parse_item_id(record["item_id"]) for record in request["items"]]
        container = item_of(request)
        return (
            registry.pack_call(container, ids)
            if name == "pack"
            else registry.unpack_call(container, ids)
        )

    return call


_RELAY_FIELDS = frozenset({"from", "to", "gas", "nonce", "deadline", "data", "signature"})
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


def _relay(request: Mapping[str, Any], _max: int) -> Request:
    """A signed ERC-2771 request; the relayer checked it against the chain before this."""
    what = "relayed request"
    missing = sorted(_RELAY_FIELDS - set(request))
    if missing:
        raise InvalidRecord(what, f"missing field(s): {', '.join(missing)}")
    for name in ("data", "signature"):
        value = request[name]
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            raise InvalidRecord(what, f"{name!r} must be 0x and an even number of hex digits")
    for name in ("gas", "nonce", "deadline"):
        value = request[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidRecord(what, f"{name!r} must be a non-negative integer")
    try:
        parsed, signature = ForwardRequest.from_json(
            {
                **request,
                "from": _address(request, "from", what),
                "to": _address(request, "to", what),
            }
        )
    except ValueError as exc:
        raise InvalidRecord(what, str(exc)) from None
    return parsed.as_json(signature)


_EPCIS_FIELDS = frozenset({"gtin", "serial", "sscc", "step", "party", "event_hash"})


def _epcis(request: Mapping[str, Any], _max: int) -> Request:
    """One record's custody step of a captured EPCIS event (``ledger.epcis.capture``): an
    item's, or a case's or pallet's (``sscc``), which is only shipped or received."""
    what = "EPCIS event request"
    normalised: Request = _record(request, what)
    step = request.get("step")
    names = {s.name.lower(): s for s in EpcisStep}
    if not isinstance(step, str) or step not in names:
        raise InvalidRecord(what, f"'step' must be one of {', '.join(names)}")
    if "sscc" in normalised and names[step] not in _CONTAINER_STEPS:
        # Commissioning would register the container id as an item: the contract does not
        # know a container id from an item id until the container exists.
        raise InvalidRecord(what, f"a case or pallet ('sscc') is shipped or received, not {step}")
    normalised["step"] = step
    party = request.get("party")
    normalised["party"] = None if party is None else _address(request, "party", what)
    if party is not None and names[step] not in _STEPS_WITH_PARTY:
        raise InvalidRecord(what, f"a {step} step takes no 'party'")
    event_hash = request.get("event_hash")
    if not isinstance(event_hash, str) or not _HASH.fullmatch(event_hash):
        raise InvalidRecord(what, "'event_hash' must be 0x and 64 hex digits")
    normalised["event_hash"] = event_hash.lower()
    return normalised


_STEPS_WITH_PARTY = frozenset({EpcisStep.COMMISSIONING, EpcisStep.SHIPPING})
_CONTAINER_STEPS = frozenset({EpcisStep.SHIPPING, EpcisStep.RECEIVING})


def _epcis_call(registry: Registry, request: Request) -> ContractFunction:
    return registry.epcis_call(
        item_of(request),
        EpcisStep[str(request["step"]).upper()],
        bytes.fromhex(str(request["event_hash"])[2:]),
        request["party"],
    )


def _relay_call(registry: Registry, request: Request) -> ContractFunction:
    parsed, signature = ForwardRequest.from_json(request)
    return forwarder_execute(registry, parsed, signature)


# ───────────── registry calls ─────────────


def _register_call(registry: Registry, request: Request) -> ContractFunction:
    ids = [parse_item_id(code["item_id"]).value for code in request["items"]]
    doc_hash = bytes.fromhex(str(request["doc_hash"])[2:])
    return registry.contract.functions.registerBatch(ids, doc_hash)


def _call(name: str, *, to: bool) -> Callable[[Registry, Request], ContractFunction]:
    def call(registry: Registry, request: Request) -> ContractFunction:
        function = registry.contract.functions[name]
        item = item_of(request)
        if to:
            return registry.first_action(item, function(item.value, request["to"]))
        if name == "acceptDelivery":  # only a shipped item is received: it is on chain
            return function(item.value)
        return registry.first_action(item, function(item.value))

    return call


_ITEM = frozenset({"gtin", "serial", "sscc"})
"""An item by GTIN and serial, or a container (case, pallet) by SSCC."""
_AGGREGATION = frozenset({"sscc", "items"})
_ITEM_TO = _ITEM | {"to"}

KINDS: dict[str, OperationKind] = {
    kind.name: kind
    for kind in (
        OperationKind("register", frozenset({"items", "doc_hash"}), _register, _register_call),
        OperationKind("ship", _ITEM_TO, _move(to=True), _call("ship", to=True)),
        OperationKind("transfer", _ITEM_TO, _move(to=True), _call("transfer", to=True)),
        OperationKind("receive", _ITEM, _move(to=False), _call("acceptDelivery", to=False)),
        OperationKind("report_stolen", _ITEM, _move(to=False), _call("reportStolen", to=False)),
        OperationKind("pack", _AGGREGATION, _aggregation, _aggregation_call("pack")),
        OperationKind("unpack", _AGGREGATION, _aggregation, _aggregation_call("unpack")),
        OperationKind("relay", _RELAY_FIELDS, _relay, _relay_call),
        OperationKind("epcis", _EPCIS_FIELDS, _epcis, _epcis_call),
    )
}
"""Every kind of operation the outbox takes."""
