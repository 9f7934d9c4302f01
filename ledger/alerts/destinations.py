"""Where webhooks may point: public addresses only, unless the operator allows private ones.

A webhook URL is a request the service makes on an organisation's behalf, so an unchecked
one reaches what only the service can reach (server-side request forgery, OWASP API7): the
cloud metadata endpoint at 169.254.169.254, the database on 127.0.0.1, the internal network.
Two checks, both off when ``VERITAG_WEBHOOK_PRIVATE_DESTINATIONS`` allows private ones
(receivers on the same machine or network, and tests):

- when a webhook is recorded, a host written as an IP address or as ``localhost`` must be
  public (a name that resolves elsewhere cannot be judged then: DNS answers change);
- when an alert is delivered, :class:`PublicOnlyBackend` resolves the host itself, refuses
  if any of its addresses is not public, and connects to the address it checked, so a name
  that answers a public address to the check and a private one to the connection (DNS
  rebinding) reaches nothing.

"Public" is :attr:`ipaddress.IPv4Address.is_global` (IANA's special-purpose registries)
and not multicast: loopback, private, shared (100.64/10), link-local, unique-local,
multicast, reserved and unspecified addresses are not, nor IPv6 addresses that embed an IPv4
one that is not (``::ffff:127.0.0.1``, 6to4).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from ledger.errors import InvalidRecord, PrivateDestination

__all__ = [
    "PublicOnlyBackend",
    "check_recorded_host",
    "public_only_transport",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_recorded_host(url: str, host: str) -> None:
    """Refuse a webhook URL whose host is a non-public IP address or a localhost name."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise InvalidRecord(
            "webhook",
            f"URL {url!r} points to {host!r}, this machine: alerts go to public addresses only",
        )
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return  # a name: judged at delivery, when it is resolved
    kind = _not_public(address)
    if kind is not None:
        raise InvalidRecord(
            "webhook",
            f"URL {url!r} points to {address}, a {kind} address: alerts go to public "
            "addresses only",
        )


def _not_public(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return _not_public(embedded)
    # Most specific first: Python counts link-local and unspecified addresses as private too,
    # and multicast ones as global.
    for kind in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "special-purpose"


class PublicOnlyBackend(httpcore.SyncBackend):
    """httpcore's network backend that connects only to public addresses it resolved."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        address = _public_address(host, port)
        # TLS still verifies the certificate against the URL's host: httpcore passes it to
        # start_tls as the server name, whatever address the socket connected to.
        return super().connect_tcp(
            address, port, timeout=timeout, local_address=local_address,
            socket_options=socket_options,
        )  # fmt: skip


def _public_address(host: str, port: int) -> str:
    """The first address ``host`` resolves to, once every one of them is checked public."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from None
    addresses = [ipaddress.ip_address(str(a[4][0]).split("%")[0]) for a in answers]
    for address in addresses:
        kind = _not_public(address)
        if kind is not None:
            raise PrivateDestination(host, str(address), kind)
    if not addresses:
        raise httpcore.ConnectError(f"{host!r} resolves to no address")
    return str(addresses[0])


class _PublicOnlyTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__(trust_env=False)
        # httpx 0.28 builds its pool without a way to name the network backend; the pool is
        # made again with the same defaults and this one (httpx is pinned).
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicOnlyBackend(),
        )


def public_only_transport() -> httpx.HTTPTransport:
    """An httpx transport whose connections reach public addresses only."""
    return _PublicOnlyTransport()
