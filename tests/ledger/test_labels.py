"""QR labels: every code made is decoded back and compared with the Digital Link it must hold.

PNGs are decoded with zxing-cpp as they are. SVGs are parsed as XML and their QR path is drawn
module by module into an image that zxing-cpp decodes. PDFs are checked twice: their vector
modules are read from the (uncompressed) content stream and drawn, and, when poppler's
``pdftoppm`` is installed, whole pages are rendered and every code on them decoded.
"""

from __future__ import annotations

import base64
import importlib
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from ledger.claims import InvalidClaimCode, generate_claim_code
from ledger.errors import InvalidDigitalLink, InvalidGTIN, InvalidSerial, LabelError
from ledger.labels import (
    CLAIM_SHEET_WARNING,
    Label,
    claim_code_sheet_pdf,
    label_sheet_pdf,
    qr_png,
    qr_svg,
)

GTIN = "09506000134352"
HOST = "https://veritag.example"
SVG = "{http://www.w3.org/2000/svg}"


def link(serial: str, gtin: str = GTIN, host: str = HOST) -> str:
    """A Digital Link written by hand, independent of ``build_digital_link``."""
    return f"{host}/01/{gtin}/21/{quote(serial, safe='')}"


def label(serial: str, title: str | None = None) -> Label:
    return Label(link(serial), GTIN, serial, title)


def batch(count: int) -> list[Label]:
    return [label(f"SN{i:04d}/{i % 7}", "Wallet" if i % 2 else None) for i in range(count)]


# ───────────── decoding helpers ─────────────


def decode(image: Image.Image) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)


def assert_one_qr_holding(image: Image.Image, uri: str) -> zxingcpp.Barcode:
    """The image holds exactly one QR code, with ``uri`` and error correction M or better."""
    found = decode(image)
    assert [b.text for b in found] == [uri]
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    assert found[0].ec_level in {"M", "Q", "H"}
    return found[0]


def png_image(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(data))


def in_reading_order(found: Sequence[zxingcpp.Barcode]) -> list[str]:
    """Texts of decoded codes row by row from the top, left to right in a row."""

    def centre(b: zxingcpp.Barcode) -> tuple[float, float]:
        at = b.position
        corners = (at.top_left, at.top_right, at.bottom_right, at.bottom_left)
        return sum(p.x for p in corners) / 4, sum(p.y for p in corners) / 4

    placed = sorted((centre(b)[1], centre(b)[0], b.text) for b in found)
    rows: list[list[tuple[float, str]]] = []
    last_y: float | None = None
    for y, x, text in placed:
        if last_y is None or y - last_y > 20:  # a new row of cells (pixels)
            rows.append([])
        rows[-1].append((x, text))
        last_y = y
    return [text for row in rows for _, text in sorted(row)]


# ───────────── PDF helpers (no PDF library needed; pypdf used when installed) ─────────────


def page_streams(pdf: bytes) -> list[bytes]:
    """The content stream of every page, in page order (reportlab: one /Pages node)."""
    objects = dict(re.findall(rb"(?m)^(\d+) 0 obj\r?\n(.*?)endobj", pdf, re.S))
    kids = re.search(rb"/Kids \[([^\]]*)\]", pdf)
    assert kids is not None
    streams = []
    for page in re.findall(rb"(\d+) 0 R", kids[1]):
        contents = re.search(rb"/Contents (\d+) 0 R", objects[page])
        assert contents is not None
        body = objects[contents[1]]
        stream = re.search(rb"stream\r?\n(.*)endstream", body, re.S)
        assert stream is not None
        data = stream[1]
        if b"/ASCII85Decode" in body:
            data = base64.a85decode(data.strip(), adobe=True)
        streams.append(zlib.decompress(data) if b"/FlateDecode" in body else data)
    return streams


def page_count(pdf: bytes) -> int:
    assert pdf.startswith(b"%PDF-")
    try:
        pypdf = importlib.import_module("pypdf")
    except ImportError:
        return len(re.findall(rb"/Type /Page(?![A-Za-z])", pdf))
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


