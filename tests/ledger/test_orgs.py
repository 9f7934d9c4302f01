"""Organisations and API keys: shown once, stored hashed, recognisable, revocable."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from ledger.errors import AuthenticationRequired, Conflict, InvalidRecord, NotFound
from ledger.store.database import make_engine, migrate, session
from ledger.store.market_models import ApiKey
from ledger.store.orgs import Organisations, Principal, Role


@pytest.fixture
def organisations(tmp_path: Path) -> Iterator[Organisations]:
    engine = make_engine(f"sqlite:///{tmp_path / 'orgs.sqlite'}")
    migrate(engine)
    yield Organisations(engine)
    engine.dispose()


def test_a_new_organisation_gets_a_recognisable_key_that_authenticates(
    organisations: Organisations,
) -> None:
    org, key = organisations.create("Market One", Role.MARKETPLACE)
    assert key.startswith("vtk_")
    assert len(key) > 50
    assert organisations.authenticate(key) == Principal(
        org.id, "Market One", Role.MARKETPLACE, None, key[:12]
    )
    assert org.keys == (key[:12],)


def test_only_the_hash_of_a_key_is_stored(organisations: Organisations) -> None:
    _, key = organisations.create("Market One", Role.MARKETPLACE)
    with session(organisations.engine) as db:
        stored = db.exec(select(ApiKey)).one()
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {stored.prefix, stored.key_hash}


def test_a_brand_organisation_speaks_for_its_brand(organisations: Organisations) -> None:
    org, key = organisations.create("Acme", Role.BRAND, brand_id=7)
    assert organisations.authenticate(key).brand_id == 7
    assert organisations.brand_org_ids(7) == [org.id]
    assert organisations.brand_org_ids(8) == []


@pytest.mark.parametrize(
    ("role", "brand_id"), [(Role.BRAND, None), (Role.MARKETPLACE, 3), (Role.CUSTODIAN, 1)]
)
def test_only_brands_have_a_brand_id(
    organisations: Organisations, role: Role, brand_id: int | None
) -> None:
    with pytest.raises(InvalidRecord, match="only a brand has one"):
        organisations.create("X", role, brand_id=brand_id)


def test_an_unknown_role_is_refused_with_the_roles_there_are(
    organisations: Organisations,
) -> None:
    with pytest.raises(InvalidRecord, match="role 'admin' is not one of registry, brand"):
        organisations.create("X", "admin")


def test_names_are_unique(organisations: Organisations) -> None:
    organisations.create("Market One", Role.MARKETPLACE)
    with pytest.raises(Conflict, match="that name is taken"):
        organisations.create("Market One", Role.CUSTODIAN)


@pytest.mark.parametrize(
    ("presented", "message"),
    [
        ("not-a-key", "malformed"),
        ("vtk_0000000g_" + "a" * 43, "malformed"),
        ("vtk_00000000_" + "a" * 43, "vtk_00000000 is not valid"),
    ],
)
def test_malformed_and_unknown_keys_do_not_authenticate(
    organisations: Organisations, presented: str, message: str
) -> None:
    with pytest.raises(AuthenticationRequired, match=message):
        organisations.authenticate(presented)


def test_the_right_prefix_with_a_wrong_secret_does_not_authenticate(
    organisations: Organisations,
) -> None:
    _, key = organisations.create("Market One", Role.MARKETPLACE)
    forged = key[:13] + ("A" if key[13] != "A" else "B") + key[14:]
    with pytest.raises(AuthenticationRequired, match=f"{key[:12]} is not valid"):
        organisations.authenticate(forged)


def test_a_revoked_key_stops_working_and_the_others_go_on(
    organisations: Organisations,
) -> None:
    org, first = organisations.create("Market One", Role.MARKETPLACE)
    second = organisations.issue_key(org.id)
    organisations.revoke(first[:12])
    with pytest.raises(AuthenticationRequired, match="was revoked"):
        organisations.authenticate(first)
    assert organisations.authenticate(second).org_id == org.id
    assert organisations.get(org.id).keys == (second[:12],)


def test_revoking_an_unknown_key_says_so(organisations: Organisations) -> None:
    with pytest.raises(NotFound, match="no API key 'vtk_12345678'"):
        organisations.revoke("vtk_12345678")
