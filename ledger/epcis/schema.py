"""GS1's EPCIS 2.0 JSON schema, as the first check of a captured document.

GS1 publishes the schema at ref.gs1.org without a licence to redistribute it, so Veritag does
not ship a copy: the operator points ``VERITAG_EPCIS_SCHEMA`` at one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.errors import ConfigError

if TYPE_CHECKING:
    from jsonschema import Draft7Validator

__all__ = ["schema_problems"]

_MAX_PROBLEMS = 50


def schema_problems(document: Mapping[str, Any], schema: Path) -> list[str]:
    """Every way ``document`` breaks the schema at ``schema`` (URI formats checked)."""
    validator = _validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(document)"
        problems.append(f"{where}: {_short(error.message)}")
        if len(problems) == _MAX_PROBLEMS:
            problems.append(f"(stopped after {_MAX_PROBLEMS} problems)")
            break
    return problems


@functools.cache
def _validator(schema: Path) -> Draft7Validator:
    # Imported here: its URI-format checker compiles a grammar on import (about 3 s), which
    # every CLI command and server start would otherwise pay.
    from jsonschema import Draft7Validator  # noqa: PLC0415

    try:
        loaded = json.loads(schema.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the EPCIS JSON schema at {schema}: {error}") from None
    return Draft7Validator(loaded, format_checker=Draft7Validator.FORMAT_CHECKER)


def _short(message: str) -> str:
    # A failed anyOf quotes the whole offending value; a reader needs the start of it.
    return message if len(message) <= 300 else message[:297] + "..."
