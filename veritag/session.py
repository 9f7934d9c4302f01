"""What one CLI call works with: settings, the keystore, the chain and the registry on it.

Deployments are remembered per chain id in ``<data dir>/deployments.json``, so separate CLI
calls against the same node find the same registry.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.accounts import Keystore
from ledger.anvil import AnvilNode
from ledger.chain import Chain, connect_memory, connect_rpc
from ledger.errors import AccountError, ChainError, ConfigError
from ledger.registry import Registry
from ledger.settings import Settings
from ledger.store.database import default_url, make_engine, migrate
from ledger.store.repository import Store

__all__ = ["Session"]

DEPLOYMENTS_FILE = "deployments.json"
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
        return AnvilNode(self.data_dir, port=self.settings.anvil_port)

    @cached_property
    def chain(self) -> Chain:
        """The chain the settings name; a managed local node is started if it is not running."""
        if self.settings.rpc_url:
            return connect_rpc(self.settings.rpc_url)
        if self.settings.chain == "memory":
            return connect_memory()
        status = self.anvil.start()
        return connect_rpc(status.url)

    def store(self) -> Store:
        """The store (SQLite in the data directory unless VERITAG_DATABASE_URL), migrated."""
        if self._store is None:
            url = self.settings.database_url or default_url(self.data_dir)
            engine = make_engine(url)
            migrate(engine)
            self._store = Store(engine)
        return self._store

    # ───────────── registry ─────────────

    def registry(self) -> Registry:
        """The registry deployed on this chain (deployed now on an in-memory chain)."""
        if self._registry is not None:
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
