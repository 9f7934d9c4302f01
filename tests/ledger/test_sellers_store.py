"""Sellers of a marketplace: challenges, address proofs (EIP-4361), lookups and counts.

Runs on SQLite and PostgreSQL (the counts are an upsert that each dialect spells its own way).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from ledger.errors import InvalidRecord, NotFound, ProofRejected
from ledger.marketplace.siwe import SiweMessage, parse
from ledger.store.orgs import Organisations, Role
from ledger.store.sellers import (
    IssuedChallenge,
    SellerCounts,
    SellerRead,
    Sellers,
    link_statement,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHAIN_ID = 31337
DOMAIN = "api.veritag.example"
URI = "https://api.veritag.example/"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def account(label: str) -> LocalAccount:
    key: LocalAccount = Account.from_key(keccak(text=label))
    return key


def sign(signer: LocalAccount, text: str) -> str:
    return signer.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


SELLER_KEY = account("seller S-1")
OTHER_KEY = account("someone else")


@dataclass(frozen=True)
class Market:
    id: int
    name: str


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sellers(engine: Engine, clock: Clock) -> Sellers:
    return Sellers(engine, clock=clock)


@pytest.fixture
def market(engine: Engine) -> Market:
    org, _key = Organisations(engine).create("Market One", Role.MARKETPLACE)
    return Market(org.id, org.name)


@pytest.fixture
def other_market(engine: Engine) -> Market:
    org, _key = Organisations(engine).create("Market Two", Role.MARKETPLACE)
    return Market(org.id, org.name)


def challenge(
    sellers: Sellers, market: Market, seller_id: str = "S-1", signer: LocalAccount = SELLER_KEY
) -> IssuedChallenge:
    return sellers.issue_nonce(
        market.id, market.name, seller_id, signer.address, domain=DOMAIN, uri=URI, chain_id=CHAIN_ID
    )


def link(
    sellers: Sellers,
    market: Market,
    text: str,
    signer: LocalAccount = SELLER_KEY,
    seller_id: str = "S-1",
) -> SellerRead:
    return sellers.link(market.id, seller_id, text, sign(signer, text), chain_id=CHAIN_ID)


def rejected(excinfo: pytest.ExceptionInfo[ProofRejected]) -> str:
    assert excinfo.value.what == "address proof"
    return excinfo.value.reason


# ───────────── challenges ─────────────


def test_a_challenge_is_an_eip_4361_message_naming_marketplace_seller_and_nonce(
    sellers: Sellers, market: Market
) -> None:
    issued = challenge(sellers, market)

    assert parse(issued.message_text) == SiweMessage(
        domain=DOMAIN,
        address=SELLER_KEY.address,
        statement=(
            f"Link seller account 'S-1' on marketplace 'Market One' (#{market.id}) "
            "to this address for Veritag."
        ),
        uri=URI,
        chain_id=CHAIN_ID,
        nonce=issued.nonce,
        issued_at=T0,
        expiration_time=T0 + timedelta(minutes=10),
    )
    assert issued.expires_at == T0 + timedelta(minutes=10)
    assert len(issued.nonce) == 32


def test_each_challenge_has_a_fresh_nonce(sellers: Sellers, market: Market) -> None:
    nonces = {challenge(sellers, market).nonce for _ in range(5)}

    assert len(nonces) == 5


def test_a_challenge_creates_the_seller_with_no_address(sellers: Sellers, market: Market) -> None:
    challenge(sellers, market, "S-9")

    assert sellers.get(market.id, "S-9") == SellerRead("S-9", (), 0, 0, 0, 0, T0)


def test_a_challenge_accepts_a_lowercase_address_and_checksums_it(
    sellers: Sellers, market: Market
) -> None:
    issued = sellers.issue_nonce(
        market.id,
        market.name,
        "S-1",
        SELLER_KEY.address.lower(),
        domain=DOMAIN,
        uri=URI,
        chain_id=CHAIN_ID,
    )

    assert parse(issued.message_text).address == SELLER_KEY.address


@pytest.mark.parametrize(
    ("address", "what", "reason"),
    [
        ("0x1234", "address '0x1234'", "a ledger address is 0x and 40 hex digits"),
        (
            "0x" + "Ab" * 20,
            "address 0x" + "Ab" * 20,
            "its mixed case is not the EIP-55 checksum: is it mistyped?",
        ),
    ],
)
def test_a_challenge_for_a_malformed_address_is_refused(
    sellers: Sellers, market: Market, address: str, what: str, reason: str
) -> None:
    with pytest.raises(InvalidRecord) as caught:
        sellers.issue_nonce(
            market.id, market.name, "S-1", address, domain=DOMAIN, uri=URI, chain_id=CHAIN_ID
        )

    assert (caught.value.what, caught.value.reason) == (what, reason)


@pytest.mark.parametrize(
    ("seller_id", "what", "reason"),
    [
        ("", "seller id ''", "it has 0 characters; a seller id has 1 to 128"),
        (
            "s" * 129,
            "seller id " + repr("s" * 40),
            "it has 129 characters; a seller id has 1 to 128",
        ),
        ("S\n1", "seller id 'S\\n1'", "it holds the unprintable character '\\n'"),
    ],
)
def test_a_malformed_seller_id_is_refused(
    sellers: Sellers, market: Market, seller_id: str, what: str, reason: str
) -> None:
    with pytest.raises(InvalidRecord) as caught:
        challenge(sellers, market, seller_id)

    assert (caught.value.what, caught.value.reason) == (what, reason)


def test_characters_a_statement_cannot_hold_are_spelled_out() -> None:
    assert link_statement("Märkt [1]", 7, 'Señor "X"') == (
        "Link seller account 'Se[U+00F1]or [U+0022]X[U+0022]' on marketplace "
        "'M[U+00E4]rkt [U+005B]1]' (#7) to this address for Veritag."
    )


@given(st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=128))
def test_every_seller_id_makes_a_statement_eip_4361_accepts(seller_id: str) -> None:
    statement = link_statement("Market One", 3, seller_id)

    message = SiweMessage(
        domain=DOMAIN,
        address=SELLER_KEY.address,
        statement=statement,
        uri=URI,
        chain_id=CHAIN_ID,
        nonce="abcdefgh",
        issued_at=T0,
    )
    assert parse(message.text()).statement == statement


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_different_seller_ids_make_different_statements(first: str, second: str) -> None:
    if first != second:
        assert link_statement("M", 1, first) != link_statement("M", 1, second)


# ───────────── linking ─────────────


def test_a_signed_challenge_links_its_address_to_the_seller(
    sellers: Sellers, market: Market
) -> None:
    issued = challenge(sellers, market)

    seller = link(sellers, market, issued.message_text)

    assert seller == SellerRead("S-1", (SELLER_KEY.address,), 0, 0, 0, 0, T0)
    assert sellers.get(market.id, "S-1") == seller


def test_a_seller_may_link_several_addresses_and_relinking_one_adds_nothing(
    sellers: Sellers, market: Market
) -> None:
    link(sellers, market, challenge(sellers, market).message_text)
    link(sellers, market, challenge(sellers, market, signer=OTHER_KEY).message_text, OTHER_KEY)

    seller = link(sellers, market, challenge(sellers, market).message_text)

    assert seller.addresses == (SELLER_KEY.address, OTHER_KEY.address)


def test_a_replayed_message_is_rejected_because_its_nonce_is_spent(
    sellers: Sellers, market: Market, clock: Clock
) -> None:
    text = challenge(sellers, market).message_text
    link(sellers, market, text)
    clock.now = T0 + timedelta(minutes=1)

    with pytest.raises(ProofRejected) as caught:
        link(sellers, market, text)

    assert rejected(caught) == (
        "nonce already used (at 2026-03-01 12:00:00 UTC); ask for a new challenge"
    )


def test_a_message_signed_after_its_nonce_expired_is_rejected(
    sellers: Sellers, market: Market, clock: Clock
) -> None:
    text = challenge(sellers, market).message_text
    clock.now = T0 + timedelta(minutes=10)

    with pytest.raises(ProofRejected) as caught:
        link(sellers, market, text)

    assert rejected(caught) == ("nonce expired at 2026-03-01 12:10:00 UTC; ask for a new challenge")


def test_a_message_signed_just_before_expiry_links(
    sellers: Sellers, market: Market, clock: Clock
) -> None:
    text = challenge(sellers, market).message_text
    clock.now = T0 + timedelta(minutes=9, seconds=59)

    assert link(sellers, market, text).addresses == (SELLER_KEY.address,)


def test_another_marketplaces_message_is_rejected_naming_the_mismatch(
    sellers: Sellers, market: Market, other_market: Market
) -> None:
    text = challenge(sellers, other_market).message_text

    with pytest.raises(ProofRejected) as caught:
        link(sellers, market, text)

    assert rejected(caught) == (
        f"the message reads \"Link seller account 'S-1' on marketplace 'Market Two' "
        f"(#{other_market.id}) to this address for Veritag.\", but linking seller 'S-1' of "
        f"marketplace 'Market One' (#{market.id}) needs \"Link seller account 'S-1' on "
        f"marketplace 'Market One' (#{market.id}) to this address for Veritag.\""
    )
    with pytest.raises(NotFound):
        sellers.get(market.id, "S-1")


def test_another_sellers_message_is_rejected_naming_the_mismatch(
    sellers: Sellers, market: Market
) -> None:
    text = challenge(sellers, market, "S-2").message_text

    with pytest.raises(ProofRejected) as caught:
        link(sellers, market, text, seller_id="S-1")

    assert rejected(caught).startswith(
        "the message reads \"Link seller account 'S-2' on marketplace 'Market One'"
    )
    assert sellers.get(market.id, "S-2").addresses == ()


def test_a_signature_by_another_key_is_rejected_and_leaves_the_nonce_usable(
    sellers: Sellers, market: Market
) -> None:
    text = challenge(sellers, market).message_text

    with pytest.raises(ProofRejected) as caught:
        link(sellers, market, text, OTHER_KEY)

    assert rejected(caught) == (
        f"it was signed by {OTHER_KEY.address}, not by {SELLER_KEY.address} which it names"
    )
    assert link(sellers, market, text).addresses == (SELLER_KEY.address,)


def test_a_message_tampered_with_after_signing_is_rejected(
    sellers: Sellers, market: Market
) -> None:
    text = challenge(sellers, market).message_text
    signature = sign(SELLER_KEY, text)
    tampered = text.replace(
        "Expiration Time: 2026-03-01T12:10:00Z", "Expiration Time: 2027-01-01T00:00:00Z"
    )
    assert tampered != text

    with pytest.raises(ProofRejected) as caught:
        sellers.link(market.id, "S-1", tampered, signature, chain_id=CHAIN_ID)

    assert rejected(caught).startswith("it was signed by 0x")
    assert rejected(caught).endswith(f", not by {SELLER_KEY.address} which it names")
    assert sellers.get(market.id, "S-1").addresses == ()


def test_a_nonce_issued_for_another_address_cannot_link_a_different_one(
    sellers: Sellers, market: Market
) -> None:
    text = challenge(sellers, market).message_text
    swapped = text.replace(SELLER_KEY.address, OTHER_KEY.address)

    with pytest.raises(ProofRejected) as caught:
        link(sellers, market, swapped, OTHER_KEY)

    assert rejected(caught) == (
        f"the message's address is '{OTHER_KEY.address}', but its nonce was issued for "
        f"'{SELLER_KEY.address}'"
    )


def test_a_message_with_a_nonce_never_issued_is_rejected(sellers: Sellers, market: Market) -> None:
    text = challenge(sellers, market).message_text
    issued_nonce = parse(text).nonce
    forged = text.replace(issued_nonce, "f" * 32)

    with pytest.raises(ProofRejected) as caught:
        link(sellers, market, forged)

    assert rejected(caught) == f"nonce {'f' * 32} was never issued; ask for a challenge first"


def test_a_message_for_another_chain_is_rejected(sellers: Sellers, market: Market) -> None:
    text = challenge(sellers, market).message_text

    with pytest.raises(ProofRejected) as caught:
        sellers.link(market.id, "S-1", text, sign(SELLER_KEY, text), chain_id=1)

    assert rejected(caught) == "the message is for chain 31337, the registry is on chain 1"


def test_a_message_for_another_domain_is_rejected(sellers: Sellers, market: Market) -> None:
    text = challenge(sellers, market).message_text
    moved = text.replace(f"{DOMAIN} wants", "phish.example wants")

    with pytest.raises(ProofRejected) as caught:
        link(sellers, market, moved)

    assert rejected(caught) == (
        f"the message's domain is 'phish.example', but its nonce was issued for '{DOMAIN}'"
    )


def test_a_malformed_message_or_signature_is_rejected_before_anything_is_read(
    sellers: Sellers, market: Market
) -> None:
    text = challenge(sellers, market).message_text

    with pytest.raises(ProofRejected) as bad_message:
        sellers.link(market.id, "S-1", "hello", sign(SELLER_KEY, "hello"), chain_id=CHAIN_ID)
    with pytest.raises(ProofRejected) as bad_signature:
        sellers.link(market.id, "S-1", text, "0xdead", chain_id=CHAIN_ID)

    assert (bad_message.value.what, bad_message.value.reason) == (
        "sign-in message",
        "line 1 must end with 'wants you to sign in with your Ethereum account:', it reads 'hello'",
    )
    assert (bad_signature.value.what, bad_signature.value.reason) == (
        "signature",
        "it must be 65 bytes written as 0x and 130 hex digits",
    )


# ───────────── reads, counts, unlinking ─────────────


def test_a_marketplace_cannot_read_another_marketplaces_seller(
    sellers: Sellers, market: Market, other_market: Market
) -> None:
    challenge(sellers, other_market, "S-7")

    with pytest.raises(NotFound) as caught:
        sellers.get(market.id, "S-7")

    assert str(caught.value) == "no seller 'S-7'"


def test_addresses_of_answers_known_sellers_only_and_per_marketplace(
    sellers: Sellers, market: Market, other_market: Market
) -> None:
    link(sellers, market, challenge(sellers, market, "S-1").message_text)
    challenge(sellers, market, "S-2")
    other = challenge(sellers, other_market, "S-3", OTHER_KEY).message_text
    link(sellers, other_market, other, OTHER_KEY, seller_id="S-3")

    assert sellers.addresses_of(market.id, ["S-1", "S-2", "S-3", "S-1"]) == {
        "S-1": frozenset({SELLER_KEY.address}),
        "S-2": frozenset(),
    }
    assert sellers.addresses_of(other_market.id, ["S-3"]) == {"S-3": frozenset({OTHER_KEY.address})}
    assert sellers.addresses_of(market.id, []) == {}


def test_add_counts_adds_to_known_sellers_and_creates_new_ones(
    sellers: Sellers, market: Market, clock: Clock
) -> None:
    challenge(sellers, market, "S-1")
    clock.now = T0 + timedelta(hours=1)

    sellers.add_counts(market.id, {"S-1": SellerCounts(3, 1, 1), "S-new": SellerCounts(2, 2, 0)})
    sellers.add_counts(market.id, {"S-1": SellerCounts(4, 0, 2)})

    assert sellers.get(market.id, "S-1") == SellerRead("S-1", (), 7, 1, 3, 0, T0)
    assert sellers.get(market.id, "S-new") == SellerRead(
        "S-new", (), 2, 2, 0, 0, T0 + timedelta(hours=1)
    )


def test_add_counts_of_a_thousand_sellers_lands_in_one_go(sellers: Sellers, market: Market) -> None:
    batch = {f"S-{n}": SellerCounts(1, n % 2, 0) for n in range(1000)}

    sellers.add_counts(market.id, batch)
    sellers.add_counts(market.id, batch)

    assert sellers.get(market.id, "S-999") == SellerRead("S-999", (), 2, 2, 0, 0, T0)
    assert len(sellers.addresses_of(market.id, batch)) == 1000


def test_add_counts_with_one_bad_entry_applies_none(sellers: Sellers, market: Market) -> None:
    with pytest.raises(InvalidRecord) as caught:
        sellers.add_counts(market.id, {"S-1": SellerCounts(1, 0, 0), "S-2": SellerCounts(-1, 0, 0)})

    assert caught.value.reason == "SellerCounts(checked=-1, blocked=0, never_held=0) is negative"
    assert sellers.addresses_of(market.id, ["S-1", "S-2"]) == {}


def test_unlink_takes_the_address_off_and_a_second_unlink_is_not_found(
    sellers: Sellers, market: Market
) -> None:
    link(sellers, market, challenge(sellers, market).message_text)

    sellers.unlink(market.id, "S-1", SELLER_KEY.address.lower())

    assert sellers.get(market.id, "S-1").addresses == ()
    with pytest.raises(NotFound) as caught:
        sellers.unlink(market.id, "S-1", SELLER_KEY.address)
    assert str(caught.value) == f"no address of seller 'S-1' {SELLER_KEY.address!r}"


def test_purge_forgets_nonces_only_a_day_after_they_expired(
    sellers: Sellers, market: Market, clock: Clock
) -> None:
    text = challenge(sellers, market).message_text
    clock.now = T0 + timedelta(days=1, minutes=9)
    assert sellers.purge_nonces() == 0
    clock.now = T0 + timedelta(days=1, minutes=11)

    assert sellers.purge_nonces() == 1
    with pytest.raises(ProofRejected) as caught:
        link(sellers, market, text)
    assert rejected(caught).endswith("was never issued; ask for a challenge first")
