"""`veritag admin bootstrap`: the first registry operator, once."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from ledger.store.database import default_url, make_engine
from ledger.store.orgs import Organisations, Role
from veritag.cli import main

KEY = re.compile(r"vtk_[0-9a-f]{8}_[A-Za-z0-9_-]{32,64}")


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    for name in list(os.environ):
        if name.startswith("VERITAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(sys, "argv", ["veritag", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_bootstrap_creates_the_registry_operator_and_prints_its_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(monkeypatch, capsys, "admin", "bootstrap", "--data-dir", str(tmp_path))

    keys = KEY.findall(out)
    assert code == 0
    assert "registry operator #1 'Registry operator'" in out
    assert len(keys) == 1
    engine = make_engine(default_url(tmp_path))
    principal = Organisations(engine).authenticate(keys[0])
    engine.dispose()
    assert (principal.name, principal.role) == ("Registry operator", Role.REGISTRY)


def test_bootstrap_refuses_when_a_registry_operator_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path)]
    first, _, _ = run(monkeypatch, capsys, "admin", "bootstrap", "--name", "Operator", *data)

    code, out, err = run(monkeypatch, capsys, "admin", "bootstrap", "--name", "Other", *data)

    assert first == 0
    assert code == 1
    assert KEY.findall(out) == []
    assert err.strip() == (
        "error: admin bootstrap: the registry operator 'Operator' (#1) exists already; "
        "bootstrap runs once. Issue it another key with `veritag org new-key 'Operator'`"
    )
    engine = make_engine(default_url(tmp_path))
    names = [org.name for org in Organisations(engine).all()]
    engine.dispose()
    assert names == ["Operator"]
