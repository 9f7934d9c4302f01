"""Outbox requests of aggregation: pack and unpack, and moves of a container by its SSCC."""

from __future__ import annotations

import pytest

from ledger.errors import InvalidRecord
from ledger.identifiers import check_digit, container_id, item_id
from ledger.outbox.operations import contract_call, validate_request
from ledger.registry import Registry

GTIN = "00614141123452"


def sscc(reference: int) -> str:
    payload = f"00614141{reference:09d}"
    return payload + str(check_digit(payload))


PALLET, CASE = sscc(1), sscc(2)


def test_a_pack_request_is_normalised_with_every_records_id() -> None:
    request = {
        "sscc": f"(00){PALLET}",
        "items": [{"gtin": "614141123452", "serial": "A1"}, {"sscc": CASE}],
    }

    normalised = validate_request("pack", request, max_batch_size=500)

    assert normalised == {
        "sscc": PALLET,
        "item_id": container_id(PALLET).hex(),
        "items": [
            {"gtin": GTIN, "serial": "A1", "item_id": item_id(GTIN, "A1").hex()},
            {"sscc": CASE, "item_id": container_id(CASE).hex()},
        ],
    }


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"sscc": PALLET, "items": []}, "'items' must be a non-empty list"),
        ({"sscc": "123", "items": [{"sscc": CASE}]}, "must be 18 digits, got 3"),
        ({"sscc": PALLET, "items": [{"sscc": CASE}, {"sscc": CASE}]}, "it appears twice"),
        (
            {"sscc": PALLET, "items": [{"sscc": CASE, "gtin": GTIN}]},
            "'gtin' and 'serial', or 'sscc'",
        ),
        ({"sscc": PALLET, "items": [{"sscc": CASE}] * 3}, "more than the registry's batch"),
    ],
)
def test_a_bad_pack_request_is_refused_saying_why(
    request_: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRecord) as caught:
        validate_request("pack", request_, max_batch_size=2)
    assert message in str(caught.value)


def test_a_container_ships_by_its_sscc_and_an_item_by_gtin_and_serial_not_both() -> None:
    to = "0x000000000000000000000000000000000000dEaD"
    shipped = validate_request("ship", {"sscc": PALLET, "to": to}, max_batch_size=500)
    assert shipped == {"sscc": PALLET, "item_id": container_id(PALLET).hex(), "to": to}
    with pytest.raises(InvalidRecord, match="name an item"):
        validate_request(
            "ship", {"sscc": PALLET, "gtin": GTIN, "serial": "A1", "to": to}, max_batch_size=500
        )


def test_pack_and_unpack_call_the_registry_with_the_container_and_the_ids(
    registry: Registry,
) -> None:
    request = validate_request(
        "unpack", {"sscc": PALLET, "items": [{"sscc": CASE}]}, max_batch_size=500
    )

    call = contract_call(registry, "unpack", request)

    assert call.fn_name == "unpack"
    assert call.args == (container_id(PALLET).value, [container_id(CASE).value])


def test_an_epcis_step_on_a_container_is_a_shipping_or_a_receiving_by_its_sscc() -> None:
    digest = "0x" + "ab" * 32
    to = "0x000000000000000000000000000000000000dEaD"
    shipped = validate_request(
        "epcis",
        {"sscc": PALLET, "step": "shipping", "party": to, "event_hash": digest},
        max_batch_size=500,
    )
    assert shipped == {
        "sscc": PALLET,
        "item_id": container_id(PALLET).hex(),
        "step": "shipping",
        "party": to,
        "event_hash": digest,
    }
    for step in ("commissioning", "retail_selling", "decommissioning", "destroying"):
        with pytest.raises(InvalidRecord) as caught:
            validate_request(
                "epcis", {"sscc": PALLET, "step": step, "event_hash": digest}, max_batch_size=500
            )
        assert str(caught.value).endswith(
            f"a case or pallet ('sscc') is shipped or received, not {step}"
        )
