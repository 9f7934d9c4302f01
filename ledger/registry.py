"""A typed client for every function of the provenance registry.

Writes take the signing ``LocalAccount`` first and return a :class:`TxResult` (or the value
the contract assigned, such as a brand id); refusals raise the decoded contract error from
:mod:`ledger.contract_errors` before anything is sent. Reads return small frozen dataclasses.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import EventData, LogReceipt, TxReceipt

from ledger.compiler import load_artifact
from ledger.contract_errors import ErrorDecoder, Status
from ledger.errors import ChainError
from ledger.identifiers import ItemId, gs1_company_prefix_candidates, validate_company_prefix
from ledger.log_decoder import LogDecoder
from ledger.merkle import BatchProof
from ledger.transactions import Transactor, TxResult

__all__ = [
    "AGGREGATION_EVENTS",
    "MAX_NESTING",
    "BatchInfo",
    "BatchProofSource",
    "BrandInfo",
    "EpcisStep",
    "Flag",
    "ItemEvent",
    "ItemState",
    "OperatorInfo",
    "Registry",
    "Status",
    "Stay",
]

CONTRACT_NAME = "ProvenanceRegistry"
FORWARDER_NAME = "VeritagForwarder"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_ZERO_HASH = b"\x00" * 32

ITEM_EVENTS = (
    "ItemRegistered",
    "BatchItemRegistered",
    "BatchItemActivated",
    "ItemShipped",
    "ItemReceived",
    "ShipmentCancelled",
    "CustodyTransferred",
    "RetailSaleRecorded",
    "ItemClaimed",
    "ItemRecalled",
    "RecallLifted",
    "ItemReportedStolen",
    "StolenReportCleared",
    "ItemDecommissioned",
    "ItemDestroyed",
    "ContainerCreated",
    "ItemPacked",
    "ItemUnpacked",
)
"""Events whose first topic is an item id: together they are an item's whole history.
``ContainerCreated`` is a container's registration (seq 1); a case or pallet is a record
like an item, whose ids ``ledger.identifiers.container_id`` makes from SSCCs."""

AGGREGATION_EVENTS = ("ItemPacked", "ItemUnpacked")
"""Events of a record going into (``containerId``) or out of a container."""

MAX_NESTING = 2
"""Containers above an item at most (item → case → pallet), as the contract enforces."""

REGISTRATION_EVENTS = frozenset({"ItemRegistered", "BatchItemRegistered", "BatchItemActivated"})
"""The seq-1 events: an item's registration, one way or another."""

EPCIS_RECORD_EVENT = "EpcisEventRecorded"
"""Emitted right after the item event an EPCIS event caused, with the event's hash."""


class EpcisStep(enum.IntEnum):
    """The custody steps ``applyEpcisEvent`` applies (``IProvenanceRegistry.EpcisStep``)."""

    COMMISSIONING = 0
    SHIPPING = 1
    RECEIVING = 2
    RETAIL_SELLING = 3
    DECOMMISSIONING = 4
    DESTROYING = 5


class Flag(enum.IntFlag):
    """Overlays on an item's status (``IProvenanceRegistry`` flags)."""

    RECALLED = 1
    STOLEN = 2
    CLAIMED = 4
    CONTAINER = 8
    """A case or pallet (an SSCC), created by its first ``pack``."""
    PACKED = 16
    """Packed in a container: it moves with it until unpacked."""


@dataclass(frozen=True)
class ItemState:
    """What the registry holds for one item right now."""

    item_id: ItemId
    custodian: ChecksumAddress
    status: Status
    flags: Flag
    seq: int
    registered_at: int
    brand_id: int
    operator: ChecksumAddress
    consignee: ChecksumAddress | None
    claimable: bool
    registered_while_suspended: bool
    container: ItemId | None = None
    """The container (case or pallet) it is packed in directly, or None. While packed,
    ``custodian``, ``status`` and ``consignee`` are those of its top container."""

    @property
    def is_container(self) -> bool:
        return Flag.CONTAINER in self.flags

    @property
    def packed(self) -> bool:
        return Flag.PACKED in self.flags

    @property
    def recalled(self) -> bool:
        return Flag.RECALLED in self.flags

    @property
    def stolen(self) -> bool:
        return Flag.STOLEN in self.flags

    @property
    def claimed(self) -> bool:
        return Flag.CLAIMED in self.flags


