"""Sign-In with Ethereum (EIP-4361) messages: written, parsed strictly, their signer recovered.

The layout, line by line (https://eips.ethereum.org/EIPS/eip-4361)::

    [scheme://]domain wants you to sign in with your Ethereum account:
    0xAddressInEip55Checksum

    Statement, one line, optional (without it, its line and the blank line after it go)

    URI: https://example.com/login
    Version: 1
    Chain ID: 1
    Nonce: 32891756
    Issued At: 2021-09-30T16:25:24Z
    Expiration Time: …        (this line and the ones below are optional, in this order)
    Not Before: …
    Request ID: …
    Resources:
    - https://example.com/my-web2-claim.json

Lines end with LF and the last has none. The signature is EIP-191 ``personal_sign`` over
the UTF-8 text, checked with eth-account (the ``siwe`` package would pin web3 below 8).
Parsing is strict: whatever the EIP's ABNF does not allow is a ``ProofRejected`` that says
which line and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_typing import ChecksumAddress
from eth_utils.address import is_checksum_address, to_checksum_address
from eth_utils.exceptions import ValidationError

from ledger.errors import ProofRejected

__all__ = ["SiweMessage", "parse", "recover"]

MESSAGE = "sign-in message"
"""What a ``ProofRejected`` of this module is about."""

_HEADER = " wants you to sign in with your Ethereum account:"

# RFC 3986 character classes, as the EIP's ABNF uses them.
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_AUTHORITY = re.compile(rf"[{_UNRESERVED}{_SUB_DELIMS}%:@\[\]]+")
_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:[{_UNRESERVED}{_SUB_DELIMS}%:@/?#\[\]]*")
_STATEMENT = re.compile(rf"[{_UNRESERVED}{_SUB_DELIMS}:/?#\[\]@ ]+")
_REQUEST_ID = re.compile(rf"[{_UNRESERVED}{_SUB_DELIMS}%:@]*")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NONCE = re.compile(r"[A-Za-z0-9]{8,}")
_CHAIN_ID = re.compile(r"[0-9]+")
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?(?P<offset>[Zz]|[+\-][0-9]{2}:[0-9]{2})"
)
_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")
_RECOVERY_IDS = frozenset({0, 1, 27, 28})


def _reject(reason: str) -> ProofRejected:
    return ProofRejected(MESSAGE, reason)


@dataclass(frozen=True, kw_only=True)
class SiweMessage:
    """One EIP-4361 message; construction checks every field against the EIP's grammar."""

    domain: str
    """The RFC 3986 authority asking for the signature (``host[:port]``)."""
    address: str
    """The signer's address, EIP-55 checksummed."""
    statement: str | None
    """One line a person reads before signing; ASCII only, as the EIP requires."""
    uri: str
    version: str = "1"
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()
    scheme: str | None = None

    def __post_init__(self) -> None:
        _check(_AUTHORITY, self.domain, "domain", "an RFC 3986 authority such as example.com")
        if self.scheme is not None:
            _check(_SCHEME, self.scheme, "scheme", "an RFC 3986 scheme such as https")
        _check_address(self.address)
        if self.statement is not None:
            _check(
                _STATEMENT,
                self.statement,
                "statement",
                "one non-empty line of ASCII letters, digits, spaces and URI punctuation",
            )
        _check(_URI, self.uri, "URI", "an RFC 3986 URI such as https://example.com/login")
        if self.version != "1":
            raise _reject(f"version {self.version!r} is not supported; EIP-4361 knows only '1'")
        if self.chain_id < 0:
            raise _reject(f"chain id {self.chain_id} is negative")
        _check(_NONCE, self.nonce, "nonce", "at least 8 ASCII letters and digits")
        for name in ("issued_at", "expiration_time", "not_before"):
            value = getattr(self, name)
            if value is not None:
                _check_time(value, name.replace("_", " "))
        if self.request_id is not None:
            _check(_REQUEST_ID, self.request_id, "request id", "RFC 3986 path characters")
        for resource in self.resources:
            _check(_URI, resource, "resource", "an RFC 3986 URI")

    def text(self) -> str:
        """The message exactly as EIP-4361 lays it out: what the signer signs."""
        origin = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [origin + _HEADER, self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {rfc3339(self.issued_at)}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {rfc3339(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {rfc3339(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)

    @staticmethod
    def parse(text: str) -> SiweMessage:
        return parse(text)


def parse(text: str) -> SiweMessage:
    """The message ``text`` holds; ``ProofRejected`` saying which line is wrong and how."""
    if "\r" in text:
        raise _reject("it has a carriage return; EIP-4361 lines end with a line feed alone")
    lines = _Lines(text.split("\n"))

    header = lines.take("the header")
    if not header.endswith(_HEADER):
        raise _reject(f"line 1 must end with {_HEADER.strip()!r}, it reads {header!r}")
    origin = header.removesuffix(_HEADER)
    scheme, separator, domain = origin.partition("://")
    if not separator:
        scheme, domain = "", origin
    address = lines.take("the address")
    lines.blank("after the address")
    statement: str | None = lines.take("the statement or a blank line")
    if statement:
        lines.blank("after the statement")
    else:
        statement = None

    values: dict[str, str] = {}
    for label in ("URI", "Version", "Chain ID", "Nonce", "Issued At"):
        values[label] = lines.field(label)
    for label in ("Expiration Time", "Not Before", "Request ID"):
        if lines.next_starts(f"{label}: "):
            values[label] = lines.field(label)
    resources: list[str] = []
    if lines.next_is("Resources:"):
        lines.take("Resources:")
        while lines.next_starts("- "):
            resources.append(lines.take("a resource").removeprefix("- "))
    lines.end()

    if not _CHAIN_ID.fullmatch(values["Chain ID"]):
        raise _reject(f"chain id {values['Chain ID']!r} is not a decimal number")
    expiration = values.get("Expiration Time")
    not_before = values.get("Not Before")
    return SiweMessage(
        scheme=scheme or None,
        domain=domain,
        address=address,
        statement=statement,
        uri=values["URI"],
        version=values["Version"],
        chain_id=int(values["Chain ID"]),
        nonce=values["Nonce"],
        issued_at=parse_rfc3339(values["Issued At"], "issued at"),
        expiration_time=parse_rfc3339(expiration, "expiration time") if expiration else None,
        not_before=parse_rfc3339(not_before, "not before") if not_before else None,
        request_id=values.get("Request ID"),
        resources=tuple(resources),
    )


def recover(text: str, signature: str) -> ChecksumAddress:
    """The address whose key signed ``text`` (EIP-191 ``personal_sign``).

    ``ProofRejected`` if the signature is not 65 bytes of hex or no key can have made it.
    Whether that address is the one the message names is for the caller to check.
    """
    if not _SIGNATURE.fullmatch(signature):
        raise ProofRejected("signature", "it must be 65 bytes written as 0x and 130 hex digits")
    recovery_id = int(signature[-2:], 16)
    if recovery_id not in _RECOVERY_IDS:
        raise ProofRejected(
            "signature", f"its recovery id (last byte) is {recovery_id}, not 27 or 28 (or 0, 1)"
        )
    try:
        signer = Account.recover_message(encode_defunct(text=text), signature=signature)
    except (ValueError, BadSignature, ValidationError) as exc:
        raise ProofRejected("signature", f"no key can have made it ({exc})") from None
    return to_checksum_address(signer)


def rfc3339(moment: datetime) -> str:
    """``moment`` as an RFC 3339 date-time; UTC is written ``Z``."""
    written = moment.isoformat()
    return written.removesuffix("+00:00") + "Z" if moment.utcoffset() == timedelta(0) else written


def parse_rfc3339(value: str, name: str) -> datetime:
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise _reject(f"{name} {value!r} is not an RFC 3339 date-time such as 2021-09-30T16:25:24Z")
    # Python keeps microseconds: finer fractions are cut, which changes no comparison we make.
    fraction = f".{match['fraction'][:6]}" if match["fraction"] else ""
    offset = "+00:00" if match["offset"] in ("Z", "z") else match["offset"]
    try:
        return datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{offset}")
    except ValueError as exc:
        raise _reject(f"{name} {value!r} is not a real date-time: {exc}") from None


class _Lines:
    """The message's lines, taken in order; every complaint names the 1-based line."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._at = 0

    def take(self, what: str) -> str:
        if self._at >= len(self._lines):
            raise _reject(f"it ends at line {self._at}, before {what}")
        line = self._lines[self._at]
        self._at += 1
        return line

    def blank(self, where: str) -> None:
        line = self.take(f"the blank line {where}")
        if line:
            raise _reject(f"line {self._at} must be blank ({where}), it reads {line!r}")

    def field(self, label: str) -> str:
        line = self.take(f"'{label}: …'")
        if not line.startswith(f"{label}: "):
            raise _reject(f"line {self._at} must be '{label}: …', it reads {line!r}")
        return line.removeprefix(f"{label}: ")

    def next_starts(self, prefix: str) -> bool:
        return self._at < len(self._lines) and self._lines[self._at].startswith(prefix)

    def next_is(self, line: str) -> bool:
        return self._at < len(self._lines) and self._lines[self._at] == line

    def end(self) -> None:
        if self._at < len(self._lines):
            line = self._lines[self._at]
            last = self._at == len(self._lines) - 1
            hint = " (a trailing line feed?)" if last and not line else ""
            raise _reject(f"line {self._at + 1} is not a field EIP-4361 expects: {line!r}{hint}")


def _check(pattern: re.Pattern[str], value: str, name: str, expected: str) -> None:
    if not pattern.fullmatch(value):
        raise _reject(f"{name} {value!r} is not {expected}")


def _check_address(address: str) -> None:
    if not _ADDRESS.fullmatch(address):
        raise _reject(f"address {address!r} is not 0x and 40 hex digits")
    if not is_checksum_address(address):
        raise _reject(
            f"address {address} is not in its EIP-55 checksum form "
            f"{to_checksum_address(address)}, which EIP-4361 requires"
        )


def _check_time(moment: datetime, name: str) -> None:
    offset = moment.utcoffset()
    if offset is None:
        raise _reject(f"{name} {moment} has no time zone; RFC 3339 needs one")
    if offset % timedelta(minutes=1):
        raise _reject(f"{name} {moment} has a UTC offset of {offset}, not whole minutes")
