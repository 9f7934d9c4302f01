"""``GET /v1/epcis/events``: the documented subset of EPCIS 2.0 queries, answered from exports."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft7Validator

from api.services import Services
from ledger.epcis.event_hash import document_hash_ids
from ledger.epcis.export import export_item
from ledger.identifiers.epc_urn import digital_link_to_sgtin_urn
from ledger.indexer import Indexer
from ledger.store.repository import Store
from tests.conftest import conformance_dir
from veritag.demo_seed import DEMO_GTIN

CLAIMED = f"https://id.gs1.org/01/{DEMO_GTIN}/21/DEMO-CLAIMED"
TRANSIT = f"https://id.gs1.org/01/{DEMO_GTIN}/21/DEMO-TRANSIT"


def _events(client: TestClient, **params: object) -> list[dict[str, object]]:
    answer = client.get("/v1/epcis/events", params=params)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/ld+json"
    return answer.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]  # type: ignore[no-any-return]


def test_match_epc_answers_the_items_export_events_in_time_order(
    client: TestClient, services: Services
) -> None:
    found = _events(client, MATCH_epc=CLAIMED)

    exported = export_item(services.registry, DEMO_GTIN, "DEMO-CLAIMED", store=services.store)
    assert found == exported["epcisBody"]["eventList"]


def test_epcs_may_be_sgtin_urns_and_filters_combine(client: TestClient) -> None:
    urn = digital_link_to_sgtin_urn(TRANSIT, company_prefix_length=7)

    shipping = _events(client, MATCH_epc=f"{urn},{CLAIMED}", EQ_bizStep="shipping")
    in_transit = _events(
        client, MATCH_epc=[urn, CLAIMED], EQ_disposition="https://ref.gs1.org/cbv/Disp-in_transit"
    )

    assert sorted((e["epcList"][0], e["bizStep"]) for e in shipping) == [  # type: ignore[index]
        (CLAIMED, "shipping"),
        (TRANSIT, "shipping"),
    ]
    assert sorted(e["epcList"][0] for e in in_transit) == [CLAIMED, TRANSIT]  # type: ignore[index]
    times = [e["eventTime"] for e in shipping]
    assert times == sorted(times)  # type: ignore[type-var]


def test_a_time_window_without_epcs_reads_the_indexed_items(
    client: TestClient, services: Services, store: Store
) -> None:
    Indexer(services.registry, store.engine).sync()
    every = _events(client, MATCH_epc=CLAIMED)
    first, last = every[0]["eventTime"], every[-1]["eventTime"]

    found = _events(client, GE_eventTime=first, LT_eventTime=last, EQ_bizStep="commissioning")

    assert CLAIMED in [e["epcList"][0] for e in found]  # type: ignore[index]
    assert all(e["bizStep"] == "commissioning" for e in found)
    assert all(first <= e["eventTime"] < last for e in found)  # type: ignore[operator]


def test_pages_follow_the_link_header_and_keep_the_query(client: TestClient) -> None:
    first = client.get("/v1/epcis/events", params={"MATCH_epc": CLAIMED, "perPage": 2})
    link = first.headers["Link"]
    following = link[1 : link.index(">")]
    assert link.endswith('; rel="next"')
    assert parse_qs(urlsplit(following).query)["MATCH_epc"] == [CLAIMED]

    pages = [first.json()]
    while "Link" in (answer := client.get(following)).headers:
        pages.append(answer.json())
        following = answer.headers["Link"][1 : answer.headers["Link"].index(">")]
    pages.append(answer.json())

    events = [e for p in pages for e in p["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
    assert events == _events(client, MATCH_epc=CLAIMED)
    assert [len(p["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) for p in pages] == [
        2, 2, 1,
    ]  # fmt: skip


def test_the_query_document_is_schema_valid_and_its_ids_re_hash(client: TestClient) -> None:
    schema_path = conformance_dir() / "gs1-EPCIS" / "EPCIS-JSON-Schema.json"
    if not schema_path.exists():
        pytest.skip(f"GS1 EPCIS schema absent: {schema_path} (see conformance README)")
    validator = Draft7Validator(
        json.loads(schema_path.read_text()), format_checker=Draft7Validator.FORMAT_CHECKER
    )
    document = client.get("/v1/epcis/events", params={"MATCH_epc": CLAIMED}).json()

    assert [e.message for e in validator.iter_errors(document)] == []
    events = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert document_hash_ids(document) == [e["eventID"] for e in events]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({}, "cannot record query: name items (MATCH_epc) or a time window (GE_eventTime, "
             "LT_eventTime)"),
        ({"MATCH_epc": f"https://id.gs1.org/01/{DEMO_GTIN}"}, "cannot record query: MATCH_epc "
         f"'https://id.gs1.org/01/{DEMO_GTIN}': invalid GS1 Digital Link "
         f"'https://id.gs1.org/01/{DEMO_GTIN}': MATCH_epc names individual items (a GTIN with a "
         "serial)"),
        ({"MATCH_epc": CLAIMED, "eventType": "Event"}, "cannot record query: eventType 'Event' "
         "is not one of AggregationEvent, AssociationEvent, ObjectEvent, TransactionEvent, "
         "TransformationEvent"),
        ({"GE_eventTime": "2026-01-02T00:00:00Z", "LT_eventTime": "2026-01-01T00:00:00Z"},
         "cannot record query: GE_eventTime must be before LT_eventTime"),
        ({"MATCH_epc": CLAIMED, "nextPageToken": "bm9wZQ"}, "cannot record query: "
         "nextPageToken is not one this service issued"),
    ],
    ids=["no-scope", "class-level-epc", "unknown-type", "empty-window", "forged-token"],
)  # fmt: skip
def test_malformed_queries_are_422_problems_saying_what_is_wrong(
    client: TestClient, params: dict[str, str], detail: str
) -> None:
    answer = client.get("/v1/epcis/events", params=params)

    assert (answer.status_code, answer.json()["detail"]) == (422, detail)


def test_other_event_types_match_nothing(client: TestClient) -> None:
    assert _events(client, MATCH_epc=CLAIMED, eventType="AggregationEvent") == []
