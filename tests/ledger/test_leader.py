"""Leader election: one process holds the background-jobs lock; another takes over after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.leader import LeaderJobs, LeaderLock
from ledger.store.database import make_engine
from tests.ledger.test_store import postgres_schema


@pytest.fixture
def two_engines() -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one PostgreSQL database, as two worker processes would have."""
    with postgres_schema() as url:
        first, second = make_engine(url), make_engine(url)
        try:
            yield first, second
        finally:
            first.dispose()
            second.dispose()


def terminate_holder(engine: Engine, key: int) -> None:
    """End the database session holding advisory lock ``key`` (a bigint: two 32-bit halves)."""
    unsigned = key % 2**64
    with engine.begin() as connection:
        ended = connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_locks WHERE locktype = "
                "'advisory' AND classid = :high AND objid = :low AND objsubid = 1"
            ),
            {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF},
        )
    assert ended == 1


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")


def test_one_of_two_engines_leads_and_the_other_takes_over_after_release(
    two_engines: tuple[Engine, Engine],
) -> None:
    first, second = LeaderLock(two_engines[0], "jobs"), LeaderLock(two_engines[1], "jobs")

    assert first.try_acquire() is True
    assert second.try_acquire() is False
    assert first.try_acquire() is True  # still held, checked on its connection
    first.release()
    assert second.try_acquire() is True
    assert first.try_acquire() is False
    second.release()


def test_locks_with_other_names_do_not_exclude_each_other(
    two_engines: tuple[Engine, Engine],
) -> None:
    jobs, other = LeaderLock(two_engines[0], "jobs"), LeaderLock(two_engines[1], "other")

    assert (jobs.try_acquire(), other.try_acquire()) == (True, True)
    jobs.release()
    other.release()


def test_a_dead_leaders_lock_goes_to_the_next_one_to_try(
    two_engines: tuple[Engine, Engine],
) -> None:
    first, second = LeaderLock(two_engines[0], "jobs"), LeaderLock(two_engines[1], "jobs")
    assert first.try_acquire()
    assert second.try_acquire() is False
    assert first.key is not None

    terminate_holder(two_engines[1], first.key)  # as when the leader's process dies

    assert second.try_acquire() is True
    assert first.try_acquire() is False  # it notices the lost connection, and no longer leads
    second.release()


def test_only_the_leader_runs_the_jobs_and_the_follower_starts_them_on_takeover(
    two_engines: tuple[Engine, Engine],
) -> None:
    leader_job, follower_job = Recorder(), Recorder()
    leader = LeaderJobs(LeaderLock(two_engines[0], "jobs"), [leader_job], interval=60)
    follower = LeaderJobs(LeaderLock(two_engines[1], "jobs"), [follower_job], interval=60)

    leader.start()
    follower.start()
    assert (leader.leading.is_set(), follower.leading.is_set()) == (True, False)
    leader.stop()
    follower._step()  # what its thread does every `interval` seconds

    assert leader_job.calls == ["start", "stop"]
    assert follower_job.calls == ["start"]
    follower.stop()
    assert follower_job.calls == ["start", "stop"]


def test_on_sqlite_every_process_leads(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    first, second = LeaderLock(engine, "jobs"), LeaderLock(engine, "jobs")

    assert (first.try_acquire(), second.try_acquire()) == (True, True)
    engine.dispose()
