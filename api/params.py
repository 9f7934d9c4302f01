"""Query-parameter types shared by routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator

__all__ = ["IsoDateTime", "iso_8601"]


def iso_8601(value: object) -> object:
    """Only what the schema documents (`format: date-time`): pydantic alone would also take
    a number of Unix seconds."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z") from None
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(iso_8601)]
"""A date-time given as ISO 8601 text, nothing else."""
