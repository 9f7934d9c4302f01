"""A marketplace's seller accounts, the ledger addresses each proved it controls, their counts.

Linking an address takes two steps. The marketplace asks for a challenge
(:meth:`Sellers.issue_nonce`): an EIP-4361 message whose statement names the marketplace
and the seller, with a fresh nonce kept here together with the address, domain, URI and
chain it was issued for. The seller signs the message with the address's key and the
marketplace hands it in (:meth:`Sellers.link`). The proof holds only if the message is the
one issued, word for word where it matters, signed by the address it names, and its nonce
is unused and unexpired; the nonce is then spent and the address added in one transaction.

A failed proof leaves the nonce unspent, so a seller who signed with the wrong key can
retry within the challenge's lifetime.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_utils.address import is_checksum_address, to_checksum_address
from sqlalchemy import Engine, and_, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from ledger.errors import InvalidRecord, NotFound, ProofRejected
from ledger.marketplace.siwe import SiweMessage, parse, recover
from ledger.store.database import session
from ledger.store.market_models import (
    EXTERNAL_ID_LENGTH,
    Organisation,
    Seller,
    SellerAddress,
    SellerNonce,
)

__all__ = [
    "NONCE_TTL",
    "PROOF",
    "IssuedChallenge",
    "SellerCounts",
    "SellerRead",
    "Sellers",
    "ledger_address",
    "link_statement",
    "validate_seller_id",
]

NONCE_TTL = timedelta(minutes=10)
"""How long a seller has to sign a challenge."""
PROOF = "address proof"
"""What a rejected link is about (``ProofRejected.what``)."""

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_IN_CHUNK = 1000
# What EIP-4361 allows in a statement, less '[' which opens the escape of everything else.
_STATEMENT_SAFE = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:/?#]@ ")


@dataclass(frozen=True)
class IssuedChallenge:
    nonce: str
    message_text: str
    """The EIP-4361 message the seller signs, exactly as it must come back."""
    expires_at: datetime


@dataclass(frozen=True)
class SellerCounts:
    """Listings of one seller checked in one batch: all of them, blocked, never held."""

    checked: int
    blocked: int
    never_held: int


@dataclass(frozen=True)
class SellerRead:
    seller_id: str
    addresses: tuple[str, ...]
    """Linked ledger addresses, checksummed, oldest link first."""
    listings_checked: int
    listings_blocked: int
    never_held: int
    confirmed_reports: int
    created_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


def validate_seller_id(value: str) -> str:
    """A marketplace's seller id as given: 1 to 128 printable characters (no line breaks)."""
    if not value or len(value) > EXTERNAL_ID_LENGTH:
        raise InvalidRecord(
            f"seller id {value[:40]!r}",
            f"it has {len(value)} characters; a seller id has 1 to {EXTERNAL_ID_LENGTH}",
        )
    if not value.isprintable():
        bad = next(char for char in value if not char.isprintable())
        raise InvalidRecord(f"seller id {value!r}", f"it holds the unprintable character {bad!r}")
    return value


def ledger_address(value: str) -> str:
    """``value`` as a checksummed address; InvalidRecord if it is none, or its checksum fails.

    All-lowercase (or all-uppercase) hex is taken as it is; mixed case must be EIP-55, as a
    wrong mix is the sign of a mistyped address.
    """
    if not _ADDRESS.fullmatch(value):
        raise InvalidRecord(f"address {value!r}", "a ledger address is 0x and 40 hex digits")
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise InvalidRecord(
            f"address {value}", "its mixed case is not the EIP-55 checksum: is it mistyped?"
        )
    return to_checksum_address(value)


def link_statement(marketplace_name: str, marketplace_id: int, seller_id: str) -> str:
    """The sentence a seller signs: which account, on which marketplace, gets the address.

    EIP-4361 statements are plain ASCII, so any other character is written ``[U+XXXX]``.
    """
    return (
        f"Link seller account '{_ascii(seller_id)}' on marketplace "
        f"'{_ascii(marketplace_name)}' (#{marketplace_id}) to this address for Veritag."
    )


