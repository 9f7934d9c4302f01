"""Scanning an item of a Merkle batch that has not moved yet: authentic, with its proof.

The proof in the answer (``proof.batch``) is what ``veritag verify`` re-checks: it recomputes
the leaf, folds the siblings into the root and asks the chain for ``getBatch(root)``.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.verdict_cache import indexed_verdict
from ledger.batches import item_ids_for, prepare, save_and_anchor
from ledger.chain import Chain
from ledger.identifiers import item_id
from ledger.indexer import Indexer
from ledger.merkle import leaf_hash
from ledger.registry import Registry
from ledger.store.merkle_batches import MerkleBatches
from ledger.store.repository import Store
from ledger.verify import verify_item
from tests.api.test_scan_api import JSON
from veritag.commands.verify import batch_proof_of, chain_summary, compare
from veritag.demo_seed import DEMO_GTIN, DemoRoles

SERIALS = [f"MB{n}" for n in range(33)]


@pytest.fixture(scope="module")
def batch_root(
    api_chain: Chain, api_registry: Registry, store: Store, demo_urls: dict[str, str]
) -> bytes:
    """A batch of 33 demo-GTIN items anchored by the demo brand's factory (an operator once
    the demo is seeded), kept in the store."""
    roles = DemoRoles.from_dev_accounts(api_chain.dev_accounts)
    ids = item_ids_for(DEMO_GTIN, SERIALS)
    tree = prepare(ids)
    save_and_anchor(api_registry, roles.factory, MerkleBatches(store.engine), tree, ids)
    return tree.root


def scan(client: TestClient, serial: str) -> dict[str, Any]:
    response = client.get(f"/01/{DEMO_GTIN}/21/{serial}", headers=JSON)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_batch_item_not_yet_moved_scans_authentic_with_a_proof_verify_accepts(
    client: TestClient, api_chain: Chain, api_registry: Registry, batch_root: bytes
) -> None:
    root = batch_root
    roles = DemoRoles.from_dev_accounts(api_chain.dev_accounts)

    body = scan(client, "MB20")

    assert body["verdict"] == "authentic"
    assert [r["code"] for r in body["reasons"]] == ["registered"]
    assert body["item"]["status"] == "active"
    assert body["custody"] == []
    batch = body["proof"]["batch"]
    ident = item_id(DEMO_GTIN, "MB20")
    assert batch["root"] == "0x" + root.hex()
    assert batch["index"] == 20
    assert batch["claim_key"] is None
    assert batch["leaf"] == "0x" + leaf_hash(ident).hex()
    assert len(batch["siblings"]) == 6  # 33 leaves: six levels below the root
    assert batch["operator"] == roles.factory.address
    assert batch["brand_id"] == 1

    proof = batch_proof_of(None, body)
    chain_verdict = verify_item(api_registry, DEMO_GTIN, "MB20", batch_proofs=lambda _: proof)
    assert compare(chain_summary(chain_verdict), body) == []


@pytest.mark.usefixtures("batch_root")
def test_a_forged_batch_proof_in_an_answer_is_caught_by_verify(
    client: TestClient, api_registry: Registry
) -> None:
    body = scan(client, "MB1")
    forged = {**body, "proof": {**body["proof"], "batch": {**body["proof"]["batch"]}}}
    forged["proof"]["batch"]["siblings"] = list(reversed(forged["proof"]["batch"]["siblings"]))

    proof = batch_proof_of(None, forged)
    chain_verdict = verify_item(api_registry, DEMO_GTIN, "MB1", batch_proofs=lambda _: proof)

    assert chain_verdict.verdict.value == "counterfeit"
    differences = compare(chain_summary(chain_verdict), forged)
    assert [d.partition(":")[0] for d in differences][:2] == ["verdict", "reasons"]


def test_with_the_node_down_the_index_answers_a_batch_leaf_authentic_and_stale(
    api_registry: Registry, store: Store, batch_root: bytes
) -> None:
    Indexer(api_registry, store.engine).sync()

    verdict = indexed_verdict(
        store,
        DEMO_GTIN,
        "MB9",
        chain_id=api_registry.chain_id,
        contract=api_registry.address,
    )

    assert verdict.verdict.value == "authentic"
    assert verdict.batch is not None
    assert verdict.batch.proof.root == batch_root
    assert verdict.batch.proof.index == 9
    unknown = indexed_verdict(
        store,
        DEMO_GTIN,
        "NOT-IN-BATCH",
        chain_id=api_registry.chain_id,
        contract=api_registry.address,
    )
    assert unknown.verdict.value == "counterfeit"
