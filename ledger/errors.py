"""Every error Veritag raises on purpose.

One root, grouped by area, so callers can catch as broadly or narrowly as they need::

    VeritagError
    ├── ConfigError                 bad settings, data directory or CLI input
    ├── ChainError                  the node: unreachable, wrong chain, no contract deployed
    │   └── TransactionFailed       mined but reverted without a decodable reason
    ├── ContractError               a decoded custom error of the registry (ledger.contract_errors)
    ├── CompilerError               solc missing or the sources do not compile
    ├── IdentifierError (ValueError)
    │   ├── InvalidGTIN
    │   ├── InvalidSerial
    │   ├── InvalidItemId
    │   ├── InvalidCompanyPrefix
    │   ├── InvalidGLN
    │   ├── InvalidDigitalLink      a Digital Link GS1's parser refuses, or one naming no item
    │   ├── InvalidEpcUrn           an EPC URN that is malformed or names no GS1 key
    │   └── InvalidSSCC             an SSCC (AI 00) of the wrong length or check digit
    ├── InputFileError              a CSV or similar file has bad rows (all of them listed)
    ├── LabelError (ValueError)     a label or label sheet cannot be printed from what was given
    ├── AccountError                keystore missing, wrong passphrase, unknown account
    ├── EventHashError (ValueError) an EPCIS event that cannot be given a CBV event hash ID
    ├── CaptureRejected             an EPCIS document whose events cannot all be applied (422)
    ├── AccessError                 the caller may not do this
    │   ├── AuthenticationRequired  no API key, or an unknown or revoked one (401)
    │   └── Forbidden               the caller's role or the object's owner forbids it (403)
    ├── NotFound                    a seller, listing, report or webhook that does not exist
    ├── Conflict                    the request contradicts what is already recorded (409)
    ├── ProofRejected               a signed proof (a seller's address proof) does not hold
    └── StoreError                  the store (database) and the index it keeps of the chain
        ├── StoreUnavailable        the database cannot be reached
        ├── InvalidRecord (ValueError)  a code, document or scan to record is malformed
        │   └── IdempotencyKeyRequired  a write without a usable Idempotency-Key
        ├── StoreMismatch           the store indexes another chain or registry
        ├── IndexIncomplete         an item's indexed history lacks events the chain has
        ├── IndexConflict           the store holds another event than the chain for a seq
        └── ReorgTooDeep            the chain changed below the blocks the indexer can roll back

Each error keeps the data that explains it as attributes and builds its message from them.
``status`` is the HTTP status the API answers with; the API maps it in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


class VeritagError(Exception):
    """Root of every error Veritag raises on purpose."""

    status: int = 500


class ConfigError(VeritagError):
    """Settings, the data directory or command-line input are wrong."""

    status = 400


class ChainError(VeritagError):
    """The chain cannot be reached or does not hold what we expect."""

    status = 503


class TransactionFailed(ChainError):
    """A transaction was mined but reverted with no reason we can decode."""

    status = 502

    def __init__(self, tx_hash: str, detail: str = "") -> None:
        self.tx_hash = tx_hash
        self.detail = detail
        message = f"transaction {tx_hash} reverted"
        super().__init__(f"{message}: {detail}" if detail else message)


class ContractError(VeritagError):
    """The registry contract refused an operation; subclasses carry the error's data."""

    status = 409


class CompilerError(VeritagError):
    """The Solidity compiler is missing or the contracts do not compile."""


class IdentifierError(VeritagError, ValueError):
    """An identifier (GTIN, serial, item id, Digital Link) is malformed."""

    status = 422


class InvalidGTIN(IdentifierError):
    """A GTIN has the wrong length, a non-digit, or a wrong check digit."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"invalid GTIN {value!r}: {reason}")


class InvalidSerial(IdentifierError):
    """A serial (GS1 AI 21) is empty, too long, or has a character outside GS1 set 82."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"invalid serial {value!r}: {reason}")


