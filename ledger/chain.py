"""Connect to a chain: in-process eth-tester, a local anvil node, or any JSON-RPC node.

Every connection is a :class:`Chain`: a ``Web3`` object plus what tests and development
need on top of it, the same on both development backends:

========================  =====================================  ==============================
operation                 eth-tester (``memory``)                anvil (``local``)
========================  =====================================  ==============================
dev accounts with keys    eth-tester's keys 1..10                the ``test … junk`` mnemonic
``fund``                  a transfer from a dev account          ``anvil_setBalance``
``snapshot``/``revert``   ``evm_snapshot``/``evm_revert``        ``evm_snapshot``/``evm_revert``
``mine``                  ``evm_mine``                           ``anvil_mine``
``set_next_timestamp``    ``testing_timeTravel`` (see below)     ``evm_setNextBlockTimestamp``
========================  =====================================  ==============================

Both backends mine each transaction as it arrives. Transactions are signed locally
(``LocalAccount.sign_transaction``) and sent with ``w3.eth.send_raw_transaction``; an
EIP-1559 transaction needs ``chainId``, ``nonce``, ``gas``, ``maxFeePerGas`` (at least the
pending block's base fee) and ``maxPriorityFeePerGas`` (0 is accepted) on both.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.exceptions import MethodUnavailable, Web3Exception, Web3RPCError
from web3.types import RPCEndpoint, Wei

from ledger.errors import ChainError, TransactionFailed

__all__ = [
    "ANVIL_CHAIN_ID",
    "ANVIL_MNEMONIC",
    "Chain",
    "ChainKind",
    "connect_memory",
    "connect_rpc",
    "with_timeout",
]

ChainKind = Literal["memory", "local", "rpc"]
"""``memory``: eth-tester in this process; ``local``: an anvil node; ``rpc``: any other node."""

ANVIL_CHAIN_ID = 31337
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
"""The public mnemonic of anvil's (and Hardhat's) pre-funded development accounts."""

MEMORY_GAS_LIMIT = 30_000_000
"""Block gas limit of the in-memory chain: anvil's default, room for a 25M-gas transaction."""

_RECEIPT_TIMEOUT = 30.0


class Chain:
    """A connected chain. Build one with :func:`connect_memory` or :func:`connect_rpc`.

    ``dev_accounts`` are pre-funded accounts whose keys everyone knows: use them on
    development chains only (empty for any chain where they are not funded).
    """

    def __init__(
        self,
        w3: Web3,
        kind: ChainKind,
        dev_accounts: Sequence[LocalAccount] = (),
        *,
        url: str = "memory",
    ) -> None:
        self.w3 = w3
        self.kind: ChainKind = kind
        self.url = url
        self.chain_id: int = w3.eth.chain_id
        self.dev_accounts: list[LocalAccount] = list(dev_accounts)

    def __repr__(self) -> str:
        return (
            f"Chain(kind={self.kind!r}, url={self.url!r}, chain_id={self.chain_id}, "
            f"dev_accounts={len(self.dev_accounts)})"
        )

    def fund(self, address: str, wei: int) -> None:
        """Add ``wei`` to the balance of ``address`` (anvil: set it; others: a transfer)."""
        checksummed = Web3.to_checksum_address(address)
        if self.kind == "local":
            balance = self.w3.eth.get_balance(checksummed)
            self._rpc("anvil_setBalance", checksummed, hex(balance + wei))
            return
        if not self.dev_accounts:
            raise ChainError(
                f"cannot fund {checksummed} on chain {self.chain_id} at {self.url}: there is no "
                "development account to pay from; send funds from a funded account instead"
            )
        self._transfer(self.dev_accounts[0], checksummed, wei)

    def snapshot(self) -> str:
        """Remember the chain's state; returns an id (``"0x0"``, ``"0x1"``…) for :meth:`revert`."""
        snapshot_id = self._rpc("evm_snapshot")
        return snapshot_id if isinstance(snapshot_id, str) else hex(snapshot_id)

    def revert(self, snapshot: str | int) -> None:
        """Return to a snapshot. Each snapshot can be reverted to once (anvil forgets it)."""
        if isinstance(snapshot, int):
            snapshot = hex(snapshot)
        if self.kind == "memory":
            from eth_tester.exceptions import SnapshotNotFound  # noqa: PLC0415 (eth-tester only)

            try:
                self._rpc("evm_revert", snapshot)
            except SnapshotNotFound:
                raise ChainError(f"no snapshot {snapshot!r} on the in-memory chain") from None
            return
        if not self._rpc("evm_revert", snapshot):
            raise ChainError(
                f"no snapshot {snapshot!r} on the node at {self.url} (a snapshot can be "
                "reverted to once; take a new one after reverting)"
            )

    def mine(self, n: int = 1) -> None:
        """Mine ``n`` blocks (empty unless transactions are pending)."""
        if n < 1:
            raise ValueError(f"cannot mine {n} blocks")
        if self.kind == "memory":
            self._rpc("evm_mine", n)
        elif self.kind == "local":
            self._rpc("anvil_mine", hex(n))
        else:
            for _ in range(n):
                self._rpc("evm_mine")

    def set_next_timestamp(self, timestamp: int) -> None:
        """Make the next block mined carry ``timestamp`` (seconds since the epoch).

        On eth-tester this mines an empty block at ``timestamp - 1`` on the way, and the time
        cannot go before the pending block's (which is at least the wall-clock time at which
        the latest block was mined).
        """
        if self.kind != "memory":
            self._rpc("evm_setNextBlockTimestamp", timestamp)
            return
        pending = self.w3.eth.get_block("pending")["timestamp"]
        if timestamp < pending:
            raise ChainError(
                f"cannot set the next block's timestamp to {timestamp}: the in-memory chain's "
                f"next block is already at {pending}"
            )
        if timestamp > pending:
            self._rpc("testing_timeTravel", timestamp)

    def increase_time(self, seconds: int) -> int:
        """Mine a block ``seconds`` after the latest one; returns its timestamp.

        The new latest block is exactly ``seconds`` later, or on eth-tester later still if
        the wall clock is already past that.
        """
        if seconds < 1:
            raise ValueError(f"cannot move time forward by {seconds} seconds")
        target = self.w3.eth.get_block("latest")["timestamp"] + seconds
        if self.kind == "memory":
            target = max(target, self.w3.eth.get_block("pending")["timestamp"])
        self.set_next_timestamp(target)
        self.mine()
        return self.w3.eth.get_block("latest")["timestamp"]

    def _transfer(self, sender: LocalAccount, to: str, wei: int) -> None:
        base_fee = self.w3.eth.get_block("pending").get("baseFeePerGas", 0)
        priority = self.w3.eth.max_priority_fee
        gas = self.w3.eth.estimate_gas({"from": sender.address, "to": to, "value": Wei(wei)})
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
            "to": to,
            "value": wei,
            "gas": gas,
            "maxPriorityFeePerGas": priority,
            "maxFeePerGas": 2 * base_fee + priority,
        }
        tx_hash = self.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=_RECEIPT_TIMEOUT)
        if receipt["status"] != 1:
            raise TransactionFailed(tx_hash.to_0x_hex(), f"funding {to} with {wei} wei")

    def _rpc(self, method: str, *params: Any) -> Any:
        try:
            return self.w3.manager.request_blocking(RPCEndpoint(method), list(params))
        except MethodUnavailable:
            raise ChainError(
                f"the node at {self.url} does not support {method}: only development nodes "
                "(eth-tester, anvil) do"
            ) from None
        except Web3RPCError as exc:
            error = (exc.rpc_response or {}).get("error")
            detail = error.get("message", exc.message) if isinstance(error, dict) else exc.message
            raise ChainError(f"{method} failed on the node at {self.url}: {detail}") from None


