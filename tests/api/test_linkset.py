"""The label URL as a GS1 resolver: linkset (RFC 9264), linkType redirects, the Link header."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import BASE, path_of
from veritag.demo_seed import DEMO_GTIN

LABEL = f"/01/{DEMO_GTIN}/21/A%2BB"
CANONICAL = f"{BASE}/01/{DEMO_GTIN}/21/A%2BB"
PAGE = {"href": CANONICAL, "title": "Product information and authenticity", "type": "text/html"}
EVENTS = {
    "href": f"{BASE}/v1/epcis/items/{DEMO_GTIN}/A%2BB",
    "title": "Chain of custody as EPCIS 2.0 events",
    "type": "application/ld+json",
}
LINKSET = {
    "linkset": [
        {
            "anchor": CANONICAL,
            "https://gs1.org/voc/pip": [PAGE],
            "https://gs1.org/voc/epcis": [EVENTS],
            "https://gs1.org/voc/traceability": [EVENTS],
            "https://gs1.org/voc/verificationService": [
                {"href": CANONICAL, "title": "Authenticity verdict", "type": "application/json"}
            ],
            "https://gs1.org/voc/defaultLink": [PAGE],
        }
    ]
}


@pytest.mark.parametrize("query", ["?linkType=linkset", "?linkType=all", "?17=291231&linkType=all"])
def test_link_type_linkset_or_all_answers_the_items_linkset(client: TestClient, query: str) -> None:
    response = client.get(LABEL + query)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/linkset+json"
    assert response.json() == LINKSET


def test_linkset_accept_header_answers_the_linkset(client: TestClient) -> None:
    response = client.get(LABEL, headers={"accept": "application/linkset+json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/linkset+json"
    assert response.json() == LINKSET


@pytest.mark.parametrize(
    ("link_type", "target"),
    [
        ("gs1:pip", CANONICAL),
        ("https://gs1.org/voc/pip", CANONICAL),
        ("gs1:epcis", EVENTS["href"]),
        ("gs1:traceability", EVENTS["href"]),
        ("gs1:verificationService", CANONICAL),
        ("gs1:defaultLink", CANONICAL),
    ],
)
def test_known_link_type_redirects_307_to_its_link(
    client: TestClient, link_type: str, target: str
) -> None:
    response = client.get(f"{LABEL}?linkType={link_type}", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == target


@pytest.mark.parametrize("link_type", ["gs1:recipeInfo", "nonsense", "", "anchor"])
def test_unknown_link_type_redirects_to_the_default_link(
    client: TestClient, link_type: str
) -> None:
    response = client.get(f"{LABEL}?linkType={link_type}", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == CANONICAL


def test_link_type_wins_over_the_linkset_accept_header(client: TestClient) -> None:
    response = client.get(
        f"{LABEL}?linkType=gs1:epcis",
        headers={"accept": "application/linkset+json"},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (307, EVENTS["href"])


def test_a_parameter_merely_ending_in_link_type_is_a_plain_scan(
    client: TestClient, demo_urls: dict[str, str]
) -> None:
    response = client.get(
        path_of(demo_urls["in_shop"]) + "?xlinkType=linkset", headers={"accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["verdict"] == "authentic"


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_plain_scans_point_at_their_linkset_in_a_link_header(
    client: TestClient, demo_urls: dict[str, str], accept: str
) -> None:
    url = demo_urls["in_shop"]
    response = client.get(path_of(url), headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["link"] == (
        f'<{url}?linkType=linkset>; rel="linkset"; type="application/linkset+json"'
    )


def test_a_malformed_link_is_still_a_400_when_a_linkset_is_asked(client: TestClient) -> None:
    response = client.get(f"/01/{DEMO_GTIN}?linkType=linkset")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        f"invalid GS1 Digital Link '{BASE}/01/{DEMO_GTIN}?linkType=linkset': "
        "a scan needs a GTIN (01) and a serial (21)"
    )