class InvalidItemId(IdentifierError):
    """An item id is not 32 bytes of hex."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"invalid item id {value!r}: {reason}")


class InvalidCompanyPrefix(IdentifierError):
    """A GS1 Company Prefix is not 4 to 12 digits."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"invalid GS1 Company Prefix {value!r}: {reason}")


class InvalidGLN(IdentifierError):
    """A GS1 Global Location Number is not 13 digits with a correct check digit."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"invalid GLN {value!r}: {reason}")


class InvalidDigitalLink(IdentifierError):
    """A GS1 Digital Link URI is malformed, or does not name the item that is asked of it.

    ``position`` is the 1-based character position in ``uri`` where the problem starts,
    or ``None`` when it is about the URI as a whole.
    """

    def __init__(self, uri: str, reason: str, position: int | None = None) -> None:
        self.uri = uri
        self.reason = reason
        self.position = position
        where = f" (at character {position})" if position is not None else ""
        super().__init__(f"invalid GS1 Digital Link {uri!r}: {reason}{where}")


class InvalidEpcUrn(IdentifierError):
    """An EPC URN is malformed, names a scheme Veritag does not read, or breaks the TDS."""

    def __init__(self, urn: str, reason: str) -> None:
        self.urn = urn
        self.reason = reason
        super().__init__(f"invalid EPC URN {urn!r}: {reason}")


class InvalidSSCC(IdentifierError):
    """An SSCC (GS1 AI 00, a case or pallet) is not 18 digits with a correct check digit."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"invalid SSCC {value!r}: {reason}")


@dataclass(frozen=True)
class RowProblem:
    """One bad field of one row of an input file."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.reason}"


class InputFileError(VeritagError):
    """An input file has bad rows; nothing was sent. Every bad row is listed."""

    status = 422

    def __init__(self, path: str, problems: list[RowProblem]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"{path}: {len(problems)} problem(s), nothing was registered; fix them and retry:\n"
            f"{lines}"
        )


class LabelError(VeritagError, ValueError):
    """A label or label sheet cannot be printed: empty text, code and text disagree, no room."""

    status = 422

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"cannot print {what}: {reason}")


class AccountError(VeritagError):
    """An account or keystore cannot be used (missing, wrong passphrase, unknown name)."""

    status = 400


class EventHashError(VeritagError, ValueError):
    """An EPCIS document or event cannot be given a CBV event hash ID."""

    status = 422

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"cannot compute the event hash ID of {what}: {reason}")


class CaptureRejected(VeritagError):
    """An EPCIS capture was refused: the document is invalid or events cannot be applied.

    ``errors`` lists every problem, each with the event's ``index`` in the document (None
    for the document as a whole), its ``eventID`` if it has one, and the ``reason``.
    Nothing was recorded.
    """

    status = 422

    def __init__(self, errors: list[dict[str, object]]) -> None:
        self.errors = errors
        self.data = {"errors": errors}
        first = errors[0]["reason"] if errors else "no reason given"
        more = f" (and {len(errors) - 1} more, listed in data.errors)" if len(errors) > 1 else ""
        super().__init__(f"EPCIS capture rejected, nothing was recorded: {first}{more}")


class AccessError(VeritagError):
    """The caller may not do what it asked."""

    status = 403


class AuthenticationRequired(AccessError):
    """No API key was given, or the key given is unknown or revoked."""

    status = 401

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"authentication required: {reason}")


class Forbidden(AccessError):
    """The caller's role, or who owns the object, does not allow the action."""

    status = 403

    def __init__(self, action: str, reason: str) -> None:
        self.action = action
        self.reason = reason
        super().__init__(f"not allowed to {action}: {reason}")


