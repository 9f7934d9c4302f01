"""ledger.alerts.signing: the HMAC header holds for the secret, body and time it was made for."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.alerts.signing import sign, verify
from ledger.errors import ProofRejected

SECRET = "whsec_test-secret"
BODY = b'{"id":"a1","kind":"recall"}'
T = 1_800_000_000


def test_signature_is_stripe_style_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_signature_verifies_with_its_secret_within_the_tolerance() -> None:
    header = sign(SECRET, T, BODY)
    verify(SECRET, header, BODY, now=T + 300)
    verify(SECRET, header, BODY, now=T - 300)


def test_signature_fails_with_another_secret() -> None:
    with pytest.raises(ProofRejected) as caught:
        verify("whsec_other", sign(SECRET, T, BODY), BODY, now=T)
    assert caught.value.what == "webhook signature"
    assert caught.value.reason == (
        "no v1 signature matches the body with this secret (wrong secret or body)"
    )


def test_signature_fails_for_a_tampered_body() -> None:
    with pytest.raises(ProofRejected) as caught:
        verify(SECRET, sign(SECRET, T, BODY), BODY.replace(b"recall", b"theft"), now=T)
    assert "no v1 signature matches" in caught.value.reason


def test_signature_fails_for_a_changed_timestamp() -> None:
    forged = sign(SECRET, T, BODY).replace(f"t={T}", f"t={T + 1}")
    with pytest.raises(ProofRejected, match="no v1 signature matches"):
        verify(SECRET, forged, BODY, now=T)


def test_an_old_signature_is_refused_as_a_possible_replay() -> None:
    with pytest.raises(ProofRejected) as caught:
        verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + 301)
    assert str(caught.value) == (
        f"webhook signature rejected: it was made at {T}, 301 s from now ({T + 301}); "
        "more than the 300 s allowed, so it may be a replay"
    )


def test_a_signature_from_the_future_beyond_the_tolerance_is_refused() -> None:
    with pytest.raises(ProofRejected, match="more than the 60 s allowed"):
        verify(SECRET, sign(SECRET, T, BODY), BODY, now=T - 61, tolerance_s=60)


def test_one_matching_v1_among_several_is_enough_for_secret_rotation() -> None:
    header = sign("whsec_old", T, BODY) + "," + sign(SECRET, T, BODY).split(",")[1]
    verify(SECRET, header, BODY, now=T)
    verify("whsec_old", header, BODY, now=T)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "header '' is not 't=<unix time>,v1=<hex hmac>'"),
        (f"t={T}", f"header 't={T}' is not 't=<unix time>,v1=<hex hmac>'"),
        ("v1=abcd", "header 'v1=abcd' is not 't=<unix time>,v1=<hex hmac>'"),
        ("t=soon,v1=abcd", "its timestamp 'soon' is not a unix time"),
        ("t=-5,v1=abcd", "its timestamp '-5' is not a unix time"),
    ],
)
def test_a_malformed_header_is_refused_with_what_is_wrong(header: str, reason: str) -> None:
    with pytest.raises(ProofRejected) as caught:
        verify(SECRET, header, BODY, now=T)
    assert caught.value.reason == reason


@given(
    secret=st.text(min_size=1, max_size=64),
    body=st.binary(max_size=512),
    timestamp=st.integers(min_value=0, max_value=2**40),
)
def test_any_signed_body_verifies_and_any_changed_byte_does_not(
    secret: str, body: bytes, timestamp: int
) -> None:
    header = sign(secret, timestamp, body)
    verify(secret, header, body, now=timestamp)
    for position in range(len(body)):
        changed = body[:position] + bytes([body[position] ^ 1]) + body[position + 1 :]
        with pytest.raises(ProofRejected):
            verify(secret, header, changed, now=timestamp)
    with pytest.raises(ProofRejected):
        verify(secret, header, body + b" ", now=timestamp)
