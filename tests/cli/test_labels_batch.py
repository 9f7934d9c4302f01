"""`veritag labels --batch`: a registered batch's sheet from the store's index and codes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
import typer
from typer.testing import CliRunner

from ledger.chain import Chain
from ledger.errors import ConfigError
from ledger.identifiers import item_id
from ledger.indexer import Indexer
from ledger.registry import Registry
from ledger.settings import Settings
from tests.cli.test_label_commands import decoded_pdf, pages
from veritag.commands.labels import register
from veritag.session import Session

GTIN = "00614141123452"
HOST = "https://veritag.example"


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


def test_batch_sheet_holds_every_item_of_the_registered_batch(
    app: typer.Typer, registry: Registry, chain: Chain, tmp_path: Path
) -> None:
    operator = chain.dev_accounts[2]  # the conftest brand's operator
    serials = [f"LOT7-{n:02d}" for n in range(5)]
    ids = [item_id(GTIN, s) for s in serials]
    registry.register_batch(operator, ids)
    registry.register(operator, item_id(GTIN, "OTHER-1"))  # not part of the batch
    store = Session(Settings(data_dir=tmp_path)).store()
    store.record_codes([(GTIN, s, i.hex()) for s, i in zip(serials, ids, strict=True)])
    Indexer(registry, store.engine).sync()
    sheet = tmp_path / "sheet.pdf"

    result = CliRunner().invoke(
        app,
        ["labels", "--batch", ids[0].hex(), "-o", str(sheet), "--base-url", HOST,
         "--data-dir", str(tmp_path)],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    pdf = sheet.read_bytes()
    assert pages(pdf) == 1
    assert sorted(decoded_pdf(pdf)) == sorted(
        f"{HOST}/01/{GTIN}/21/{quote(s, safe='')}" for s in serials
    )
    assert "5 labels of batch" in result.output


def test_batch_unknown_to_the_index_is_refused_with_what_to_do(
    app: typer.Typer, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["labels", "--batch", "0x" + "ab" * 32, "-o", str(tmp_path / "s.pdf"),
              "--data-dir", str(tmp_path)],
    )  # fmt: skip
    assert isinstance(result.exception, ConfigError)
    assert "run `veritag index`" in str(result.exception)
    assert not (tmp_path / "s.pdf").exists()


def test_claim_sheet_cannot_come_from_the_store(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["labels", "--batch", "0x" + "ab" * 32, "-o", str(tmp_path / "s.pdf"),
              "--claim-sheet", str(tmp_path / "c.pdf")],
    )  # fmt: skip
    assert isinstance(result.exception, ConfigError)
    assert "hidden claim codes are never stored" in str(result.exception)


def test_codes_or_batch_must_be_given_but_not_both(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["labels", "-o", str(tmp_path / "s.pdf")])
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == "give either --codes FILE or --batch BATCH"
