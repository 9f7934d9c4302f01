"""Health (also the trivial route benchmarks compare with) and the demo listing."""

from __future__ import annotations

from fastapi import APIRouter

from api.services import ServicesDep

router = APIRouter(tags=["meta"])
demo_router = APIRouter(tags=["demo"])


@router.get("/healthz")
def health() -> dict[str, str]:
    """Liveness: answers without touching the chain or the store."""
    return {"status": "ok"}


@demo_router.get("/v1/demo")
def demo_codes(services: ServicesDep) -> dict[str, str]:
    """Demo mode only: the label URL of one item in each state, ``{state: url}``."""
    return dict(services.demo_codes or {})
