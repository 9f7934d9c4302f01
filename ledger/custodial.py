"""Keys the service holds for small partners, sealed at rest, opened to sign for them.

A partner without a wallet of its own gets an address whose private key lives in the store's
``custodial_key`` table, sealed with AES-256-GCM. The sealing key is derived with HKDF-SHA256
from a secret in the settings, never stored; each row records ``key_id``, a short hash of the
key that sealed it, so a changed secret is named as such rather than read as tampering, and
keys sealed under a previous secret can be resealed under the new one (:meth:`reseal`). The
associated data binds each ciphertext to its address and organisation: a row copied onto
another address or organisation does not open.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from ledger.errors import ConfigError, Conflict, Forbidden, StoreError
from ledger.store.database import session
from ledger.store.operation_models import CustodialKey

__all__ = ["MIN_SECRET_BYTES", "CustodialKeyCorrupt", "CustodialKeys", "SealedWithAnotherKey"]

MIN_SECRET_BYTES = 32
_HKDF_SALT = b"veritag custodial keys"
_HKDF_INFO = b"aes-256-gcm v1"
_NONCE_BYTES = 12
_KEY_ID_HEX = 16


class SealedWithAnotherKey(ConfigError):
    """A held key was sealed under another secret than the one the settings give now."""

    status = 500

    def __init__(self, address: str, key_id: str, settings_key_id: str) -> None:
        self.address = address
        self.key_id = key_id
        self.settings_key_id = settings_key_id
        super().__init__(
            f"the custodial key of {address} is sealed with key {key_id}, settings give key "
            f"{settings_key_id}; restore the secret it was sealed with, or pass it as a "
            "previous secret and reseal"
        )


class CustodialKeyCorrupt(StoreError):
    """A held key's ciphertext does not authenticate: it was altered or moved in the store."""

    status = 500

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__(
            f"the custodial key of {address} does not decrypt under the key that sealed it: "
            "its stored ciphertext was altered or copied from another row; restore it from a "
            "backup"
        )


class _Sealer:
    """AES-256-GCM under a key derived from one secret."""

    def __init__(self, secret: SecretStr | bytes) -> None:
        raw = secret.get_secret_value().encode() if isinstance(secret, SecretStr) else secret
        if len(raw) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"the custodial key secret must be at least {MIN_SECRET_BYTES} bytes of random "
                f"data, not {len(raw)}"
            )
        key = HKDF(hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(raw)
        self.key_id = hashlib.sha256(b"key id:" + key).hexdigest()[:_KEY_ID_HEX]
        self._aead = AESGCM(key)

    def seal(self, private_key: bytes, aad: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, private_key, aad)).decode()

    def open(self, ciphertext: str, aad: bytes) -> bytes:
        raw = base64.b64decode(ciphertext)
        return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad)


class CustodialKeys:
    """Partners' keys in the store, sealed with a key derived from ``secret``.

    ``previous`` secrets only open keys sealed before a rotation (see :meth:`reseal`).
    """

    def __init__(
        self,
        engine: Engine,
        secret: SecretStr | bytes,
        *,
        previous: Sequence[SecretStr | bytes] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self._current = _Sealer(secret)
        self._sealers = {s.key_id: s for s in (_Sealer(p) for p in previous)}
        self._sealers[self._current.key_id] = self._current
        self._clock = clock

    @property
    def key_id(self) -> str:
        """The id of the key new keys are sealed with."""
        return self._current.key_id

    def create(self, org_id: int) -> ChecksumAddress:
        """Make a new key for ``org_id``; returns its address (the key never leaves sealed)."""
        account: LocalAccount = Account.create()
        return self._store(org_id, account)

    def import_key(self, org_id: int, private_key: bytes | str) -> ChecksumAddress:
        """Hold an existing key for ``org_id``; Conflict if the service holds it already."""
        return self._store(org_id, Account.from_key(private_key))

    def account(self, org_id: int, address: str) -> LocalAccount:
        """The key of ``address`` to sign with; Forbidden unless ``org_id`` holds it."""
        checksummed = _checksum(address)
        with session(self.engine) as db:
            row = db.get(CustodialKey, checksummed)
        if row is None or row.org_id != org_id:
            raise Forbidden(
                f"sign as {checksummed}", f"organisation {org_id} holds no custodial key for it"
            )
        signer: LocalAccount = Account.from_key(self._open(row))
        return signer

    def addresses(self, org_id: int) -> list[ChecksumAddress]:
        """The addresses whose keys the service holds for ``org_id``, oldest first."""
        with session(self.engine) as db:
            rows = db.exec(
                select(CustodialKey)
                .where(CustodialKey.org_id == org_id)
                .order_by(col(CustodialKey.created_at), col(CustodialKey.address))
            ).all()
        return [_checksum(row.address) for row in rows]

    def reseal(self) -> int:
        """Seal every key held under a previous secret with the current one; returns how many."""
        with session(self.engine) as db:
            stale = db.exec(
                select(CustodialKey).where(CustodialKey.key_id != self._current.key_id)
            ).all()
            for row in stale:
                private_key = self._open(row)
                row.ciphertext = self._current.seal(private_key, _aad(row.address, row.org_id))
                row.key_id = self._current.key_id
                db.add(row)
        return len(stale)

    def _store(self, org_id: int, account: LocalAccount) -> ChecksumAddress:
        address = _checksum(account.address)
        private_key = bytes(account.key)
        held = Conflict(f"custodial key {address}", "the service holds it already")
        try:
            with session(self.engine) as db:
                if db.get(CustodialKey, address) is not None:
                    raise held
                db.add(
                    CustodialKey(
                        address=address,
                        org_id=org_id,
                        ciphertext=self._current.seal(private_key, _aad(address, org_id)),
                        key_id=self._current.key_id,
                        created_at=self._clock(),
                    )
                )
        except IntegrityError:  # imported at the same moment by another request
            raise held from None
        return address

    def _open(self, row: CustodialKey) -> bytes:
        sealer = self._sealers.get(row.key_id)
        if sealer is None:
            raise SealedWithAnotherKey(row.address, row.key_id, self._current.key_id)
        try:
            return sealer.open(row.ciphertext, _aad(row.address, row.org_id))
        except (InvalidTag, ValueError):  # ValueError: not base64, or too short
            raise CustodialKeyCorrupt(row.address) from None


def _aad(address: str, org_id: int) -> bytes:
    return f"veritag custodial key {_checksum(address)} of organisation {org_id}".encode()


def _checksum(address: str) -> ChecksumAddress:
    return to_checksum_address(address)
