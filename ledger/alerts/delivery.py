"""Sending queued deliveries: signed POSTs, retried with exponential backoff, all logged.

A delivery is due when it is ``pending`` and its ``next_attempt_at`` has come. A worker
first *claims* due deliveries, in one UPDATE that moves their ``next_attempt_at`` a lease
into the future, so another worker (another thread or process on the same store) no
longer sees them as due; then it sends each and records the attempt. If a worker dies
between the two, the lease runs out and the delivery is due again — receivers deduplicate
on the alert id, which is why every delivery carries one.

A 2xx answer delivers. Anything else — another status (redirects included: they are not
followed), a timeout, a refused connection — is one failed attempt, logged with its status
or error, and the next comes ``base_s · factor^(attempts-1)`` seconds later (at most
``max_s``), until ``max_attempts`` failures mark the delivery ``failed``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine, update
from sqlmodel import col, select

from ledger.alerts.destinations import public_only_transport
from ledger.alerts.signing import SIGNATURE_HEADER, sign
from ledger.store.database import session
from ledger.store.market_models import Webhook, WebhookAttempt, WebhookDelivery

__all__ = ["USER_AGENT", "Backoff", "DeliveryWorker"]

_log = logging.getLogger(__name__)

USER_AGENT = "Veritag-Webhooks/1"
_CLAIM_BATCH = 10
_ERROR_LENGTH = 1000


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Backoff:
    """When to try again after a failed attempt, and when to give up."""

    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 3600.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.factor < 1 or self.max_s < 0 or self.max_attempts < 1:
            raise ValueError("backoff needs base_s ≥ 0, factor ≥ 1, max_s ≥ 0, max_attempts ≥ 1")

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt."""
        # Cap the exponent first: factor ** attempts overflows a float long before
        # attempts gets large, and the cap applies anyway.
        seconds = self.base_s
        for _ in range(attempts - 1):
            seconds *= self.factor
            if seconds >= self.max_s:
                break
        return timedelta(seconds=min(seconds, self.max_s))


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    alert_id: str
    kind: str
    payload: str
    attempts: int
    url: str
    secret: str