def page_texts(pdf: bytes) -> list[str]:
    """The text of every page: with pypdf when installed, else the Tj strings of the streams."""
    try:
        pypdf = importlib.import_module("pypdf")
    except ImportError:
        return [
            "\n".join(
                re.sub(rb"\\(.)", rb"\1", s).decode("cp1252")
                for s in re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", stream)
            )
            for stream in page_streams(pdf)
        ]
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def draw_vector_page(stream: bytes, size: tuple[float, float], scale: float = 4) -> Image.Image:
    """The filled rectangles (``x y w h re``) of a page, black on white, ``scale`` px per pt."""
    number = rb"(-?\d*\.?\d+)"
    image = Image.new("L", (round(size[0] * scale), round(size[1] * scale)), 255)
    draw = ImageDraw.Draw(image)
    for match in re.finditer(rb" ".join([number] * 4) + rb" re\b", stream):
        x, y, w, h = (float(v) * scale for v in match.groups())
        top = image.height - (y + h)
        draw.rectangle((round(x), round(top), round(x + w) - 1, round(top + h) - 1), fill=0)
    return image


def rendered_pages(pdf: bytes, tmp_path: Path, dpi: int = 150) -> list[Image.Image]:
    """Every page rendered by poppler's ``pdftoppm``; skips the test when it is not installed."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed; the vector check still ran")
    source = tmp_path / "sheet.pdf"
    source.write_bytes(pdf)
    subprocess.run([tool, "-r", str(dpi), "-gray", "-png", source, tmp_path / "page"], check=True)
    return [Image.open(p) for p in sorted(tmp_path.glob("page-*.png"))]


# ───────────── Label ─────────────


def test_label_keeps_the_gtin_in_14_digits_and_prints_gs1_text() -> None:
    made = Label(link("ABC/1"), "9506000134352", "ABC/1")

    assert made.gtin == GTIN
    assert made.hri == "(01) 09506000134352 (21) ABC/1"
    assert made.hri_lines == ("(01) 09506000134352", "(21) ABC/1")


def test_label_from_digital_link_reads_the_percent_decoded_serial() -> None:
    made = Label.from_digital_link(link("ABC/1"), title="Wallet")

    assert (made.gtin, made.serial, made.title) == (GTIN, "ABC/1", "Wallet")


def test_label_for_item_builds_the_canonical_link() -> None:
    made = Label.for_item("9506000134352", "A+B/1%", f"{HOST}/")

    assert made.uri == f"{HOST}/01/{GTIN}/21/A%2BB%2F1%25"


def test_label_refuses_an_empty_uri() -> None:
    with pytest.raises(LabelError) as caught:
        Label("", GTIN, "A1")

    assert caught.value.what == "label"
    assert caught.value.reason == "its URI is empty; give the item's GS1 Digital Link"
    assert caught.value.status == 422
    assert isinstance(caught.value, ValueError)


def test_label_refuses_text_that_disagrees_with_its_code() -> None:
    with pytest.raises(LabelError) as caught:
        Label(link("A1"), GTIN, "A2")

    assert caught.value.reason == (
        f"its URI {link('A1')!r} holds (01) {GTIN} (21) A1 but its text says "
        f"(01) {GTIN} (21) A2; make both from the same item"
    )


def test_label_refuses_a_link_that_names_no_single_item() -> None:
    product = f"{HOST}/01/{GTIN}"

    with pytest.raises(LabelError) as caught:
        Label.from_digital_link(product)

    assert caught.value.reason == (
        f"URI {product!r} names no single item; a label needs https://HOST/01/GTIN/21/SERIAL"
    )


def test_label_refuses_a_malformed_link_with_the_parsers_error() -> None:
    with pytest.raises(InvalidDigitalLink) as caught:
        Label(f"veritag.example/01/{GTIN}/21/A1", GTIN, "A1")

    assert caught.value.uri == f"veritag.example/01/{GTIN}/21/A1"


@pytest.mark.parametrize(
    ("gtin", "serial", "error"),
    [
        ("09506000134353", "A1", InvalidGTIN),
        (GTIN, "A 1", InvalidSerial),
        (GTIN, "", InvalidSerial),
    ],
)
def test_label_checks_gtin_and_serial_like_every_identifier(
    gtin: str, serial: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        Label(link("A1"), gtin, serial)


@pytest.mark.parametrize(
    ("title", "reason"),
    [
        ("  ", "its title is blank; give a product name or no title"),
        ("Wallet\nTan", "its title 'Wallet\\nTan' has the control character '\\n'"),
    ],
)
def test_label_refuses_a_blank_or_multiline_title(title: str, reason: str) -> None:
    with pytest.raises(LabelError) as caught:
        label("A1", title)

    assert caught.value.reason == reason


# ───────────── PNG ─────────────


@pytest.mark.parametrize(
    ("serial", "title", "box_size", "border"),
    [
        ("ABC/1", None, 10, 4),
        ("A1", "Classic leather wallet", 10, 4),
        ("!\"%&'()*+,-./:;<=>?_", None, 10, 4),  # GS1 set 82 punctuation, 20 characters
        ("WWWWWWWWWWWWWWWWWWWW", "A title far too long to fit under the code at all", 6, 4),
        ("12345", None, 3, 6),
    ],
)
def test_png_decodes_to_exactly_the_digital_link(
    serial: str, title: str | None, box_size: int, border: int
) -> None:
    made = label(serial, title)

    image = png_image(qr_png(made, box_size=box_size, border=border))

    found = assert_one_qr_holding(image, made.uri)
    assert found.ec_level == "M"  # the level the module documents


@pytest.mark.parametrize(("box_size", "border"), [(10, 4), (5, 6)])
def test_png_keeps_a_white_quiet_zone_of_border_modules(box_size: int, border: int) -> None:
    made = label("ABC/1", "Wallet")
    image = png_image(qr_png(made, box_size=box_size, border=border)).convert("L")
    assert_one_qr_holding(image, made.uri)
    side, zone = image.width, border * box_size

    pixels = image.load()
    assert pixels is not None
    ring = [
        pixels[x, y]
        for y in range(side)
        for x in range(side)
        if min(x, y) < zone or max(x, y) >= side - zone
    ]
    assert set(ring) == {255}
    assert pixels[zone, zone] == 0  # the finder pattern starts right after the quiet zone
    assert pixels[side - zone - 1, zone] == 0
    assert pixels[zone, side - zone - 1] == 0


def test_png_prints_the_text_under_the_code() -> None:
    made = label("ABC/1")
    image = png_image(qr_png(made)).convert("L")
    assert_one_qr_holding(image, made.uri)

    below = image.crop((0, image.width, image.width, image.height))
    assert image.height > image.width
    darkest = below.getextrema()[0]
    assert isinstance(darkest, int)
    assert darkest < 128  # something dark: the text


def test_png_refuses_a_quiet_zone_under_four_modules() -> None:
    with pytest.raises(LabelError) as caught:
        qr_png(label("A1"), border=3)

    assert caught.value.reason == "a quiet zone of 3 modules is too small; QR codes need 4"


def test_png_refuses_a_title_its_font_cannot_draw() -> None:
    with pytest.raises(LabelError) as caught:
        qr_png(label("A1", "Café — tan"))

    assert "'é—'" in caught.value.reason


# ───────────── SVG ─────────────


def svg_modules(root: ET.Element) -> Image.Image:
    """The QR path of a label SVG drawn module by module, 8 px a module, as a PNG would be."""
    path = root.find(f"{SVG}path")
    assert path is not None
    squares = re.findall(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z", path.get("d", ""))
    assert squares
    side = int(float(root.get("viewBox", "").split()[2]))
    image = Image.new("L", (side * 8, side * 8), 255)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in squares:
        box = (int(x0) * 8, int(y0) * 8, int(x1) * 8 - 1, int(y1) * 8 - 1)
        draw.rectangle(box, fill=0)
    return image


def test_svg_is_well_formed_with_the_text_under_a_qr_path_that_decodes() -> None:
    made = label("ABC/1", "Wallet")

    root = ET.fromstring(qr_svg(made))

    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["(01) 09506000134352", "(21) ABC/1", "Wallet"]
    assert_one_qr_holding(svg_modules(root), made.uri)
    side = float(root.get("viewBox", "").split()[2])
    assert all(float(t.get("y", "0")) > side for t in root.iter(f"{SVG}text"))


def test_svg_escapes_the_text() -> None:
    made = label("A&B<1>", 'Tom & "Jerry" <b>')

    document = qr_svg(made)

    root = ET.fromstring(document)
    assert [t.text for t in root.iter(f"{SVG}text")][1:] == ["(21) A&B<1>", 'Tom & "Jerry" <b>']
    assert "<b>" not in document
    assert_one_qr_holding(svg_modules(root), made.uri)


def test_svg_renders_and_decodes_with_cairosvg() -> None:
    cairosvg = pytest.importorskip("cairosvg", reason="cairosvg is not installed")
    made = label("ABC/1")

    png = cairosvg.svg2png(bytestring=qr_svg(made).encode(), output_width=600)

    assert_one_qr_holding(png_image(png), made.uri)


# ───────────── label sheet PDF ─────────────


@pytest.mark.parametrize(("count", "pages"), [(1, 1), (24, 1), (25, 2), (48, 2), (49, 3)])
def test_label_sheet_puts_24_labels_on_a_page(count: int, pages: int) -> None:
    pdf = label_sheet_pdf(batch(count), compress=False)

    assert page_count(pdf) == pages
    assert len(page_streams(pdf)) == pages


@pytest.mark.parametrize("compress", [False, True])
def test_label_sheet_codes_decode_in_order_from_their_vector_modules(compress: bool) -> None:
    labels = batch(30)

    pdf = label_sheet_pdf(labels, compress=compress)

    decoded = [
        in_reading_order(decode(draw_vector_page(stream, (595.2756, 841.8898))))
        for stream in page_streams(pdf)
    ]
    assert decoded == [[x.uri for x in labels[:24]], [x.uri for x in labels[24:]]]


def test_label_sheet_pages_render_and_every_code_decodes(tmp_path: Path) -> None:
    labels = batch(30)

    pages = rendered_pages(label_sheet_pdf(labels), tmp_path)

    found = [decode(page) for page in pages]
    assert [in_reading_order(f) for f in found] == [
        [x.uri for x in labels[:24]],
        [x.uri for x in labels[24:]],
    ]
    assert {b.ec_level for f in found for b in f} == {"M"}


def test_label_sheet_prints_the_text_of_every_label() -> None:
    labels = batch(3)

    (text,) = page_texts(label_sheet_pdf(labels, compress=False))

    for made in labels:
        assert made.hri_lines[0] in text
        assert made.hri_lines[1] in text
    assert "Wallet" in text


def test_label_sheet_is_the_same_bytes_for_the_same_labels() -> None:
    assert label_sheet_pdf(batch(5)) == label_sheet_pdf(batch(5))


def test_label_sheet_refuses_no_labels() -> None:
    with pytest.raises(LabelError) as caught:
        label_sheet_pdf([])

    assert (caught.value.what, caught.value.reason) == ("label sheet", "no labels given")


def test_label_sheet_refuses_cells_whose_modules_would_be_too_small() -> None:
    with pytest.raises(LabelError) as caught:
        label_sheet_pdf(batch(1), rows=14)

    assert caught.value.reason.startswith("modules of 0.")
    assert "below 0.396 mm" in caught.value.reason


def test_label_sheet_refuses_more_cells_than_fit_a_page() -> None:
    with pytest.raises(LabelError) as caught:
        label_sheet_pdf(batch(1), columns=3, rows=40)

    assert caught.value.reason == "3 × 40 cells do not fit the page; use fewer"


def test_label_sheet_refuses_a_title_its_fonts_cannot_draw() -> None:
    with pytest.raises(LabelError) as caught:
        label_sheet_pdf([label("A1", "財布")])

    assert "'財布'" in caught.value.reason


# ───────────── claim-code sheet PDF ─────────────


def claims(count: int) -> list[tuple[Label, str]]:
    return [(made, generate_claim_code()) for made in batch(count)]


def plain(text: str) -> str:
    """Without dashes and white space, as ``normalise_claim_code`` reads a typed code."""
    return re.sub(r"[\s-]", "", text)


def test_claim_sheet_prints_every_code_with_its_item_under_the_warning() -> None:
    entries = claims(30)

    texts = page_texts(claim_code_sheet_pdf(entries, compress=False))

    assert len(texts) == 2
    for number, text in enumerate(texts, 1):
        assert plain("Hidden claim codes") in plain(text)
        assert plain("keep confidential") in plain(text)
        assert f"page {number} of 2" in text
    for index, (made, code) in enumerate(entries):
        text = texts[index // 24]
        assert plain(code) in plain(text)
        assert made.hri in text
    assert CLAIM_SHEET_WARNING.startswith("Hidden claim codes")


def test_claim_sheet_holds_no_qr_code_of_any_code(tmp_path: Path) -> None:
    pdf = claim_code_sheet_pdf(claims(5), compress=False)

    drawn = [draw_vector_page(stream, (595.2756, 841.8898)) for stream in page_streams(pdf)]
    assert [page.getextrema() for page in drawn] == [(255, 255)]  # not one module drawn
    assert [decode(page) for page in rendered_pages(pdf, tmp_path)] == [[]]


def test_claim_sheet_refuses_a_malformed_code() -> None:
    with pytest.raises(InvalidClaimCode) as caught:
        claim_code_sheet_pdf([(label("A1"), "NOT-A-CODE")])

    assert caught.value.reason == "expected 25 characters, got 8"


def test_claim_sheet_refuses_no_codes() -> None:
    with pytest.raises(LabelError) as caught:
        claim_code_sheet_pdf([])

    assert (caught.value.what, caught.value.reason) == ("claim-code sheet", "no claim codes given")
