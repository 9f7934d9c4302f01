"""Custodial keys: sealed with AES-256-GCM at rest, opened only for their organisation.

Every test runs on SQLite and PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

import base64

import pytest
from eth_account import Account
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlmodel import select

from ledger.custodial import CustodialKeyCorrupt, CustodialKeys, SealedWithAnotherKey
from ledger.errors import ConfigError, Conflict, Forbidden
from ledger.store.database import session
from ledger.store.operation_models import CustodialKey
from ledger.store.orgs import Organisations, Role

SECRET = SecretStr("k7Qp2vX9zR4mW8nB3cJ6hT1yF5gD0sLa")
OTHER_SECRET = SecretStr("Z3xC9vB1nM7qW5eR2tY8uI4oP6aS0dFg")


def partner(engine: Engine, name: str = "Corner Shop") -> int:
    org, _key = Organisations(engine).create(name, Role.CUSTODIAN)
    return org.id


def stored(engine: Engine, address: str) -> CustodialKey:
    with session(engine) as db:
        row = db.get(CustodialKey, address)
    assert row is not None
    return row


def test_a_created_key_signs_for_its_organisation(engine: Engine) -> None:
    keys = CustodialKeys(engine, SECRET)
    org = partner(engine)

    address = keys.create(org)

    assert keys.account(org, address).address == address
    assert keys.addresses(org) == [address]


def test_an_imported_key_comes_back_unchanged(engine: Engine) -> None:
    keys = CustodialKeys(engine, SECRET)
    org = partner(engine)
    original = Account.create()

    address = keys.import_key(org, original.key)

    assert address == original.address
    assert keys.account(org, address.lower()).key == original.key


def test_a_key_is_held_once(engine: Engine) -> None:
    keys = CustodialKeys(engine, SECRET)
    original = Account.create()
    keys.import_key(partner(engine), original.key)

    with pytest.raises(Conflict, match="the service holds it already"):
        keys.import_key(partner(engine, "Another Shop"), original.key)


def test_another_organisation_cannot_sign_with_a_key(engine: Engine) -> None:
    keys = CustodialKeys(engine, SECRET)
    owner, other = partner(engine), partner(engine, "Another Shop")
    address = keys.create(owner)

    with pytest.raises(Forbidden) as caught:
        keys.account(other, address)
    assert str(caught.value) == (
        f"not allowed to sign as {address}: organisation {other} holds no custodial key for it"
    )
    assert keys.addresses(other) == []


def test_an_unknown_address_reads_like_another_organisations(engine: Engine) -> None:
    keys = CustodialKeys(engine, SECRET)
    org = partner(engine)
    stranger = Account.create().address

    with pytest.raises(Forbidden, match=f"organisation {org} holds no custodial key for it"):
        keys.account(org, stranger)


def test_keys_are_never_stored_in_clear(engine: Engine) -> None:
    keys = CustodialKeys(engine, SECRET)
    original = Account.create()
    keys.import_key(partner(engine), original.key)

    with engine.connect() as db:
        (row,) = db.execute(text("SELECT * FROM custodial_key")).all()
    dump = " ".join(str(value) for value in row).lower()
    secret = bytes(original.key)
    for form in (secret.hex(), base64.b64encode(secret).decode().lower()):
        assert form not in dump
    assert len(base64.b64decode(stored(engine, original.address).ciphertext)) == 12 + 32 + 16


def test_a_changed_secret_names_both_keys(engine: Engine) -> None:
    sealed = CustodialKeys(engine, SECRET)
    org = partner(engine)
    address = sealed.create(org)
    changed = CustodialKeys(engine, OTHER_SECRET)

    with pytest.raises(SealedWithAnotherKey) as caught:
        changed.account(org, address)
    assert (caught.value.key_id, caught.value.settings_key_id) == (sealed.key_id, changed.key_id)
    assert f"sealed with key {sealed.key_id}, settings give key {changed.key_id}" in str(
        caught.value
    )


def test_keys_sealed_under_a_previous_secret_open_and_reseal_under_the_new_one(
    engine: Engine,
) -> None:
    org = partner(engine)
    address = CustodialKeys(engine, SECRET).create(org)
    rotated = CustodialKeys(engine, OTHER_SECRET, previous=[SECRET])

    assert rotated.account(org, address).address == address
    assert rotated.reseal() == 1
    assert stored(engine, address).key_id == rotated.key_id
    assert CustodialKeys(engine, OTHER_SECRET).account(org, address).address == address
    assert rotated.reseal() == 0


@pytest.mark.parametrize("change", ["flip a byte", "another row's ciphertext", "not base64"])
def test_a_tampered_ciphertext_is_refused(engine: Engine, change: str) -> None:
    keys = CustodialKeys(engine, SECRET)
    org = partner(engine)
    address, neighbour = keys.create(org), keys.create(org)
    raw = bytearray(base64.b64decode(stored(engine, address).ciphertext))
    raw[20] ^= 1
    tampered = {
        "flip a byte": base64.b64encode(raw).decode(),
        "another row's ciphertext": stored(engine, neighbour).ciphertext,
        "not base64": "!!!",
    }[change]
    with session(engine) as db:
        row = db.exec(select(CustodialKey).where(CustodialKey.address == address)).one()
        row.ciphertext = tampered
        db.add(row)

    with pytest.raises(CustodialKeyCorrupt) as caught:
        keys.account(org, address)
    assert caught.value.address == address


def test_a_row_moved_to_another_organisation_does_not_open(engine: Engine) -> None:
    keys = CustodialKeys(engine, SECRET)
    owner, thief = partner(engine), partner(engine, "Another Shop")
    address = keys.create(owner)
    with session(engine) as db:
        row = db.exec(select(CustodialKey).where(CustodialKey.address == address)).one()
        row.org_id = thief
        db.add(row)

    with pytest.raises(CustodialKeyCorrupt):
        keys.account(thief, address)


@pytest.mark.parametrize(
    "secret", [b"", bytes(range(31)), SecretStr("too short")], ids=["empty", "31 bytes", "text"]
)
def test_a_short_secret_is_refused(engine: Engine, secret: bytes | SecretStr) -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        CustodialKeys(engine, secret)


def test_the_key_id_depends_on_the_secret_only(engine: Engine) -> None:
    raw = SECRET.get_secret_value().encode()

    assert CustodialKeys(engine, SECRET).key_id == CustodialKeys(engine, raw).key_id
    assert CustodialKeys(engine, SECRET).key_id != CustodialKeys(engine, OTHER_SECRET).key_id
    assert len(CustodialKeys(engine, SECRET).key_id) == 16
