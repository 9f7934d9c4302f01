"""`veritag org`: organisations and API keys from the command line, as an operator uses them."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from ledger.store.database import default_url, make_engine
from ledger.store.orgs import Organisations
from tests.cli.test_cli_input_errors import veritag_script


def org(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [str(veritag_script()), "org", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def test_a_key_printed_once_authenticates_until_it_is_revoked(tmp_path: Path) -> None:
    added = org(tmp_path, "add", "Market One", "--role", "marketplace")
    assert added.returncode == 0, added.stderr
    key = re.search(r"vtk_[0-9a-f]{8}_\S+", added.stdout)
    assert key is not None
    engine = make_engine(default_url(tmp_path))
    organisations = Organisations(engine)
    assert organisations.authenticate(key.group()).name == "Market One"

    listed = org(tmp_path, "list")
    assert "Market One" in listed.stdout
    assert key.group()[:12] in listed.stdout
    assert key.group() not in listed.stdout  # the secret is never shown again

    revoked = org(tmp_path, "revoke-key", key.group()[:12])
    assert revoked.returncode == 0, revoked.stderr
    assert organisations.get(1).keys == ()
    engine.dispose()


def test_a_brand_without_its_brand_id_is_refused_with_one_clear_line(tmp_path: Path) -> None:
    refused = org(tmp_path, "add", "Acme", "--role", "brand")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: cannot record organisation 'Acme': a brand organisation needs its on-chain "
        "brand id, and only a brand has one"
    )
