"""Who is calling: the organisation behind the request's API key, and what its role allows.

A key comes as ``Authorization: Bearer vtk_…`` or ``X-API-Key: vtk_…``. Routes take a
:data:`CallerDep` (any valid key) or call :func:`require_role`; object-level checks (is this
listing this marketplace's?) stay with the route, next to the object.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.services import ServicesDep
from ledger.errors import AuthenticationRequired, Forbidden
from ledger.store.orgs import Principal, Role

__all__ = ["CallerDep", "MarketplaceDep", "OptionalCallerDep", "require_role"]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Bearer vtk_…`.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key: `vtk_…`.")


def _presented_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> str | None:
    if bearer is not None:
        return bearer.credentials
    return header


def optional_caller(
    services: ServicesDep, key: Annotated[str | None, Depends(_presented_key)]
) -> Principal | None:
    """The caller when a key is given (and valid); None for anonymous requests."""
    if key is None:
        return None
    return services.organisations().authenticate(key)


def caller(principal: Annotated[Principal | None, Depends(optional_caller)]) -> Principal:
    if principal is None:
        raise AuthenticationRequired(
            "send an API key as 'Authorization: Bearer vtk_…' or 'X-API-Key: vtk_…'"
        )
    return principal


def require_role(principal: Principal, action: str, *roles: Role) -> None:
    """Forbidden unless the caller has one of ``roles``."""
    if principal.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise Forbidden(
            action, f"it needs a {allowed} key, and {principal.name} is a {principal.role.value}"
        )


def marketplace(principal: Annotated[Principal, Depends(caller)]) -> Principal:
    require_role(principal, "act for a marketplace", Role.MARKETPLACE)
    return principal


CallerDep = Annotated[Principal, Depends(caller)]
OptionalCallerDep = Annotated[Principal | None, Depends(optional_caller)]
MarketplaceDep = Annotated[Principal, Depends(marketplace)]
