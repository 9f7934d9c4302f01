"""Assertions shared by the registry test modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ledger.contract_errors import RegistryError


@contextmanager
def reverts(error: type[RegistryError], **data: Any) -> Iterator[None]:
    """Expect exactly ``error`` (not a subclass) carrying exactly ``data``."""
    with pytest.raises(error) as caught:
        yield
    assert type(caught.value) is error
    assert caught.value.data == data
