"""The outbox's store: canonical requests, idempotency keys, validation, reads (SQLite and
PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, update
from sqlmodel import col, select

from ledger.errors import Conflict, IdempotencyKeyRequired, InvalidRecord, NotFound
from ledger.identifiers import item_id
from ledger.outbox import KINDS, OpStatus, Outbox
from ledger.store.database import session
from ledger.store.operation_models import Operation
from ledger.store.orgs import Organisations, Role
from tests.conftest import GTIN

T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
GTIN13 = GTIN[1:]
"""The same GTIN written with 13 digits (``0614141123452``)."""
ZERO_HASH = "0x" + "00" * 32
RECIPIENT = "0x6a03c6bd0bcf5f9fa6b3a5cd9a85ab0c3a8ea3e7"
"""A lowercase (not checksummed) address; the outbox stores it checksummed."""
RECIPIENT_CHECKSUMMED = "0x6a03c6bd0BCf5f9Fa6B3A5Cd9A85ab0C3A8ea3E7"


@pytest.fixture
def orgs(engine: Engine) -> tuple[int, int]:
    """Two brand organisations: (Acme, Other)."""
    made = Organisations(engine, clock=lambda: T0)
    acme, _ = made.create("Acme", Role.BRAND, brand_id=1)
    other, _ = made.create("Other", Role.BRAND, brand_id=2)
    return acme.id, other.id


@pytest.fixture
def outbox(engine: Engine) -> Outbox:
    return Outbox(engine, lambda: T0)


def stored(engine: Engine, op_id: str) -> Operation:
    with session(engine) as db:
        row = db.get(Operation, op_id)
    assert row is not None
    return row


def operation_count(engine: Engine) -> int:
    with session(engine) as db:
        return int(db.exec(select(func.count()).select_from(Operation)).one())


# ───────────── canonical requests and idempotency ─────────────


def test_a_request_is_stored_as_canonical_json_with_its_sha256(
    engine: Engine, outbox: Outbox, orgs: tuple[int, int]
) -> None:
    acme, _ = orgs

    op, created = outbox.submit(
        acme, "reg-1", "register", {"items": [{"serial": "A1", "gtin": GTIN13}]}
    )

    expected = (
        f'{{"doc_hash":"{ZERO_HASH}","items":[{{"gtin":"{GTIN}",'
        f'"item_id":"{item_id(GTIN, "A1").hex()}","serial":"A1"}}]}}'
    )
    row = stored(engine, op.id)
    assert created is True
    assert row.request_json == expected
    assert row.request_hash == hashlib.sha256(expected.encode()).hexdigest()
    assert (row.kind, row.status, row.idempotency_key, row.org_id) == (
        "register", "queued", "reg-1", acme,
    )  # fmt: skip
    assert op.request == {
        "doc_hash": ZERO_HASH,
        "items": [{"gtin": GTIN, "item_id": item_id(GTIN, "A1").hex(), "serial": "A1"}],
    }
    assert (op.status, op.attempts, op.nonce, op.sender, op.transactions) == (
        OpStatus.QUEUED, 0, None, None, (),
    )  # fmt: skip


def test_key_order_gtin_length_address_case_and_hash_case_give_the_same_hash(
    engine: Engine, outbox: Outbox, orgs: tuple[int, int]
) -> None:
    acme, _ = orgs
    doc = "0x" + "AB" * 32
    first, _ = outbox.submit(
        acme, "r1", "register", {"items": [{"gtin": GTIN, "serial": "A1"}], "doc_hash": doc}
    )
    second, _ = outbox.submit(
        acme,
        "r2",
        "register",
        {"doc_hash": doc.lower(), "items": [{"serial": "A1", "gtin": GTIN13}]},
    )
    ship_a, _ = outbox.submit(acme, "s1", "ship", {"gtin": GTIN, "serial": "A1", "to": RECIPIENT})
    ship_b, _ = outbox.submit(
        acme, "s2", "ship", {"to": RECIPIENT_CHECKSUMMED, "serial": "A1", "gtin": f" {GTIN13}\t"}
    )

    assert stored(engine, first.id).request_hash == stored(engine, second.id).request_hash
    assert stored(engine, first.id).request_json == stored(engine, second.id).request_json
    assert stored(engine, ship_a.id).request_hash == stored(engine, ship_b.id).request_hash
    assert ship_a.request == {
        "gtin": GTIN,
        "item_id": item_id(GTIN, "A1").hex(),
        "serial": "A1",
        "to": RECIPIENT_CHECKSUMMED,
    }
    assert first.request["doc_hash"] == "0x" + "ab" * 32


def test_the_same_key_with_the_same_request_is_the_same_operation_not_a_new_one(
    engine: Engine, outbox: Outbox, orgs: tuple[int, int]
) -> None:
    acme, _ = orgs
    first, created_first = outbox.submit(
        acme, "reg-1", "register", {"items": [{"gtin": GTIN, "serial": "A1"}]}
    )

    again, created_again = outbox.submit(
        acme, "reg-1", "register", {"items": [{"serial": "A1", "gtin": GTIN13}]}
    )

    assert (created_first, created_again) == (True, False)
    assert again == first
    assert operation_count(engine) == 1


def test_the_same_key_in_another_organisation_is_another_operation(
    engine: Engine, outbox: Outbox, orgs: tuple[int, int]
) -> None:
    acme, other = orgs
    request = {"items": [{"gtin": GTIN, "serial": "A1"}]}

    mine, created_mine = outbox.submit(acme, "reg-1", "register", request)
    theirs, created_theirs = outbox.submit(other, "reg-1", "register", request)

    assert (created_mine, created_theirs) == (True, True)
    assert mine.id != theirs.id
    assert operation_count(engine) == 2


@pytest.mark.parametrize(
    ("kind", "request_body"),
    [
        ("register", {"items": [{"gtin": GTIN, "serial": "A2"}]}),
        ("register", {"items": [{"gtin": GTIN, "serial": "A1"}], "doc_hash": "0x" + "11" * 32}),
        ("ship", {"gtin": GTIN, "serial": "A1", "to": RECIPIENT}),
    ],
    ids=["another-serial", "another-doc-hash", "another-kind"],
)
def test_the_same_key_with_another_request_is_a_conflict_naming_the_first_operation(
    engine: Engine,
    outbox: Outbox,
    orgs: tuple[int, int],
    kind: str,
    request_body: dict[str, Any],
) -> None:
    acme, _ = orgs
    first, _ = outbox.submit(acme, "reg-1", "register", {"items": [{"gtin": GTIN, "serial": "A1"}]})

    with pytest.raises(Conflict) as refused:
        outbox.submit(acme, "reg-1", kind, request_body)

    assert str(refused.value) == (
        f"idempotency key 'reg-1': it was used for another register request (operation "
        f"{first.id}); use a new key for a new request"
    )
    assert refused.value.status == 409
    assert operation_count(engine) == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 129, "naïve", "tab\t"])
def test_an_unusable_idempotency_key_is_refused(
    engine: Engine, outbox: Outbox, orgs: tuple[int, int], key: str
) -> None:
    with pytest.raises(IdempotencyKeyRequired) as refused:
        outbox.submit(orgs[0], key, "register", {"items": [{"gtin": GTIN, "serial": "A1"}]})

    assert str(refused.value) == (
        "cannot record the write request: its idempotency key must be 1 to 128 printable "
        "ASCII characters, no spaces"
    )
    assert operation_count(engine) == 0


# ───────────── validation of each kind ─────────────


ITEM = {"gtin": GTIN, "serial": "A1"}
BAD_GTIN = "00614141123453"


@pytest.mark.parametrize(
    ("kind", "request_body", "message"),
    [
        (
            "register",
            {"items": [ITEM], "colour": "red", "batch": 1},
            "cannot record register request: unknown field(s): batch, colour",
        ),
        (
            "ship",
            {**ITEM, "to": RECIPIENT, "memo": "x"},
            "cannot record ship request: unknown field(s): memo",
        ),
        (
            "receive",
            {**ITEM, "to": RECIPIENT},
            "cannot record receive request: unknown field(s): to",
        ),
        (
            "report_stolen",
            {"gtin": BAD_GTIN, "serial": "A1"},
            f"cannot record item request: invalid GTIN {BAD_GTIN!r}: check digit is 3, expected 2",
        ),
        (
            "transfer",
            {"gtin": "0614141123453", "serial": "A1", "to": RECIPIENT},
            "cannot record item request: invalid GTIN '0614141123453': check digit is 3, "
            "expected 2",
        ),
        (
            "ship",
            {"gtin": "0061414112345X", "serial": "A1", "to": RECIPIENT},
            "cannot record item request: invalid GTIN '0061414112345X': contains non-digit "
            "'X' at position 14",
        ),
        (
            "register",
            {"items": [ITEM, {"gtin": BAD_GTIN, "serial": "A2"}]},
            f"cannot record register request, item 2: invalid GTIN {BAD_GTIN!r}: check digit "
            "is 3, expected 2",
        ),
        (
            "register",
            {"items": [ITEM, {"gtin": GTIN13, "serial": "A1"}]},
            f"cannot record register request, item 2: {GTIN}/A1 appears twice",
        ),
        (
            "register",
            {"items": [{"gtin": GTIN}]},
            "cannot record register request, item 1: each item must be an object with 'gtin' "
            "and 'serial'",
        ),
        (
            "register",
            {"items": []},
            "cannot record register request: 'items' must be a non-empty list",
        ),
        (
            "register",
            {"items": [ITEM], "doc_hash": "0x1234"},
            "cannot record register request: 'doc_hash' must be 0x and 64 hex digits",
        ),
        (
            "ship",
            {**ITEM, "to": "0x1234"},
            "cannot record item request: 'to' must be a non-zero 0x address, not '0x1234'",
        ),
        (
            "transfer",
            {**ITEM, "to": "0x" + "00" * 20},
            f"cannot record item request: 'to' must be a non-zero 0x address, not '0x{'00' * 20}'",
        ),
        ("ship", dict(ITEM), "cannot record item request: 'to' must be a string"),
        (
            "receive",
            {"gtin": 614141123452, "serial": "A1"},
            "cannot record item request: 'gtin' must be a string",
        ),
    ],
    ids=[
        "register-unknown-fields",
        "ship-unknown-field",
        "receive-takes-no-to",
        "bad-check-digit",
        "bad-gtin13-check-digit",
        "non-digit-gtin",
        "register-bad-gtin",
        "register-duplicate",
        "register-item-without-serial",
        "register-no-items",
        "register-bad-doc-hash",
        "short-address",
        "zero-address",
        "missing-address",
        "gtin-not-a-string",
    ],
)
def test_a_malformed_request_is_refused_with_what_is_wrong_and_nothing_is_stored(
    engine: Engine,
    outbox: Outbox,
    orgs: tuple[int, int],
    kind: str,
    request_body: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidRecord) as refused:
        outbox.submit(orgs[0], "k1", kind, request_body)

    assert str(refused.value) == message
    assert refused.value.status == 422
    assert operation_count(engine) == 0


def test_an_unknown_kind_is_refused_naming_the_kinds_there_are(
    engine: Engine, outbox: Outbox, orgs: tuple[int, int]
) -> None:
    with pytest.raises(InvalidRecord) as refused:
        outbox.submit(orgs[0], "k1", "burn", {"gtin": GTIN, "serial": "A1"})

    assert {"register", "ship", "receive", "transfer", "report_stolen"} <= set(KINDS)
    assert str(refused.value) == (
        f"cannot record operation: kind 'burn' is not one of {', '.join(sorted(KINDS))}"
    )
    assert operation_count(engine) == 0


def test_more_items_than_the_registry_batch_size_are_refused(
    engine: Engine, orgs: tuple[int, int]
) -> None:
    outbox = Outbox(engine, lambda: T0, max_batch_size=3)
    items = [{"gtin": GTIN, "serial": f"B{n}"} for n in range(4)]

    with pytest.raises(InvalidRecord) as refused:
        outbox.submit(orgs[0], "k1", "register", {"items": items})
    accepted, created = outbox.submit(orgs[0], "k2", "register", {"items": items[:3]})

    assert str(refused.value) == (
        "cannot record register request: 4 items is more than the registry's batch size of 3; "
        "split them over several requests"
    )
    assert created is True
    assert [code["serial"] for code in accepted.request["items"]] == ["B0", "B1", "B2"]
    assert operation_count(engine) == 1


# ───────────── reads ─────────────


def test_another_organisations_operation_is_not_found(
    outbox: Outbox, orgs: tuple[int, int]
) -> None:
    acme, other = orgs
    op, _ = outbox.submit(acme, "k1", "register", {"items": [ITEM]})

    with pytest.raises(NotFound) as hidden:
        outbox.get(other, op.id)
    with pytest.raises(NotFound) as missing:
        outbox.get(acme, "0" * 32)

    assert str(hidden.value) == f"no operation {op.id!r}"
    assert str(missing.value) == f"no operation {'0' * 32!r}"
    assert hidden.value.status == 404
    assert outbox.get(acme, op.id) == op


def test_list_filters_by_status_newest_first_within_the_limit_and_the_organisation(
    engine: Engine, outbox: Outbox, orgs: tuple[int, int]
) -> None:
    acme, other = orgs
    ops = [
        outbox.submit(acme, f"k{n}", "register", {"items": [{"gtin": GTIN, "serial": f"L{n}"}]})[0]
        for n in range(5)
    ]
    theirs, _ = outbox.submit(other, "k0", "register", {"items": [ITEM]})
    with session(engine) as db:
        db.exec(
            update(Operation)
            .where(col(Operation.id).in_([ops[1].id, ops[3].id]))
            .values(status=OpStatus.SUBMITTED.value)
        )

    everything = [op.id for op in outbox.list(acme)]
    queued = [op.id for op in outbox.list(acme, status="queued")]
    submitted = [op.id for op in outbox.list(acme, status=OpStatus.SUBMITTED)]
    newest_two = [op.id for op in outbox.list(acme, limit=2)]
    newest_queued = [op.id for op in outbox.list(acme, status=OpStatus.QUEUED, limit=1)]

    assert everything == [ops[n].id for n in (4, 3, 2, 1, 0)]
    assert queued == [ops[n].id for n in (4, 2, 0)]
    assert submitted == [ops[3].id, ops[1].id]
    assert newest_two == [ops[4].id, ops[3].id]
    assert newest_queued == [ops[4].id]
    assert outbox.list(acme, status=OpStatus.CONFIRMED) == []
    assert [op.id for op in outbox.list(other)] == [theirs.id]


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_list_refuses_a_limit_outside_1_to_1000(
    outbox: Outbox, orgs: tuple[int, int], limit: int
) -> None:
    with pytest.raises(InvalidRecord) as refused:
        outbox.list(orgs[0], limit=limit)

    assert str(refused.value) == "cannot record operation list: limit must be 1 to 1000"


def test_operation_ids_sort_in_creation_order(
    engine: Engine, outbox: Outbox, orgs: tuple[int, int]
) -> None:
    made = [
        outbox.submit(orgs[n % 2], f"k{n}", "receive", {"gtin": GTIN, "serial": f"S{n}"})[0].id
        for n in range(60)
    ]

    with session(engine) as db:
        by_id = list(db.exec(select(Operation.id).order_by(col(Operation.id))).all())

    assert by_id == made
    assert len(set(made)) == 60
    assert {len(op_id) for op_id in made} == {32}
    assert [op.id for op in outbox.list(orgs[0], limit=1000)] == made[::2][::-1]
