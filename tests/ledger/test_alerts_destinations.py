"""Webhooks reach public addresses only: checked when recorded, and again at each delivery.

A webhook URL is a request the service makes for an organisation (OWASP API7, server-side
request forgery). When it is recorded, a host written as an address or as ``localhost`` must
be public; at delivery, every address the host resolves to must be, and the connection goes
to the address that was checked (``ledger.alerts.destinations``).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from ledger.alerts.destinations import PublicOnlyBackend, check_recorded_host
from ledger.errors import InvalidRecord, PrivateDestination


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "special-purpose"),
        ("224.0.0.1", "multicast"),
        ("[::1]", "loopback"),
        ("[fe80::1]", "link-local"),
        ("[fd00::1]", "private"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[2002:a00:1::]", "private"),
    ],
)
def test_a_webhook_to_a_non_public_address_is_refused_naming_the_kind(host: str, kind: str) -> None:
    url = f"http://{host}/hook"

    with pytest.raises(InvalidRecord) as caught:
        check_recorded_host(url, host)

    address = ipaddress.ip_address(host.strip("[]"))
    assert str(caught.value) == (
        f"cannot record webhook: URL {url!r} points to {address}, a {kind} address: alerts go "
        "to public addresses only"
    )


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost"])
def test_a_webhook_to_a_localhost_name_is_refused(host: str) -> None:
    with pytest.raises(InvalidRecord, match=f"points to {host!r}, this machine"):
        check_recorded_host(f"http://{host}/hook", host)


@pytest.mark.parametrize("host", ["8.8.8.8", "[2001:4860:4860::8888]", "alerts.example.com"])
def test_public_addresses_and_names_are_recorded(host: str) -> None:
    check_recorded_host(f"https://{host}/hook", host)  # raises nothing


def answers(*addresses: str) -> Any:
    """A stand-in for ``socket.getaddrinfo`` that resolves every name to ``addresses``."""

    def getaddrinfo(host: str, port: int, *_: object, **__: object) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return getaddrinfo


def test_a_name_with_any_non_public_address_is_not_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A public answer beside a private one is how a rebinding name would pass a first look.
    monkeypatch.setattr(socket, "getaddrinfo", answers("8.8.8.8", "10.0.0.7"))

    with pytest.raises(PrivateDestination) as caught:
        PublicOnlyBackend().connect_tcp("hooks.example.com", 443, timeout=1)

    assert (caught.value.host, caught.value.address, caught.value.kind) == (
        "hooks.example.com",
        "10.0.0.7",
        "private",
    )
    assert caught.value.status == 422


def test_the_connection_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connected: list[tuple[str, int]] = []
    monkeypatch.setattr(socket, "getaddrinfo", answers("8.8.4.4"))

    def create_connection(address: tuple[str, int], *_: object, **__: object) -> socket.socket:
        connected.append(address)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "create_connection", create_connection)

    with pytest.raises(Exception, match="no network in this test"):
        PublicOnlyBackend().connect_tcp("hooks.example.com", 443, timeout=1)

    assert connected == [("8.8.4.4", 443)]
