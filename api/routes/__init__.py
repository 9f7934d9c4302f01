"""Route modules, one per area; here, the parameter types they share."""

from typing import Annotated

from fastapi import Path

__all__ = ["ROW_ID_MAX", "RowId"]

ROW_ID_MAX = 2**31 - 1
"""The largest id a store row can have (PostgreSQL's ``integer``): a larger one names nothing,
and would make the database raise instead of the route answering 404."""

RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="The id the service gave it.")]
