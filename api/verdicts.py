"""Turn a chain verdict plus what the store knows into the public answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from api.schemas import (
    BatchProofPublic,
    BrandPublic,
    ContainerPublic,
    CustodyStepPublic,
    ItemPublic,
    ProofEventPublic,
    ProofPublic,
    ReasonPublic,
    ScanStatsPublic,
    VerdictPublic,
)
from api.services import Services
from ledger.detect import CLONE_SIGNAL_CODES
from ledger.identifiers import sscc_digital_link
from ledger.registry import Flag
from ledger.store.containers import Containers
from ledger.store.documents import document_hash
from ledger.store.signals import StoredSignal, signal_reasons
from ledger.verify import BatchEvidence, Verdict, VerdictKind

__all__ = ["public_verdict"]

_DOUBTS = frozenset({"document_mismatch", *CLONE_SIGNAL_CODES})
"""Reasons that turn an ``authentic`` answer into ``suspect``."""


def public_verdict(
    verdict: Verdict,
    services: Services,
    *,
    link: str,
    scan_count: int,
    first_seen: datetime | None,
    signals: Sequence[StoredSignal] = (),
    stale: bool = False,
) -> VerdictPublic:
    """``link`` is the item's canonical Digital Link, quoted in the re-check command;
    ``signals`` are the item's stored clone signals, oldest first; ``stale``: the verdict
    comes from the index because the node did not answer."""
    reasons = [ReasonPublic(code=r.code, message=r.message) for r in verdict.reasons]
    if stale:
        reasons.append(_stale_reason(verdict.proof.block))
    product = _product(verdict, services, reasons)
    reasons.extend(ReasonPublic(code=r.code, message=r.message) for r in signal_reasons(signals))
    state = verdict.state
    containers = _containers(verdict, services)
    kind = verdict.verdict
    if kind is VerdictKind.AUTHENTIC and any(r.code in _DOUBTS for r in reasons):
        kind = VerdictKind.SUSPECT
        reasons = [r for r in reasons if r.code != "registered"]
    registry = services.registry
    return VerdictPublic(
        verdict=kind.value,
        reasons=reasons,
        item=ItemPublic(
            gtin=verdict.gtin,
            serial=verdict.serial,
            item_id=verdict.item_id.hex(),
            status=state.status.name.lower() if state else None,
            flags=[(f.name or "").lower() for f in Flag if state and f in state.flags],
            product=product,
        ),
        brand=(
            BrandPublic(id=verdict.brand_id, name=services.brand_name(verdict.brand_id))
            if verdict.brand_id
            else None
        ),
        custody=[
            CustodyStepPublic(
                seq=s.seq,
                event=s.event,
                from_=s.from_,
                to=s.to,
                by=s.by,
                time=datetime.fromtimestamp(s.time, UTC),
                block=s.block,
                transaction=s.transaction,
                container=containers.get(s.container) if s.container else None,
            )
            for s in verdict.custody
        ],
        containers=[
            containers[c.container_id].model_copy(update={"current": c.current})
            for c in verdict.containers
        ],
        proof=ProofPublic(
            chain_id=verdict.proof.chain_id,
            contract=verdict.proof.contract,
            block=verdict.proof.block,
            seq=verdict.proof.seq,
            events=[
                ProofEventPublic(seq=seq, block=block, transaction=tx)
                for seq, block, tx in verdict.proof.events
            ],
            batch=None if verdict.batch is None else _batch(verdict, verdict.batch),
            recheck=(
                f"veritag verify {link} --rpc-url <any node of chain {registry.chain_id}> "
                f"--contract {registry.address}"
            ),
        ),
        scan=ScanStatsPublic(count=scan_count, first_seen=first_seen),
        stale=stale,
        as_of_block=verdict.proof.block if stale else None,
    )


def _batch(verdict: Verdict, evidence: BatchEvidence) -> BatchProofPublic:
    proof, batch = evidence.proof, evidence.batch
    return BatchProofPublic(
        root="0x" + proof.root.hex(),
        index=proof.index,
        claim_key=proof.claim_key,
        leaf="0x" + proof.leaf(verdict.item_id).hex(),
        siblings=["0x" + s.hex() for s in proof.siblings],
        brand_id=batch.brand_id,
        operator=batch.operator,
        anchored_at=datetime.fromtimestamp(batch.anchored_at, UTC),
        anchor_block=evidence.anchor_block,
        anchor_transaction=evidence.anchor_tx,
    )


def _containers(verdict: Verdict, services: Services) -> dict[str, ContainerPublic]:
    """Every container the verdict names, with its SSCC and Digital Link when the store
    knows the SSCC (it never goes on chain)."""
    ids = {c.container_id for c in verdict.containers}
    ids |= {s.container for s in verdict.custody if s.container}
    if not ids:
        return {}
    ssccs = Containers(services.store.engine).ssccs(ids) if services.store is not None else {}
    return {
        c: ContainerPublic(
            container_id=c,
            sscc=ssccs.get(c),
            link=sscc_digital_link(ssccs[c]) if c in ssccs else None,
            current=False,
        )
        for c in sorted(ids)
    }


def _stale_reason(block: int) -> ReasonPublic:
    return ReasonPublic(
        code="chain_unavailable",
        message=f"the chain node did not answer; this answer comes from Veritag's index as of "
        f"block {block} and was not checked on chain",
    )


def _product(
    verdict: Verdict, services: Services, reasons: list[ReasonPublic]
) -> dict[str, Any] | None:
    """The stored product document, shown only when its hash is the one on chain."""
    if services.store is None or verdict.doc_hash is None or verdict.state is None:
        return None
    document = services.product_document(verdict.doc_hash)
    if document is None:
        return None
    if document_hash(document) != verdict.doc_hash:
        reasons.append(
            ReasonPublic(
                code="document_mismatch",
                message="the stored product data does not match the hash recorded on chain",
            )
        )
        return None
    return document
