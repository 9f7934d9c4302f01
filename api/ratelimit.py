"""Rate limits on the public routes: the scan route ``GET /01/…``, ``POST /v1/reports`` and
the relay (``POST /v1/relay``, ``POST /v1/relay/prepare``).

A token bucket per client address and, when a valid API key comes with the request, per key
instead (keys get their own, higher limit). A bucket holds ``per_minute`` tokens (the burst)
and refills at ``per_minute / 60`` a second; a request over the limit gets ``429`` with
``Retry-After`` (whole seconds until a token is back) and a problem body.

Buckets live in this process: with several API workers each counts on its own, so a client
can get up to (workers) times the limit. A presented key is checked against the store once and
the answer kept for ``KEY_CACHE_SECONDS``; an unknown or revoked key counts as no key.

It is a plain ASGI middleware (no request object is built) because it sits on the scan
route, the one the benchmarks measure.

:class:`BodySizeLimitMiddleware` bounds every request body (``VERITAG_MAX_REQUEST_BYTES``):
one declared or sent larger is answered ``413`` with a problem body before a route reads it.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "KEY_CACHE_SECONDS",
    "BodySizeLimitMiddleware",
    "RateLimitMiddleware",
    "RateLimits",
    "TokenBuckets",
]

DEFAULT_MAX_REQUEST_BYTES = 2 * 1024 * 1024
"""2 MiB: a full batch of 1,000 listing checks is about 150 KB."""

KEY_CACHE_SECONDS = 60.0
_MAX_BUCKETS = 100_000
_AUTHORIZATION = b"authorization"
_API_KEY = b"x-api-key"


@dataclass(frozen=True)
class RateLimits:
    """Requests per minute on the public routes; 0 = no limit."""

    per_address_per_minute: int
    per_key_per_minute: int


class TokenBuckets:
    """One token bucket per name, ``per_minute`` tokens each, refilled continuously."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = _MAX_BUCKETS,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._max_buckets = max_buckets
        self._buckets: dict[str, tuple[float, float]] = {}  # name → (tokens, updated)
        self._lock = threading.Lock()

    def take(self, name: str) -> float:
        """Take a token from ``name``'s bucket: 0.0 if one was there, else seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.get(name, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - updated) * self.rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[name] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > self._max_buckets:
                self._forget_full(now)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: forgetting them changes nothing."""
        full = [
            name
            for name, (tokens, updated) in self._buckets.items()
            if tokens + (now - updated) * self.rate >= self.capacity
        ]
        for name in full:
            del self._buckets[name]


class RateLimitMiddleware:
    """Limits ``GET /01/…`` and ``POST /v1/reports`` per client address or API key."""

    def __init__(
        self,
        app: ASGIApp,
        limits: RateLimits,
        key_is_valid: Callable[[str], bool],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limits = limits
        self._key_is_valid = key_is_valid
        self._clock = clock
        self._addresses = _buckets(limits.per_address_per_minute, clock)
        self._keys = _buckets(limits.per_key_per_minute, clock)
        self._known_keys: dict[str, tuple[bool, float]] = {}  # digest → (valid, until)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _limited(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        key = _presented_key(scope)
        if key is not None and await self._valid(key):
            buckets, name, who = self._keys, _digest(key), "API key"
        else:
            client = scope.get("client")
            buckets, name, who = self._addresses, client[0] if client else "", "client address"
        wait = buckets.take(name) if buckets is not None else 0.0
        if wait <= 0.0:
            await self.app(scope, receive, send)
            return
        assert buckets is not None
        retry_after = max(1, math.ceil(wait))
        response = problem(
            429,
            "RateLimited",
            f"more than {buckets.per_minute} requests a minute from this {who}; "
            f"retry in {retry_after} s",
            retry_after=retry_after,
        )
        response.headers["Retry-After"] = str(retry_after)
        await response(scope, receive, send)

    async def _valid(self, key: str) -> bool:
        digest = _digest(key)
        now = self._clock()
        known = self._known_keys.get(digest)
        if known is not None and known[1] > now:
            return known[0]
        valid = await to_thread.run_sync(self._key_is_valid, key)  # a store lookup
        if len(self._known_keys) >= _MAX_BUCKETS:
            self._known_keys.clear()
        self._known_keys[digest] = (valid, now + KEY_CACHE_SECONDS)
        return valid


class BodySizeLimitMiddleware:
    """Answers ``413`` to a request whose body is larger than ``max_bytes``.

    A ``Content-Length`` over the limit is refused before anything is read; a body sent
    without one (chunked) is read up to the limit and handed on, or refused past it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            "RequestTooLarge",
            f"the request body is larger than {self.max_bytes} bytes; send less at a time "
            "(listing checks: at most 1,000 listings a request)",
            max_bytes=self.max_bytes,
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; a malformed one counts as over any limit."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else 2**63
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands over ``messages``, then the client's own messages: a
    response that listens for the client going away (a streamed file) must not hear it
    before it has happened."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _buckets(per_minute: int, clock: Callable[[], float]) -> TokenBuckets | None:
    return TokenBuckets(per_minute, clock=clock) if per_minute > 0 else None


_LIMITED_POSTS = frozenset({"/v1/reports", "/v1/relay", "/v1/relay/prepare"})
"""Public writes anyone may make without a key: reports and relayed requests."""


def _limited(method: str, path: str) -> bool:
    return (method == "GET" and path.startswith("/01/")) or (
        method == "POST" and path in _LIMITED_POSTS
    )


def _presented_key(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == _AUTHORIZATION:
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
        elif name == _API_KEY and value.strip():
            return value.decode("latin-1").strip()
    return None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
