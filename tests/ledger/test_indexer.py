"""ledger.indexer: the store follows the chain — lifecycle, idempotence, resumption,
confirmations, reorganisations (anvil), completeness, rebuild, the CLI command.

One lifecycle (every kind of item event, batch registration, governance, a retroactive
suspension) runs once per module on the session's in-memory registry; each test adds to it
between a chain snapshot and a revert. Stores run on SQLite and PostgreSQL (see
``test_store``). The reorganisation tests run on anvil, whose ``anvil_reorg`` replaces the
last blocks with other ones, like a real fork choice.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import typer
from eth_account.signers.local import LocalAccount
from eth_utils.abi import event_abi_to_log_topic
from sqlalchemy import Engine, text
from sqlmodel import SQLModel, select
from typer.testing import CliRunner
from web3.contract.contract import ContractFunction
from web3.types import Nonce, RPCEndpoint, TxParams, Wei

from ledger.anvil import AnvilNode, find_anvil
from ledger.chain import Chain, connect_rpc
from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.errors import (
    ChainError,
    IndexConflict,
    IndexIncomplete,
    ReorgTooDeep,
    StoreMismatch,
    StoreUnavailable,
)
from ledger.identifiers import ItemId, item_id
from ledger.indexer import Indexer, SyncReport
from ledger.registry import ITEM_EVENTS, Registry
from ledger.store import DocumentStatus, Store, document_hash, make_engine, session, writer
from ledger.store.models import IndexedBlock, IndexerCheckpoint
from tests.ledger.test_store import store_engine
from veritag.commands.index import register

if TYPE_CHECKING:
    from tests.conftest import Roles

GTIN = "00614141123452"
OTHER_GTIN = "00950600123459"
DOCUMENT = {"name": "Chronograph", "model": "C-1", "lot": "L1"}
BATCH_DOC = "0x" + "ba" * 32
IP_HASH = "ab" * 32


@dataclass(frozen=True)
class Lifecycle:
    items: dict[str, ItemId]
    """A: claimed by the consumer; B1..B3: a batch (stolen / recalled / decommissioned);
    C: the other brand's, destroyed; D: registered after the operator's reinstatement."""


# ───────────── fixtures ─────────────


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    with store_engine("sqlite", tmp_path, None) as made:
        yield made


@pytest.fixture(scope="module")
def lifecycle(chain: Chain, roles: Roles, deployed: Registry) -> Iterator[Lifecycle]:
    """Every kind of event on the session registry; undone when the module ends."""
    before = chain.snapshot()
    yield _play_lifecycle(deployed, roles)
    chain.revert(before)


@pytest.fixture
def registry(chain: Chain, deployed: Registry, lifecycle: Lifecycle) -> Iterator[Registry]:
    """The registry after the lifecycle; what a test adds is rolled back after it."""
    snapshot = chain.snapshot()
    yield deployed
    chain.revert(snapshot)


def _play_lifecycle(registry: Registry, roles: Roles) -> Lifecycle:
    items = {name: item_id(GTIN, f"LC-{name}") for name in ("A", "B1", "B2", "B3", "D")}
    items["C"] = item_id(OTHER_GTIN, "LC-C")
    a, b1, b2, b3 = items["A"], items["B1"], items["B2"], items["B3"]
    code = generate_claim_code()
    op, admin = roles.operator, roles.admin

    registry.assign_prefix(admin, 1, "0614142")
    registry.set_partner(roles.brand_admin, 1, roles.distributor.address)
    registry.register(op, a, bytes.fromhex(document_hash(DOCUMENT)[2:]), claim_key(a, code).address)
    registry.register_batch(op, [b1, b2, b3], bytes.fromhex(BATCH_DOC[2:]))
    registry.ship(op, a, roles.distributor.address)
    registry.receive(roles.distributor, a)
    registry.transfer(roles.distributor, a, roles.retailer.address)
    registry.record_retail_sale(roles.retailer, a)
    signature = sign_claim(
        a, code, roles.consumer.address, chain_id=registry.chain_id, contract=registry.address
    )
    registry.claim(roles.relayer, a, roles.consumer.address, signature)
    registry.ship(op, b1, roles.distributor.address)
    registry.cancel_shipment(op, b1)
    registry.recall(roles.brand_admin, [b2, b3])
    registry.lift_recall(roles.brand_admin, [b3])
    registry.report_stolen(op, b1)
    registry.clear_stolen(op, b1)
    registry.report_stolen(op, b1)
    registry.decommission(op, b3)
    registry.register(roles.other_operator, items["C"])
    registry.destroy(roles.other_operator, items["C"])
    since = _state(registry, b1).registered_at  # the batch, not A, was made with a stolen key
    registry.suspend_operator(roles.brand_admin, op.address, since)
    registry.reinstate_operator(admin, op.address)
    registry.register(op, items["D"])
    registry.ship(op, items["D"], roles.retailer.address)
    registry.suspend_brand(admin, 2, _state(registry, items["C"]).registered_at)
    registry.reinstate_brand(admin, 2)
    registry.set_brand_admin(admin, 1, roles.stranger.address)
    return Lifecycle(items)


# ───────────── the whole lifecycle ─────────────


def test_sync_indexes_every_item_and_event_as_the_chain_holds_them(
    registry: Registry, lifecycle: Lifecycle, engine: Engine, roles: Roles
) -> None:
    report = Indexer(registry, engine).sync()

    store = Store(engine)
    assert_store_equals_chain(store, registry, lifecycle.items.values())
    histories = sum(len(registry.history(i)) for i in lifecycle.items.values())
    assert (report.item_events, report.items, report.reorg) == (histories, 6, None)
    assert (report.first_block, report.last_block) == (registry.deploy_block, report.head)
    b1 = store.item(lifecycle.items["B1"])
    assert b1 is not None
    assert (b1.batch_id, b1.doc_hash, b1.operator) == (
        lifecycle.items["B1"].hex(),  # a batch is named by its first item
        BATCH_DOC,
        roles.operator.address,
    )
    flagged = {n for n, i in lifecycle.items.items() if _read(store, i).registered_while_suspended}
    assert flagged == {"B1", "B2", "B3", "C"}
    brand = store.brand(1)
    assert brand is not None
    assert (brand.name, brand.admin, brand.prefixes) == (
        "Acme",
        roles.stranger.address,
        ["0614141", "0614142"],
    )


def test_custody_events_name_who_acted_and_whom_custody_passed_to(
    registry: Registry, lifecycle: Lifecycle, sqlite: Engine, roles: Roles
) -> None:
    Indexer(registry, sqlite).sync()

    history = Store(sqlite).history(lifecycle.items["A"])

    op, dist, shop, buyer = (
        roles.operator.address,
        roles.distributor.address,
        roles.retailer.address,
        roles.consumer.address,
    )
    assert [(e.name, e.from_address, e.to_address, e.by_address) for e in history] == [
        ("ItemRegistered", None, op, op),
        ("ItemShipped", op, dist, op),
        ("ItemReceived", None, None, dist),
        ("CustodyTransferred", dist, shop, dist),
        ("RetailSaleRecorded", None, None, shop),
        ("ItemClaimed", None, buyer, None),
    ]
    assert all(e.timestamp > 0 and e.block_hash.startswith("0x") for e in history)


# ───────────── idempotence and resumption ─────────────


def test_a_second_sync_changes_nothing(registry: Registry, engine: Engine) -> None:
    indexer = Indexer(registry, engine)
    indexer.sync()
    before = dump(engine)

    again = indexer.sync()

    assert (again.first_block, again.item_events, again.governance_events) == (None, 0, 0)
    assert dump(engine) == before


def test_syncing_again_from_the_deploy_block_adds_no_duplicates(
    registry: Registry, engine: Engine
) -> None:
    indexer = Indexer(registry, engine, batch_blocks=7)
    indexer.sync()
    before = dump(engine)
    with session(engine) as db:  # forget how far we got: every log is read again
        db.exec(IndexerCheckpoint.__table__.delete())  # type: ignore[attr-defined]

    again = indexer.sync()

    assert (again.first_block, again.item_events, again.governance_events) == (
        registry.deploy_block,
        0,
        0,
    )
    assert dump(engine) == before


def test_sync_resumes_after_stopping_at_an_intermediate_block(
    registry: Registry, lifecycle: Lifecycle, engine: Engine
) -> None:
    indexer = Indexer(registry, engine, batch_blocks=4)
    middle = (registry.deploy_block + registry.w3.eth.block_number) // 2

    first = indexer.sync(to_block=middle)
    rest = indexer.sync()

    assert (first.last_block, rest.first_block) == (middle, middle + 1)
    assert_store_equals_chain(Store(engine), registry, lifecycle.items.values())
    resumed = dump(engine)
    indexer.rebuild()
    assert dump(engine) == resumed


def test_a_crash_inside_a_range_keeps_the_ranges_before_it_and_nothing_of_it(
    registry: Registry, lifecycle: Lifecycle, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = writer.apply_events
    calls = 0

    def crash_on_third(db: Any, events: Any) -> Any:
        nonlocal calls
        calls += 1
        applied = real(db, events)  # written, then lost with the transaction
        if calls == 3:
            raise KeyboardInterrupt
        return applied

    monkeypatch.setattr("ledger.indexer.apply_events", crash_on_third)
    indexer = Indexer(registry, engine, batch_blocks=5)
    with pytest.raises(KeyboardInterrupt):
        indexer.sync()

    second_range_end = registry.deploy_block + 2 * 5 - 1
    assert _checkpoint(engine).last_indexed_block == second_range_end
    assert max_event_block(engine) <= second_range_end
    monkeypatch.setattr("ledger.indexer.apply_events", real)
    assert indexer.sync().first_block == second_range_end + 1
    assert_store_equals_chain(Store(engine), registry, lifecycle.items.values())


# ───────────── confirmations ─────────────


def test_events_within_the_confirmations_are_indexed_but_not_yet_final(
    chain: Chain, registry: Registry, lifecycle: Lifecycle, engine: Engine
) -> None:
    indexer = Indexer(registry, engine, confirmations=4)
    head = indexer.sync().head
    store = Store(engine)

    d = lifecycle.items["D"]
    history = store.history(d)
    assert [(e.block_number, e.confirmed) for e in history] == [
        (e.block_number, e.block_number <= head - 4) for e in history
    ]
    assert [e.confirmed for e in history] == [True, False]  # D's ship is in the window
    assert not _read(store, d).confirmed
    assert _checkpoint(engine).confirmed_block == head - 4
    assert kept_hashes(engine) == chain_hashes(registry, range(head - 4, head + 1))

    chain.mine(4)
    report = indexer.sync()

    assert (report.item_events, report.confirmed_block) == (0, head)
    assert all(e.confirmed for e in store.history(d))
    assert _read(store, d).confirmed
    assert kept_hashes(engine) == chain_hashes(registry, range(head, head + 5))


def test_without_confirmations_everything_indexed_is_final(
    registry: Registry, lifecycle: Lifecycle, sqlite: Engine
) -> None:
    head = Indexer(registry, sqlite).sync().head

    assert all(e.confirmed for e in Store(sqlite).history(lifecycle.items["D"]))
    assert kept_hashes(sqlite) == chain_hashes(registry, [head])


# ───────────── reorganisations on the in-memory chain ─────────────


def test_sync_takes_back_blocks_the_chain_reverted_and_indexes_the_new_ones(
    chain: Chain, registry: Registry, lifecycle: Lifecycle, engine: Engine, roles: Roles
) -> None:
    indexer = Indexer(registry, engine, confirmations=3)
    fork = indexer.sync().head
    snapshot = chain.snapshot()
    e = item_id(GTIN, "LC-E")
    registry.receive(roles.retailer, lifecycle.items["D"])
    registry.register(roles.operator, e)
    indexer.sync()
    chain.revert(snapshot)
    registry.cancel_shipment(roles.operator, lifecycle.items["D"])  # a different block fork+1

    report = indexer.sync()

    assert report.reorg is not None
    assert (report.reorg.ancestor, report.reorg.depth) == (fork, 2)
    assert (report.reorg.item_events, report.reorg.items_removed) == (2, 1)
    assert report.reorg.items_recomputed == 1
    assert_store_equals_chain(Store(engine), registry, [*lifecycle.items.values(), e])


def test_a_reorganisation_deeper_than_the_confirmations_is_refused_until_rebuilt(
    chain: Chain, registry: Registry, lifecycle: Lifecycle, engine: Engine, roles: Roles
) -> None:
    indexer = Indexer(registry, engine, confirmations=1)
    fork = indexer.sync().head
    snapshot = chain.snapshot()
    x1, x2, y = (item_id(GTIN, serial) for serial in ("X1", "X2", "Y"))
    registry.register(roles.operator, x1)
    registry.register(roles.operator, x2)
    indexer.sync()  # keeps the hashes of fork+1 and fork+2
    before = dump(engine)
    chain.revert(snapshot)
    registry.register(roles.operator, y)  # fork+1 changes, so fork+2 goes too: depth 2 > 1
    chain.mine()

    with pytest.raises(ReorgTooDeep) as caught:
        indexer.sync()

    assert (caught.value.block, caught.value.oldest_kept, caught.value.confirmations) == (
        fork + 2,
        fork + 1,
        1,
    )
    assert "run `veritag index --rebuild`" in str(caught.value)
    assert dump(engine) == before
    indexer.rebuild()
    assert_store_equals_chain(Store(engine), registry, [x1, x2, y, lifecycle.items["D"]])


# ───────────── completeness ─────────────


def test_completeness_detects_a_deleted_event_row(
    registry: Registry, lifecycle: Lifecycle, engine: Engine
) -> None:
    indexer = Indexer(registry, engine)
    indexer.sync()
    a = lifecycle.items["A"]
    assert indexer.check_completeness(a).complete

    delete_event(engine, a, seq=3)
    report = indexer.check_completeness(a.hex())

    assert not report.complete
    assert (report.indexed, report.on_chain, report.missing) == (5, 6, (3,))


def test_sync_refuses_to_commit_an_item_whose_history_has_a_gap(
    registry: Registry, lifecycle: Lifecycle, engine: Engine, roles: Roles
) -> None:
    indexer = Indexer(registry, engine)
    indexer.sync()
    d = lifecycle.items["D"]
    delete_event(engine, d, seq=2)
    checkpoint = _checkpoint(engine).last_indexed_block
    registry.receive(roles.retailer, d)

    with pytest.raises(IndexIncomplete) as caught:
        indexer.sync()

    error = caught.value
    assert (error.item_id, error.indexed, error.on_chain, error.missing) == (d.hex(), 2, 3, (2,))
    assert "run `veritag index`" in str(error)
    assert _checkpoint(engine).last_indexed_block == checkpoint  # nothing of it was committed


def test_an_event_the_store_holds_differently_from_the_chain_is_a_conflict(
    registry: Registry, lifecycle: Lifecycle, sqlite: Engine
) -> None:
    indexer = Indexer(registry, sqlite)
    indexer.sync()
    a = lifecycle.items["A"].hex()
    with sqlite.begin() as connection:
        connection.execute(
            text("UPDATE custody_event SET tx_hash = :forged WHERE item_id = :a AND seq = 1"),
            {"forged": "0x" + "ff" * 32, "a": a},
        )
        connection.execute(IndexerCheckpoint.__table__.delete())  # type: ignore[attr-defined]

    with pytest.raises(IndexConflict) as caught:
        indexer.sync()

    assert (caught.value.item_id, caught.value.seq, caught.value.stored_tx) == (
        a,
        1,
        "0x" + "ff" * 32,
    )
    assert caught.value.chain_tx == registry.history(lifecycle.items["A"])[0].tx_hash


# ───────────── rebuild and the store's own data ─────────────


def test_rebuild_keeps_codes_documents_and_scans_and_reproduces_the_index(
    registry: Registry, lifecycle: Lifecycle, engine: Engine
) -> None:
    store = Store(engine)
    indexer = Indexer(registry, engine)
    indexer.sync()
    a = lifecycle.items["A"]
    store.record_codes([(GTIN, "LC-A", a.hex())])
    store.record_document(DOCUMENT)
    store.record_scan(
        item_id=a,
        gtin=GTIN,
        serial="LC-A",
        scanned_at=datetime.now(UTC),
        ip_hash=IP_HASH,
        ua_hash=IP_HASH,
    )
    before = dump(engine)

    report = indexer.rebuild()

    assert report.first_block == registry.deploy_block
    assert dump(engine) == before
    assert store.code(a) is not None
    assert store.scan_stats(a).scans == 1


def test_an_indexed_item_s_document_is_checked_against_its_on_chain_hash(
    registry: Registry, lifecycle: Lifecycle, engine: Engine
) -> None:
    Indexer(registry, engine).sync()
    store = Store(engine)
    a = _read(store, lifecycle.items["A"])
    assert store.document_matches(a).status is DocumentStatus.MISSING

    store.record_document(DOCUMENT)
    assert store.document_matches(a).document == DOCUMENT
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE product_document SET document_json = :j"), {"j": '{"name":"Fake"}'}
        )

    check = store.document_matches(a)
    assert (check.status, check.document) == (DocumentStatus.MISMATCH, None)
    assert store.document_matches(_read(store, lifecycle.items["D"])).status is (
        DocumentStatus.NONE
    )


def test_a_store_that_indexes_another_registry_refuses_this_one(
    chain: Chain, registry: Registry, roles: Roles, sqlite: Engine
) -> None:
    Indexer(registry, sqlite).sync()
    other = Registry.deploy(chain.w3, roles.admin)

    with pytest.raises(StoreMismatch) as caught:
        Indexer(other, sqlite).sync()

    assert (caught.value.stored_contract, caught.value.contract) == (
        registry.address,
        other.address,
    )


def test_a_database_that_cannot_be_reached_is_reported_as_unavailable(registry: Registry) -> None:
    engine = make_engine("postgresql+psycopg://veritag:secret@127.0.0.1:1/nowhere")

    with pytest.raises(StoreUnavailable) as caught:
        Indexer(registry, engine).sync()

    assert caught.value.url == "postgresql+psycopg://veritag:***@127.0.0.1:1/nowhere"
    assert caught.value.status == 503
    assert "check VERITAG_DATABASE_URL" in str(caught.value)
    engine.dispose()


# ───────────── follow and the CLI ─────────────


def test_follow_syncs_until_stopped_and_logs_failures_without_stopping(
    registry: Registry, sqlite: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    class Flaky(Indexer):
        failures = 1

        def sync(self, to_block: int | None = None) -> SyncReport:
            if self.failures:
                self.failures -= 1
                raise ChainError("the node is away")
            return super().sync(to_block)

    stop = threading.Event()
    reports: list[SyncReport] = []

    def done(report: SyncReport) -> None:
        reports.append(report)
        stop.set()

    with caplog.at_level(logging.WARNING, logger="ledger.indexer"):
        Flaky(registry, sqlite).follow(stop, poll_interval=0.01, on_sync=done)

    assert [r.last_block for r in reports] == [registry.w3.eth.block_number]
    assert "indexing failed, retrying in 0.01s: the node is away" in caplog.text


def test_index_command_indexes_into_the_configured_store_and_rebuilds(tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)  # keep `index` a subcommand
    register(app)
    runner = CliRunner()
    database = tmp_path / "index.sqlite"
    args = ["index", "--chain", "memory", "--data-dir", str(tmp_path)]
    args += ["--database-url", f"sqlite:///{database}"]

    first = runner.invoke(app, args)
    rebuilt = runner.invoke(app, [*args, "--rebuild", "--confirmations", "2"])

    assert first.exit_code == 0, first.output
    # Block 1 holds the registry's forwarder, block 2 the registry.
    assert "indexed blocks 2–2 of registry" in first.output
    assert "0 item event(s) on 0 item(s), 1 governance event(s)" in first.output
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rebuilt blocks 2–2" in rebuilt.output
    assert database.exists()


# ───────────── reorganisations on anvil ─────────────


@dataclass(frozen=True)
class AnvilSetup:
    chain: Chain
    registry: Registry
    admin: LocalAccount
    brand_admin: LocalAccount
    operator: LocalAccount
    distributor: LocalAccount
    retailer: LocalAccount
    a: ItemId
    b: ItemId


@pytest.fixture(scope="module")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilSetup]:
    try:
        binary = find_anvil()
    except ChainError as exc:
        pytest.skip(f"anvil binary missing: {exc}")
    node = AnvilNode(tmp_path_factory.mktemp("anvil"), port=_free_port(), anvil_path=binary)
    node.start()
    try:
        chain = connect_rpc(node.url)
        admin, brand_admin, operator, distributor, retailer = chain.dev_accounts[:5]
        registry = Registry.deploy(chain.w3, admin)
        registry.admit_brand(admin, brand_admin.address, "Acme", ["0614141"])
        registry.add_operator(brand_admin, 1, operator.address)
        a, b = item_id(GTIN, "AN-A"), item_id(GTIN, "AN-B")
        registry.register(operator, a)
        registry.register_batch(operator, [b], bytes.fromhex(BATCH_DOC[2:]))
        yield AnvilSetup(chain, registry, admin, brand_admin, operator, distributor, retailer, a, b)
    finally:
        node.stop()


@pytest.fixture
def on_anvil(anvil_node: AnvilSetup) -> Iterator[AnvilSetup]:
    snapshot = anvil_node.chain.snapshot()
    yield anvil_node
    anvil_node.chain.revert(snapshot)


@pytest.mark.anvil
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_after_a_reorg_of_depth_one_to_three_the_store_equals_the_chain(
    on_anvil: AnvilSetup, engine: Engine, depth: int
) -> None:
    s, registry = on_anvil, on_anvil.registry
    w3 = registry.w3
    indexer = Indexer(registry, engine, confirmations=3)
    indexer.sync()
    fork = w3.eth.block_number
    since = _state(registry, s.b).registered_at
    old_branch: list[Callable[[], object]] = [
        lambda: registry.ship(s.operator, s.a, s.distributor.address),
        lambda: registry.assign_prefix(s.admin, 1, "4012345"),
        lambda: registry.suspend_operator(s.brand_admin, s.operator.address, since),
    ]
    for step in old_branch[:depth]:
        step()
    indexer.sync()
    # The fork: `depth` other blocks replace those, from the state at `fork`.
    nonce = w3.eth.get_transaction_count(s.operator.address, fork)
    d = item_id(GTIN, "AN-D")
    fn = registry.contract.functions
    replacement = [
        [_signed(registry, s.operator, fn.transfer(s.a.value, s.retailer.address), nonce), 0],
        [
            _signed(registry, s.operator, fn.register(d.value, b"\0" * 32, _ZERO), nonce + 1),
            depth - 1,
        ],
    ]
    w3.manager.request_blocking(RPCEndpoint("anvil_reorg"), [depth, replacement])
    assert w3.eth.block_number == fork + depth

    report = indexer.sync()

    assert report.reorg is not None
    assert (report.reorg.ancestor, report.reorg.depth) == (fork, depth)
    store = Store(engine)
    assert_store_equals_chain(store, registry, [s.a, s.b, d])
    assert [e.name for e in store.history(s.a)] == ["ItemRegistered", "CustodyTransferred"]
    brand = store.brand(1)
    assert brand is not None
    assert brand.prefixes == ["0614141"]
    assert not _read(store, s.b).registered_while_suspended


@pytest.mark.anvil
def test_after_the_chain_went_back_below_the_checkpoint_the_store_equals_the_chain(
    on_anvil: AnvilSetup, engine: Engine
) -> None:
    s, registry = on_anvil, on_anvil.registry
    indexer = Indexer(registry, engine, confirmations=5)
    fork = indexer.sync().head
    snapshot = s.chain.snapshot()
    registry.ship(s.operator, s.a, s.distributor.address)
    registry.receive(s.distributor, s.a)
    registry.recall(s.brand_admin, [s.b])
    indexer.sync()
    s.chain.revert(snapshot)  # the head is back at `fork`, below the checkpoint
    registry.transfer(s.operator, s.a, s.retailer.address)

    report = indexer.sync()

    assert report.reorg is not None
    assert (report.reorg.ancestor, report.reorg.depth, report.head) == (fork, 3, fork + 1)
    assert (report.reorg.item_events, report.reorg.items_recomputed) == (3, 2)
    assert_store_equals_chain(Store(engine), registry, [s.a, s.b])


# ───────────── helpers ─────────────

_ZERO = "0x0000000000000000000000000000000000000000"


def assert_store_equals_chain(store: Store, registry: Registry, items: Iterable[ItemId]) -> None:
    """Each item's state and history, and each brand, as the contract reports them."""
    histories = chain_histories(registry)
    for item in items:
        state, stored = registry.item(item), store.item(item)
        if state is None:
            assert stored is None, f"{item} is not on chain but in the store"
            assert store.history(item) == []
            continue
        assert stored is not None, f"{item} is on chain but not in the store"
        assert (
            stored.custodian,
            stored.consignee,
            stored.status,
            stored.flags,
            stored.seq,
            stored.registered_at,
            stored.brand_id,
            stored.operator,
            stored.registered_while_suspended,
        ) == (
            state.custodian,
            state.consignee,
            state.status.name.lower(),
            int(state.flags),
            state.seq,
            state.registered_at,
            state.brand_id,
            state.operator,
            state.registered_while_suspended,
        ), f"state of {item}"
        stored_history = [
            (e.name, e.seq, e.block_number, e.tx_hash, e.log_index) for e in store.history(item)
        ]
        assert stored_history == histories[item.hex()], f"history of {item}"
    for brand_id in range(1, registry.brand_count() + 1):
        info, brand = registry.brand(brand_id), store.brand(brand_id)
        assert info is not None
        assert brand is not None
        assert (brand.admin, brand.suspended_from) == (info.admin, info.suspended_from)
        assert [p for p in brand.prefixes if registry.brand_of_prefix(p) != brand_id] == []


