"""Command-line options several command modules share, and the session they select."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.settings import Settings
from veritag.session import Session

__all__ = ["DataDir", "DatabaseUrl", "store_session"]

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default ./.veritag).")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="The store (default: SQLite in the data directory)."),
]


def store_session(data_dir: Path | None, database_url: str | None) -> Session:
    """The session of a command that works on the store (options win over settings)."""
    overrides = {k: v for k, v in [("data_dir", data_dir), ("database_url", database_url)] if v}
    return Session(Settings(**overrides))  # type: ignore[arg-type]
