"""The API fuzzed against its own OpenAPI schema (schemathesis, in process).

Each operation gets generated requests, valid and invalid (schemathesis' coverage phase:
boundary values, missing and wrong-typed fields, then random ones), and every answer must be
no 5xx and match what the schema documents: its status code, content type, headers and body
(error answers are RFC 9457 problems, documented once for every operation). Public
operations are fuzzed without a key; operations that need one with a valid key of a role they
serve (so requests get past the key check into the route), and again without a key (every
answer a 401 problem). Refusals of the other roles are asserted in ``test_owasp_api.py``.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import allow_header_conformance, positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.services import Services
from ledger.chain import Chain, connect_memory
from ledger.custodial import CustodialKeys
from ledger.indexer import Indexer
from ledger.outbox.signer import Senders
from ledger.registry import Registry
from ledger.relay import Relayer
from ledger.store.orgs import Organisations, relayer_organisation
from ledger.store.repository import Store
from tests.api.conftest import auth
from veritag.demo_seed import DemoRoles

Case = schemathesis.Case[Any]

SECRET = b"fuzz-test-secret-of-at-least-32-bytes"

EXCLUDED_CHECKS: list[CheckFunction] = [positive_data_acceptance, allow_header_conformance]
"""``positive_data_acceptance`` wants every schema-valid request answered 2xx, but the schema
cannot say what only the data can: a GTIN's check digit, whether a seller, listing or item
exists, whether an address proof holds. Those answers are 4xx problems, and the other checks
hold them to the schema.

``allow_header_conformance`` reads a 405's ``Allow`` as OpenAPI does, a concrete path before a
template, but the app routes by template too: ``GET /v1/listings/check`` is answered, as the
listing ``check`` of ``/v1/listings/{listing_id}``, so ``Allow`` rightly lists GET there
(``test_owasp_api`` asserts ``Allow`` where paths do not overlap)."""

ROLE_BY_TAG = {
    "listings": "marketplace",
    "sellers": "marketplace",
    "reports": "brand",
    "sites": "registry",
    "webhooks": "custodian",
    "metrics": "registry",
    "writes": "brand",
    "operations": "brand",
    "epcis": "brand",
}
"""The role whose key a protected operation is fuzzed with: one it serves."""
ROLE_BY_OPERATION = {"POST /v1/reports": "marketplace"}
"""Where an operation serves another role than the rest of its tag."""


class _AppSlot:
    """The ASGI app schemathesis calls: the one the ``fuzz_app`` fixture builds."""

    app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the fuzz_app fixture builds the app"
        await self.app(scope, receive, send)


_SLOT = _AppSlot()


def _openapi() -> dict[str, Any]:
    """The schema, read at import (tests are made per operation, so it must exist before any
    fixture), from an app on a throwaway chain: the routes, not the data, make the schema."""
    chain = connect_memory(accounts=1)
    registry = Registry.deploy(chain.w3, chain.dev_accounts[0])
    document: dict[str, Any] = create_app(Services(registry, demo_codes={})).openapi()
    return document


OPENAPI = _openapi()
PROTECTED = {
    f"{method.upper()} {path}"
    for path, operations in OPENAPI["paths"].items()
    for method, operation in operations.items()
    if operation.get("security")
}
KEY_OPTIONAL = {"POST /v1/reports"}
"""Protected operations that also serve anonymous callers (consumers file reports)."""
schema: OpenApiSchema = schemathesis.openapi.from_dict(OPENAPI)
schema.app = _SLOT


def _label(ctx: Any) -> str:
    return f"{ctx.operation.method.upper()} {ctx.operation.path}"


def _protected(ctx: Any) -> bool:
    return _label(ctx) in PROTECTED


def _needs_key(ctx: Any) -> bool:
    return _label(ctx) in PROTECTED - KEY_OPTIONAL


SETTINGS = hypothesis.settings(
    max_examples=8,
    deadline=None,
    derandomize=True,  # the same requests on every run: CI fails on the code, not on luck
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
)


@pytest.fixture(scope="module")
def fuzz_app(
    services: Services,
    store: Store,
    api_chain: Chain,
    api_registry: Registry,
    organisations: Organisations,
    brand_key: str,
    custodian_key: str,
) -> FastAPI:
    """The conftest app (demo items, SQLite store), indexed so that ``/readyz`` is ready, with
    a relayer (so the relay routes work) and sending accounts for the brand and custodian
    (so writes are queued rather than refused)."""
    Indexer(api_registry, store.engine).sync()
    keys = CustodialKeys(store.engine, SECRET)
    relayer_org = relayer_organisation(organisations)
    payer = keys.create(relayer_org.id)
    senders = Senders(store.engine)
    senders.assign(relayer_org.id, payer, api_chain.chain_id)
    api_chain.fund(payer, 10**18)
    services.relayer = Relayer(api_registry, keys.account(relayer_org.id, payer))
    services.relayer_org_id = relayer_org.id
    roles = DemoRoles.from_dev_accounts(api_chain.dev_accounts)
    chain_id = api_chain.chain_id
    senders.assign(organisations.authenticate(brand_key).org_id, roles.factory.address, chain_id)
    senders.assign(
        organisations.authenticate(custodian_key).org_id, roles.retailer.address, chain_id
    )
    _SLOT.app = create_app(services)
    return _SLOT.app


@pytest.fixture(scope="module")
def keys(
    marketplace_key: str, brand_key: str, custodian_key: str, registry_key: str
) -> dict[str, str]:
    return {
        "marketplace": marketplace_key,
        "brand": brand_key,
        "custodian": custodian_key,
        "registry": registry_key,
    }


@schema.exclude(func=_needs_key).parametrize()
@SETTINGS
def test_a_public_operation_answers_what_its_schema_documents(
    case: Case, fuzz_app: FastAPI
) -> None:
    case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)


@schema.include(func=_protected).parametrize()
@SETTINGS
def test_a_protected_operation_answers_a_key_of_its_role_as_its_schema_documents(
    case: Case, fuzz_app: FastAPI, keys: dict[str, str]
) -> None:
    label = f"{case.method.upper()} {case.operation.path}"
    tag = (case.operation.tags or ["(none)"])[0]
    role = ROLE_BY_OPERATION.get(label) or ROLE_BY_TAG.get(tag)
    assert role is not None, f"{label}: add the role it is fuzzed with to ROLE_BY_TAG"
    case.call_and_validate(headers=auth(keys[role]), excluded_checks=EXCLUDED_CHECKS)


@schema.include(func=_needs_key).parametrize()
@hypothesis.settings(SETTINGS, max_examples=4, phases=[hypothesis.Phase.generate])
def test_a_protected_operation_refuses_every_request_without_a_key(
    case: Case, fuzz_app: FastAPI
) -> None:
    response = case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)
    problem = response.json()
    # FastAPI reads the body before the key: one it cannot read is refused as malformed first.
    refusals = {401: "AuthenticationRequired", 400: "BadRequest", 422: "InvalidRequest"}
    assert (response.status_code, problem["title"]) in refusals.items(), response.text
    assert response.headers["content-type"] == ["application/problem+json"]
