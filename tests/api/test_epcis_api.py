"""``GET /v1/epcis/items/{gtin}/{serial}``: the EPCIS document of a demo item, and refusals."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft7Validator

from api.services import Services
from ledger.epcis.export import EPCIS_CONTEXT, export_item
from tests.conftest import conformance_dir
from veritag.demo_seed import DEMO_DOCUMENT, DEMO_GTIN


def test_history_is_served_as_json_ld_identical_to_the_library_export(
    client: TestClient, services: Services
) -> None:
    response = client.get(f"/v1/epcis/items/{DEMO_GTIN}/DEMO-CLAIMED")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ld+json"
    document = response.json()
    expected = export_item(services.registry, DEMO_GTIN, "DEMO-CLAIMED", store=services.store)
    assert {**document, "creationDate": None} == {**expected, "creationDate": None}
    assert document["@context"][0] == EPCIS_CONTEXT
    assert [e["bizStep"] for e in document["epcisBody"]["eventList"]] == [
        "commissioning", "shipping", "receiving", "retail_selling", "accepting",
    ]  # fmt: skip
    assert document["epcisBody"]["eventList"][0]["ilmd"]["veritag:name"] == DEMO_DOCUMENT["name"]


def test_served_document_validates_against_the_epcis_schema(client: TestClient) -> None:
    schema_path = conformance_dir() / "gs1-EPCIS" / "EPCIS-JSON-Schema.json"
    if not schema_path.exists():
        pytest.skip(f"GS1 EPCIS schema absent: {schema_path} (see conformance README)")
    validator = Draft7Validator(
        json.loads(schema_path.read_text()), format_checker=Draft7Validator.FORMAT_CHECKER
    )

    document = client.get(f"/v1/epcis/items/{DEMO_GTIN}/DEMO-RECALLED").json()

    assert [e.message for e in validator.iter_errors(document)] == []


def test_unregistered_item_is_a_404_problem(client: TestClient) -> None:
    response = client.get(f"/v1/epcis/items/{DEMO_GTIN}/DEMO-FAKE")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"no registered item '01/{DEMO_GTIN}/21/DEMO-FAKE'"


@pytest.mark.parametrize(
    ("gtin", "serial"), [("00614141123453", "A1"), (DEMO_GTIN, "bad serial"), ("12", "A1")]
)
def test_malformed_identifiers_are_a_400_problem(
    client: TestClient, gtin: str, serial: str
) -> None:
    # api/problems.py answers every IdentifierError in a URL with 400.
    response = client.get(f"/v1/epcis/items/{gtin}/{serial}")

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
