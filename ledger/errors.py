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
    │   └── InvalidCompanyPrefix
    ├── InputFileError              a CSV or similar file has bad rows (all of them listed)
    └── AccountError                keystore missing, wrong passphrase, unknown account

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


class AccountError(VeritagError):
    """An account or keystore cannot be used (missing, wrong passphrase, unknown name)."""

    status = 400