@dataclass(frozen=True)
class BrandInfo:
    brand_id: int
    admin: ChecksumAddress
    suspended_from: int


@dataclass(frozen=True)
class OperatorInfo:
    address: ChecksumAddress
    brand_id: int
    operator_id: int
    active: bool
    suspended_from: int


@dataclass(frozen=True)
class ItemEvent:
    """One entry of an item's on-chain history, with where to re-check it."""

    name: str
    seq: int
    block_number: int
    tx_hash: str
    log_index: int
    args: dict[str, Any]
    event_hash: str | None = None
    """The SHA-256 digest (0x hex) of the captured EPCIS event that caused this item event,
    as recorded on chain next to it; None for an event not applied from EPCIS."""
    container: ItemId | None = None
    """Set in :meth:`Registry.travels`: the container whose own event this is, which the
    item was inside (directly or in a case on it) when it happened."""


@dataclass(frozen=True)
class Stay:
    """A time an item (or case) spent packed in one container, from :meth:`Registry.stays`."""

    container: ItemId
    packed: ItemEvent
    unpacked: ItemEvent | None
    """None while it is still inside."""


@dataclass(frozen=True)
class BatchInfo:
    """A Merkle batch anchored on chain (``getBatch``)."""

    root: bytes
    brand_id: int
    operator: ChecksumAddress
    anchored_at: int
    count: int


BatchProofSource = Callable[[ItemId], BatchProof | None]
"""Where the proof of an item's batch leaf comes from (the store's Merkle batches), or None
for an item in no stored batch."""


