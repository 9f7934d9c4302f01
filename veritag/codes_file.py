"""The hidden claim codes file that `item register` and `batch anchor` write for the brand."""

from __future__ import annotations

import csv
from pathlib import Path

from ledger.identifiers import ItemId

__all__ = ["write_claim_codes"]


def write_claim_codes(path: Path, labels: list[tuple[str, str, ItemId]], codes: list[str]) -> None:
    """The hidden codes, owner-only (0600), never over an existing file: the brand prints them
    under the scratch-off."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["gtin", "serial", "item_id", "claim_code"])
        for (gtin, serial, ident), code in zip(labels, codes, strict=True):
            writer.writerow([gtin, serial, ident.hex(), code])
    path.chmod(0o600)
