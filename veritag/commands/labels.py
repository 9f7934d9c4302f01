"""``veritag label`` and ``veritag labels``: QR labels of items and sheets of them to print.

``register(app)`` adds both commands to a typer app; ``veritag.cli`` calls it. Refusals raise
``ledger.errors`` exceptions, which the CLI's ``main`` prints as ``error: …``.
"""

from __future__ import annotations

import csv
import io
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape

from ledger.claims import normalise_claim_code
from ledger.errors import ConfigError, IdentifierError, InputFileError, RowProblem
from ledger.identifiers import parse_item_id
from ledger.item_file import ItemRow, read_item_file
from ledger.labels import (
    DEFAULT_BASE_URL,
    Label,
    claim_code_sheet_pdf,
    label_sheet_pdf,
    qr_png,
    qr_svg,
)
from ledger.settings import Settings
from veritag.session import Session

__all__ = ["LabelFormat", "register"]

CLAIM_CODE_COLUMN = "claim_code"

console = Console(soft_wrap=True)  # paths stay whole, also when piped


class LabelFormat(StrEnum):
    """File formats of one label."""

    PNG = "png"
    SVG = "svg"


def register(app: typer.Typer) -> None:
    """Add ``label`` and ``labels`` to ``app``."""
    app.command("label")(label_command)
    app.command("labels")(labels_command)


def label_command(
    *,
    digital_link: Annotated[
        str,
        typer.Argument(
            metavar="DIGITAL_LINK",
            help="The item's GS1 Digital Link, https://HOST/01/GTIN/21/SERIAL.",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    format_: Annotated[
        LabelFormat | None,
        typer.Option("--format", help="png or svg (default: from the file name)."),
    ] = None,
    gtin: Annotated[
        str | None, typer.Option(help="GTIN printed under the code (default: from the link).")
    ] = None,
    serial: Annotated[
        str | None, typer.Option(help="Serial printed under the code (default: from the link).")
    ] = None,
    title: Annotated[
        str | None, typer.Option(help="Product name printed under GTIN and serial.")
    ] = None,
) -> None:
    """Write the QR label of one item: its Digital Link as a QR code, GTIN and serial under it."""
    kind = _label_format(output, format_)
    if (gtin is None) != (serial is None):
        raise ConfigError("give both --gtin and --serial, or neither to read them from the link")
    if gtin is not None and serial is not None:
        label = Label(digital_link, gtin, serial, title)
    else:
        label = Label.from_digital_link(digital_link, title=title)
    output.parent.mkdir(parents=True, exist_ok=True)
    if kind is LabelFormat.PNG:
        output.write_bytes(qr_png(label))
    else:
        output.write_text(qr_svg(label), encoding="utf-8")
    console.print(f"[green]✔[/green] label {escape(label.hri)} written to {escape(str(output))}")


def labels_command(
    *,
    codes: Annotated[
        Path | None,
        typer.Option(
            "--codes",
            help="CSV with gtin and serial columns; the file `item register --claim-codes` "
            "writes also has each item's claim_code.",
        ),
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch",
            help="A registered batch (its id: the first item id) from the store's index; "
            "run `veritag index` first.",
        ),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Label sheet PDF to write.")],
    claim_sheet: Annotated[
        Path | None,
        typer.Option(help="Also write the hidden claim codes to this PDF (keep it confidential)."),
    ] = None,
    base_url: Annotated[
        str, typer.Option(help="Resolver the QR codes point to, https://HOST.")
    ] = DEFAULT_BASE_URL,
    columns: Annotated[int, typer.Option(help="Labels across a page.")] = 3,
    rows: Annotated[int, typer.Option(help="Labels down a page.")] = 8,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (with --batch).")
    ] = None,
) -> None:
    """Print a batch: a PDF sheet of QR labels and, apart, a sheet of its hidden claim codes."""
    if (codes is None) == (batch is None):
        raise ConfigError("give either --codes FILE or --batch BATCH")
    if batch is not None:
        if claim_sheet is not None:
            raise ConfigError(
                "hidden claim codes are never stored; print them from the file "
                "`veritag item register --claim-codes FILE` wrote (--codes FILE)"
            )
        _batch_sheet(
            batch, output, base_url=base_url, columns=columns, rows=rows, data_dir=data_dir
        )
        return
    assert codes is not None  # one of the two, checked above
    for path, name in ((output, "--output"), (claim_sheet, "--claim-sheet")):
        if path is not None and _same_file(path, codes):
            raise ConfigError(f"{name} {path} is the codes file itself; write the PDF elsewhere")
    if claim_sheet is not None and _same_file(claim_sheet, output):
        raise ConfigError(
            "--claim-sheet must differ from --output: the codes go on their own sheet"
        )
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"--base-url {base_url!r} must be https://HOST of a Digital Link resolver"
        )

    items = read_item_file(codes)
    labels = [Label.for_item(item.gtin, item.serial, base_url) for item in items]
    has_codes = CLAIM_CODE_COLUMN in _header(codes)
    if claim_sheet is not None and not has_codes:
        raise ConfigError(
            f"{codes} has no {CLAIM_CODE_COLUMN} column, so there are no codes for "
            "--claim-sheet; use the file `veritag item register --claim-codes FILE` wrote"
        )
    # Everything is checked and made before the first file is written.
    sheet = label_sheet_pdf(labels, columns=columns, rows=rows)
    claims = None
    if claim_sheet is not None:
        entries = list(zip(labels, _claim_codes(codes, items), strict=True))
        claims = claim_code_sheet_pdf(entries, columns=columns, rows=rows)

    pages = _count(-(-len(labels) // (columns * rows)), "page")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(sheet)
    console.print(
        f"[green]✔[/green] {_count(len(labels), 'label')} on {pages} "
        f"written to {escape(str(output))}"
    )
    if claim_sheet is not None and claims is not None:
        _write_private(claim_sheet, claims)
        console.print(
            f"[green]✔[/green] {_count(len(labels), 'hidden claim code')} on {pages} "
            f"written to {escape(str(claim_sheet))} (keep it confidential)"
        )
    elif has_codes:
        console.print(
            f"{escape(str(codes))} holds claim codes; add --claim-sheet FILE to print them"
        )


def _batch_sheet(
    batch: str,
    output: Path,
    *,
    base_url: str,
    columns: int,
    rows: int,
    data_dir: Path | None,
) -> None:
    """The label sheet of a registered batch, from the store's index and its item codes."""
    batch_id = parse_item_id(batch)
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))  # type: ignore[arg-type]
    found, missing = Session(settings).store().batch_codes(batch_id)
    if not found and not missing:
        raise ConfigError(
            f"the index holds no items of batch {batch_id.hex()}; check the id (the batch's "
            "first item id) and run `veritag index` to bring the index up to date"
        )
    if missing:
        raise ConfigError(
            f"the store has no GTIN and serial for {len(missing)} item(s) of the batch "
            f"(first: {missing[0]}); they were registered without `veritag item register`"
        )
    labels = [Label.for_item(code.gtin, code.serial, base_url) for code in found]
    sheet = label_sheet_pdf(labels, columns=columns, rows=rows)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(sheet)
    console.print(
        f"[green]✔[/green] {_count(len(labels), 'label')} of batch {batch_id.hex()[:18]}… "
        f"written to {escape(str(output))}"
    )


