"""Shared fixtures: one in-memory chain and one deployed registry per test session.

Each test that uses ``registry`` (or ``roles``/``brand``) runs between a chain snapshot and a
revert, so tests stay isolated without redeploying.

Hypothesis profiles: ``dev`` (the default; Hypothesis' own defaults) and ``ci``, loaded when
the ``CI`` environment variable is set (CI sets ``CI=true``) or named by
``HYPOTHESIS_PROFILE``. ``ci`` is Hypothesis' built-in CI profile (derandomised, no deadline,
a reproduction blob on failure) with the same example counts, so property tests take as long
as locally. Only the registry state machine runs far more examples in CI: it takes its
settings from :func:`state_machine_settings` (profiles ``dev-state-machine`` and
``ci-state-machine``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, settings

from ledger.chain import Chain, connect_memory
from ledger.registry import Registry

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PREFIX = "0614141"
"""GS1 company prefix of the test brand (GS1's own example prefix)."""
GTIN = "00614141123452"
"""A valid GTIN-14 under ``PREFIX``."""

# ───────────── hypothesis profiles ─────────────

settings.register_profile("dev", settings.get_profile("default"))
settings.register_profile("ci", settings.get_profile("ci"))  # Hypothesis' built-in CI profile
settings.register_profile(
    "dev-state-machine",
    settings.get_profile("dev"),
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci-state-machine",
    settings.get_profile("ci"),
    max_examples=1_000,
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
"""1,000 examples of up to 6 steps (CI) against 40 of 25 (dev): six times the steps, in
sequences long enough to reach a claim (register, sell, claim), a frozen shipment (ship,
recall, receive) or a batch item's first move (anchor, ship). Six, not ten, keeps the CI run
under 15 minutes: the machine took five minutes of the run's thirteen on ten."""
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if "CI" in os.environ else "dev")
)


def state_machine_settings() -> settings:
    """Settings of the registry state machine under the loaded profile (``dev`` or ``ci``);
    under any other profile (``--hypothesis-profile``), that profile itself."""
    current = settings.get_current_profile_name()
    name = f"{current}-state-machine" if current in ("dev", "ci") else current
    return settings.get_profile(name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist worksteal``: the slow modules spread over the N workers and
    at the head of each one's share, so they start at once, side by side.

    worksteal hands worker k the k-th of N contiguous slices of the collection and later moves
    tests from the end of one worker's queue to an idle one. So the slow modules (by their
    ``slow(seconds=…)`` marks, heaviest first) go to the least loaded of N lanes, each lane is
    filled up to its slice's length with the other tests in their order, and the collection
    is the lanes one after another. Without xdist the order only changes, nothing else."""
    lanes = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    slow_modules: dict[str, list[pytest.Item]] = {}
    others: list[pytest.Item] = []
    for item in items:
        if item.get_closest_marker("slow") is None:
            others.append(item)
        else:
            slow_modules.setdefault(item.nodeid.split("::")[0], []).append(item)

    def seconds(group: list[pytest.Item]) -> float:
        total = 0.0
        for item in group:
            marker = item.get_closest_marker("slow")
            total += 10.0 if marker is None else float(marker.kwargs.get("seconds", 10))
        return total

    lane_items: list[list[pytest.Item]] = [[] for _ in range(lanes)]
    lane_seconds = [0.0] * lanes
    for group in sorted(slow_modules.values(), key=seconds, reverse=True):
        lane = lane_seconds.index(min(lane_seconds))
        lane_items[lane].extend(group)
        lane_seconds[lane] += seconds(group)
    remaining, rest = len(items), iter(others)
    for lane, lane_list in enumerate(lane_items):
        share = remaining // (lanes - lane)  # worksteal's own split of what is left
        remaining -= share
        lane_list.extend(item for _, item in zip(range(share - len(lane_list)), rest, strict=False))
    lane_items[-1].extend(rest)
    items[:] = [item for lane_list in lane_items for item in lane_list]


def conformance_dir() -> Path:
    """Where the shared GS1 conformance material lives (``VERITAG_CONFORMANCE_DIR`` wins)."""
    configured = os.environ.get("VERITAG_CONFORMANCE_DIR")
    return Path(configured) if configured else PROJECT_ROOT.parent / "shared" / "conformance"


@dataclass(frozen=True)
class Roles:
    """Named parties, each a funded dev account of the in-memory chain."""

    admin: LocalAccount
    brand_admin: LocalAccount
    operator: LocalAccount
    distributor: LocalAccount
    retailer: LocalAccount
    consumer: LocalAccount
    stranger: LocalAccount
    other_brand_admin: LocalAccount
    other_operator: LocalAccount
    relayer: LocalAccount


@pytest.fixture(scope="session")
def chain() -> Chain:
    return connect_memory(accounts=10)


@pytest.fixture(scope="session")
def roles(chain: Chain) -> Roles:
    return Roles(*chain.dev_accounts[:10])


@pytest.fixture(scope="session")
def deployed(chain: Chain, roles: Roles) -> Registry:
    """The session's registry with brand 1 (``PREFIX``, one operator) and brand 2 admitted."""
    registry = Registry.deploy(chain.w3, roles.admin)
    brand_id = registry.admit_brand(roles.admin, roles.brand_admin.address, "Acme", [PREFIX])
    registry.add_operator(roles.brand_admin, brand_id, roles.operator.address)
    other = registry.admit_brand(roles.admin, roles.other_brand_admin.address, "Other", ["0950600"])
    registry.add_operator(roles.other_brand_admin, other, roles.other_operator.address)
    return registry


@pytest.fixture
def registry(chain: Chain, deployed: Registry) -> Iterator[Registry]:
    """The session registry, with every change a test makes rolled back afterwards."""
    snapshot = chain.snapshot()
    yield deployed
    chain.revert(snapshot)


@pytest.fixture
def brand() -> int:
    """Brand id of the test brand admitted by ``deployed``."""
    return 1
