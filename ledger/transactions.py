"""Sign, send and wait: every write to the chain goes through :class:`Transactor`.

A call is simulated first (``eth_estimateGas``), so a refused operation raises the decoded
contract error before anything is signed or paid for. Keys stay in ``LocalAccount`` objects and
are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, Web3Exception
from web3.types import TxParams, TxReceipt, Wei

from ledger.contract_errors import ErrorDecoder
from ledger.errors import ChainError, ContractError, TransactionFailed

__all__ = ["Transactor", "TxResult"]

_GAS_HEADROOM = 1.15
"""Estimates are exact on a quiet chain; headroom covers state that moves before mining."""


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    receipt: TxReceipt


class Transactor:
    """Sends contract calls signed by local accounts and decodes refusals."""

    def __init__(self, w3: Web3, decoder: ErrorDecoder, *, receipt_timeout: float = 60.0) -> None:
        self.w3 = w3
        self._decoder = decoder
        self._receipt_timeout = receipt_timeout
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def send(self, sender: LocalAccount, call: ContractFunction | ContractConstructor) -> TxResult:
        """Simulate, sign and send ``call`` from ``sender``; wait for its receipt."""
        gas = self.estimate(sender.address, call)
        tx = call.build_transaction(self._params(sender.address, gas))
        signed = sender.sign_transaction(cast(dict[str, Any], tx))
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self._receipt_timeout
            )
        except TimeExhausted as exc:
            raise ChainError(
                f"transaction {HexBytes(signed.hash).to_0x_hex()} was not mined within "
                f"{self._receipt_timeout:.0f} s; check the node and the account's nonce"
            ) from exc
        except Web3Exception as exc:
            raise ChainError(f"the node refused the transaction: {exc}") from exc
        if receipt["status"] != 1:
            raise self._explain_failure(sender.address, call, receipt)
        return TxResult(
            tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            receipt=receipt,
        )

    def estimate(self, sender: str, call: ContractFunction | ContractConstructor) -> int:
        """Gas for ``call`` with headroom; raises the decoded contract error if it would revert."""
        try:
            return int(call.estimate_gas({"from": sender}) * _GAS_HEADROOM)
        except Exception as exc:
            data = revert_data(exc)
            if data is not None:
                raise self._decoder.decode(data) from None
            name = getattr(call, "fn_name", "the deployment")
            raise ChainError(f"cannot simulate {name}: {exc}") from exc

    def _params(self, sender: str, gas: int) -> TxParams:
        latest = self.w3.eth.get_block("latest")
        base_fee = int(latest.get("baseFeePerGas", 0))
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except (Web3Exception, ValueError, NotImplementedError):
            tip = 0
        return {
            "from": Web3.to_checksum_address(sender),
            "chainId": self.chain_id,
            "nonce": self.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "pending"),
            "gas": gas,
            "maxFeePerGas": Wei(2 * base_fee + tip),
            "maxPriorityFeePerGas": Wei(tip),
        }

    def _explain_failure(
        self, sender: str, call: ContractFunction | ContractConstructor, receipt: TxReceipt
    ) -> VeritagFailure:
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        if isinstance(call, ContractConstructor):
            return TransactionFailed(tx_hash, "the deployment reverted")
        try:
            call.call({"from": sender}, block_identifier=receipt["blockNumber"] - 1)
        except Exception as exc:
            data = revert_data(exc)
            if data is not None:
                return self._decoder.decode(data)
        return TransactionFailed(tx_hash, "out of gas or state changed before mining")


VeritagFailure = ContractError | TransactionFailed


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data behind ``exc``, whichever provider raised it.

    JSON-RPC nodes surface it as ``ContractCustomError.data`` (hex); eth-tester raises its own
    ``TransactionFailed`` holding the bytes, which web3 re-raises as a formatted string, so the
    original is found on the exception chain.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (ContractCustomError, ContractLogicError)):
            data: Any = seen.data
            if isinstance(data, dict):
                data = data.get("data")
            if isinstance(data, str) and len(data) >= 10:
                return bytes.fromhex(data.removeprefix("0x"))
        elif seen.args and isinstance(seen.args[0], bytes) and len(seen.args[0]) >= 4:
            return seen.args[0]
        seen = seen.__cause__ or seen.__context__
    return None
