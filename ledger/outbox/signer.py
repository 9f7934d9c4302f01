"""Who signs an operation's transaction, and which accounts send for which organisation.

The submitter only needs a :class:`Signer`: an address and a way to sign a transaction
dict. Where the key lives (an ``eth_account`` ``LocalAccount`` here, a custodial key held
encrypted by the service, a remote signer) is the wiring's business.

Which account sends for an organisation is kept in the store: each ``SenderAccount`` row
may name the organisation it sends for (:class:`Senders`). An organisation acts through
one account (the lowest address when it has several); the API's object-level checks
accept any of its accounts as its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.custodial import CustodialKeys
from ledger.errors import Conflict, NotFound
from ledger.outbox.store import OperationRead
from ledger.store.database import session
from ledger.store.operation_models import SenderAccount

__all__ = [
    "LocalSigner",
    "Senders",
    "SignedTx",
    "Signer",
    "custodial_signers",
    "signers_from_accounts",
]


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction, ready for ``eth_sendRawTransaction``."""

    tx_hash: str
    raw: bytes


class Signer(Protocol):
    """An account that can sign transactions."""

    @property
    def address(self) -> ChecksumAddress: ...

    def sign(self, transaction: dict[str, Any]) -> SignedTx: ...


class LocalSigner:
    """A :class:`Signer` over a key in this process."""

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @property
    def address(self) -> ChecksumAddress:
        return to_checksum_address(self._account.address)

    def sign(self, transaction: dict[str, Any]) -> SignedTx:
        signed = self._account.sign_transaction(transaction)
        return SignedTx("0x" + bytes(signed.hash).hex(), bytes(signed.raw_transaction))


class Senders:
    """The accounts each organisation sends from (``SenderAccount.org_id``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def assign(self, org_id: int, address: str, chain_id: int) -> None:
        """Let ``address`` send for the organisation. Its nonce is read from the node the
        first time it sends; an account sends for one organisation only."""
        checksummed = to_checksum_address(address)
        with session(self.engine) as db:
            row = db.get(SenderAccount, checksummed)
            if row is None:
                db.add(
                    SenderAccount(
                        address=checksummed, chain_id=chain_id, next_nonce=0, org_id=org_id
                    )
                )
            elif row.org_id not in (None, org_id):
                raise Conflict(
                    f"sender {checksummed}",
                    f"it already sends for organisation {row.org_id}; use another account",
                )
            else:
                row.org_id = org_id
                db.add(row)

    def addresses(self, org_id: int) -> list[ChecksumAddress]:
        """The organisation's sending accounts, the one it acts through first."""
        with session(self.engine) as db:
            rows = db.exec(
                select(SenderAccount.address)
                .where(SenderAccount.org_id == org_id)
                .order_by(col(SenderAccount.address))
            ).all()
        return [to_checksum_address(a) for a in rows]

    def sender_of(self, org_id: int) -> ChecksumAddress:
        """The account the organisation acts through; NotFound when it has none."""
        found = self.addresses(org_id)
        if not found:
            raise NotFound("sending account of organisation", str(org_id))
        return found[0]


def signers_from_accounts(
    engine: Engine, accounts: Iterable[LocalAccount]
) -> Callable[[OperationRead], Signer]:
    """``signer_for`` over keys held in this process: the op's sender, or its org's."""
    by_address = {to_checksum_address(a.address): LocalSigner(a) for a in accounts}
    senders = Senders(engine)

    def signer_for(operation: OperationRead) -> Signer:
        address = operation.sender or senders.sender_of(operation.org_id)
        try:
            return by_address[to_checksum_address(address)]
        except KeyError:
            raise NotFound("signing key for sender", address) from None

    return signer_for


def custodial_signers(engine: Engine, keys: CustodialKeys) -> Callable[[OperationRead], Signer]:
    """``signer_for`` over the keys the service holds for organisations (custodial mode):
    the op's organisation's sending account, opened only for that organisation."""
    senders = Senders(engine)

    def signer_for(operation: OperationRead) -> Signer:
        address = operation.sender or senders.sender_of(operation.org_id)
        return LocalSigner(keys.account(operation.org_id, address))

    return signer_for
