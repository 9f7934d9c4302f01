"""`veritag label` and `veritag labels`, run through typer's CliRunner on an app of their own.

Every PNG written is decoded with zxing-cpp; the QR codes of a PDF sheet are drawn from its
vector modules and decoded (``tests/ledger/test_labels.py`` also renders sheets with poppler).
"""

from __future__ import annotations

import base64
import csv
import re
import stat
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
import typer
import zxingcpp
from PIL import Image, ImageDraw
from typer.testing import CliRunner, Result

from ledger.claims import generate_claim_code
from ledger.errors import ConfigError, InputFileError, LabelError, RowProblem
from ledger.identifiers import item_id
from veritag.commands.labels import register

GTIN = "09506000134352"
HOST = "https://veritag.example"
URI = f"{HOST}/01/{GTIN}/21/{quote('ABC/1', safe='')}"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def run() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def invoke(app: typer.Typer, *args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def decoded_png(path: Path) -> list[str]:
    found = zxingcpp.read_barcodes(Image.open(path), text_mode=zxingcpp.TextMode.Plain)
    assert all(b.format == zxingcpp.BarcodeFormat.QRCode and b.ec_level == "M" for b in found)
    return [b.text for b in found]


def pdf_streams(pdf: bytes) -> list[bytes]:
    """Every stream of a reportlab PDF, inflated (reportlab writes each page's content last)."""
    assert pdf.startswith(b"%PDF-")
    streams = []
    for head, raw in re.findall(rb"<<(.*?)>>\s*stream\r?\n(.*?)endstream", pdf, re.S):
        data = base64.a85decode(raw.strip(), adobe=True) if b"/ASCII85Decode" in head else raw
        streams.append(zlib.decompress(data) if b"/FlateDecode" in head else data)
    return streams


def decoded_pdf(pdf: bytes) -> list[str]:
    """The texts of the QR codes drawn as filled rectangles on any page, as a set-like list."""
    texts: list[str] = []
    number = rb"(-?\d*\.?\d+)"
    for stream in pdf_streams(pdf):
        image = Image.new("L", (595 * 3, 842 * 3), 255)
        draw = ImageDraw.Draw(image)
        for match in re.finditer(rb" ".join([number] * 4) + rb" re\b", stream):
            x, y, w, h = (float(v) * 3 for v in match.groups())
            top = image.height - (y + h)
            draw.rectangle((round(x), round(top), round(x + w) - 1, round(top + h) - 1), fill=0)
        found = zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)
        texts.extend(b.text for b in found)
    return texts


def pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page(?![A-Za-z])", pdf))


def write_codes(path: Path, count: int, *, with_codes: bool = True) -> list[tuple[str, str]]:
    """A CSV as `veritag item register --claim-codes` writes it (or just gtin,serial)."""
    items = [(GTIN, f"B7-{i:03d}") for i in range(count)]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        if with_codes:
            writer.writerow(["gtin", "serial", "item_id", "claim_code"])
            for gtin, serial in items:
                ident = item_id(gtin, serial).hex()
                writer.writerow([gtin, serial, ident, generate_claim_code()])
        else:
            writer.writerow(["gtin", "serial"])
            writer.writerows(items)
    return items


def codes_of(path: Path) -> list[str]:
    with path.open(newline="") as source:
        return [row["claim_code"] for row in csv.DictReader(source)]


# ───────────── veritag label ─────────────


