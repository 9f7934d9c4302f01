#!/usr/bin/env bash
# The whole check, as CI runs it: lint, types, then the test suite (needs scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export HARDHAT_DISABLE_TELEMETRY_PROMPT=true

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 "$@"
