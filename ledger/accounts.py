"""Ethereum accounts: fresh keys, and a keystore of named, passphrase-encrypted keys.

The keystore is a directory (``<datadir>/keys/``) of standard Web3 Secret Storage files
(the JSON that ``Account.encrypt`` writes, which geth, Foundry and MetaMask read too), one
per account, named ``<name>.json`` and readable only by their owner (mode 0600).

Private keys never appear in a message, a log line or a ``repr``: errors name the account
and the file, never the key.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from ledger.errors import AccountError

__all__ = ["KEYS_DIRNAME", "Kdf", "Keystore", "generate_account"]

Kdf = Literal["scrypt", "pbkdf2"]
"""The key derivation functions of Web3 Secret Storage that eth-account writes."""

KEYS_DIRNAME = "keys"
"""The keystore's folder inside the data directory."""

_NAME = re.compile(r"[a-z0-9_-]{1,40}")


def generate_account() -> LocalAccount:
    """A new account with a random key (from the operating system's CSPRNG)."""
    account: LocalAccount = Account.create()
    return account


class Keystore:
    """Named accounts, each saved encrypted under a passphrase in one JSON file.

    ``kdf`` and ``iterations`` choose the key derivation cost of new files; ``None`` keeps
    eth-account's secure default (scrypt, n=2**18: about a second per file). Tests pass a
    cheap setting; reading works with whatever settings a file was written with.
    """

    def __init__(
        self, directory: Path, *, kdf: Kdf | None = None, iterations: int | None = None
    ) -> None:
        self.directory = directory
        self._kdf: Kdf | None = kdf
        self._iterations = iterations

    @classmethod
    def in_datadir(
        cls, datadir: Path, *, kdf: Kdf | None = None, iterations: int | None = None
    ) -> Keystore:
        """The keystore of a Veritag data directory: ``<datadir>/keys/``."""
        return cls(datadir / KEYS_DIRNAME, kdf=kdf, iterations=iterations)

    def __repr__(self) -> str:
        return f"Keystore({str(self.directory)!r})"

    def create(self, name: str, passphrase: str) -> str:
        """Save a new random key as ``name``; returns its checksummed address."""
        return self._save(name, generate_account(), passphrase)

    def import_key(self, name: str, private_key: str | bytes, passphrase: str) -> str:
        """Save a private key (32 bytes or 64 hex digits) as ``name``; returns its address."""
        account: LocalAccount | None
        try:
            account = Account.from_key(private_key)
        except Exception:
            account = None
        if account is None:
            # Raised outside the `except` on purpose: eth-account's error, which may quote the
            # key, must not travel along as this error's __context__.
            raise AccountError(
                f"cannot import account {name!r}: not a valid private key "
                "(expected 32 bytes or 64 hex digits)"
            )
        return self._save(name, account, passphrase)

    def load(self, name: str, passphrase: str) -> LocalAccount:
        """Decrypt the account ``name``; AccountError if missing or the passphrase is wrong."""
        path = self._existing_path(name)
        keyfile = self._read(path)
        try:
            key = Account.decrypt(keyfile, passphrase)
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise AccountError(f"wrong passphrase for account {name!r}") from None
            raise AccountError(f"cannot decrypt {path}: {exc}") from None
        account: LocalAccount = Account.from_key(key)
        return account

    def address_of(self, name: str) -> str:
        """The checksummed address of ``name``, read without decrypting anything."""
        path = self._existing_path(name)
        return _address_in(path, self._read(path))

    def list(self) -> dict[str, str]:
        """Every account in the keystore: name → checksummed address, sorted by name."""
        if not self.directory.is_dir():
            return {}
        accounts: dict[str, str] = {}
        for path in sorted(self.directory.glob("*.json")):
            if _NAME.fullmatch(path.stem):
                accounts[path.stem] = _address_in(path, self._read(path))
        return accounts

    def _save(self, name: str, account: LocalAccount, passphrase: str) -> str:
        path = self._path(name)
        if path.exists():
            raise AccountError(
                f"account {name!r} already exists ({path}); choose another name or remove the "
                "file first"
            )
        keyfile = Account.encrypt(
            account.key, passphrase, kdf=self._kdf, iterations=self._iterations
        )
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_new_private_file(path, json.dumps(keyfile).encode(), name)
        return account.address

    def _path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise AccountError(
                f"invalid account name {name!r}: use 1 to 40 of a-z, 0-9, '_' and '-'"
            )
        return self.directory / f"{name}.json"

    def _existing_path(self, name: str) -> Path:
        path = self._path(name)
        if not path.is_file():
            known = ", ".join(self.list()) or "none"
            raise AccountError(f"no account {name!r} in {self.directory} (known accounts: {known})")
        return path

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AccountError(f"cannot read keystore file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise AccountError(f"keystore file {path} is not a JSON object")
        return data


def _address_in(path: Path, keyfile: dict[str, Any]) -> str:
    address = keyfile.get("address")
    if not isinstance(address, str):
        raise AccountError(f"keystore file {path} has no address")
    try:
        return to_checksum_address(address if address.startswith("0x") else "0x" + address)
    except ValueError:
        raise AccountError(f"keystore file {path} has an invalid address {address!r}") from None


def _write_new_private_file(path: Path, content: bytes, name: str) -> None:
    """Create ``path`` with mode 0600 and write ``content``; never replaces an existing file."""
    try:
        # O_EXCL: the check and the creation are one step, so no race can overwrite a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AccountError(f"account {name!r} already exists ({path})") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