class Registry:
    """The registry deployed at ``address`` on the chain behind ``w3``.

    ``batch_proofs``, when set, lets every write on one item (ship, transfer, retail sale,
    claim, …) first bring an item of a Merkle batch on chain, in the same transaction:
    see :meth:`first_action`.
    """

    batch_proofs: BatchProofSource | None = None

    def __init__(self, w3: Web3, address: str, *, deploy_block: int = 0) -> None:
        artifact = load_artifact(CONTRACT_NAME)
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.deploy_block = deploy_block
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact.abi)
        self.errors = ErrorDecoder(artifact.abi)
        self._tx = Transactor(w3, self.errors)
        self._forwarder: ChecksumAddress | None = None
        self._events_by_topic = {
            HexBytes(Web3.keccak(text=_signature(e))): e["name"]
            for e in artifact.abi
            if e["type"] == "event"
        }
        self._aggregation_topics = [
            topic.to_0x_hex()
            for topic, name in self._events_by_topic.items()
            if name in AGGREGATION_EVENTS
        ]
        # History reads decode every log of an item; web3's process_log costs ~1.5 ms each.
        self._history_decoder = LogDecoder(artifact.abi, [*ITEM_EVENTS, EPCIS_RECORD_EVENT])

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        deployer: LocalAccount,
        admin: str | None = None,
        *,
        forwarder: str | None = None,
    ) -> Registry:
        """Deploy a new registry whose admin is ``admin`` (default: the deployer).

        The registry trusts one ERC-2771 forwarder for life: ``forwarder`` if given, else a
        new ``VeritagForwarder`` deployed first, in its own transaction.
        """
        if forwarder is None:
            forwarder, _ = _deploy(w3, deployer, FORWARDER_NAME)
        address, block = _deploy(
            w3, deployer, CONTRACT_NAME, _checksum(admin or deployer.address), _checksum(forwarder)
        )
        return cls(w3, address, deploy_block=block)

    @property
    def chain_id(self) -> int:
        return self._tx.chain_id

    @property
    def forwarder(self) -> ChecksumAddress:
        """The one ERC-2771 forwarder whose relayed requests this registry accepts."""
        if self._forwarder is None:
            self._forwarder = _checksum(self.contract.functions.trustedForwarder().call())
        return self._forwarder

    @property
    def max_batch_size(self) -> int:
        return int(self.contract.functions.MAX_BATCH_SIZE().call())

    # ───────────── governance ─────────────

    def admin(self) -> ChecksumAddress:
        return Web3.to_checksum_address(self.contract.functions.owner().call())

    def pending_admin(self) -> ChecksumAddress | None:
        return _address_or_none(self.contract.functions.pendingOwner().call())

    def transfer_admin(self, sender: LocalAccount, new_admin: str) -> TxResult:
        """Step one of two: name the next registry admin, who must accept."""
        return self._send(sender, self._fn.transferOwnership(_checksum(new_admin)))

    def accept_admin(self, sender: LocalAccount) -> TxResult:
        """Step two of two: the named account takes over as registry admin."""
        return self._send(sender, self._fn.acceptOwnership())

    def admit_brand(
        self, sender: LocalAccount, admin: str, name: str, prefixes: Sequence[str]
    ) -> int:
        """Admit a brand; returns its new brand id."""
        checked = [validate_company_prefix(p) for p in prefixes]
        result = self._send(sender, self._fn.admitBrand(_checksum(admin), name, checked))
        (event,) = self._events(result.receipt, "BrandAdmitted")
        return int(event["args"]["brandId"])

    def assign_prefix(self, sender: LocalAccount, brand_id: int, prefix: str) -> TxResult:
        return self._send(sender, self._fn.assignPrefix(brand_id, validate_company_prefix(prefix)))

    def set_brand_admin(self, sender: LocalAccount, brand_id: int, new_admin: str) -> TxResult:
        return self._send(sender, self._fn.setBrandAdmin(brand_id, _checksum(new_admin)))

    def suspend_brand(self, sender: LocalAccount, brand_id: int, since: int) -> TxResult:
        return self._send(sender, self._fn.suspendBrand(brand_id, since))

    def reinstate_brand(self, sender: LocalAccount, brand_id: int) -> TxResult:
        return self._send(sender, self._fn.reinstateBrand(brand_id))

    def suspend_operator(self, sender: LocalAccount, operator: str, since: int) -> TxResult:
        return self._send(sender, self._fn.suspendOperator(_checksum(operator), since))

    def reinstate_operator(self, sender: LocalAccount, operator: str) -> TxResult:
        return self._send(sender, self._fn.reinstateOperator(_checksum(operator)))

    def add_operator(self, sender: LocalAccount, brand_id: int, operator: str) -> TxResult:
        return self._send(sender, self._fn.addOperator(brand_id, _checksum(operator)))

    def remove_operator(self, sender: LocalAccount, operator: str) -> TxResult:
        return self._send(sender, self._fn.removeOperator(_checksum(operator)))

    def set_partner(
        self, sender: LocalAccount, brand_id: int, partner: str, *, authorised: bool = True
    ) -> TxResult:
        return self._send(sender, self._fn.setPartner(brand_id, _checksum(partner), authorised))

    # ───────────── registration ─────────────

    def register(
        self,
        sender: LocalAccount,
        item: ItemId,
        doc_hash: bytes = _ZERO_HASH,
        claim_key: str | None = None,
    ) -> TxResult:
        """Register one item with its own product document hash and optional claim key."""
        return self._send(
            sender, self._fn.register(item.value, doc_hash, _checksum(claim_key or ZERO_ADDRESS))
        )

    def register_batch(
        self,
        sender: LocalAccount,
        items: Sequence[ItemId],
        doc_hash: bytes = _ZERO_HASH,
        claim_keys: Sequence[str] | None = None,
    ) -> TxResult:
        """Register up to ``max_batch_size`` items sharing one document, in one transaction."""
        ids = [i.value for i in items]
        if claim_keys is None:
            return self._send(sender, self._fn.registerBatch(ids, doc_hash))
        keys = [_checksum(k) for k in claim_keys]
        return self._send(sender, self._fn.registerBatchWithClaimKeys(ids, doc_hash, keys))

    def register_many(
        self,
        sender: LocalAccount,
        items: Sequence[ItemId],
        doc_hash: bytes = _ZERO_HASH,
        claim_keys: Sequence[str] | None = None,
    ) -> Iterator[TxResult]:
        """Register any number of items, one batch transaction per ``max_batch_size``."""
        size = self.max_batch_size
        for start in range(0, len(items), size):
            keys = None if claim_keys is None else claim_keys[start : start + size]
            yield self.register_batch(sender, items[start : start + size], doc_hash, keys)

    # ───────────── custody ─────────────

    def transfer(self, sender: LocalAccount, item: ItemId, to: str) -> TxResult:
        return self._send(
            sender, self.first_action(item, self._fn.transfer(item.value, _checksum(to)))
        )

    def transfer_batch(self, sender: LocalAccount, items: Sequence[ItemId], to: str) -> TxResult:
        return self._send(sender, self._fn.transferBatch(_values(items), _checksum(to)))

    def ship(self, sender: LocalAccount, item: ItemId, to: str) -> TxResult:
        return self._send(sender, self.first_action(item, self._fn.ship(item.value, _checksum(to))))

    def ship_batch(self, sender: LocalAccount, items: Sequence[ItemId], to: str) -> TxResult:
        return self._send(sender, self._fn.shipBatch(_values(items), _checksum(to)))

    def receive(self, sender: LocalAccount, item: ItemId) -> TxResult:
        """The consignee takes custody of a shipped item (``acceptDelivery``)."""
        return self._send(sender, self._fn.acceptDelivery(item.value))

    def receive_batch(self, sender: LocalAccount, items: Sequence[ItemId]) -> TxResult:
        return self._send(sender, self._fn.acceptDeliveryBatch(_values(items)))

    def cancel_shipment(self, sender: LocalAccount, item: ItemId) -> TxResult:
        return self._send(sender, self._fn.cancelShipment(item.value))

    # ───────────── aggregation ─────────────

    def pack(self, sender: LocalAccount, container: ItemId, items: Sequence[ItemId]) -> TxResult:
        """Pack items (or cases) into ``container`` (``container_id(sscc)``), creating it on
        first use; ``sender`` must hold the container and every item."""
        return self._send(sender, self.pack_call(container, items))

    def unpack(self, sender: LocalAccount, container: ItemId, items: Sequence[ItemId]) -> TxResult:
        """Take items out of ``container``; its custodian (``sender``) then holds each."""
        return self._send(sender, self.unpack_call(container, items))

    def pack_call(self, container: ItemId, items: Sequence[ItemId]) -> ContractFunction:
        """The ``pack`` call, for senders that sign elsewhere (the outbox); Merkle batch items
        not yet on chain are activated in the same transaction."""
        return self.first_actions(items, self._fn.pack(container.value, _values(items)))

    def unpack_call(self, container: ItemId, items: Sequence[ItemId]) -> ContractFunction:
        """The ``unpack`` call, for senders that sign elsewhere (the outbox)."""
        return cast(ContractFunction, self._fn.unpack(container.value, _values(items)))

    # ───────────── status ─────────────

    def recall(self, sender: LocalAccount, items: Sequence[ItemId]) -> TxResult:
        return self._send(sender, self._fn.recall(_values(items)))

    def lift_recall(self, sender: LocalAccount, items: Sequence[ItemId]) -> TxResult:
        return self._send(sender, self._fn.liftRecall(_values(items)))

    def report_stolen(self, sender: LocalAccount, item: ItemId) -> TxResult:
        return self._send(sender, self.first_action(item, self._fn.reportStolen(item.value)))

    def clear_stolen(self, sender: LocalAccount, item: ItemId) -> TxResult:
        return self._send(sender, self._fn.clearStolen(item.value))

    def record_retail_sale(self, sender: LocalAccount, item: ItemId) -> TxResult:
        return self._send(sender, self.first_action(item, self._fn.recordRetailSale(item.value)))

    def decommission(self, sender: LocalAccount, item: ItemId) -> TxResult:
        return self._send(sender, self.first_action(item, self._fn.decommission(item.value)))

    def destroy(self, sender: LocalAccount, item: ItemId) -> TxResult:
        return self._send(sender, self.first_action(item, self._fn.destroy(item.value)))

    def apply_epcis_event(
        self,
        sender: LocalAccount,
        item: ItemId,
        step: EpcisStep,
        event_hash: bytes,
        party: str | None = None,
    ) -> TxResult:
        """Apply a captured EPCIS event's custody step and record its hash on chain."""
        return self._send(sender, self.epcis_call(item, step, event_hash, party))

    def epcis_call(
        self, item: ItemId, step: EpcisStep, event_hash: bytes, party: str | None = None
    ) -> ContractFunction:
        """The ``applyEpcisEvent`` call, for senders that sign elsewhere (the outbox)."""
        to = ZERO_ADDRESS if party is None else party
        call = self._fn.applyEpcisEvent(item.value, int(step), _checksum(to), event_hash)
        if step in (EpcisStep.COMMISSIONING, EpcisStep.RECEIVING):
            return cast(ContractFunction, call)
        return self.first_action(item, call)

    def claim(
        self, sender: LocalAccount, item: ItemId, new_owner: str, signature: bytes
    ) -> TxResult:
        """Submit a consumer claim; ``sender`` only pays gas (it may be a relayer)."""
        call = self._fn.claim(item.value, _checksum(new_owner), signature)
        return self._send(sender, self.first_action(item, call))

    # ───────────── Merkle batches ─────────────

    def anchor_batch(
        self, sender: LocalAccount, root: bytes, count: int, doc_hash: bytes = _ZERO_HASH
    ) -> TxResult:
        """Anchor a Merkle batch of ``count`` items by its root (see :mod:`ledger.merkle`)."""
        return self._send(sender, self._fn.anchorBatch(root, count, doc_hash))

    def activate_call(self, item: ItemId, proof: BatchProof) -> ContractFunction:
        """The ``activateBatchItem`` call that brings ``item`` on chain with its proof."""
        return cast(
            ContractFunction,
            self._fn.activateBatchItem(
                item.value,
                proof.root,
                _checksum(proof.claim_key or ZERO_ADDRESS),
                list(proof.siblings),
            ),
        )

    def activate_batch_item(
        self, sender: LocalAccount, item: ItemId, proof: BatchProof
    ) -> TxResult:
        """Bring ``item`` on chain on its own; ``sender`` only pays gas."""
        return self._send(sender, self.activate_call(item, proof))

    def multicall_call(self, calls: Sequence[ContractFunction]) -> ContractFunction:
        """One ``multicall`` running ``calls`` in order as one transaction, all or nothing;
        each runs as the caller (also when relayed through the trusted forwarder)."""
        data = [HexBytes(call._encode_transaction_data()) for call in calls]
        return cast(ContractFunction, self._fn.multicall(data))

    def first_action(self, item: ItemId, call: ContractFunction) -> ContractFunction:
        """``call`` on ``item``, preceded in one multicall by the item's activation when it is
        a leaf of a stored Merkle batch and not yet on chain; else ``call`` itself."""
        return self.first_actions([item], call)

    def first_actions(self, items: Sequence[ItemId], call: ContractFunction) -> ContractFunction:
        """``call`` on ``items`` (a pack), preceded in one multicall by the activation of each
        that is a leaf of a stored Merkle batch and not yet on chain; else ``call`` itself."""
        activations = self._pending_activations(items)
        return self.multicall_call([*activations, call]) if activations else call

    def first_action_data(self, item: ItemId, data: bytes) -> bytes:
        """As :meth:`first_action`, for calldata (what a relayed request signs)."""
        activations = self._pending_activations([item])
        if not activations:
            return data
        calls = [HexBytes(a._encode_transaction_data()) for a in activations]
        multicall = self._fn.multicall([*calls, HexBytes(data)])
        return bytes(HexBytes(multicall._encode_transaction_data()))

    def _pending_activations(self, items: Sequence[ItemId]) -> list[ContractFunction]:
        if self.batch_proofs is None:
            return []
        activations = []
        for item in items:
            proof = self.batch_proofs(item)
            if proof is not None and self.item(item) is None:
                activations.append(self.activate_call(item, proof))
        return activations

    def batch(self, root: bytes, *, block: int | None = None) -> BatchInfo | None:
        """The anchored batch with ``root`` (at ``block``, default latest), or None."""
        brand_id, operator, anchored_at, count = self._fn.getBatch(root).call(
            block_identifier="latest" if block is None else block
        )
        if int(anchored_at) == 0:
            return None
        return BatchInfo(root, int(brand_id), _checksum(operator), int(anchored_at), int(count))

    # ───────────── views ─────────────

    def item(self, item: ItemId, *, block: int | None = None) -> ItemState | None:
        """The item's state (at ``block``, default the latest), or None if not registered."""
        raw = self.contract.functions.getItem(item.value).call(
            block_identifier="latest" if block is None else block
        )
        (
            custodian,
            status,
            flags,
            seq,
            registered_at,
            brand_id,
            operator,
            consignee,
            claimable,
            suspended,
            container,
        ) = raw
        if Status(status) is Status.NONE:
            return None
        return ItemState(
            item_id=item,
            custodian=Web3.to_checksum_address(custodian),
            status=Status(status),
            flags=Flag(flags),
            seq=int(seq),
            registered_at=int(registered_at),
            brand_id=int(brand_id),
            operator=Web3.to_checksum_address(operator),
            consignee=_address_or_none(consignee),
            claimable=bool(claimable),
            registered_while_suspended=bool(suspended),
            container=ItemId(bytes(container)) if any(container) else None,
        )

    def brand(self, brand_id: int) -> BrandInfo | None:
        admin, suspended_from = self.contract.functions.getBrand(brand_id).call()
        if _address_or_none(admin) is None:
            return None
        return BrandInfo(brand_id, Web3.to_checksum_address(admin), int(suspended_from))

    def brand_count(self) -> int:
        return int(self.contract.functions.brandCount().call())

    def brand_of_prefix(self, prefix: str) -> int | None:
        brand_id = int(self.contract.functions.brandOfPrefix(prefix).call())
        return brand_id or None

    def brand_of_gtin(self, gtin: str) -> int | None:
        """The brand that owns the GS1 company prefix of ``gtin``, if any."""
        for prefix in gs1_company_prefix_candidates(gtin):
            brand_id = self.brand_of_prefix(prefix)
            if brand_id is not None:
                return brand_id
        return None

    def operator(self, address: str) -> OperatorInfo | None:
        brand_id, operator_id, active, suspended_from = self.contract.functions.getOperator(
            _checksum(address)
        ).call()
        if brand_id == 0:
            return None
        return OperatorInfo(
            _checksum(address), int(brand_id), int(operator_id), bool(active), int(suspended_from)
        )

    def is_partner(self, brand_id: int, address: str) -> bool:
        return bool(self.contract.functions.isPartner(brand_id, _checksum(address)).call())

    def brand_name(self, brand_id: int) -> str | None:
        """The name the brand was admitted under (from its BrandAdmitted event)."""
        logs = self.contract.events.BrandAdmitted().get_logs(
            argument_filters={"brandId": brand_id}, from_block=self.deploy_block
        )
        return str(logs[0]["args"]["name"]) if logs else None

    def doc_hash(self, events: Sequence[ItemEvent]) -> str | None:
        """The product document hash an item was registered with (its batch's, for batches
        and Merkle batches)."""
        for event in events:
            if event.name == "ItemRegistered":
                return str(event.args["docHash"])
            if event.name == "BatchItemActivated":
                logs = self.contract.events.BatchAnchored().get_logs(
                    argument_filters={"root": event.args["root"]}, from_block=self.deploy_block
                )
                return "0x" + bytes(logs[0]["args"]["docHash"]).hex() if logs else None
            if event.name == "BatchItemRegistered":
                logs = self.contract.events.BatchRegistered().get_logs(
                    argument_filters={"batchId": event.args["batchId"]},
                    from_block=event.block_number,
                    to_block=event.block_number,
                )
                return "0x" + bytes(logs[0]["args"]["docHash"]).hex() if logs else None
        return None

    def claim_digest(self, item: ItemId, new_owner: str) -> bytes:
        return bytes(self.contract.functions.claimDigest(item.value, _checksum(new_owner)).call())

    def history(self, item: ItemId, *, block: int | None = None) -> list[ItemEvent]:
        """Every event of ``item`` up to ``block`` (default latest), in order (seq 1 first)."""
        logs = self.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": self.deploy_block,
                "toBlock": "latest" if block is None else block,
                "topics": [None, item.hex()],
            }
        )
        events = [self._item_event(log) for log in logs if self._is_item_event(log)]
        recorded = self._epcis_records(logs)
        if recorded:
            events = [
                replace(e, event_hash=recorded[e.seq]) if e.seq in recorded else e for e in events
            ]
        return sorted(events, key=lambda e: (e.block_number, e.log_index))

    def contents_events(self, container: ItemId, *, block: int | None = None) -> list[ItemEvent]:
        """Every packing into and unpacking out of ``container`` up to ``block`` (default
        latest): the ``ItemPacked``/``ItemUnpacked`` events naming it as ``containerId``
        (their second topic), in chain order. Each carries ``args["itemId"]``, the record
        packed or unpacked; ``seq`` is that record's."""
        logs = self.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": self.deploy_block,
                "toBlock": "latest" if block is None else block,
                "topics": [self._aggregation_topics, None, container.hex()],
            }
        )
        return sorted((self._item_event(log, keep_item=True) for log in logs), key=_position)

    def stays(self, item: ItemId, *, block: int | None = None) -> list[Stay]:
        """Every container ``item`` was packed in directly, in order (from its own events)."""
        return _stays(self.history(item, block=block))

    def travels(self, item: ItemId, *, block: int | None = None) -> list[ItemEvent]:
        """The events of the containers that carried ``item`` while it was inside them (its
        case's and, while the case was on a pallet, the pallet's), each with ``container``
        set, in chain order. With :meth:`history` it is the item's whole journey; all of it
        comes from the logs, so anyone can rebuild it."""
        found = self._travels(item, block, (-1, -1), None, depth=0)
        return sorted(found, key=_position)

    def _travels(
        self,
        record: ItemId,
        block: int | None,
        start: tuple[int, int],
        end: tuple[int, int] | None,
        *,
        depth: int,
    ) -> list[ItemEvent]:
        found: list[ItemEvent] = []
        if depth >= MAX_NESTING:
            return found
        for stay in self.stays(record, block=block):
            since = max(_position(stay.packed), start)
            until = _position(stay.unpacked) if stay.unpacked else None
            if end is not None and (until is None or until > end):
                until = end
            if until is not None and until <= since:
                continue
            for event in self.history(stay.container, block=block):
                at = _position(event)
                if at > since and (until is None or at < until):
                    found.append(replace(event, container=stay.container))
            found += self._travels(stay.container, block, since, until, depth=depth + 1)
        return found

    def _epcis_records(self, logs: Sequence[LogReceipt]) -> dict[int, str]:
        records: dict[int, str] = {}
        for log in logs:
            if self._history_decoder.name_of(log) == EPCIS_RECORD_EVENT:
                args = cast(dict[str, Any], self._history_decoder.args(log))
                records[int(args["seq"])] = "0x" + bytes(args["eventHash"]).hex()
        return records

    # ───────────── internals ─────────────

    @property
    def _fn(self) -> Any:
        return self.contract.functions

    def _send(self, sender: LocalAccount, call: ContractFunction) -> TxResult:
        return self._tx.send(sender, call)

    def _events(self, receipt: TxReceipt, name: str) -> tuple[EventData, ...]:
        event = self.contract.events[name]()
        return tuple(
            event.process_log(log)
            for log in receipt["logs"]
            if log["address"] == self.address
            and self._events_by_topic.get(HexBytes(log["topics"][0])) == name
        )

    def _is_item_event(self, log: LogReceipt) -> bool:
        return self._events_by_topic.get(HexBytes(log["topics"][0])) in ITEM_EVENTS

    def _item_event(self, log: LogReceipt, *, keep_item: bool = False) -> ItemEvent:
        name = cast(str, self._history_decoder.name_of(log))
        decoded = cast(dict[str, Any], self._history_decoder.args(log))
        args = {k: _plain(v) for k, v in decoded.items() if keep_item or k != "itemId"}
        seq = int(args.pop("seq", 1))  # registration events are seq 1 by definition
        return ItemEvent(
            name=name,
            seq=seq,
            block_number=int(log["blockNumber"]),
            tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
            log_index=int(log["logIndex"]),
            args=args,
        )


