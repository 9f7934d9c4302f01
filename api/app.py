"""The FastAPI application: ``create_app(services)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.problems import PROBLEM_RESPONSES, install_problem_handlers
from api.ratelimit import (
    DEFAULT_MAX_REQUEST_BYTES,
    BodySizeLimitMiddleware,
    RateLimitMiddleware,
    RateLimits,
)
from api.routes import (
    containers,
    epcis,
    items,
    listings,
    meta,
    metrics,
    operations,
    relay,
    reports,
    risk,
    scan,
    sellers,
    sites,
    webhooks,
)
from api.services import Services
from ledger.errors import VeritagError

__all__ = ["RateLimits", "create_app"]


def create_app(
    services: Services,
    *,
    rate_limits: RateLimits | None = None,
    ready_max_lag: int = meta.DEFAULT_READY_MAX_LAG,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> FastAPI:
    """The app on ``services``. ``rate_limits``: None = unlimited (tests, benchmarks);
    ``ready_max_lag``: blocks the indexer may lag while ``/readyz`` says ready;
    ``max_request_bytes``: larger request bodies are answered 413."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        workers = [*([services.scans] if services.scans is not None else []), *services.background]
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            for worker in reversed(workers):
                worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Veritag",
        summary="Provenance ledger for supply-chain authenticity",
        description="Scan a GS1 Digital Link to get a verdict with its proof on chain.",
        version="0.1.0",
        responses=PROBLEM_RESPONSES,
    )
    app.state.services = services
    app.state.ready_max_lag = ready_max_lag
    install_problem_handlers(app)
    if rate_limits is not None:

        def key_is_valid(key: str) -> bool:
            try:
                services.organisations().authenticate(key)
            except VeritagError:  # unknown, revoked, or no store to ask: counts as no key
                return False
            return True

        app.add_middleware(RateLimitMiddleware, limits=rate_limits, key_is_valid=key_is_valid)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_request_bytes)
    app.mount("/static", StaticFiles(directory=str(files("api") / "static")), name="static")
    app.include_router(meta.router)
    if services.demo_codes is not None:
        app.include_router(meta.demo_router)
    app.include_router(scan.router)
    for module in (
        listings, sellers, risk, reports, sites, webhooks, metrics, items, containers,
        operations, relay, epcis,
    ):  # fmt: skip
        app.include_router(module.router)
    return app
