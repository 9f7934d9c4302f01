"""A state machine over the item lifecycle: random parties doing random things to a few items.

Each rule draws an operation (register one item or a small batch, ship, receive, cancel,
transfer, recall, lift the recall, report stolen, clear the report, retail sale, claim with
the right or a wrong code, decommission, destroy), the account that attempts it and the items
it applies to.

- The account comes from a pool of seven (brand 1's admin, the operators of brands 1 and 2,
  distributor, retailer, consumer, stranger), or is ``NEEDED``: the party the operation needs
  (the custodian, the consignee, the brand admin), so that sequences get somewhere.
- The item comes from the ``items`` bundle (registered ones), from ``UNIVERSE`` (so also
  unregistered ones), or is ``WANTED``: the first item in the status the operation needs
  (its flags, recalled or stolen, are left to chance).

A pure-Python model of every item predicts the outcome by walking the contract's checks in
the contract's order (``_live``: UnknownItem, ItemRetired; ``_movable``: NotCustodian before
WrongStatus before RecalledItem before StolenItem; ...): success, or exactly which error with
which data. The call must do just that; the model changes only when it succeeded.

Checked after every step:

- a refused call mined no block, so it changed nothing (the client simulates before sending);
- a successful transaction emitted exactly the predicted events, seq included, and then every
  registered item's ``registry.item()`` agrees with the model: custodian (the shipper while
  in transit), consignee, status, flags, seq, brand, operator, claimable; one custodian, a
  real account that is not the consignee. (After a refusal nothing is re-read: the chain did
  not move and neither did the model, so the next check covers it, seq included.)
- ``registry.history()`` of each item the step changed is the model's history, seqs 1..seq
  in order. Logs are append-only and the receipt check shows no other item got an event, so
  this is ``seq == len(history)`` for every item.

Teardown checks that the ids never registered are still unknown.

The chain is an anvil node of this module's own (about ten times faster per transaction than
the in-process chain, which is what lets CI run a thousand examples), with the registry
deployed as ``conftest.deployed`` deploys it. One deployment serves every example: the machine
takes a chain snapshot when it starts and reverts to it in ``teardown``. Settings come from
``conftest.state_machine_settings``: 40 examples of up to 25 steps locally (profile ``dev``),
1,000 of up to 6 steps in CI (profile ``ci``, loaded when ``CI`` is set or by
``HYPOTHESIS_PROFILE=ci``).
"""

from __future__ import annotations

import copy
import dataclasses
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3 import IPCProvider, Web3

from ledger import contract_errors as errors
from ledger.anvil import find_anvil
from ledger.chain import Chain, connect_rpc
from ledger.claims import claim_key, normalise_claim_code, sign_claim
from ledger.contract_errors import RegistryError, Status
from ledger.errors import ChainError
from ledger.identifiers import ItemId, item_id
from ledger.merkle import BatchProof, MerkleTree
from ledger.registry import ZERO_ADDRESS, Flag, Registry
from ledger.transactions import TxResult
from tests.conftest import PREFIX, Roles, state_machine_settings

if TYPE_CHECKING:
    from pathlib import Path

GTIN = "00614141123452"
"""conftest.GTIN. Registration does not check a GTIN's brand (GTINs never go on chain)."""
UNIVERSE = tuple(item_id(GTIN, f"LIFECYCLE-{n}") for n in range(4))
"""Every item id the machine uses; those not registered yet answer UnknownItem."""
DOC_HASH = keccak(b"veritag lifecycle product data")
MAX_BATCH_SIZE = 500
WRONG_CODE = "WRONG-C0DE0-00000-00000-00000"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
POOL = (
    "brand_admin",
    "operator",
    "other_operator",
    "distributor",
    "retailer",
    "consumer",
    "stranger",
)
"""Who acts (``conftest.Roles`` names): brand 1's admin, the operators of brands 1 and 2, and
four accounts with no role."""
NEEDED = "needed"
"""An actor: the party the operation needs (custodian, consignee, brand admin, operator)."""
WANTED = "wanted"
"""An item: the first registered item in the status (or state) the operation needs."""
ZERO = "zero"
NO_FLAGS = Flag(0)
SEQLESS_EVENTS = frozenset({"ItemRegistered", "BatchItemRegistered", "BatchItemActivated"})
"""Registration events carry no ``seq``: it is 1 by definition."""

