"""GS1 identifiers: GTIN, serial, company prefix, the canonical item key and Digital Links.

``ledger.identifiers.keys`` checks GS1 keys and computes the item id;
``ledger.identifiers.digital_link`` parses and builds GS1 Digital Link URIs. Import from
here; the names below are the public surface.
"""

from ledger.errors import InvalidDigitalLink
from ledger.identifiers.digital_link import DigitalLink, build_digital_link, parse_digital_link
from ledger.identifiers.keys import (
    GTIN,
    ItemId,
    Serial,
    check_digit,
    gs1_company_prefix_candidates,
    item_id,
    parse_item_id,
    validate_company_prefix,
    validate_gln,
    validate_gtin,
    validate_serial,
)
from ledger.identifiers.sscc import (
    SSCC,
    container_id,
    sscc_digital_link,
    sscc_urn,
    validate_sscc,
)

__all__ = [
    "GTIN",
    "DigitalLink",
    "InvalidDigitalLink",
    "ItemId",
    "Serial",
    "build_digital_link",
    "check_digit",
    "gs1_company_prefix_candidates",
    "item_id",
    "parse_digital_link",
    "parse_item_id",
    "validate_company_prefix",
    "validate_gln",
    "validate_gtin",
    "validate_serial",
]
from ledger.identifiers.epc_urn import (
    InvalidEpcUrn,
    digital_link_to_sgtin_urn,
    epc_urn_to_digital_link,
    sgtin_urn_to_digital_link,
)

__all__ += [
    "InvalidEpcUrn",
    "digital_link_to_sgtin_urn",
    "epc_urn_to_digital_link",
    "sgtin_urn_to_digital_link",
]

__all__ += ["SSCC", "container_id", "sscc_digital_link", "sscc_urn", "validate_sscc"]
