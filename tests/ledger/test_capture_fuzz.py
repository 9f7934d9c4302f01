"""EPCIS capture planning under garbage: every problem is a refusal with a reason, never a crash.

Documents are built from near-valid events with any field replaced by arbitrary JSON, and
from arbitrary JSON outright; ``plan_capture`` must answer every one with steps and
refusals (the route turns refusals into a 422), and never raise.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.epcis.capture import plan_capture
from ledger.identifiers import ItemId
from ledger.registry import ItemState

ACTOR = "0x" + "11" * 20
CHAIN_ID = 31337
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


class EmptyLedger:
    """A ledger where nothing is registered and the actor is an operator of brand 1."""

    def item(self, item: ItemId) -> ItemState | None:
        return None

    def operator_brand(self, address: str) -> int | None:
        return 1

    def brand_authority(self, address: str, brand_id: int) -> bool:
        return False

    def brand_of_gtin(self, gtin: str) -> int | None:
        return 1 if gtin.startswith("00614141") else None

    def site_of_gln(self, gln: str) -> str | None:
        return None

    def containers_in(self, container: ItemId) -> int:
        return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
epcs = st.one_of(
    st.just("https://id.gs1.org/01/00614141123452/21/A1"),
    st.just("urn:epc:id:sgtin:0614141.012345.A1"),
    st.from_regex(
        r"https://[a-z]{1,8}\.[a-z]{2}/(01|gtin)/[0-9]{8,14}(/(21|ser)/[!-~]{0,22})?",
        fullmatch=True,
    ),
    st.from_regex(r"urn:epc:(id|class|idpat):[a-z]{3,6}:[0-9.A-Za-z%*]{0,30}", fullmatch=True),
    st.text(max_size=40),
)
steps = st.sampled_from(
    ["commissioning", "shipping", "receiving", "retail_selling", "decommissioning",
     "destroying", "inspecting", "urn:epcglobal:cbv:bizstep:shipping",
     "https://ref.gs1.org/cbv/BizStep-receiving"]
)  # fmt: skip
parties = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["possessing_party", "owning_party", "location", "x"]),
            "destination": st.one_of(
                st.just(f"did:pkh:eip155:{CHAIN_ID}:0x{'22' * 20}"),
                st.just("did:pkh:eip155:1:0x" + "22" * 20),
                st.just("urn:epc:id:sgln:0614141.00001.0"),
                st.text(max_size=20),
            ),
        }
    ),
    max_size=3,
)


@st.composite
def near_valid_events(draw: st.DrawFn) -> Any:
    event: dict[str, Any] = {
        "type": draw(st.sampled_from(["ObjectEvent", "AggregationEvent", "Event"])),
        "eventTime": draw(st.sampled_from(["2026-11-28T09:00:00Z", "2026-11-28T09:00:00", "x"])),
        "eventTimeZoneOffset": "+00:00",
        "epcList": draw(st.lists(epcs, max_size=3)),
        "action": draw(st.sampled_from(["ADD", "OBSERVE", "DELETE", None])),
        "bizStep": draw(steps),
        "destinationList": draw(parties),
    }
    for key in draw(st.lists(st.sampled_from(sorted(event)), max_size=2, unique=True)):
        event[key] = draw(json_values)
    return event


documents = st.one_of(
    st.builds(
        lambda events, context: {
            "@context": context,
            "type": "EPCISDocument",
            "epcisBody": {"eventList": events},
        },
        st.lists(st.one_of(near_valid_events(), json_values), max_size=4),
        st.sampled_from([CONTEXT, [CONTEXT, {"ex": "http://ex.com/"}], [CONTEXT, {"ex": 3}]]),
    ),
    st.dictionaries(st.text(max_size=10), json_values, max_size=4),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_is_planned_into_steps_and_refusals_without_raising(
    document: dict[str, Any],
) -> None:
    plan = plan_capture(document, EmptyLedger(), actor=ACTOR, chain_id=CHAIN_ID)

    assert all(isinstance(r.reason, str) and r.reason for r in plan.refusals)
    refused = {r.index for r in plan.refusals}
    assert not refused & {s.event_index for s in plan.steps}