def _label_format(output: Path, given: LabelFormat | None) -> LabelFormat:
    """The format asked for, or the one the file name ends with; refuses a contradiction."""
    suffix = output.suffix.lower().lstrip(".")
    from_name = LabelFormat(suffix) if suffix in set(LabelFormat) else None
    if given is None:
        if from_name is None:
            raise ConfigError(f"cannot tell the format of {output}; give --format png or svg")
        return from_name
    if from_name is not None and from_name is not given:
        raise ConfigError(f"--format {given} but {output} ends in .{from_name}; make them agree")
    return given


def _header(path: Path) -> list[str]:
    """The column names of a CSV, stripped and lower-cased (as ``read_item_file`` reads them)."""
    reader = csv.reader(io.StringIO(path.read_text("utf-8-sig")))
    return [name.strip().lower() for name in next(reader, [])]


def _claim_codes(path: Path, rows: list[ItemRow]) -> list[str]:
    """The claim code of each of ``rows`` (checked items of ``path``), all checked first."""
    reader = csv.reader(io.StringIO(path.read_text("utf-8-sig")))
    column = [name.strip().lower() for name in next(reader)].index(CLAIM_CODE_COLUMN)
    by_line: dict[int, list[str]] = {}
    for record in reader:
        by_line[reader.line_num] = record  # the line the record ends on, as ItemRow.line
    codes: list[str] = []
    problems: list[RowProblem] = []
    for row in rows:
        code = by_line[row.line][column].strip()
        try:
            normalise_claim_code(code)
        except IdentifierError as exc:
            problems.append(RowProblem(row.line, CLAIM_CODE_COLUMN, getattr(exc, "reason", "")))
        codes.append(code)
    if problems:
        raise InputFileError(str(path), problems)
    return codes


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by its owner only, from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its own mode through O_CREAT
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
