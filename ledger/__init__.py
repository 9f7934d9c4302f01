"""Veritag's ledger library: the chain, the registry client and GS1 identifiers. No web code.

The names below are the public surface; everything else is reachable through its module.
"""

from ledger import _keccak_backend  # noqa: F401  (must run before the first hash)
from ledger.chain import Chain, connect_memory, connect_rpc
from ledger.claims import claim_key, generate_claim_code, sign_claim
from ledger.contract_errors import Status
from ledger.errors import VeritagError
from ledger.identifiers import ItemId, item_id, parse_item_id, validate_gtin, validate_serial
from ledger.registry import Flag, ItemEvent, ItemState, Registry
from ledger.transactions import TxResult

__all__ = [
    "Chain",
    "Flag",
    "ItemEvent",
    "ItemId",
    "ItemState",
    "Registry",
    "Status",
    "TxResult",
    "VeritagError",
    "claim_key",
    "connect_memory",
    "connect_rpc",
    "generate_claim_code",
    "item_id",
    "parse_item_id",
    "sign_claim",
    "validate_gtin",
    "validate_serial",
]