def _position(event: ItemEvent) -> tuple[int, int]:
    return event.block_number, event.log_index


def _stays(events: Sequence[ItemEvent]) -> list[Stay]:
    stays: list[Stay] = []
    for event in events:
        if event.name == "ItemPacked":
            container = ItemId(bytes.fromhex(str(event.args["containerId"])[2:]))
            stays.append(Stay(container, event, None))
        elif event.name == "ItemUnpacked" and stays:
            stays[-1] = replace(stays[-1], unpacked=event)
    return stays


def _deploy(w3: Web3, deployer: LocalAccount, name: str, *args: Any) -> tuple[ChecksumAddress, int]:
    """Deploy contract ``name``; its address and the block it was deployed in."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    result = Transactor(w3, ErrorDecoder(artifact.abi)).send(deployer, factory.constructor(*args))
    address = result.receipt["contractAddress"]
    if address is None:
        raise ChainError(f"deployment of {name} in {result.tx_hash} created no contract")
    return _checksum(address), result.block_number


def _signature(event_abi: dict[str, Any]) -> str:
    return f"{event_abi['name']}({','.join(i['type'] for i in event_abi['inputs'])})"


def _checksum(address: str) -> ChecksumAddress:
    return Web3.to_checksum_address(address)


def _address_or_none(address: str) -> ChecksumAddress | None:
    return None if int(address, 16) == 0 else Web3.to_checksum_address(address)


def _values(items: Sequence[ItemId]) -> list[bytes]:
    return [i.value for i in items]


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return cast(Any, value)