def chain_histories(registry: Registry) -> dict[str, list[tuple[str, int, int, str, int]]]:
    """Every item's (name, seq, block, tx, log index) from the chain's logs, as
    ``Registry.history`` reads them, in one ``eth_getLogs`` (slow on eth-tester)."""
    logs = registry.w3.eth.get_logs(
        {"address": registry.address, "fromBlock": registry.deploy_block}
    )
    histories: dict[str, list[tuple[str, int, int, str, int]]] = defaultdict(list)
    names = {
        event_abi_to_log_topic(e): e["name"] for e in registry.contract.abi if e["type"] == "event"
    }
    for log in logs:
        name = names[bytes(log["topics"][0])]
        if name not in ITEM_EVENTS:
            continue
        args = registry.contract.events[name]().process_log(log)["args"]
        record = args["itemId"] if "itemId" in args else args["containerId"]
        histories["0x" + bytes(record).hex()].append(
            (
                name,
                int(args.get("seq", 1)),
                int(log["blockNumber"]),
                log["transactionHash"].to_0x_hex(),
                int(log["logIndex"]),
            )
        )
    return histories


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    with engine.connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(table.select())), key=repr)
            for table in SQLModel.metadata.sorted_tables
        }


def kept_hashes(engine: Engine) -> dict[int, str]:
    with engine.connect() as connection:
        rows = connection.execute(IndexedBlock.__table__.select())  # type: ignore[attr-defined]
        return {int(number): str(block_hash) for number, block_hash in rows}


