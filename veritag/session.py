"""What one CLI call works with: settings, the keystore, the chain and the registry on it.

Deployments are remembered per chain id in ``<data dir>/deployments.json``, so separate CLI
calls against the same node find the same registry. ``VERITAG_CONTRACT`` names an existing
registry instead (any node); ``VERITAG_CHAIN_ID`` refuses a node on another chain.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.accounts import Keystore
from ledger.anvil import AnvilNode
from ledger.chain import ANVIL_CHAIN_ID, Chain, connect_memory, connect_rpc
from ledger.custodial import CustodialKeys
from ledger.errors import AccountError, ChainError, ConfigError, StoreUnavailable
from ledger.identifiers import ItemId
from ledger.merkle import BatchProof
from ledger.registry import Registry
from ledger.settings import Settings
from ledger.store.database import default_url, make_engine, migrate
from ledger.store.merkle_batches import MerkleBatches
from ledger.store.repository import Store

__all__ = ["Session"]

DEPLOYMENTS_FILE = "deployments.json"
CUSTODIAL_SECRET_FILE = "custodial-secret"  # noqa: S105 - a file name, not a secret
"""Development only: what seals custodial keys when VERITAG_SECRET_KEY is unset."""
DEV_FUNDING_WEI = 100 * 10**18
_LOW_BALANCE_WEI = 10**18


@dataclass
class Session:
    settings: Settings
    _registry: Registry | None = field(default=None, init=False)
    _passphrase: str | None = field(default=None, init=False)
    _store: Store | None = field(default=None, init=False)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @cached_property
    def keystore(self) -> Keystore:
        if self.settings.keystore_iterations is None:
            return Keystore.in_datadir(self.data_dir)
        return Keystore.in_datadir(
            self.data_dir, kdf="pbkdf2", iterations=self.settings.keystore_iterations
        )

    @cached_property
    def anvil(self) -> AnvilNode:
        chain_id = self.settings.chain_id or ANVIL_CHAIN_ID
        return AnvilNode(self.data_dir, port=self.settings.anvil_port, chain_id=chain_id)

    @cached_property
    def chain(self) -> Chain:
        """The chain the settings name; a managed local node is started if it is not running."""
        expected = self.settings.chain_id
        if self.settings.rpc_url:
            return connect_rpc(self.settings.rpc_url, expected_chain_id=expected)
        if self.settings.chain == "memory":
            if self.settings.contract is not None:
                raise ConfigError(
                    "VERITAG_CONTRACT (--contract) names a registry on a node; an in-memory "
                    "chain starts empty. Give --rpc-url too, or drop --contract"
                )
            return connect_memory()
        status = self.anvil.start()
        return connect_rpc(status.url, expected_chain_id=expected)

    def store(self) -> Store:
        """The store (SQLite in the data directory unless VERITAG_DATABASE_URL), migrated."""
        if self._store is None:
            url = self.settings.database_url or default_url(self.data_dir)
            engine = make_engine(url)
            migrate(engine)
            self._store = Store(engine)
        return self._store

    def secret(self, name: str) -> bytes:
        """32 random bytes made once per data directory and kept there (owner-only): the
        scan salt, the decision key, the development custodial secret."""
        path = self.data_dir / name
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
        return path.read_bytes()

    def custodial_keys(self) -> CustodialKeys:
        """Partners' keys held by the service, sealed with ``VERITAG_SECRET_KEY`` (in
        development without one: a secret kept in the data directory)."""
        secret = self.settings.secret_key
        if secret is None:
            self.settings.require_production_secrets()
            return CustodialKeys(self.store().engine, self.secret(CUSTODIAL_SECRET_FILE))
        return CustodialKeys(self.store().engine, secret)

    # ───────────── registry ─────────────

    def registry(self) -> Registry:
        """The registry deployed on this chain (deployed now on an in-memory chain).

        Its first action on an item of a prepared Merkle batch activates the item in the same
        transaction, with the proof from the store."""
        if self._registry is None:
            self._registry = self._find_registry()
            self._registry.batch_proofs = self._batch_proof
        return self._registry

    def _batch_proof(self, item: ItemId) -> BatchProof | None:
        try:
            return MerkleBatches(self.store().engine).proof(item)
        except StoreUnavailable:
            return None  # no store, no prepared batches: the plain call

    def _find_registry(self) -> Registry:
        if self.settings.contract is not None:
            self._registry = self._existing_registry(self.settings.contract)
            return self._registry
        if self.chain.kind == "memory":
            self._registry = Registry.deploy(self.chain.w3, self.chain.dev_accounts[0])
            return self._registry
        record = self._deployments().get(str(self.chain.chain_id))
        if record is None:
            raise ConfigError(
                f"no registry is deployed on chain {self.chain.chain_id} ({self.chain.url}) for "
                f"data directory {self.data_dir}; run `veritag deploy` first"
            )
        if not self.chain.w3.eth.get_code(Web3.to_checksum_address(record["address"])):
            raise ChainError(
                f"no contract at {record['address']} on chain {self.chain.chain_id}: the chain "
                f"was reset; run `veritag deploy` again"
            )
        self._registry = Registry(
            self.chain.w3, record["address"], deploy_block=int(record["block"])
        )
        return self._registry

    def _existing_registry(self, address: str) -> Registry:
        """The registry at ``address`` (VERITAG_CONTRACT): there must be code there."""
        if not Web3.is_address(address):
            raise ConfigError(
                f"VERITAG_CONTRACT (--contract) {address!r} is not an address (0x and 40 hex "
                "digits)"
            )
        checksummed = Web3.to_checksum_address(address)
        chain = self.chain
        if not chain.w3.eth.get_code(checksummed):
            raise ConfigError(
                f"there is no contract at {checksummed} on chain {chain.chain_id} ({chain.url}); "
                "check --contract (VERITAG_CONTRACT) and --rpc-url"
            )
        record = self._deployments().get(str(chain.chain_id))
        known = record is not None and str(record["address"]).lower() == checksummed.lower()
        deploy_block = int(record["block"]) if known and record else self.settings.start_block
        return Registry(chain.w3, checksummed, deploy_block=deploy_block)

    def deploy(self, deployer: LocalAccount) -> Registry:
        registry = Registry.deploy(self.chain.w3, deployer)
        deployments = self._deployments()
        deployments[str(self.chain.chain_id)] = {
            "address": registry.address,
            "block": registry.deploy_block,
            "url": self.chain.url,
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / DEPLOYMENTS_FILE).write_text(json.dumps(deployments, indent=2) + "\n")
        self._registry = registry
        registry.batch_proofs = self._batch_proof
        return registry

    def _deployments(self) -> dict[str, dict[str, Any]]:
        path = self.data_dir / DEPLOYMENTS_FILE
        if not path.exists():
            return {}
        try:
            loaded: dict[str, dict[str, Any]] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc}); fix or delete it") from None
        return loaded

    # ───────────── accounts ─────────────

    def signer(self, name: str) -> LocalAccount:
        """The keystore account ``name``, topped up with test ether on a development chain."""
        account = self.keystore.load(name, self.passphrase())
        self._top_up(account.address)
        return account

    def create_account(self, name: str) -> str:
        return self.keystore.create(name, self.passphrase(confirm=True))

    def resolve(self, who: str) -> str:
        """An address given as ``0x…`` or as the name of a keystore account."""
        if who.startswith("0x"):
            if not Web3.is_address(who):
                raise ConfigError(f"{who!r} is not an Ethereum address (0x and 40 hex digits)")
            return Web3.to_checksum_address(who)
        try:
            return self.keystore.address_of(who)
        except AccountError as exc:
            raise ConfigError(f"{who!r} is neither an address nor a known account: {exc}") from None

    def passphrase(self, *, confirm: bool = False) -> str:
        if self._passphrase is None:
            configured = self.settings.passphrase
            if configured is not None:
                self._passphrase = configured.get_secret_value()
            else:
                entered = getpass.getpass("Keystore passphrase: ")
                if confirm and getpass.getpass("Repeat passphrase: ") != entered:
                    raise AccountError("the passphrases differ; nothing was saved")
                self._passphrase = entered
        return self._passphrase

    def _top_up(self, address: str) -> None:
        chain = self.chain
        if not chain.dev_accounts:
            return
        if chain.w3.eth.get_balance(Web3.to_checksum_address(address)) < _LOW_BALANCE_WEI:
            chain.fund(address, DEV_FUNDING_WEI)
