"""ledger.alerts.delivery: signed POSTs to a real HTTP receiver, retried on the exact backoff
schedule, every attempt logged, given up after the last; refused connections, timeouts and
redirects are failures; two workers never send one delivery twice; the thread survives.

The receiver is a ``ThreadingHTTPServer`` on 127.0.0.1 that records each request and
answers with the statuses a test scripts. The worker's clock is the test's.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.alerts import AlertKind, Backoff, DeliveryWorker, publish, verify
from ledger.alerts.delivery import USER_AGENT
from ledger.store.database import make_engine, migrate
from ledger.store.orgs import Organisations, Role
from ledger.store.webhooks import DeliveryRead, Webhooks

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# ───────────── helpers shared by the alert tests ─────────────


def migrated_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path / 'veritag.sqlite'}")
    migrate(engine)
    return engine


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        value: dict[str, object] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """Records each POST; answers with ``script`` in order, then ``default``."""

    script: list[int] = field(default_factory=list)
    default: int = 200
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                state.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = state.script.pop(0) if state.script else state.default
            time.sleep(state.delay_s)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Subscriber:
    org_id: int
    webhook_id: int
    secret: str


def subscribe(
    engine: Engine, url: str, kinds: list[AlertKind] | None = None, name: str = "Market"
) -> Subscriber:
    org, _key = Organisations(engine).create(name, Role.MARKETPLACE)
    # The test receivers listen on 127.0.0.1, a destination only this setting allows.
    webhooks = Webhooks(engine, allow_private_destinations=True)
    webhook, secret = webhooks.create(org.id, url, kinds or list(AlertKind))
    return Subscriber(org.id, webhook.id, secret)


def only_delivery(engine: Engine, subscriber: Subscriber) -> DeliveryRead:
    (delivery,) = Webhooks(engine).deliveries(subscriber.org_id, subscriber.webhook_id)
    return delivery


# ───────────── fixtures ─────────────


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def worker_for(engine: Engine, clock: Clock) -> Iterator[Callable[..., DeliveryWorker]]:
    workers: list[DeliveryWorker] = []

    def make(**options: object) -> DeliveryWorker:
        options.setdefault("clock", clock)
        options.setdefault("allow_private_destinations", True)  # the receiver is on 127.0.0.1
        worker = DeliveryWorker(engine, **options)  # type: ignore[arg-type]
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()


# ───────────── delivering ─────────────


def test_a_delivery_is_a_signed_post_of_the_alert_with_its_headers(
    engine: Engine, receiver: Receiver, worker_for: Callable[..., DeliveryWorker]
) -> None:
    market = subscribe(engine, receiver.url)
    alert = publish(
        engine, AlertKind.RECALL, data={"item_id": "0xab"}, org_ids=[market.org_id], now=T0
    )
    assert worker_for().run_once() == 1

    (request,) = receiver.requests
    assert request.path == "/hook"
    assert request.json() == {
        "id": alert,
        "kind": "recall",
        "created_at": "2026-03-01T12:00:00+00:00",
        "data": {"item_id": "0xab"},
    }
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["veritag-alert-id"] == alert
    assert request.headers["veritag-alert-kind"] == "recall"
    assert request.headers["veritag-signature"].startswith(f"t={int(T0.timestamp())},v1=")
    verify(market.secret, request.headers["veritag-signature"], request.body, now=T0)

    delivery = only_delivery(engine, market)
    assert (delivery.status, delivery.attempts, delivery.delivered_at) == ("delivered", 1, T0)
    assert delivery.next_attempt_at is None
    assert [(a.attempted_at, a.status_code, a.error) for a in delivery.log] == [(T0, 200, None)]


def test_failed_deliveries_are_retried_on_the_exact_backoff_schedule(
    engine: Engine,
    receiver: Receiver,
    clock: Clock,
    worker_for: Callable[..., DeliveryWorker],
) -> None:
    receiver.script = [500, 503, 500]
    market = subscribe(engine, receiver.url)
    publish(engine, AlertKind.THEFT, data={}, org_ids=[market.org_id], now=T0)
    worker = worker_for(backoff=Backoff(base_s=1, factor=2, max_s=3600, max_attempts=8))

    made = []
    for offset in [0, 0.999, 1, 2.999, 3, 6.999, 7, 100]:
        clock.now = T0 + timedelta(seconds=offset)
        made.append((offset, worker.run_once()))
    assert made == [(0, 1), (0.999, 0), (1, 1), (2.999, 0), (3, 1), (6.999, 0), (7, 1), (100, 0)]

    delivery = only_delivery(engine, market)
    assert [(a.attempted_at - T0, a.status_code) for a in delivery.log] == [
        (timedelta(seconds=0), 500),
        (timedelta(seconds=1), 503),
        (timedelta(seconds=3), 500),
        (timedelta(seconds=7), 200),
    ]
    assert all(a.error is None and a.duration_ms >= 0 for a in delivery.log)
    assert (delivery.status, delivery.attempts) == ("delivered", 4)
    assert delivery.delivered_at == T0 + timedelta(seconds=7)
    # Every retry is the same alert, signed afresh at the time it was sent.
    assert len({r.body for r in receiver.requests}) == 1
    for request, attempt in zip(receiver.requests, delivery.log, strict=True):
        verify(
            market.secret,
            request.headers["veritag-signature"],
            request.body,
            now=attempt.attempted_at,
        )


def test_delivery_gives_up_after_max_attempts_and_logs_every_one(
    engine: Engine,
    receiver: Receiver,
    clock: Clock,
    worker_for: Callable[..., DeliveryWorker],
) -> None:
    receiver.default = 500
    market = subscribe(engine, receiver.url)
    publish(engine, AlertKind.RECALL, data={}, org_ids=[market.org_id], now=T0)
    worker = worker_for(backoff=Backoff(base_s=10, factor=3, max_s=50, max_attempts=4))

    for _ in range(6):
        worker.run_once()
        clock.advance(50)

    delivery = only_delivery(engine, market)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 4, None)
    assert [(a.attempted_at - T0).total_seconds() for a in delivery.log] == [0, 50, 100, 150]
    assert [a.status_code for a in delivery.log] == [500, 500, 500, 500]
    assert len(receiver.requests) == 4


def test_backoff_grows_by_its_factor_and_stops_at_its_cap() -> None:
    backoff = Backoff(base_s=1, factor=2, max_s=10, max_attempts=8)
    assert [backoff.delay(n).total_seconds() for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert backoff.delay(100_000) == timedelta(seconds=10)


@pytest.mark.parametrize(
    "options",
    [{"base_s": -1}, {"factor": 0.5}, {"max_s": -1}, {"max_attempts": 0}],
)
def test_backoff_refuses_settings_that_make_no_schedule(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**options)  # type: ignore[arg-type]


def test_a_refused_connection_is_a_failed_attempt_logged_with_its_error(
    engine: Engine, worker_for: Callable[..., DeliveryWorker]
) -> None:
    market = subscribe(engine, f"http://127.0.0.1:{closed_port()}/hook")
    publish(engine, AlertKind.RECALL, data={}, org_ids=[market.org_id], now=T0)
    assert worker_for().run_once() == 1

    delivery = only_delivery(engine, market)
    (attempt,) = delivery.log
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("ConnectError: ")
    assert "refused" in attempt.error.lower()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at == T0 + timedelta(seconds=1)


def test_by_default_a_delivery_to_a_name_that_resolves_to_this_machine_reaches_nothing(
    engine: Engine, worker_for: Callable[..., DeliveryWorker], receiver: Receiver
) -> None:
    # Recorded while allowed (or a public name whose DNS later answers 127.0.0.1): the
    # delivery resolves the name itself and refuses the loopback address.
    market = subscribe(engine, f"http://localhost:{receiver.port}/hook")
    publish(engine, AlertKind.RECALL, data={}, org_ids=[market.org_id], now=T0)

    assert worker_for(allow_private_destinations=False).run_once() == 1

    (attempt,) = only_delivery(engine, market).log
    assert attempt.status_code is None
    assert attempt.error == (
        "PrivateDestination: webhook host 'localhost' resolves to 127.0.0.1, a loopback "
        "address; alerts go to public addresses only (VERITAG_WEBHOOK_PRIVATE_DESTINATIONS "
        "allows others)"
    )
    assert receiver.requests == []


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(
    engine: Engine, receiver: Receiver, worker_for: Callable[..., DeliveryWorker]
) -> None:
    receiver.delay_s = 1.0
    market = subscribe(engine, receiver.url)
    publish(engine, AlertKind.RECALL, data={}, org_ids=[market.org_id], now=T0)
    worker_for(timeout_s=0.2).run_once()

    (attempt,) = only_delivery(engine, market).log
    assert attempt.status_code is None
    assert attempt.error == "ReadTimeout: timed out"


def test_a_redirect_is_not_followed_and_counts_as_a_failure(
    engine: Engine, receiver: Receiver, worker_for: Callable[..., DeliveryWorker]
) -> None:
    receiver.script = [307]
    market = subscribe(engine, receiver.url)
    publish(engine, AlertKind.RECALL, data={}, org_ids=[market.org_id], now=T0)
    worker_for().run_once()

    assert [r.path for r in receiver.requests] == ["/hook"]
    delivery = only_delivery(engine, market)
    (attempt,) = delivery.log
    assert attempt.status_code == 307
    assert attempt.error == "redirected to '/elsewhere'; not followed"
    assert delivery.status == "pending"


def test_a_deleted_webhook_gets_nothing_more_and_its_pending_deliveries_are_cancelled(
    engine: Engine, receiver: Receiver, clock: Clock, worker_for: Callable[..., DeliveryWorker]
) -> None:
    receiver.default = 500
    market = subscribe(engine, receiver.url)
    publish(engine, AlertKind.RECALL, data={}, org_ids=[market.org_id], now=T0)
    worker = worker_for()
    worker.run_once()
    Webhooks(engine).delete(market.org_id, market.webhook_id)
    clock.advance(3600)

    assert worker.run_once() == 0
    delivery = only_delivery(engine, market)
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == ("cancelled", 1, 1)


def test_two_workers_at_once_send_each_delivery_exactly_once(
    engine: Engine, receiver: Receiver, worker_for: Callable[..., DeliveryWorker]
) -> None:
    market = subscribe(engine, receiver.url)
    alerts = {
        publish(engine, AlertKind.REPORT, data={"n": n}, org_ids=[market.org_id], now=T0)
        for n in range(40)
    }
    workers = [worker_for(), worker_for()]
    made: list[int] = []
    start = threading.Barrier(2)

    def run(worker: DeliveryWorker) -> None:
        start.wait()
        made.append(worker.run_once())

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(made) == 40
    assert sorted(r.headers["veritag-alert-id"] for r in receiver.requests) == sorted(alerts)
    log = Webhooks(engine).deliveries(market.org_id, market.webhook_id, limit=100)
    assert {(d.status, d.attempts, len(d.log)) for d in log} == {("delivered", 1, 1)}


def test_the_worker_thread_delivers_and_survives_a_failing_publisher(
    engine: Engine, receiver: Receiver, worker_for: Callable[..., DeliveryWorker]
) -> None:
    calls: list[int] = []

    def broken(_engine: Engine) -> None:
        calls.append(1)
        raise RuntimeError("a bug in an alert source")

    market = subscribe(engine, receiver.url)
    worker = worker_for(poll_interval=0.02, publishers=[broken], clock=lambda: datetime.now(UTC))
    worker.start()
    publish(engine, AlertKind.RECALL, data={"first": True}, org_ids=[market.org_id])
    assert len(receiver.wait_for(1)) == 1
    publish(engine, AlertKind.RECALL, data={"second": True}, org_ids=[market.org_id])
    assert [r.json()["data"] for r in receiver.wait_for(2)] == [{"first": True}, {"second": True}]
    assert len(calls) >= 2
    worker.stop()
    assert not any(t.name == "veritag-webhooks" for t in threading.enumerate())
