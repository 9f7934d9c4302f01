"""The FastAPI application: ``create_app(services)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.problems import install_problem_handlers
from api.routes import listings, meta, metrics, reports, risk, scan, sellers, sites, webhooks
from api.services import Services

__all__ = ["create_app"]


def create_app(services: Services) -> FastAPI:
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
    )
    app.state.services = services
    install_problem_handlers(app)
    app.mount("/static", StaticFiles(directory=str(files("api") / "static")), name="static")
    app.include_router(meta.router)
    if services.demo_codes is not None:
        app.include_router(meta.demo_router)
    app.include_router(scan.router)
    for module in (listings, sellers, risk, reports, sites, webhooks, metrics):
        app.include_router(module.router)
    return app
