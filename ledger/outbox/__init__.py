"""Writes to the chain that are never lost and never applied twice.

:class:`Outbox` stores each request with its idempotency key before anything is sent;
:class:`Submitter` signs, sends and follows it to ``confirmed`` or ``failed``, and recovers
from the store after a crash or when the chain loses blocks. Who signs is a
:class:`Signer`; which account sends for which organisation is :class:`Senders`'.
"""

from ledger.outbox.operations import KINDS, validate_request
from ledger.outbox.signer import LocalSigner, Senders, SignedTx, Signer, signers_from_accounts
from ledger.outbox.store import OperationRead, OpStatus, Outbox, SentTx
from ledger.outbox.submitter import Submitter

__all__ = [
    "KINDS",
    "LocalSigner",
    "OpStatus",
    "OperationRead",
    "Outbox",
    "Senders",
    "SentTx",
    "SignedTx",
    "Signer",
    "Submitter",
    "signers_from_accounts",
    "validate_request",
]