def test_label_writes_a_png_that_decodes_to_the_link(run: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "label.png"

    result = invoke(run, "label", URI, "-o", out)

    assert result.exit_code == 0, result.output
    assert decoded_png(out) == [URI]
    assert "(01) 09506000134352 (21) ABC/1" in result.output


def test_label_writes_an_svg_with_the_text_under_the_code(run: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "label.svg"

    result = invoke(run, "label", URI, "--format", "svg", "-o", out, "--title", "Wallet & co")

    assert result.exit_code == 0, result.output
    root = ET.parse(out).getroot()
    assert [t.text for t in root.iter(f"{SVG}text")] == [
        "(01) 09506000134352",
        "(21) ABC/1",
        "Wallet & co",
    ]


def test_label_takes_gtin_and_serial_that_match_the_link(run: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "label.png"

    result = invoke(run, "label", URI, "-o", out, "--gtin", "9506000134352", "--serial", "ABC/1")

    assert result.exit_code == 0, result.output
    assert decoded_png(out) == [URI]


def test_label_refuses_gtin_and_serial_that_the_link_does_not_hold(
    run: typer.Typer, tmp_path: Path
) -> None:
    out = tmp_path / "label.png"

    result = invoke(run, "label", URI, "-o", out, "--gtin", GTIN, "--serial", "ABC/2")

    assert isinstance(result.exception, LabelError)
    assert "(21) ABC/1 but its text says" in result.exception.reason
    assert not out.exists()


def test_label_refuses_an_unknown_format(run: typer.Typer, tmp_path: Path) -> None:
    result = invoke(run, "label", URI, "--format", "gif", "-o", tmp_path / "label.gif")

    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.output
    assert "'gif' is not one of 'png', 'svg'" in result.output


def test_label_refuses_a_file_name_that_names_no_format(run: typer.Typer, tmp_path: Path) -> None:
    result = invoke(run, "label", URI, "-o", tmp_path / "label.gif")

    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == (
        f"cannot tell the format of {tmp_path / 'label.gif'}; give --format png or svg"
    )


def test_label_refuses_a_format_that_contradicts_the_file_name(
    run: typer.Typer, tmp_path: Path
) -> None:
    result = invoke(run, "label", URI, "--format", "svg", "-o", tmp_path / "label.png")

    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == (
        f"--format svg but {tmp_path / 'label.png'} ends in .png; make them agree"
    )


def test_label_refuses_a_gtin_without_a_serial(run: typer.Typer, tmp_path: Path) -> None:
    result = invoke(run, "label", URI, "-o", tmp_path / "label.png", "--gtin", GTIN)

    assert isinstance(result.exception, ConfigError)
    assert "give both --gtin and --serial" in str(result.exception)


# ───────────── veritag labels ─────────────


def test_labels_writes_the_sheet_and_the_claim_sheet_from_a_codes_file(
    run: typer.Typer, tmp_path: Path
) -> None:
    codes = tmp_path / "codes.csv"
    items = write_codes(codes, 26)
    sheet, claims = tmp_path / "out" / "sheet.pdf", tmp_path / "out" / "claims.pdf"
    claims.parent.mkdir()
    claims.write_bytes(b"an old, world-readable sheet")
    claims.chmod(0o644)

    result = invoke(
        run, "labels", "--codes", codes, "-o", sheet, "--claim-sheet", claims, "--base-url", HOST
    )

    assert result.exit_code == 0, result.output
    pdf = sheet.read_bytes()
    assert pages(pdf) == 2
    expected = [f"{HOST}/01/{g}/21/{quote(s, safe='')}" for g, s in items]
    assert sorted(decoded_pdf(pdf)) == sorted(expected)
    claim_pdf = claims.read_bytes()
    assert pages(claim_pdf) == 2
    assert decoded_pdf(claim_pdf) == []
    shown = b"".join(re.findall(rb"\(([^)]*)\) Tj", b"".join(pdf_streams(claim_pdf))))
    for code in codes_of(codes):
        assert code.replace("-", "").encode() in shown.replace(b"-", b"")
    assert stat.S_IMODE(claims.stat().st_mode) == 0o600
    assert "26 labels on 2 pages" in result.output
    assert "26 hidden claim codes on 2 pages" in result.output


def test_labels_points_the_codes_at_gs1s_resolver_by_default(
    run: typer.Typer, tmp_path: Path
) -> None:
    codes = tmp_path / "items.csv"
    write_codes(codes, 2, with_codes=False)

    result = invoke(run, "labels", "--codes", codes, "-o", tmp_path / "sheet.pdf")

    assert result.exit_code == 0, result.output
    assert sorted(decoded_pdf((tmp_path / "sheet.pdf").read_bytes())) == [
        f"https://id.gs1.org/01/{GTIN}/21/B7-000",
        f"https://id.gs1.org/01/{GTIN}/21/B7-001",
    ]
    assert "claim codes" not in result.output


def test_labels_says_how_to_print_claim_codes_it_was_not_asked_for(
    run: typer.Typer, tmp_path: Path
) -> None:
    codes = tmp_path / "codes.csv"
    write_codes(codes, 1)

    result = invoke(run, "labels", "--codes", codes, "-o", tmp_path / "sheet.pdf")

    assert result.exit_code == 0, result.output
    assert "holds claim codes; add --claim-sheet FILE to print them" in result.output
    assert not (tmp_path / "claims.pdf").exists()


def test_labels_refuses_a_claim_sheet_without_claim_codes(run: typer.Typer, tmp_path: Path) -> None:
    codes = tmp_path / "items.csv"
    write_codes(codes, 1, with_codes=False)
    claims = tmp_path / "claims.pdf"

    result = invoke(
        run, "labels", "--codes", codes, "-o", tmp_path / "s.pdf", "--claim-sheet", claims
    )

    assert isinstance(result.exception, ConfigError)
    assert f"{codes} has no claim_code column" in str(result.exception)
    assert not claims.exists()


def test_labels_refuses_bad_claim_codes_listing_each_line(run: typer.Typer, tmp_path: Path) -> None:
    codes = tmp_path / "codes.csv"
    write_codes(codes, 3)
    lines = codes.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",SHORT"
    lines[3] = lines[3].rsplit(",", 1)[0] + ","
    codes.write_text("\n".join(lines) + "\n")
    claims = tmp_path / "claims.pdf"

    result = invoke(
        run, "labels", "--codes", codes, "-o", tmp_path / "s.pdf", "--claim-sheet", claims
    )

    assert isinstance(result.exception, InputFileError)
    assert result.exception.problems == [
        RowProblem(3, "claim_code", "expected 25 characters, got 5"),
        RowProblem(4, "claim_code", "expected 25 characters, got 0"),
    ]
    assert not claims.exists()
    assert not (tmp_path / "s.pdf").exists()


def test_labels_refuses_bad_items_before_writing_anything(run: typer.Typer, tmp_path: Path) -> None:
    codes = tmp_path / "items.csv"
    codes.write_text(f"gtin,serial\n{GTIN},A1\n09506000134353,A2\n")
    sheet = tmp_path / "sheet.pdf"

    result = invoke(run, "labels", "--codes", codes, "-o", sheet)

    assert isinstance(result.exception, InputFileError)
    assert [(p.line, p.field) for p in result.exception.problems] == [(3, "gtin")]
    assert not sheet.exists()


@pytest.mark.parametrize("option", ["-o", "--claim-sheet"])
def test_labels_never_writes_over_the_codes_file(
    run: typer.Typer, tmp_path: Path, option: str
) -> None:
    codes = tmp_path / "codes.csv"
    write_codes(codes, 1)
    before = codes.read_bytes()
    args: list[str | Path] = [
        "-o",
        tmp_path / "sheet.pdf",
        "--claim-sheet",
        tmp_path / "claims.pdf",
    ]
    args[args.index(option) + 1] = codes

    result = invoke(run, "labels", "--codes", codes, *args)

    assert isinstance(result.exception, ConfigError)
    assert "is the codes file itself" in str(result.exception)
    assert codes.read_bytes() == before


def test_labels_refuses_one_file_for_both_sheets(run: typer.Typer, tmp_path: Path) -> None:
    codes = tmp_path / "codes.csv"
    write_codes(codes, 1)
    both = tmp_path / "both.pdf"

    result = invoke(run, "labels", "--codes", codes, "-o", both, "--claim-sheet", both)

    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == (
        "--claim-sheet must differ from --output: the codes go on their own sheet"
    )
    assert not both.exists()


def test_labels_refuses_a_base_url_that_is_not_a_web_address(
    run: typer.Typer, tmp_path: Path
) -> None:
    codes = tmp_path / "items.csv"
    write_codes(codes, 1, with_codes=False)

    result = invoke(
        run, "labels", "--codes", codes, "-o", tmp_path / "s.pdf", "--base-url", "veritag.example"
    )

    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == (
        "--base-url 'veritag.example' must be https://HOST of a Digital Link resolver"
    )


def test_register_adds_both_commands_with_help(run: typer.Typer) -> None:
    result = invoke(run, "--help")

    assert result.exit_code == 0
    assert "label " in result.output
    assert "labels " in result.output
    assert "Write the QR label of one item" in result.output
    assert "Print a batch" in result.output