def connect_memory(*, accounts: int = 10, gas_limit: int = MEMORY_GAS_LIMIT) -> Chain:
    """A fresh chain in this process (eth-tester on py-evm) with ``accounts`` funded dev accounts.

    Each dev account holds 1,000,000 ether. Transactions are mined as they arrive.
    """
    # Imported here: eth-tester and py-evm take a second to import and only tests need them.
    from eth_tester import EthereumTester, PyEVMBackend  # noqa: PLC0415
    from web3 import EthereumTesterProvider  # noqa: PLC0415

    backend = PyEVMBackend(
        genesis_parameters=PyEVMBackend.generate_genesis_params(overrides={"gas_limit": gas_limit}),
        genesis_state=PyEVMBackend.generate_genesis_state(num_accounts=accounts),
    )
    # The chain class is made per backend, so this changes this chain's estimator only; the
    # class attribute serves the chain objects a revert to a snapshot makes.
    estimator = _estimate_gas_in_two_runs()
    type(backend.chain).gas_estimator = staticmethod(estimator)
    backend.chain.gas_estimator = estimator
    tester = EthereumTester(backend=backend, auto_mine_transactions=True)
    w3 = Web3(_serialised(EthereumTesterProvider(tester)))
    dev_accounts = [Account.from_key(key.to_bytes()) for key in backend.account_keys]
    return Chain(w3, "memory", dev_accounts)


