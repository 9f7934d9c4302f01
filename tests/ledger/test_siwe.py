"""EIP-4361 messages: the exact layout, strict parsing, and recovering who signed them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import ProofRejected
from ledger.marketplace.siwe import SiweMessage, parse, recover

# The example message of EIP-4361 (https://eips.ethereum.org/EIPS/eip-4361#example-message).
EIP_EXAMPLE = """\
example.com wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""

EIP_EXAMPLE_FIELDS = SiweMessage(
    domain="example.com",
    address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
    statement="I accept the ExampleOrg Terms of Service: https://example.com/tos",
    uri="https://example.com/login",
    chain_id=1,
    nonce="32891756",
    issued_at=datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC),
    resources=(
        "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
        "https://example.com/my-web2-claim.json",
    ),
)


def account(label: str) -> LocalAccount:
    key: LocalAccount = Account.from_key(keccak(text=label))
    return key


def sign(signer: LocalAccount, text: str) -> str:
    return signer.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


def message_for(signer: LocalAccount, **changes: object) -> SiweMessage:
    fields: dict[str, object] = {
        "domain": "market.example:8443",
        "address": signer.address,
        "statement": "Link seller account 'S-1' on marketplace 'Market One' (#3).",
        "uri": "https://market.example:8443/",
        "chain_id": 31337,
        "nonce": "0123456789abcdef",
        "issued_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "expiration_time": datetime(2026, 3, 1, 12, 10, tzinfo=UTC),
    }
    fields.update(changes)
    return SiweMessage(**fields)  # type: ignore[arg-type]


# ───────────── layout ─────────────


def test_the_eip_example_parses_into_its_fields() -> None:
    assert parse(EIP_EXAMPLE) == EIP_EXAMPLE_FIELDS


def test_the_eip_example_is_written_back_byte_for_byte() -> None:
    assert EIP_EXAMPLE_FIELDS.text() == EIP_EXAMPLE
    assert SiweMessage.parse(EIP_EXAMPLE).text() == EIP_EXAMPLE


def test_without_a_statement_two_blank_lines_follow_the_address() -> None:
    message = message_for(account("a"), statement=None, expiration_time=None)

    assert message.text().splitlines()[1:4] == [account("a").address, "", ""]
    assert message.text().splitlines()[4] == "URI: https://market.example:8443/"
    assert parse(message.text()) == message


def test_optional_fields_follow_in_the_order_of_the_eip() -> None:
    message = message_for(
        account("a"),
        scheme="https",
        not_before=datetime(2026, 3, 1, 12, 0, 30, 250000, tzinfo=UTC),
        request_id="req-1",
        resources=("https://market.example/tos",),
    )

    assert message.text().splitlines() == [
        "https://market.example:8443 wants you to sign in with your Ethereum account:",
        account("a").address,
        "",
        "Link seller account 'S-1' on marketplace 'Market One' (#3).",
        "",
        "URI: https://market.example:8443/",
        "Version: 1",
        "Chain ID: 31337",
        "Nonce: 0123456789abcdef",
        "Issued At: 2026-03-01T12:00:00Z",
        "Expiration Time: 2026-03-01T12:10:00Z",
        "Not Before: 2026-03-01T12:00:30.250000Z",
        "Request ID: req-1",
        "Resources:",
        "- https://market.example/tos",
    ]
    assert parse(message.text()) == message


def test_times_with_an_offset_keep_it_and_parse_to_the_same_instant() -> None:
    plus_two = timezone(timedelta(hours=2))
    message = message_for(account("a"), issued_at=datetime(2026, 3, 1, 14, 0, tzinfo=plus_two))

    assert "Issued At: 2026-03-01T14:00:00+02:00" in message.text()
    assert parse(message.text()).issued_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


_HOSTS = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z]{2,6}){0,2}(:[0-9]{1,5})?", fullmatch=True)
_STATEMENT_CHARS = st.sampled_from(
    "abcxyzABCXYZ0189-._~!$&'()*+,;=:/?#[]@ ",
)
_TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(9999, 1, 1),
    timezones=st.builds(
        timezone, st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timedelta(minutes=m))
    ),
)


@st.composite
def messages(draw: st.DrawFn) -> SiweMessage:
    host = draw(_HOSTS)
    statement = draw(st.none() | st.text(_STATEMENT_CHARS, min_size=1, max_size=60))
    if statement is not None and not statement.strip(" "):
        statement = None  # a statement of blanks only is not what we are testing here
    return SiweMessage(
        scheme=draw(st.none() | st.sampled_from(["https", "http"])),
        domain=host,
        address=account(draw(st.text(max_size=8))).address,
        statement=statement,
        uri=f"https://{host}/{draw(st.from_regex(r'[a-z0-9/._-]{0,20}', fullmatch=True))}",
        chain_id=draw(st.integers(0, 2**64)),
        nonce=draw(st.from_regex(r"[A-Za-z0-9]{8,32}", fullmatch=True)),
        issued_at=draw(_TIMES),
        expiration_time=draw(st.none() | _TIMES),
        not_before=draw(st.none() | _TIMES),
        request_id=draw(st.none() | st.from_regex(r"[A-Za-z0-9\-._~:@]{0,16}", fullmatch=True)),
        resources=tuple(
            draw(st.lists(st.from_regex(r"https://[a-z]{1,8}\.example/[a-z]{0,8}", fullmatch=True)))
        ),
    )


