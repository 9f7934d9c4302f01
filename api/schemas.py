"""What the API answers with. Output models only: nothing here is a table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "BrandPublic",
    "ContainerPublic",
    "CustodyStepPublic",
    "ItemPublic",
    "ProofEventPublic",
    "ProofPublic",
    "ReasonPublic",
    "ScanStatsPublic",
    "VerdictPublic",
]


class ReasonPublic(BaseModel):
    code: str = Field(description="Machine-readable reason code.")
    message: str = Field(description="The reason in a sentence.")


class ItemPublic(BaseModel):
    gtin: str
    serial: str
    item_id: str
    status: str | None = Field(description="On-chain status; null when not registered.")
    flags: list[str] = Field(default_factory=list)
    product: dict[str, Any] | None = Field(
        default=None, description="The product data document, only when its hash matches."
    )


class BrandPublic(BaseModel):
    id: int
    name: str | None


class ContainerPublic(BaseModel):
    """A case or pallet (GS1 SSCC) the item is in, or travelled in."""

    container_id: str = Field(description='`keccak256("00/" + sscc)`, its key on chain.')
    sscc: str | None = Field(description="The SSCC, when the service knows it (never on chain).")
    link: str | None = Field(description="The SSCC's GS1 Digital Link, `…/00/{sscc}`.")
    current: bool = Field(description="The item is inside it now.")


class CustodyStepPublic(BaseModel):
    seq: int
    event: str
    from_: str | None = Field(default=None, serialization_alias="from")
    to: str | None = None
    by: str | None = Field(default=None, description="Who acted, for status changes.")
    time: datetime
    block: int
    transaction: str
    container: ContainerPublic | None = Field(
        default=None,
        description="Present when this is a case's or pallet's own event, which moved the "
        "item inside it; `seq` is then the container's.",
    )


class ProofEventPublic(BaseModel):
    seq: int
    block: int
    transaction: str


class BatchProofPublic(BaseModel):
    """An item registered as a leaf of a Merkle batch, not yet moved on chain itself."""

    root: str = Field(description="The batch's Merkle root, anchored on chain.")
    index: int = Field(description="The item's leaf index in the batch.")
    claim_key: str | None = Field(
        description="The claim key address the leaf commits to (null: the zero address)."
    )
    leaf: str = Field(
        description="keccak256(keccak256(abi.encode(itemId, claimKey))): recompute it."
    )
    siblings: list[str] = Field(description="Sibling hashes from the leaf up; pairs sorted.")
    brand_id: int
    operator: str
    anchored_at: datetime
    anchor_block: int | None
    anchor_transaction: str | None


class ProofPublic(BaseModel):
    chain_id: int
    contract: str
    block: int = Field(
        description="The block the answer was read at; for a stale answer, the last block "
        "the index had reached (-1 if it had indexed nothing)."
    )
    seq: int = Field(description="The item's on-chain sequence number (events so far).")
    events: list[ProofEventPublic]
    batch: BatchProofPublic | None = Field(
        default=None,
        description="For an item registered only as a leaf of an anchored Merkle batch: its "
        "proof, checked against the root that getBatch(root) confirms on chain.",
    )
    recheck: str = Field(description="A command that re-checks this answer on chain.")


class ScanStatsPublic(BaseModel):
    count: int
    first_seen: datetime | None


class VerdictPublic(BaseModel):
    verdict: str = Field(
        description="authentic | suspect | counterfeit | recalled | stolen | unknown"
    )
    reasons: list[ReasonPublic]
    item: ItemPublic
    brand: BrandPublic | None
    custody: list[CustodyStepPublic]
    containers: list[ContainerPublic] = Field(
        default_factory=list,
        description="Cases and pallets: the ones it is in now (innermost first), then the "
        "ones it travelled in. Empty for an item never packed.",
    )
    proof: ProofPublic
    scan: ScanStatsPublic
    stale: bool = Field(
        default=False,
        description="Present, and true, only when the chain node did not answer and this "
        "answer comes from Veritag's index alone, as of `as_of_block`, without a check on "
        "chain (reason `chain_unavailable`); re-check it once the node answers. Absent from "
        "answers read on chain.",
    )
    as_of_block: int | None = Field(
        default=None,
        description="Present only when `stale`: the last block the index had reached, the "
        "block the answer is as of (the same as `proof.block`).",
    )