@dataclass(frozen=True)
class _Outcome:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class DeliveryWorker:
    """Sends due webhook deliveries of the store behind ``engine``.

    ``run_once`` sends what is due now; ``start`` runs it every ``poll_interval`` seconds in
    a thread until ``stop``. ``publishers`` (such as
    :func:`ledger.alerts.chain_alerts.publish_chain_alerts`) run before each pass.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        client: httpx.Client | None = None,
        poll_interval: float = 0.5,
        timeout_s: float = 5.0,
        backoff: Backoff = Backoff(),
        clock: Callable[[], datetime] = _utc_now,
        publishers: Sequence[Callable[[Engine], object]] = (),
        allow_private_destinations: bool = False,
    ) -> None:
        self.engine = engine
        self.allow_private_destinations = allow_private_destinations
        self.poll_interval = poll_interval
        self.timeout_s = timeout_s
        self.backoff = backoff
        self.publishers = tuple(publishers)
        self._clock = clock
        self._owns_client = client is None
        self._client = client if client is not None else self._new_client()
        # Long enough to send a whole claimed batch, each until its timeout.
        self._lease = timedelta(seconds=_CLAIM_BATCH * timeout_s + 60)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ───────────── the thread ─────────────

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        if self._owns_client and self._client.is_closed:
            self._client = self._new_client()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="veritag-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 10)
            self._thread = None
        if self._owns_client:
            self._client.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            for publisher in self.publishers:
                try:
                    publisher(self.engine)
                except Exception:  # one failing source must not stop the deliveries
                    _log.exception("publishing alerts with %r failed; retrying", publisher)
            try:
                self._deliver_due(self._stopping)
            except Exception:  # the database away, a bug: log, and try again next poll
                _log.exception("delivering webhooks failed; retrying")
            self._stopping.wait(self.poll_interval)

    # ───────────── one pass ─────────────

    def run_once(self) -> int:
        """Send every delivery due now; returns how many attempts were made."""
        return self._deliver_due(None)

    def _deliver_due(self, stopping: threading.Event | None) -> int:
        due_by = self._clock()
        made = 0
        while stopping is None or not stopping.is_set():
            claimed = self._claim(due_by)
            if not claimed:
                break
            for delivery in claimed:
                self._record(delivery, self._send(delivery))
                made += 1
        return made

    def _claim(self, due_by: datetime) -> list[_Claimed]:
        due = (
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.next_attempt_at) <= due_by,
        )
        batch = (
            select(WebhookDelivery.id)
            .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
            .where(*due, col(Webhook.disabled_at).is_(None))
            .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
            .limit(_CLAIM_BATCH)
        )
        with session(self.engine) as db:
            # The outer conditions repeat the inner ones: PostgreSQL re-checks them on a row
            # another worker claimed meanwhile, and then skips it.
            claim = (
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id).in_(batch.scalar_subquery()), *due)
                .values(next_attempt_at=self._clock() + self._lease)
                .returning(col(WebhookDelivery.id))
            )
            ids = [row[0] for row in db.exec(claim)]
            if not ids:
                return []
            rows = db.exec(
                select(WebhookDelivery, Webhook.url, Webhook.secret)
                .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
                .where(col(WebhookDelivery.id).in_(ids))
                .order_by(col(WebhookDelivery.id))
            ).all()
        return [
            _Claimed(d.id, d.alert_id, d.kind, d.payload, d.attempts, url, secret)
            for d, url, secret in rows
            if d.id is not None
        ]

    def _send(self, delivery: _Claimed) -> _Outcome:
        body = delivery.payload.encode()
        attempted_at = self._clock()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(delivery.secret, int(attempted_at.timestamp()), body),
            "Veritag-Alert-Id": delivery.alert_id,
            "Veritag-Alert-Kind": delivery.kind,
        }
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            # Streamed and never read: a receiver's answer body is of no use, and may be large.
            with self._client.stream(
                "POST",
                delivery.url,
                content=body,
                headers=headers,
                timeout=self.timeout_s,
                follow_redirects=False,
            ) as response:
                status_code = response.status_code
                if response.is_redirect:
                    error = f"redirected to {response.headers.get('location')!r}; not followed"
        except Exception as exc:  # every failure of one attempt is logged, never raised
            error = f"{type(exc).__name__}: {exc}"[:_ERROR_LENGTH]
        duration_ms = round((time.monotonic() - started) * 1000)
        return _Outcome(attempted_at, status_code, error, duration_ms)

    def _record(self, delivery: _Claimed, outcome: _Outcome) -> None:
        attempts = delivery.attempts + 1
        changes: dict[str, object] = {"attempts": attempts}
        if outcome.delivered:
            changes |= {"status": "delivered", "delivered_at": outcome.attempted_at}
        elif attempts >= self.backoff.max_attempts:
            changes["status"] = "failed"
            _log.warning(
                "gave up on webhook delivery %s of alert %s after %s attempts",
                delivery.delivery_id,
                delivery.alert_id,
                attempts,
            )
        else:
            changes["next_attempt_at"] = outcome.attempted_at + self.backoff.delay(attempts)
        with session(self.engine) as db:
            db.add(
                WebhookAttempt(
                    delivery_id=delivery.delivery_id,
                    attempted_at=outcome.attempted_at,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                )
            )
            db.exec(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == delivery.delivery_id,
                    # Deleting the webhook mid-send cancelled it: that stands.
                    col(WebhookDelivery.status) == "pending",
                )
                .values(**changes)
            )

    def _new_client(self) -> httpx.Client:
        # No proxies from the environment: alerts go straight to the receiver's URL, and,
        # unless allowed otherwise, only to public addresses (ledger.alerts.destinations).
        transport = None if self.allow_private_destinations else public_only_transport()
        return httpx.Client(
            follow_redirects=False, timeout=self.timeout_s, trust_env=False, transport=transport
        )