def chain_hashes(registry: Registry, numbers: Iterable[int]) -> dict[int, str]:
    return {n: registry.w3.eth.get_block(n)["hash"].to_0x_hex() for n in numbers}


def max_event_block(engine: Engine) -> int:
    with engine.connect() as connection:
        value = connection.execute(text("SELECT max(block_number) FROM custody_event")).scalar()
        return -1 if value is None else int(value)


def delete_event(engine: Engine, item: ItemId, *, seq: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("DELETE FROM custody_event WHERE item_id = :i AND seq = :s"),
            {"i": item.hex(), "s": seq},
        )


def _checkpoint(engine: Engine) -> IndexerCheckpoint:
    with session(engine) as db:
        return db.exec(select(IndexerCheckpoint)).one()


def _read(store: Store, item: ItemId) -> Any:
    found = store.item(item)
    assert found is not None, f"{item} is not indexed"
    return found


def _state(registry: Registry, item: ItemId) -> Any:
    found = registry.item(item)
    assert found is not None
    return found


def _signed(registry: Registry, sender: LocalAccount, call: ContractFunction, nonce: int) -> str:
    """A signed raw transaction of ``call`` with ``nonce``, not sent."""
    params: TxParams = {
        "from": sender.address,
        "nonce": Nonce(nonce),
        "gas": 500_000,
        "maxFeePerGas": Wei(100 * 10**9),
        "maxPriorityFeePerGas": Wei(0),
        "chainId": registry.chain_id,
    }
    tx = call.build_transaction(params)
    return sender.sign_transaction(cast(dict[str, Any], tx)).raw_transaction.to_0x_hex()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