actors = st.sampled_from((NEEDED, *POOL, *[NEEDED] * len(POOL)))
"""``NEEDED`` 8 times in 15, else anyone from the pool (shrinks towards ``NEEDED``)."""
recipients = st.sampled_from((*POOL, ZERO))
codes = st.text(alphabet=ALPHABET, min_size=25, max_size=25)
maybe_codes = st.one_of(codes, codes, st.none())
"""A hidden code (so a claim key) two times in three, else none."""
undo = st.sampled_from((False, False, True))
"""Lift a recall or clear a theft report one time in three, so frozen items stay around."""


class Refusal(Exception):
    """The model's prediction that the contract reverts with ``error``."""

    def __init__(self, error: RegistryError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class ItemModel:
    """What the registry must hold for one item."""

    item: ItemId
    brand: int
    operator: str
    holder: str
    """The record's holder: the custodian, or the consignee while in transit."""
    status: Status = Status.ACTIVE
    flags: Flag = NO_FLAGS
    shipper: str = ZERO_ADDRESS
    """The custodian while in transit (stale afterwards, as in the contract)."""
    code: str | None = None
    """The hidden code whose claim key is on chain; None if never set or once claimed."""
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """The history ``registry.history`` must give: (name, args without itemId and seq)."""

    @property
    def custodian(self) -> str:
        return self.shipper if self.status is Status.IN_TRANSIT else self.holder

    @property
    def consignee(self) -> str | None:
        return self.holder if self.status is Status.IN_TRANSIT else None

    @property
    def seq(self) -> int:
        return len(self.events)

    @property
    def live(self) -> bool:
        return self.status not in (Status.DECOMMISSIONED, Status.DESTROYED)

    @property
    def frozen(self) -> bool:
        return bool(self.flags & (Flag.RECALLED | Flag.STOLEN))


@dataclass
class Staged:
    """The model with one operation applied, and the events that operation must emit."""

    items: dict[ItemId, ItemModel]
    emitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def emit(self, name: str, item: ItemId | None = None, **args: Any) -> None:
        """Expect an event; an item event also goes into that item's history."""
        if item is None:
            self.emitted.append((name, args))
            return
        model = self.items[item]
        model.events.append((name, args))
        full = {"itemId": item.hex(), **args}
        if name not in SEQLESS_EVENTS:
            full["seq"] = model.seq
        self.emitted.append((name, full))


@dataclass(frozen=True)
class AnchoredBatch:
    """A Merkle batch the machine anchored: its tree, leaves in order, and who anchored it."""

    tree: MerkleTree
    items: list[ItemId]
    codes: list[str | None]
    brand: int
    operator: str

    def proof(self, index: int) -> BatchProof:
        code = self.codes[index]
        key = None if code is None else claim_key(self.items[index], code).address
        return BatchProof(self.tree.root, index, key, tuple(self.tree.proof(index)))


@dataclass(frozen=True)
class World:
    """The session chain and registry, and who is who on it."""

    chain: Chain
    registry: Registry
    accounts: dict[str, LocalAccount]
    brand_of_operator: dict[str, int]
    admin_of_brand: dict[int, str]

    @classmethod
    def of(cls, chain: Chain, registry: Registry, roles: Roles) -> World:
        accounts = {f.name: getattr(roles, f.name) for f in dataclasses.fields(roles)}
        brand_of_operator: dict[str, int] = {}
        for account in accounts.values():
            info = registry.operator(account.address)
            if info is not None and info.active:
                brand_of_operator[account.address] = info.brand_id
        admin_of_brand: dict[int, str] = {}
        for brand_id in range(1, registry.brand_count() + 1):
            brand = registry.brand(brand_id)
            assert brand is not None
            admin_of_brand[brand_id] = brand.admin
        return cls(chain, registry, accounts, brand_of_operator, admin_of_brand)


class LifecycleMachine(RuleBasedStateMachine):
    """Drives the registry at random and checks it against :class:`ItemModel`."""

    world: ClassVar[World]
    """Set by the test that runs the machine (on a subclass made for the run)."""

    items = Bundle("items")
    """Registered item ids."""
    any_item = st.just(WANTED) | items | st.sampled_from(UNIVERSE)

    def __init__(self) -> None:
        super().__init__()
        self.registry = self.world.registry
        self.snapshot = self.world.chain.snapshot()
        self.model: dict[ItemId, ItemModel] = {}
        self.moved = False
        """Whether the last step mined a transaction (else no item can have changed)."""
        self.touched: set[ItemId] = set()
        """Items the last step changed: their history is re-read."""
        self.batches: dict[bytes, AnchoredBatch] = {}
        """Merkle batches anchored so far, by root."""
        self.by_address: dict[str, LocalAccount] = {
            a.address: a for a in self.world.accounts.values()
        }
        self.by_topic = {
            HexBytes(event_abi_to_log_topic(entry)): str(entry["name"])
            for entry in self.registry.contract.abi
            if entry["type"] == "event"
        }

    def teardown(self) -> None:
        try:
            for item in UNIVERSE:
                if item not in self.model:  # registered ones were checked at their last change
                    self.check_item(item)
        finally:
            self.world.chain.revert(self.snapshot)

    # ───────────── who and what ─────────────

    def account(self, actor: str, needed: str | None) -> LocalAccount:
        """The pool account ``actor``, or for NEEDED the one at ``needed`` (else the stranger)."""
        if actor != NEEDED:
            return self.world.accounts[actor]
        return self.by_address.get(needed or "", self.world.accounts["stranger"])

    def address(self, name: str) -> str:
        return ZERO_ADDRESS if name == ZERO else self.world.accounts[name].address

    def pick(self, item: ItemId | str, wanted: Callable[[ItemModel], bool]) -> ItemId:
        """``item``, or for WANTED the first registered item ``wanted`` accepts (if none does,
        the first registered item, to meet a refusal later than UnknownItem)."""
        if isinstance(item, ItemId):
            return item
        registered = [i for i in UNIVERSE if i in self.model]
        found = [i for i in registered if wanted(self.model[i])] or registered or [UNIVERSE[0]]
        return found[0]

    def custodian_of(self, item: ItemId) -> str | None:
        model = self.model.get(item)
        return None if model is None else model.custodian

    def brand_admin_of(self, item: ItemId) -> str | None:
        model = self.model.get(item)
        return None if model is None else self.world.admin_of_brand[model.brand]

    # ───────────── the contract's checks, in its order ─────────────

    @staticmethod
    def require_live(staged: Staged, item: ItemId) -> ItemModel:
        model = staged.items.get(item)
        if model is None:
            raise Refusal(errors.UnknownItem(itemId=item.hex()))
        if not model.live:
            raise Refusal(errors.ItemRetired(itemId=item.hex(), actual=model.status))
        return model

    def custodian_action(self, staged: Staged, item: ItemId, caller: str) -> ItemModel:
        model = self.require_live(staged, item)
        if model.custodian != caller:
            raise Refusal(
                errors.NotCustodian(itemId=item.hex(), custodian=model.custodian, caller=caller)
            )
        return model

    @staticmethod
    def require_status(model: ItemModel, required: Status) -> None:
        if model.status is not required:
            raise Refusal(
                errors.WrongStatus(itemId=model.item.hex(), actual=model.status, required=required)
            )

    @staticmethod
    def require_unfrozen(model: ItemModel) -> None:
        if Flag.RECALLED in model.flags:
            raise Refusal(errors.RecalledItem(itemId=model.item.hex()))
        if Flag.STOLEN in model.flags:
            raise Refusal(errors.StolenItem(itemId=model.item.hex()))

    def movable(self, staged: Staged, item: ItemId, caller: str) -> ItemModel:
        model = self.custodian_action(staged, item, caller)
        self.require_status(model, Status.ACTIVE)
        self.require_unfrozen(model)
        return model

    @staticmethod
    def require_recipient(item: ItemId, caller: str, to: str) -> None:
        if to == ZERO_ADDRESS:
            raise Refusal(errors.ZeroAddress())
        if to == caller:
            raise Refusal(errors.SelfTransfer(itemId=item.hex(), account=to))

    def require_brand_authority(self, brand: int, caller: str) -> None:
        if caller == self.world.admin_of_brand[brand]:
            return
        if self.world.brand_of_operator.get(caller) != brand:
            raise Refusal(errors.NotBrandAuthority(brandId=brand, account=caller))

    def require_operator(self, caller: str) -> int:
        brand = self.world.brand_of_operator.get(caller)
        if brand is None:
            raise Refusal(errors.NotOperator(account=caller))
        return brand

    @staticmethod
    def require_batch_size(size: int) -> None:
        if not 1 <= size <= MAX_BATCH_SIZE:
            raise Refusal(errors.BatchSize(size=size, max=MAX_BATCH_SIZE))

    @staticmethod
    def require_new(staged: Staged, item: ItemId) -> None:
        if item in staged.items:
            raise Refusal(errors.ItemAlreadyRegistered(itemId=item.hex()))

    # ───────────── running one operation ─────────────

    def attempt(
        self,
        predict: Callable[[Staged], None],
        call: Callable[[], TxResult],
    ) -> bool:
        """Predict, call, compare; adopt the staged model if the call (rightly) succeeded."""
        staged = Staged(copy.deepcopy(self.model))
        try:
            predict(staged)
        except Refusal as refusal:
            expected: RegistryError | None = refusal.error
        else:
            expected = None
        self.moved, self.touched = False, set()
        if expected is not None:
            block = self.registry.w3.eth.block_number
            with pytest.raises(RegistryError) as caught:
                call()
            assert (type(caught.value), caught.value.data) == (type(expected), expected.data)
            # Nothing was mined, so nothing changed: the next step that mines re-reads every
            # item against the model, which the refusal left as it was (seq included).
            assert self.registry.w3.eth.block_number == block, "a refused call mined a block"
            return False
        result = call()
        assert self.receipt_events(result) == staged.emitted
        self.moved = True
        self.touched = {
            item
            for item, model in staged.items.items()
            if item not in self.model or model.seq != self.model[item].seq
        }
        self.model = staged.items
        return True

    def receipt_events(self, result: TxResult) -> list[tuple[str, dict[str, Any]]]:
        events = []
        for log in result.receipt["logs"]:
            assert log["address"] == self.registry.address
            name = self.by_topic[HexBytes(log["topics"][0])]
            args = self.registry.contract.events[name]().process_log(log)["args"]
            events.append((name, {k: _plain(v) for k, v in args.items()}))
        return events

    # ───────────── registration ─────────────

    @initialize(
        target=items,
        first=st.lists(st.sampled_from(UNIVERSE), min_size=2, max_size=2, unique=True),
        first_codes=st.lists(maybe_codes, min_size=2, max_size=2),
    )
    def register_first_items(self, first: list[ItemId], first_codes: list[str | None]) -> Any:
        """Start with two items on the chain, so that most steps find something to do."""
        for item, code in zip(first, first_codes, strict=True):
            self.register(NEEDED, item, code)
        return multiple(*first)

    @rule(target=items, actor=actors, item=st.sampled_from(UNIVERSE), code=maybe_codes)
    def register(self, actor: str, item: ItemId, code: str | None) -> Any:
        sender = self.account(actor, self.world.accounts["operator"].address)
        caller = sender.address
        key = None if code is None else claim_key(item, code).address

        def predict(staged: Staged) -> None:
            brand = self.require_operator(caller)
            self.require_new(staged, item)
            staged.items[item] = ItemModel(item, brand, caller, caller, code=code)
            staged.emit(
                "ItemRegistered", item, brandId=brand, operator=caller, docHash=_hex(DOC_HASH)
            )

        registered = self.attempt(
            predict,
            lambda: self.registry.register(sender, item, DOC_HASH, key),
        )
        return multiple(item) if registered else multiple()

    @rule(
        target=items,
        actor=actors,
        batch=st.lists(st.sampled_from(UNIVERSE), max_size=3),
        keys=st.sampled_from(("keys", "no keys", "mismatched keys")),
        batch_codes=st.lists(maybe_codes, min_size=3, max_size=3),
    )
    def register_batch(
        self, actor: str, batch: list[ItemId], keys: str, batch_codes: list[str | None]
    ) -> Any:
        """A batch of 0 to 3 ids, repeats allowed, with or without claim keys."""
        sender = self.account(actor, self.world.accounts["operator"].address)
        caller = sender.address
        item_codes = batch_codes[: len(batch)] if keys != "no keys" else [None] * len(batch)
        claim_keys: list[str] | None = None
        if keys != "no keys":
            claim_keys = [
                ZERO_ADDRESS if code is None else claim_key(item, code).address
                for item, code in zip(batch, item_codes, strict=True)
            ]
        if keys == "mismatched keys":
            claim_keys = [ZERO_ADDRESS, *(claim_keys or [])]

        def predict(staged: Staged) -> None:
            if claim_keys is not None and len(claim_keys) != len(batch):
                raise Refusal(errors.LengthMismatch(expected=len(batch), actual=len(claim_keys)))
            self.require_batch_size(len(batch))
            brand = self.require_operator(caller)
            batch_id = batch[0].hex()
            staged.emit(
                "BatchRegistered",
                batchId=batch_id,
                brandId=brand,
                operator=caller,
                docHash=_hex(DOC_HASH),
                count=len(batch),
            )
            for item, code in zip(batch, item_codes, strict=True):
                self.require_new(staged, item)
                staged.items[item] = ItemModel(item, brand, caller, caller, code=code)
                staged.emit("BatchItemRegistered", item, batchId=batch_id)

        registered = self.attempt(
            predict,
            lambda: self.registry.register_batch(sender, batch, DOC_HASH, claim_keys),
        )
        return multiple(*dict.fromkeys(batch)) if registered else multiple()

    # ───────────── Merkle batches ─────────────

    @rule(
        actor=actors,
        batch=st.lists(st.sampled_from(UNIVERSE), min_size=1, max_size=3, unique=True),
        batch_codes=st.lists(maybe_codes, min_size=3, max_size=3),
    )
    def anchor_batch(self, actor: str, batch: list[ItemId], batch_codes: list[str | None]) -> None:
        """A batch of 1 to 3 leaves, some with claim keys; the same leaves again are refused."""
        sender = self.account(actor, self.world.accounts["operator"].address)
        caller = sender.address
        item_codes = batch_codes[: len(batch)]
        keys = [
            b"\x00" * 20 if code is None else bytes.fromhex(claim_key(item, code).address[2:])
            for item, code in zip(batch, item_codes, strict=True)
        ]
        tree = MerkleTree.of_items([item.value for item in batch], keys)
        brand = self.world.brand_of_operator.get(caller, 0)

        def predict(staged: Staged) -> None:
            self.require_operator(caller)
            if tree.root in self.batches:
                raise Refusal(errors.BatchAlreadyAnchored(root=_hex(tree.root)))
            staged.emit(
                "BatchAnchored",
                root=_hex(tree.root),
                brandId=brand,
                operator=caller,
                docHash=_hex(DOC_HASH),
                count=len(batch),
            )

        if self.attempt(
            predict, lambda: self.registry.anchor_batch(sender, tree.root, len(batch), DOC_HASH)
        ):
            self.batches[tree.root] = AnchoredBatch(tree, batch, item_codes, brand, caller)

    @rule(
        target=items,
        actor=actors,
        which=st.integers(0, 7),
        item=st.sampled_from(UNIVERSE),
        unknown_root=st.sampled_from((False, False, False, True)),
    )
    def activate_batch_item(self, actor: str, which: int, item: ItemId, unknown_root: bool) -> Any:
        """Anyone activates an item with a proof: its own leaf's if the batch holds it, else
        leaf 0's (refused); or a proof against a root never anchored."""
        sender = self.account(actor, None)
        if not self.batches or unknown_root:
            root = keccak(b"never anchored")
            proof = BatchProof(root, 0, None, ())
            anchored = None
        else:
            anchored = list(self.batches.values())[which % len(self.batches)]
            root = anchored.tree.root
            index = anchored.items.index(item) if item in anchored.items else 0
            proof = anchored.proof(index)

        def predict(staged: Staged) -> None:
            if anchored is None:
                raise Refusal(errors.UnknownBatch(root=_hex(root)))
            if item not in anchored.items:
                raise Refusal(errors.InvalidBatchProof(itemId=item.hex(), root=_hex(root)))
            self.require_new(staged, item)
            code = anchored.codes[anchored.items.index(item)]
            staged.items[item] = ItemModel(
                item, anchored.brand, anchored.operator, anchored.operator, code=code
            )
            staged.emit("BatchItemActivated", item, root=_hex(root))

        activated = self.attempt(
            predict, lambda: self.registry.activate_batch_item(sender, item, proof)
        )
        return multiple(item) if activated else multiple()

    # ───────────── custody ─────────────

    @rule(actor=actors, target_item=any_item, to=recipients)
    def ship(self, actor: str, target_item: ItemId | str, to: str) -> None:
        item = self.pick(target_item, lambda m: m.status is Status.ACTIVE)
        sender = self.account(actor, self.custodian_of(item))
        caller, recipient = sender.address, self.address(to)

        def predict(staged: Staged) -> None:
            model = self.movable(staged, item, caller)
            self.require_recipient(item, caller, recipient)
            model.shipper, model.holder, model.status = caller, recipient, Status.IN_TRANSIT
            staged.emit("ItemShipped", item, **{"from": caller, "to": recipient})

        self.attempt(predict, lambda: self.registry.ship(sender, item, recipient))

    @rule(actor=actors, target_item=any_item)
    def receive(self, actor: str, target_item: ItemId | str) -> None:
        item = self.pick(target_item, lambda m: m.status is Status.IN_TRANSIT)
        model = self.model.get(item)
        sender = self.account(actor, None if model is None else model.consignee)
        caller = sender.address

        def predict(staged: Staged) -> None:
            model = self.require_live(staged, item)
            self.require_status(model, Status.IN_TRANSIT)
            if model.holder != caller:
                raise Refusal(
                    errors.NotConsignee(itemId=item.hex(), consignee=model.holder, caller=caller)
                )
            self.require_unfrozen(model)
            model.status = Status.ACTIVE
            staged.emit("ItemReceived", item, by=caller)

        self.attempt(predict, lambda: self.registry.receive(sender, item))

    @rule(actor=actors, target_item=any_item)
    def cancel_shipment(self, actor: str, target_item: ItemId | str) -> None:
        item = self.pick(target_item, lambda m: m.status is Status.IN_TRANSIT)
        sender = self.account(actor, self.custodian_of(item))
        caller = sender.address

        def predict(staged: Staged) -> None:
            # Custodian before status, unlike receive: the contract reads the shipper first.
            model = self.custodian_action(staged, item, caller)
            self.require_status(model, Status.IN_TRANSIT)
            self.require_unfrozen(model)
            model.holder, model.status = model.shipper, Status.ACTIVE
            staged.emit("ShipmentCancelled", item, by=caller)

        self.attempt(
            predict,
            lambda: self.registry.cancel_shipment(sender, item),
        )

    @rule(actor=actors, target_item=any_item, to=recipients)
    def transfer(self, actor: str, target_item: ItemId | str, to: str) -> None:
        item = self.pick(target_item, lambda m: m.status is Status.ACTIVE)
        sender = self.account(actor, self.custodian_of(item))
        caller, recipient = sender.address, self.address(to)

        def predict(staged: Staged) -> None:
            model = self.movable(staged, item, caller)
            self.require_recipient(item, caller, recipient)
            model.holder = recipient
            staged.emit("CustodyTransferred", item, **{"from": caller, "to": recipient})

        self.attempt(predict, lambda: self.registry.transfer(sender, item, recipient))

    # ───────────── status ─────────────

    @rule(actor=actors, chosen=st.lists(any_item, min_size=1, max_size=2), lift=undo)
    def recall_or_lift(self, actor: str, chosen: list[ItemId | str], lift: bool) -> None:
        """Recall (or lift the recall of) one or two items, repeats allowed."""
        recalled = Flag.RECALLED

        def wanted(model: ItemModel) -> bool:
            return model.live and (recalled in model.flags) == lift

        batch = [self.pick(item, wanted) for item in chosen]
        sender = self.account(actor, self.brand_admin_of(batch[0]))
        caller = sender.address

        def predict(staged: Staged) -> None:
            self.require_batch_size(len(batch))
            for item in batch:
                model = self.require_live(staged, item)
                self.require_brand_authority(model.brand, caller)
                if lift:
                    if recalled not in model.flags:
                        raise Refusal(errors.NotRecalled(itemId=item.hex()))
                    model.flags &= ~recalled
                    staged.emit("RecallLifted", item, by=caller)
                else:
                    if recalled in model.flags:
                        raise Refusal(errors.RecalledItem(itemId=item.hex()))
                    model.flags |= recalled
                    staged.emit("ItemRecalled", item, by=caller)

        operation = self.registry.lift_recall if lift else self.registry.recall
        self.attempt(
            predict,
            lambda: operation(sender, batch),
        )

    @rule(actor=actors, target_item=any_item, clear=undo)
    def report_or_clear_stolen(self, actor: str, target_item: ItemId | str, clear: bool) -> None:
        stolen = Flag.STOLEN
        item = self.pick(target_item, lambda m: m.live and (stolen in m.flags) == clear)
        sender = self.account(actor, self.custodian_of(item))
        caller = sender.address

        def predict(staged: Staged) -> None:
            model = self.custodian_action(staged, item, caller)
            if clear:
                if stolen not in model.flags:
                    raise Refusal(errors.NotStolen(itemId=item.hex()))
                model.flags &= ~stolen
                staged.emit("StolenReportCleared", item, by=caller)
            else:
                if stolen in model.flags:
                    raise Refusal(errors.StolenItem(itemId=item.hex()))
                model.flags |= stolen
                staged.emit("ItemReportedStolen", item, by=caller)

        operation = self.registry.clear_stolen if clear else self.registry.report_stolen
        self.attempt(
            predict,
            lambda: operation(sender, item),
        )

    @rule(actor=actors, target_item=any_item)
    def record_retail_sale(self, actor: str, target_item: ItemId | str) -> None:
        item = self.pick(target_item, lambda m: m.status is Status.ACTIVE)
        sender = self.account(actor, self.custodian_of(item))
        caller = sender.address

        def predict(staged: Staged) -> None:
            model = self.movable(staged, item, caller)
            model.status = Status.SOLD
            staged.emit("RetailSaleRecorded", item, retailer=caller)

        self.attempt(
            predict,
            lambda: self.registry.record_retail_sale(sender, item),
        )

    @rule(actor=st.sampled_from(POOL), target_item=any_item, destroy=st.booleans())
    def retire(self, actor: str, target_item: ItemId | str, destroy: bool) -> None:
        """Its custodian or its brand ends an item's life. Actors come from the pool only, so
        that items do not die early in most sequences."""
        item = self.pick(target_item, lambda m: m.live and m.status is not Status.IN_TRANSIT)
        sender = self.world.accounts[actor]
        caller = sender.address
        final = Status.DESTROYED if destroy else Status.DECOMMISSIONED

        def predict(staged: Staged) -> None:
            model = self.require_live(staged, item)
            if model.custodian != caller:
                self.require_brand_authority(model.brand, caller)
            if model.status is Status.IN_TRANSIT:
                raise Refusal(
                    errors.WrongStatus(
                        itemId=item.hex(), actual=Status.IN_TRANSIT, required=Status.ACTIVE
                    )
                )
            model.status = final
            staged.emit("ItemDestroyed" if destroy else "ItemDecommissioned", item, by=caller)

        operation = self.registry.destroy if destroy else self.registry.decommission
        self.attempt(
            predict,
            lambda: operation(sender, item),
        )

    # ───────────── claim ─────────────

    @rule(
        relayer=st.sampled_from(POOL),
        target_item=any_item,
        owner=recipients,
        right_code=st.sampled_from((True, True, True, False)),
    )
    def claim(self, relayer: str, target_item: ItemId | str, owner: str, right_code: bool) -> None:
        """Anyone submits a claim for ``owner``, signed with the item's code 3 times in 4."""
        item = self.pick(target_item, lambda m: m.status is Status.SOLD)
        sender = self.world.accounts[relayer]
        new_owner = self.address(owner)
        model = self.model.get(item)
        real_code = None if model is None else model.code
        code = real_code if real_code is not None and right_code else WRONG_CODE
        signature = sign_claim(
            item, code, new_owner, chain_id=self.registry.chain_id, contract=self.registry.address
        )

        def predict(staged: Staged) -> None:
            if new_owner == ZERO_ADDRESS:
                raise Refusal(errors.ZeroAddress())
            model = self.require_live(staged, item)
            self.require_status(model, Status.SOLD)
            self.require_unfrozen(model)
            if model.code is None:
                raise Refusal(errors.NoClaimKey(itemId=item.hex()))
            if normalise_claim_code(code) != normalise_claim_code(model.code):
                signer = claim_key(item, code).address
                raise Refusal(errors.InvalidClaimSignature(itemId=item.hex(), signer=signer))
            model.holder, model.status, model.code = new_owner, Status.ACTIVE, None
            model.flags |= Flag.CLAIMED
            staged.emit("ItemClaimed", item, owner=new_owner)

        self.attempt(
            predict,
            lambda: self.registry.claim(sender, item, new_owner, signature),
        )

    @precondition(
        lambda self: any(
            m.status is Status.SOLD and m.code is not None for m in self.model.values()
        )
    )
    @rule(relayer=st.sampled_from(POOL), owner=st.sampled_from(POOL))
    def claim_a_sold_item(self, relayer: str, owner: str) -> None:
        """The buyer of a sold item claims it with its code (a claim reaches that far rarely
        by chance alone). It may still be frozen."""
        self.claim(relayer, WANTED, owner, right_code=True)

    # ───────────── invariants ─────────────

    @invariant()
    def every_item_agrees_with_the_model(self) -> None:
        if self.moved:  # else nothing was mined (attempt() checked) and nothing can differ
            for item in self.model:
                self.check_item(item)

    @invariant()
    def history_of_changed_items_is_complete(self) -> None:
        for item in self.touched:
            self.check_history(item)

    def check_item(self, item: ItemId) -> None:
        state = self.registry.item(item)
        model = self.model.get(item)
        if model is None:
            assert state is None
            return
        assert state is not None
        assert state.custodian == model.custodian
        assert state.consignee == model.consignee
        assert state.status is model.status
        assert state.flags == model.flags
        assert state.seq == model.seq
        assert (state.brand_id, state.operator) == (model.brand, model.operator)
        assert state.claimable == (model.status is Status.SOLD and model.code is not None)
        assert not state.registered_while_suspended
        # Exactly one custodian: a real account, and while in transit not the consignee.
        assert state.custodian != ZERO_ADDRESS
        assert state.custodian != state.consignee

    def check_history(self, item: ItemId) -> None:
        model = self.model[item]
        history = self.registry.history(item)
        assert [event.seq for event in history] == list(range(1, model.seq + 1))
        assert [(event.name, event.args) for event in history] == model.events


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _plain(value: Any) -> Any:
    """Event arguments as ``registry.history`` gives them: bytes as 0x hex."""
    return _hex(value) if isinstance(value, bytes) else value


@pytest.fixture(scope="module")
def anvil_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """A fresh anvil node for this module, stopped afterwards, and a lean client for it.

    The client is tuned for thousands of calls, none of which changes what is checked: it
    talks to the node over its IPC socket (half the cost of HTTP per call), ``eth_chainId``
    is cached (web3 asks for it with every transaction; nothing else is cached, so
    snapshots stay exact), and web3's client-side argument validation and ENS name
    resolution are off (every address here is a literal; the node validates what it gets).
    """
    try:
        anvil = find_anvil()
    except ChainError as exc:
        pytest.skip(f"anvil binary missing: {exc}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    folder = tmp_path_factory.mktemp("anvil")
    url, ipc, log = f"http://127.0.0.1:{port}", folder / "anvil.ipc", folder / "anvil.log"
    command = [str(anvil), "--host", "127.0.0.1", "--port", str(port), "--ipc", str(ipc)]
    with log.open("wb") as out:
        node = subprocess.Popen(
            [*command, "--silent"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        found = _connect(url, ipc, node, log)
        provider = IPCProvider(ipc, cache_allowed_requests=True, cacheable_requests={"eth_chainId"})
        w3 = Web3(provider)
        w3.middleware_onion.remove("validation")
        w3.middleware_onion.remove("ens_name_to_address")
        yield Chain(w3, found.kind, found.dev_accounts, url=str(ipc))
    finally:
        node.terminate()
        node.wait(timeout=10)


def _connect(url: str, ipc: Path, node: subprocess.Popen[bytes], log: Path) -> Chain:
    """The node over HTTP (which names its kind and dev accounts), once it answers there and
    its IPC socket is open."""
    deadline = time.monotonic() + 15
    while True:
        if node.poll() is not None:
            raise ChainError(f"anvil exited with {node.returncode}: {log.read_text()[-2000:]}")
        try:
            if ipc.is_socket():
                return connect_rpc(url)
        except ChainError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise ChainError(f"anvil opened no IPC socket at {ipc}: {log.read_text()[-2000:]}")
        time.sleep(0.05)


@pytest.mark.anvil
@pytest.mark.slow(seconds=200)  # 1,000 examples in CI
def test_random_operations_by_random_parties_keep_the_registry_consistent(
    anvil_chain: Chain,
) -> None:
    roles = Roles(*anvil_chain.dev_accounts[:10])
    # As conftest.deployed: brand 1 (PREFIX, one operator) and brand 2 (one operator).
    registry = Registry.deploy(anvil_chain.w3, roles.admin)
    brand = registry.admit_brand(roles.admin, roles.brand_admin.address, "Acme", [PREFIX])
    registry.add_operator(roles.brand_admin, brand, roles.operator.address)
    other = registry.admit_brand(roles.admin, roles.other_brand_admin.address, "Other", ["0950600"])
    registry.add_operator(roles.other_brand_admin, other, roles.other_operator.address)

    class Lifecycle(LifecycleMachine):
        world = World.of(anvil_chain, registry, roles)

    run_state_machine_as_test(Lifecycle, settings=state_machine_settings())