class Sellers:
    """Sellers of marketplaces in the store behind ``engine``."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        self._clock = clock

    def issue_nonce(
        self,
        marketplace_id: int,
        marketplace_name: str,
        seller_id: str,
        address: str,
        *,
        domain: str,
        uri: str,
        chain_id: int,
        ttl: timedelta = NONCE_TTL,
    ) -> IssuedChallenge:
        """A challenge for the seller to sign with ``address``; the seller is created if new."""
        seller_id = validate_seller_id(seller_id)
        address = ledger_address(address)
        if ttl <= timedelta(0):
            raise InvalidRecord("challenge", f"its lifetime must be positive, not {ttl}")
        now = self._now().replace(microsecond=0)
        message = SiweMessage(
            domain=domain,
            address=address,
            statement=link_statement(marketplace_name, marketplace_id, seller_id),
            uri=uri,
            chain_id=chain_id,
            nonce=secrets.token_hex(16),
            issued_at=now,
            expiration_time=now + ttl,
        )
        with session(self.engine) as db:
            _upsert_sellers(db, marketplace_id, {seller_id: SellerCounts(0, 0, 0)}, now)
            db.add(
                SellerNonce(
                    nonce=message.nonce,
                    marketplace_id=marketplace_id,
                    seller_id=seller_id,
                    address=address,
                    domain=domain,
                    uri=uri,
                    chain_id=chain_id,
                    issued_at=now,
                    expires_at=now + ttl,
                )
            )
        return IssuedChallenge(message.nonce, message.text(), now + ttl)

    def link(
        self,
        marketplace_id: int,
        seller_id: str,
        message_text: str,
        signature: str,
        *,
        chain_id: int,
    ) -> SellerRead:
        """Add the address a signed challenge proves; ``ProofRejected`` saying why if not."""
        seller_id = validate_seller_id(seller_id)
        message = parse(message_text)
        signer = recover(message_text, signature)
        now = self._now()
        with session(self.engine) as db:
            marketplace = db.get(Organisation, marketplace_id)
            if marketplace is None:
                raise NotFound("marketplace", str(marketplace_id))
            expected = link_statement(marketplace.name, marketplace_id, seller_id)
            if message.statement != expected:
                raise ProofRejected(
                    PROOF,
                    f"the message reads {message.statement!r}, but linking seller {seller_id!r} "
                    f"of marketplace {marketplace.name!r} (#{marketplace_id}) needs {expected!r}",
                )
            if message.chain_id != chain_id:
                raise ProofRejected(
                    PROOF,
                    f"the message is for chain {message.chain_id}, the registry is on chain "
                    f"{chain_id}",
                )
            issued = db.get(SellerNonce, message.nonce)
            if issued is None:
                raise ProofRejected(
                    PROOF, f"nonce {message.nonce} was never issued; ask for a challenge first"
                )
            _check_issued(issued, message, marketplace_id, seller_id)
            if issued.used_at is not None:
                raise ProofRejected(
                    PROOF,
                    f"nonce already used (at {_utc(issued.used_at):%Y-%m-%d %H:%M:%S} UTC); "
                    "ask for a new challenge",
                )
            _check_fresh(issued, message, now)
            if signer != message.address:
                raise ProofRejected(
                    PROOF, f"it was signed by {signer}, not by {message.address} which it names"
                )
            spent = db.exec(
                update(SellerNonce)
                .where(col(SellerNonce.nonce) == message.nonce, col(SellerNonce.used_at).is_(None))
                .values(used_at=now)
            )
            if spent.rowcount != 1:  # another request spent it since we read it
                raise ProofRejected(PROOF, "nonce already used; ask for a new challenge")
            linked = db.exec(
                select(SellerAddress.id).where(
                    SellerAddress.marketplace_id == marketplace_id,
                    SellerAddress.seller_id == seller_id,
                    SellerAddress.address == message.address,
                )
            ).first()
            if linked is None:
                db.add(
                    SellerAddress(
                        marketplace_id=marketplace_id,
                        seller_id=seller_id,
                        address=message.address,
                        linked_at=now,
                    )
                )
        return self.get(marketplace_id, seller_id)

    def get(self, marketplace_id: int, seller_id: str) -> SellerRead:
        """The marketplace's seller; NotFound if it has none by that id."""
        seller_id = validate_seller_id(seller_id)
        with session(self.engine) as db:
            seller = db.get(Seller, (marketplace_id, seller_id))
            if seller is None:
                raise NotFound("seller", seller_id)
            addresses = db.exec(
                select(SellerAddress.address)
                .where(
                    SellerAddress.marketplace_id == marketplace_id,
                    SellerAddress.seller_id == seller_id,
                )
                .order_by(col(SellerAddress.id))
            ).all()
        return SellerRead(
            seller_id=seller.seller_id,
            addresses=tuple(addresses),
            listings_checked=seller.listings_checked,
            listings_blocked=seller.listings_blocked,
            never_held=seller.never_held,
            confirmed_reports=seller.confirmed_reports,
            created_at=_utc(seller.created_at),
        )

    def addresses_of(
        self, marketplace_id: int, seller_ids: Iterable[str]
    ) -> dict[str, frozenset[str]]:
        """Linked addresses of each known seller (empty if none); unknown sellers are absent.

        One query per 1,000 sellers asked about.
        """
        wanted = sorted(set(seller_ids))
        found: dict[str, set[str]] = {}
        with session(self.engine) as db:
            for start in range(0, len(wanted), _IN_CHUNK):
                rows = db.exec(
                    select(Seller.seller_id, SellerAddress.address)
                    .outerjoin(
                        SellerAddress,
                        and_(
                            col(SellerAddress.marketplace_id) == col(Seller.marketplace_id),
                            col(SellerAddress.seller_id) == col(Seller.seller_id),
                        ),
                    )
                    .where(
                        Seller.marketplace_id == marketplace_id,
                        col(Seller.seller_id).in_(wanted[start : start + _IN_CHUNK]),
                    )
                ).all()
                for seller_id, address in rows:
                    addresses = found.setdefault(seller_id, set())
                    if address is not None:
                        addresses.add(address)
        return {seller_id: frozenset(addresses) for seller_id, addresses in found.items()}

    def add_counts(self, marketplace_id: int, counts: Mapping[str, SellerCounts]) -> None:
        """Add a batch's listing counts to its sellers (created if new), in one transaction."""
        for seller_id, count in counts.items():
            validate_seller_id(seller_id)
            if min(count.checked, count.blocked, count.never_held) < 0:
                raise InvalidRecord(f"counts of seller {seller_id!r}", f"{count} is negative")
        if not counts:
            return
        with session(self.engine) as db:
            _upsert_sellers(db, marketplace_id, counts, self._now())

    def unlink(self, marketplace_id: int, seller_id: str, address: str) -> None:
        """Take a linked address off the seller; NotFound if it is not linked."""
        seller_id = validate_seller_id(seller_id)
        address = ledger_address(address)
        with session(self.engine) as db:
            if db.get(Seller, (marketplace_id, seller_id)) is None:
                raise NotFound("seller", seller_id)
            removed = db.exec(
                delete(SellerAddress).where(
                    col(SellerAddress.marketplace_id) == marketplace_id,
                    col(SellerAddress.seller_id) == seller_id,
                    col(SellerAddress.address) == address,
                )
            )
            if removed.rowcount == 0:
                raise NotFound(f"address of seller {seller_id!r}", address)

    def purge_nonces(self, *, expired_for: timedelta = timedelta(days=1)) -> int:
        """Forget nonces that expired ``expired_for`` ago; returns how many went.

        Kept a while after expiry so that a late replay is told "already used" or
        "expired" rather than "never issued".
        """
        cutoff = self._now() - expired_for
        with session(self.engine) as db:
            purged = db.exec(delete(SellerNonce).where(col(SellerNonce.expires_at) < cutoff))
            return int(purged.rowcount)

    def _now(self) -> datetime:
        return _utc(self._clock())