class PrivateDestination(VeritagError):
    """A webhook delivery whose host resolves to an address that is not public (see
    :mod:`ledger.alerts.destinations`)."""

    status = 422

    def __init__(self, host: str, address: str, kind: str) -> None:
        self.host = host
        self.address = address
        self.kind = kind
        super().__init__(
            f"webhook host {host!r} resolves to {address}, a {kind} address; alerts go to "
            "public addresses only (VERITAG_WEBHOOK_PRIVATE_DESTINATIONS allows others)"
        )


class NotFound(VeritagError):
    """A thing the request names does not exist (or is not the caller's to see)."""

    status = 404

    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        super().__init__(f"no {what} {key!r}")


class Conflict(VeritagError):
    """The request contradicts what is already recorded; nothing was changed."""

    status = 409

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


class ProofRejected(VeritagError):
    """A signed proof does not hold: wrong signer, another marketplace, a used or old nonce."""

    status = 400

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what} rejected: {reason}")


class StoreError(VeritagError):
    """The store cannot do what was asked, or its index disagrees with the chain."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (or refused the connection)."""

    status = 503

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"cannot use the database at {url}: {reason}; check VERITAG_DATABASE_URL and that "
            "the server runs"
        )


class InvalidRecord(StoreError, ValueError):
    """A code, product document or scan handed to the store is malformed; nothing was saved."""

    status = 422

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"cannot record {what}: {reason}")


class IdempotencyKeyRequired(InvalidRecord):
    """A write came without a usable idempotency key, so a retry could apply it twice."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__("the write request", reason)


class StoreMismatch(StoreError):
    """The store holds the index of another chain or registry than the one given."""

    def __init__(
        self, stored_chain_id: int, stored_contract: str, chain_id: int, contract: str
    ) -> None:
        self.stored_chain_id = stored_chain_id
        self.stored_contract = stored_contract
        self.chain_id = chain_id
        self.contract = contract
        super().__init__(
            f"the store indexes registry {stored_contract} on chain {stored_chain_id}, not "
            f"{contract} on chain {chain_id}; use another database, or `veritag index --rebuild` "
            "to re-index this one from the new registry"
        )


class IndexIncomplete(StoreError):
    """An item's indexed history is not events 1..seq of what the chain holds for it."""

    status = 503

    def __init__(
        self, item_id: str, indexed: int, on_chain: int, missing: tuple[int, ...] = ()
    ) -> None:
        self.item_id = item_id
        self.indexed = indexed
        self.on_chain = on_chain
        self.missing = missing
        gaps = f" (missing seq {', '.join(map(str, missing))})" if missing else ""
        super().__init__(
            f"item {item_id}: the store holds {indexed} event(s), the chain {on_chain}{gaps}; "
            "run `veritag index` to catch up, or `veritag index --rebuild` if this persists"
        )


class IndexConflict(StoreError):
    """The store holds a different event than the chain for one sequence number of an item."""

    def __init__(self, item_id: str, seq: int, stored_tx: str, chain_tx: str) -> None:
        self.item_id = item_id
        self.seq = seq
        self.stored_tx = stored_tx
        self.chain_tx = chain_tx
        super().__init__(
            f"item {item_id}, seq {seq}: the store holds the event of transaction {stored_tx}, "
            f"the chain that of {chain_tx}; the chain was reorganised below the indexed "
            "blocks: run `veritag index --rebuild`"
        )


class ReorgTooDeep(StoreError):
    """The chain replaced blocks the indexer took as final; it cannot roll back that far."""

    status = 503

    def __init__(self, block: int, oldest_kept: int, confirmations: int) -> None:
        self.block = block
        self.oldest_kept = oldest_kept
        self.confirmations = confirmations
        super().__init__(
            f"the chain no longer holds indexed block {block}, and no block hash kept down to "
            f"block {oldest_kept} matches it: the reorganisation is deeper than the "
            f"{confirmations} confirmation(s) the index allows for; run `veritag index "
            "--rebuild` and raise VERITAG_CONFIRMATIONS"
        )