def _estimate_gas_in_two_runs() -> Callable[[Any, Any], int]:
    """A py-evm gas estimator that runs the call twice instead of about thirteen times.

    py-evm's default estimate is a binary search between 21,000 and the block gas limit, so
    every simulated write cost thirteen executions, most of an in-memory test's time. Here one
    run at the block gas limit tells the gas the call burns (before refunds), and one run at
    that figure plus what the EVM keeps back from inner calls (1/64 at each call, and the 2,300
    an SSTORE needs left) confirms it is enough. Where it is not, py-evm's search decides.
    """
    from eth.estimators.gas import binary_gas_search_intrinsic_tolerance  # noqa: PLC0415
    from eth.vm.spoof import SpoofTransaction  # noqa: PLC0415

    def run(state: Any, transaction: Any, gas: int) -> Any:
        snapshot = state.snapshot()
        try:
            return state.apply_transaction(SpoofTransaction(transaction, gas=gas, gas_price=0))
        finally:
            state.revert(snapshot)

    def estimate(state: Any, transaction: Any) -> int:
        computation = run(state, transaction, state.gas_limit)
        if computation.is_error:
            raise computation.error
        burnt = int(transaction.intrinsic_gas) + int(computation.get_gas_used())
        enough = min(burnt + burnt // 63 + 2_300, int(state.gas_limit))
        if run(state, transaction, enough).is_error:
            needed: int = binary_gas_search_intrinsic_tolerance(state, transaction)
            return needed
        return enough

    return estimate


def _serialised(provider: Any) -> Any:
    """Let one request at a time into eth-tester: py-evm's state is not thread-safe, and the
    API serves requests and runs its indexer on several threads."""
    lock = threading.Lock()
    unlocked = provider.make_request

    def make_request(method: RPCEndpoint, params: Any) -> Any:
        with lock:
            return unlocked(method, params)

    provider.make_request = make_request
    return provider


def connect_rpc(url: str, *, expected_chain_id: int | None = None, timeout: float = 10) -> Chain:
    """Connect to the JSON-RPC node at ``url`` (HTTP); ChainError if unreachable or off-chain.

    ``kind`` is ``local`` when the node is anvil, ``rpc`` otherwise. Anvil's (and Hardhat's)
    default dev accounts are offered when the chain id is 31337 and they hold ether.

    The client is lean, because the outbox, the indexer and the benchmarks make thousands of
    calls: the chain id is asked once (web3 asks for it with every call and transaction, and
    it cannot change under a URL without every signed transaction being refused), and web3's
    client-side argument checks and ENS name resolution are off (Veritag passes only
    checksummed literal addresses and the node validates what it gets).
    """
    w3 = _lean_web3(url, {"timeout": timeout})
    try:
        chain_id = w3.eth.chain_id
    except (OSError, ValueError, Web3Exception) as exc:
        raise ChainError(
            f"cannot reach a JSON-RPC node at {url} ({_reason(exc)}); is the node running and "
            "the URL right? For a local node run `veritag chain start`"
        ) from None
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainError(
            f"the node at {url} is on chain id {chain_id}, but chain id {expected_chain_id} "
            "was expected; point the RPC URL at the right network or change the expected id"
        )
    kind: ChainKind = "local" if _client_version(w3).startswith("anvil/") else "rpc"
    dev_accounts: list[LocalAccount] = []
    if chain_id == ANVIL_CHAIN_ID:
        candidates = _anvil_dev_accounts()
        if w3.eth.get_balance(candidates[0].address) > 0:
            dev_accounts = list(candidates)
    return Chain(w3, kind, dev_accounts, url=url)


def with_timeout(w3: Web3, timeout: float) -> Web3:
    """A ``Web3`` on the same HTTP node whose requests give up after ``timeout`` seconds,
    without retrying; for reads that have an answer to fall back on when the node is down.

    ``connect_rpc``'s connection waits up to its timeout and retries a read that timed out
    five times (web3's default), so a node that accepts connections but never answers holds
    a read for about a minute. Other providers (eth-tester) have no timeout: ``w3`` itself.
    """
    provider = w3.provider
    if not isinstance(provider, HTTPProvider):
        return w3
    return _lean_web3(
        str(provider.endpoint_uri),
        {**provider.get_request_kwargs(), "timeout": timeout},
        exception_retry_configuration=None,
    )


def _lean_web3(url: str, request_kwargs: dict[str, Any], **provider_options: Any) -> Web3:
    """A ``Web3`` over HTTP that asks for the chain id once and skips web3's client-side
    argument checks and ENS resolution (see :func:`connect_rpc`)."""
    provider = HTTPProvider(
        url,
        request_kwargs=request_kwargs,
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId")},
        **provider_options,
    )
    w3 = Web3(provider)
    w3.middleware_onion.remove("validation")
    w3.middleware_onion.remove("ens_name_to_address")
    return w3


def _reason(exc: Exception) -> str:
    """The root cause of a connection failure, without requests' and urllib3's wrapping."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if errno:
        return errno.group(0)
    return f"{type(exc).__name__}: {text}"[:300]


def _client_version(w3: Web3) -> str:
    try:
        return w3.client_version
    except (OSError, ValueError, Web3Exception):
        return ""


@functools.cache
def _anvil_dev_accounts(count: int = 10) -> tuple[LocalAccount, ...]:
    """Anvil's default accounts (BIP-44 ``m/44'/60'/0'/0/i``), derived once per process.

    Derivation is pure Python (~0.2 s for ten). eth-account's own derivation functions are
    used directly, so its global ``enable_unaudited_hdwallet_features`` switch stays off.
    """
    seed = seed_from_mnemonic(ANVIL_MNEMONIC, "")
    return tuple(
        Account.from_key(key_from_seed(seed, f"m/44'/60'/0'/0/{index}")) for index in range(count)
    )