def _check_issued(
    issued: SellerNonce, message: SiweMessage, marketplace_id: int, seller_id: str
) -> None:
    if (issued.marketplace_id, issued.seller_id) != (marketplace_id, seller_id):
        raise ProofRejected(
            PROOF,
            f"nonce {issued.nonce} was issued for seller {issued.seller_id!r} of marketplace "
            f"#{issued.marketplace_id}, not for seller {seller_id!r} of marketplace "
            f"#{marketplace_id}",
        )
    for name, in_message, in_challenge in (
        ("address", message.address, issued.address),
        ("domain", message.domain, issued.domain),
        ("URI", message.uri, issued.uri),
        ("chain id", message.chain_id, issued.chain_id),
    ):
        if in_message != in_challenge:
            raise ProofRejected(
                PROOF,
                f"the message's {name} is {in_message!r}, but its nonce was issued for "
                f"{in_challenge!r}",
            )


def _check_fresh(issued: SellerNonce, message: SiweMessage, now: datetime) -> None:
    expires = _utc(issued.expires_at)
    if message.expiration_time is not None:
        expires = min(expires, message.expiration_time)
    if now >= expires:
        raise ProofRejected(
            PROOF,
            f"nonce expired at {expires:%Y-%m-%d %H:%M:%S} UTC; ask for a new challenge",
        )
    if message.not_before is not None and now < message.not_before:
        raise ProofRejected(PROOF, f"the message is not valid before {message.not_before}")


def _upsert_sellers(
    db: Session, marketplace_id: int, counts: Mapping[str, SellerCounts], now: datetime
) -> None:
    """Create the sellers that are new and add ``counts`` to all, in one statement."""
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Seller)
    columns = Seller.__table__.c  # type: ignore[attr-defined]
    added: dict[str, Any] = {
        name: columns[name] + statement.excluded[name]
        for name in ("listings_checked", "listings_blocked", "never_held")
    }
    db.exec(
        statement.on_conflict_do_update(index_elements=["marketplace_id", "seller_id"], set_=added),
        params=[
            {
                "marketplace_id": marketplace_id,
                "seller_id": seller_id,
                "created_at": now,
                "listings_checked": count.checked,
                "listings_blocked": count.blocked,
                "never_held": count.never_held,
                "confirmed_reports": 0,
            }
            for seller_id, count in counts.items()
        ],
    )


def _ascii(value: str) -> str:
    return "".join(char if char in _STATEMENT_SAFE else f"[U+{ord(char):04X}]" for char in value)


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; the store writes UTC only.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
