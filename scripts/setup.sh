#!/usr/bin/env bash
# Set up everything Veritag needs on a fresh machine: a Python virtualenv with the pinned
# dependencies (requirements.lock) and the project installed, Slither in a virtualenv of its
# own (requirements-slither.lock), and the pinned npm toolchain (solc-js, Hardhat,
# OpenZeppelin, anvil) from package-lock.json. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: Python 3.11 or newer is needed (found: $("$python" --version 2>&1))" >&2
    exit 1
fi
if ! command -v npm >/dev/null; then
    echo "setup: Node.js 20 and npm are needed (no npm on PATH)" >&2
    exit 1
fi

# The npm toolchain and Slither's virtualenv install beside the project's own virtualenv (they
# share nothing), so a fresh machine waits for the longest of the three, not their sum.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error &
    npm_pid=$!
fi
# Slither (static analysis of the contracts, run by scripts/test.sh) needs web3 < 8 while the
# project uses web3 8, so it lives in its own virtualenv, pinned by requirements-slither.lock.
(
    [ -x .venv-slither/bin/python ] || "$python" -m venv .venv-slither
    .venv-slither/bin/python -m pip install --quiet --disable-pip-version-check \
        -r requirements-slither.lock
) &
slither_pid=$!

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c requirements.lock -e ".[dev]"

wait "$slither_pid" || { echo "setup: installing Slither (.venv-slither) failed" >&2; exit 1; }
if [ -n "${npm_pid:-}" ]; then
    wait "$npm_pid" || { echo "setup: npm ci failed" >&2; exit 1; }
fi
# Page tests drive Debian's Chromium (Playwright's own browser download cannot work here);
# label tests render PDF sheets with poppler's pdftoppm and decode every code on them;
# `veritag bench scan` loads the API with wrk.
if [ -z "${VERITAG_SKIP_SYSTEM_PACKAGES:-}" ] && ! { command -v chromium && command -v pdftoppm && command -v wrk; } >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils wrk >/dev/null
    else
        echo "setup: chromium/pdftoppm missing; page and sheet-render tests will skip" >&2
    fi
fi
echo "setup: ready (.venv, .venv-slither, node_modules, chromium, poppler, wrk)"