@given(messages())
def test_every_message_parses_back_from_its_text(message: SiweMessage) -> None:
    text = message.text()

    assert parse(text) == message
    assert parse(text).text() == text


# ───────────── strict parsing ─────────────


def _replace(old: str, new: str) -> str:
    assert old in EIP_EXAMPLE
    return EIP_EXAMPLE.replace(old, new)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            EIP_EXAMPLE + "\n",
            "line 14 is not a field EIP-4361 expects: '' (a trailing line feed?)",
        ),
        (
            EIP_EXAMPLE.replace("\n", "\r\n"),
            "it has a carriage return; EIP-4361 lines end with a line feed alone",
        ),
        (
            _replace("wants you to sign in", "wants you to log in"),
            "line 1 must end with 'wants you to sign in with your Ethereum account:', it reads "
            "'example.com wants you to log in with your Ethereum account:'",
        ),
        (
            _replace(
                "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2",
            ),
            "address 0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2 is not in its EIP-55 checksum "
            "form 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2, which EIP-4361 requires",
        ),
        (
            _replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39"),
            "address '0xC02aaA39' is not 0x and 40 hex digits",
        ),
        (
            _replace("Version: 1", "Version: 2"),
            "version '2' is not supported; EIP-4361 knows only '1'",
        ),
        (
            _replace("Nonce: 32891756", "Nonce: 3289"),
            "nonce '3289' is not at least 8 ASCII letters and digits",
        ),
        (_replace("Chain ID: 1", "Chain ID: one"), "chain id 'one' is not a decimal number"),
        (
            _replace("Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-09-30 16:25:24"),
            "issued at '2021-09-30 16:25:24' is not an RFC 3339 date-time such as "
            "2021-09-30T16:25:24Z",
        ),
        (
            _replace("2021-09-30T16:25:24Z", "2021-02-30T16:25:24Z"),
            "issued at '2021-02-30T16:25:24Z' is not a real date-time: day is out of range for "
            "month",
        ),
        (
            _replace("Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1"),
            "line 7 must be 'Version: …', it reads 'Chain ID: 1'",
        ),
        (
            _replace("ExampleOrg", "ExampleÖrg"),
            "statement 'I accept the ExampleÖrg Terms of Service: https://example.com/tos' is "
            "not one non-empty line of ASCII letters, digits, spaces and URI punctuation",
        ),
        (
            _replace("https://example.com/tos\n", "https://example.com/tos\nsecond line\n"),
            "line 5 must be blank (after the statement), it reads 'second line'",
        ),
        (
            _replace("Issued At: 2021-09-30T16:25:24Z\n", ""),
            "line 10 must be 'Issued At: …', it reads 'Resources:'",
        ),
        (
            EIP_EXAMPLE.split("\nURI:", maxsplit=1)[0],
            "it ends at line 5, before 'URI: …'",
        ),
        (
            _replace("example.com wants", "exa mple.com wants"),
            "domain 'exa mple.com' is not an RFC 3986 authority such as example.com",
        ),
    ],
)
def test_a_message_off_the_eip_grammar_is_rejected_saying_where(text: str, reason: str) -> None:
    with pytest.raises(ProofRejected) as caught:
        parse(text)

    assert (caught.value.what, caught.value.reason) == ("sign-in message", reason)


def test_a_message_cannot_be_built_with_a_time_without_zone() -> None:
    with pytest.raises(ProofRejected) as caught:
        message_for(account("a"), issued_at=datetime(2026, 3, 1, 12, 0))

    assert (
        caught.value.reason == "issued at 2026-03-01 12:00:00 has no time zone; RFC 3339 needs one"
    )


# ───────────── signatures ─────────────


def test_recover_names_the_key_that_signed_the_text() -> None:
    signer = account("seller")
    text = message_for(signer).text()

    assert recover(text, sign(signer, text)) == signer.address


def test_a_tampered_message_recovers_to_another_address() -> None:
    signer = account("seller")
    text = message_for(signer).text()
    signature = sign(signer, text)

    tampered = text.replace("Chain ID: 31337", "Chain ID: 1")

    assert recover(tampered, signature) != signer.address


def test_a_signature_with_a_v_of_zero_or_one_is_accepted() -> None:
    signer = account("seller")
    text = message_for(signer).text()
    signature = sign(signer, text)
    low_v = signature[:-2] + f"{int(signature[-2:], 16) - 27:02x}"

    assert recover(text, low_v) == signer.address


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ("", "it must be 65 bytes written as 0x and 130 hex digits"),
        ("0x1234", "it must be 65 bytes written as 0x and 130 hex digits"),
        ("0x" + "zz" * 65, "it must be 65 bytes written as 0x and 130 hex digits"),
        ("0x" + "11" * 64 + "05", "its recovery id (last byte) is 5, not 27 or 28 (or 0, 1)"),
        ("0x" + "00" * 64 + "1b", "no key can have made it (failed to recover ECDSA public key)"),
    ],
)
def test_a_malformed_signature_is_rejected(signature: str, reason: str) -> None:
    with pytest.raises(ProofRejected) as caught:
        recover(message_for(account("a")).text(), signature)

    assert (caught.value.what, caught.value.reason) == ("signature", reason)
