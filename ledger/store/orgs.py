"""Organisations and their API keys.

A key reads ``vtk_<8 hex>_<secret>``: the ``vtk_`` prefix makes a leaked key recognisable
to secret scanners, the 8 hex digits name the key (to look it up, show it, revoke it) and
only the SHA-256 of the whole key is stored. A key is shown once, when it is made.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ledger.errors import AuthenticationRequired, Conflict, InvalidRecord, NotFound
from ledger.store.database import session
from ledger.store.market_models import ApiKey, Organisation

__all__ = [
    "KEY_PREFIX",
    "RELAYER_ORGANISATION",
    "OrgRead",
    "Organisations",
    "Principal",
    "Role",
    "relayer_organisation",
]

KEY_PREFIX = "vtk_"
_KEY = re.compile(r"vtk_([0-9a-f]{8})_[A-Za-z0-9_-]{32,64}")


class Role(enum.StrEnum):
    """What an organisation is; its role decides what its keys may do."""

    REGISTRY = "registry"
    BRAND = "brand"
    CUSTODIAN = "custodian"
    MARKETPLACE = "marketplace"


@dataclass(frozen=True)
class OrgRead:
    id: int
    name: str
    role: Role
    brand_id: int | None
    created_at: datetime
    keys: tuple[str, ...] = ()
    """Prefixes of the organisation's keys that are not revoked."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the organisation behind a valid API key."""

    org_id: int
    name: str
    role: Role
    brand_id: int | None
    key_prefix: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Organisations:
    """Organisations and API keys in the store behind ``engine``."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        self._clock = clock

    def create(
        self, name: str, role: Role | str, *, brand_id: int | None = None
    ) -> tuple[OrgRead, str]:
        """A new organisation and its first API key (returned in clear, this once)."""
        role = _role(role)
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidRecord("organisation", "its name must be 1 to 200 characters")
        if (role is Role.BRAND) != (brand_id is not None):
            raise InvalidRecord(
                f"organisation {name!r}",
                "a brand organisation needs its on-chain brand id, and only a brand has one",
            )
        try:
            with session(self.engine) as db:
                org = Organisation(
                    name=name, role=role.value, brand_id=brand_id, created_at=self._clock()
                )
                db.add(org)
                db.flush()
                assert org.id is not None
                key = self._new_key(db, org.id)
        except IntegrityError:
            raise Conflict(f"organisation {name!r}", "that name is taken") from None
        return self.get(org.id), key

    def issue_key(self, org_id: int) -> str:
        """Another API key for the organisation (to rotate: issue, deploy, revoke the old)."""
        self.get(org_id)
        with session(self.engine) as db:
            return self._new_key(db, org_id)

    def revoke(self, prefix: str) -> None:
        """Revoke the key named ``prefix`` (``vtk_`` + 8 hex digits); at once and for good."""
        with session(self.engine) as db:
            key = db.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
            if key is None:
                raise NotFound("API key", prefix)
            if key.revoked_at is None:
                key.revoked_at = self._clock()
                db.add(key)

    def authenticate(self, key: str) -> Principal:
        """The organisation a presented key belongs to; AuthenticationRequired if none."""
        match = _KEY.fullmatch(key)
        if match is None:
            raise AuthenticationRequired("the API key is malformed (expected vtk_<id>_<secret>)")
        prefix = KEY_PREFIX + match.group(1)
        with session(self.engine) as db:
            row = db.exec(
                select(ApiKey, Organisation)
                .join(Organisation, col(Organisation.id) == col(ApiKey.org_id))
                .where(ApiKey.prefix == prefix)
            ).first()
        if row is None or not hmac.compare_digest(row[0].key_hash, _digest(key)):
            raise AuthenticationRequired(f"API key {prefix} is not valid")
        api_key, org = row
        if api_key.revoked_at is not None:
            raise AuthenticationRequired(f"API key {prefix} was revoked")
        assert org.id is not None
        return Principal(org.id, org.name, Role(org.role), org.brand_id, prefix)

    def get(self, org_id: int) -> OrgRead:
        with session(self.engine) as db:
            org = db.get(Organisation, org_id)
            if org is None:
                raise NotFound("organisation", str(org_id))
            keys = db.exec(
                select(ApiKey.prefix).where(
                    ApiKey.org_id == org_id, col(ApiKey.revoked_at).is_(None)
                )
            ).all()
        return _read(org, tuple(keys))

    def by_name(self, name: str) -> OrgRead:
        with session(self.engine) as db:
            org = db.exec(select(Organisation).where(Organisation.name == name)).first()
        if org is None:
            raise NotFound("organisation", name)
        assert org.id is not None
        return self.get(org.id)

    def all(self) -> list[OrgRead]:
        with session(self.engine) as db:
            ids = db.exec(select(Organisation.id).order_by(col(Organisation.id))).all()
        return [self.get(i) for i in ids if i is not None]

    def brand_org_ids(self, brand_id: int) -> list[int]:
        """The organisations that speak for an on-chain brand."""
        with session(self.engine) as db:
            ids = db.exec(
                select(Organisation.id).where(
                    Organisation.role == Role.BRAND.value, Organisation.brand_id == brand_id
                )
            ).all()
        return [i for i in ids if i is not None]

    def _new_key(self, db: Session, org_id: int) -> str:
        prefix = KEY_PREFIX + secrets.token_hex(4)
        key = f"{prefix}_{secrets.token_urlsafe(32)}"
        db.add(
            ApiKey(org_id=org_id, prefix=prefix, key_hash=_digest(key), created_at=self._clock())
        )
        return key


RELAYER_ORGANISATION = "Veritag relayer"
"""The service's own organisation whose account pays for relayed requests."""


def relayer_organisation(organisations: Organisations) -> OrgRead:
    """The relayer's organisation, made on first use (a custodian: it holds no powers; its
    API key is never shown)."""
    try:
        return organisations.by_name(RELAYER_ORGANISATION)
    except NotFound:
        return organisations.create(RELAYER_ORGANISATION, Role.CUSTODIAN)[0]


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidRecord("organisation", f"role {value!r} is not one of {roles}") from None


def _read(org: Organisation, keys: tuple[str, ...]) -> OrgRead:
    assert org.id is not None
    return OrgRead(org.id, org.name, Role(org.role), org.brand_id, org.created_at, keys)
