"""Rich renderings of registry state shared by the CLI commands and the demo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from rich.table import Table

from ledger.registry import Flag, ItemEvent, ItemState

__all__ = ["history_table", "item_summary"]


def _who(address: object, names: Mapping[str, str]) -> str:
    text = str(address)
    return f"{names[text]} ({text[:8]}…)" if text in names else text


def item_summary(state: ItemState, names: Mapping[str, str] | None = None) -> Table:
    names = names or {}
    table = Table(show_header=False, box=None, padding=(0, 2))
    flags = ", ".join((f.name or "").lower() for f in Flag if f in state.flags) or "none"
    registered = datetime.fromtimestamp(state.registered_at, UTC).isoformat(timespec="seconds")
    rows = [
        ("item", state.item_id.hex()),
        ("status", state.status.label),
        ("flags", flags),
        ("custodian", _who(state.custodian, names)),
        ("consignee", _who(state.consignee, names) if state.consignee else "—"),
        ("brand", str(state.brand_id)),
        ("registered by", _who(state.operator, names)),
        ("registered at", registered),
        ("sequence number", str(state.seq)),
        ("claim armed", "yes" if state.claimable else "no"),
    ]
    if state.container is not None:
        rows.append(("packed in", f"{state.container.hex()} (moves with it)"))
    if state.registered_while_suspended:
        rows.append(("warning", "registered while its brand or operator key was suspended"))
    for key, value in rows:
        table.add_row(f"[bold]{key}[/bold]", value)
    return table


def history_table(events: Sequence[ItemEvent], names: Mapping[str, str] | None = None) -> Table:
    names = names or {}
    table = Table(title="history (re-check each row on chain by block and transaction)")
    for column in ("seq", "event", "details", "block", "transaction"):
        table.add_column(column)
    for event in events:
        details = ", ".join(f"{k}={_who(v, names)}" for k, v in event.args.items())
        table.add_row(
            str(event.seq), event.name, details, str(event.block_number), event.tx_hash[:18] + "…"
        )
    return table
