"""QR labels for items and printable sheets of them.

A :class:`Label` is what goes on one item: the GS1 Digital Link URI its QR code holds, and the
GTIN and serial printed under the code as GS1 human-readable interpretation (HRI),
``(01) 09506000134352 (21) ABC/1``. A label checks that its URI carries the same GTIN and
serial as its text, so the code and the text of a printed label cannot disagree.

Every QR code uses error correction level M (about 15 % of the symbol may be lost), the usual
level for Digital Link codes on products (BWIPP's ``gs1dlqrcode`` default). Level Q needs
about a quarter more modules for the same URI, so at a given label size every module would be
smaller and harder to read for a phone held at arm's length or a worn print head; extra
robustness is better bought with a bigger print. Every code keeps a quiet zone of at least
four modules (ISO/IEC 18004), and the text never enters it.

- :func:`qr_png`, :func:`qr_svg`: one label, the code with its text under it.
- :func:`label_sheet_pdf`: a batch, ``columns`` by ``rows`` cells a page, cut lines between.
- :func:`claim_code_sheet_pdf`: the hidden claim codes on a sheet of their own, cell for cell
  in the same places as the label sheet, so both line up when printed on the same stock.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import qrcode  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont
from qrcode.image.svg import SvgPathImage  # type: ignore[import-untyped]
from reportlab.lib import pagesizes  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from ledger.claims import normalise_claim_code
from ledger.errors import LabelError
from ledger.identifiers import (
    build_digital_link,
    parse_digital_link,
    validate_gtin,
    validate_serial,
)

__all__ = [
    "A4",
    "CLAIM_SHEET_WARNING",
    "DEFAULT_BASE_URL",
    "LETTER",
    "MIN_MODULE_MM",
    "QUIET_ZONE",
    "Label",
    "PageSize",
    "claim_code_sheet_pdf",
    "label_sheet_pdf",
    "qr_png",
    "qr_svg",
]

PageSize = tuple[float, float]
"""Width and height of a page in PDF points (1/72 inch)."""

A4: PageSize = cast(PageSize, tuple(pagesizes.A4))
LETTER: PageSize = cast(PageSize, tuple(pagesizes.LETTER))

QUIET_ZONE = 4
"""The smallest light margin around a QR code that ISO/IEC 18004 allows, in modules."""

MIN_MODULE_MM = 0.396
"""Smallest module a sheet may print (GS1's minimum X-dimension for QR Code), in mm."""

DEFAULT_BASE_URL = "https://id.gs1.org"
"""GS1's resolver, the domain of canonical Digital Links (as ``build_digital_link``)."""

CLAIM_SHEET_WARNING = "Hidden claim codes — print on scratch-off labels; keep confidential"

_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
_TEXT_EM = 3.0  # HRI text size in modules; its capitals are about two modules tall
_MONO_ADVANCE = 0.6  # advance of a monospace character, in em (for SVG, which cannot measure)
_SVG_FONTS = "'OCR-B', 'DejaVu Sans Mono', Consolas, monospace"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Label:
    """One item's label: its Digital Link in the QR code, its GTIN and serial as text.

    ``uri`` must parse as a GS1 Digital Link (``InvalidDigitalLink`` says what is wrong) that
    names this GTIN and serial, else ``LabelError``; extra qualifiers or attributes may ride
    along, the text shows (01) and (21). ``gtin`` is kept in its 14-digit form, ``serial``
    exactly as given (``InvalidGTIN``, ``InvalidSerial``). ``title``, a short product name
    printed under the identifiers, is optional; the fonts used have Latin glyphs only.
    """

    uri: str
    gtin: str
    serial: str
    title: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "gtin", validate_gtin(self.gtin))
        validate_serial(self.serial)
        carried = _gtin_and_serial(self.uri)
        if carried != (self.gtin, self.serial):
            raise LabelError(
                "label",
                f"its URI {self.uri!r} holds (01) {carried[0]} (21) {carried[1]} but its "
                f"text says {self.hri}; make both from the same item",
            )
        if self.title is not None:
            _check_title(self.title)

    @classmethod
    def from_digital_link(cls, uri: str, *, title: str | None = None) -> Label:
        """The label of the item a Digital Link names, its GTIN and serial read from the URI."""
        gtin, serial = _gtin_and_serial(uri)
        return cls(uri, gtin, serial, title)

    @classmethod
    def for_item(
        cls, gtin: str, serial: str, base_url: str = DEFAULT_BASE_URL, *, title: str | None = None
    ) -> Label:
        """The label of an item, with its canonical Digital Link at ``base_url``."""
        return cls(build_digital_link(gtin, serial, base_url), gtin, serial, title)

    @property
    def hri_lines(self) -> tuple[str, str]:
        """The GS1 human-readable text, one element string per line."""
        return f"(01) {self.gtin}", f"(21) {self.serial}"

    @property
    def hri(self) -> str:
        """The GS1 human-readable text on one line: ``(01) 09506000134352 (21) ABC/1``."""
        return " ".join(self.hri_lines)


# ───────────── one label: PNG and SVG ─────────────


def qr_png(label: Label, *, box_size: int = 10, border: int = QUIET_ZONE) -> bytes:
    """A PNG of the label: the QR code, then its HRI text (and title) under it.

    ``box_size`` is pixels per module and ``border`` the quiet zone in modules (at least 4).
    The image is as wide as the code with its quiet zone; the text is sized to about three
    modules and shrunk to fit that width.
    """
    if box_size < 1:
        raise LabelError("label", f"box_size must be at least 1 pixel per module, got {box_size}")
    matrix = _qr_matrix(label.uri, border)
    width = len(matrix) * box_size
    code = Image.new("L", (len(matrix), len(matrix)), 255)
    code.putdata([0 if dark else 255 for row in matrix for dark in row])
    code = code.resize((width, width), Image.Resampling.NEAREST)

    margin = box_size
    size = max(
        1,
        math.floor(_fit_size(label.hri_lines, _TEXT_EM * box_size, width - 2 * margin, _pil_width)),
    )
    font = ImageFont.load_default(size=size)
    lines: list[tuple[str, int]] = [(line, size) for line in label.hri_lines]
    if label.title:
        _refuse_undrawable(label.title, _missing_in_png_font(label.title), "PNG")
        title_size = max(1, round(size * 0.85))
        title = _truncate(label.title, width - 2 * margin, lambda t: _pil_width(t, title_size))
        lines.append((title, title_size))
    leading = round(size * 1.3)
    height = width + leading * len(lines) + margin

    image = Image.new("L", (width, height), 255)
    image.paste(code, (0, 0))
    draw = ImageDraw.Draw(image)
    for index, (line, line_size) in enumerate(lines):
        line_font = font if line_size == size else ImageFont.load_default(size=line_size)
        draw.text((width / 2, width + index * leading), line, fill=0, font=line_font, anchor="ma")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def qr_svg(label: Label, *, border: int = QUIET_ZONE, module_mm: float = 0.5) -> str:
    """An SVG document of the label: the QR code as one path, the HRI text as ``<text>``.

    User units are modules; ``module_mm`` sets the printed size (0.5 mm by default, inside
    GS1's range for QR Code). Text is escaped by the XML serializer, never pasted in.
    """
    if module_mm < MIN_MODULE_MM:
        raise LabelError("label", f"module_mm {module_mm} is below {MIN_MODULE_MM} mm")
    code = _qr_code(label.uri, border, box_size=10, image_factory=SvgPathImage)
    path = str(code.make_image().path.get("d"))  # one user unit per module at box_size 10
    side = int(code.modules_count) + 2 * border
    margin = 1.0
    size = _fit_size(label.hri_lines, _TEXT_EM, side - 2 * margin, _mono_width)
    lines: list[tuple[str, float]] = [(line, size) for line in label.hri_lines]
    if label.title:
        title_size = size * 0.85
        title = _truncate(label.title, side - 2 * margin, lambda t: _mono_width(t, title_size))
        lines.append((title, title_size))
    leading = size * 1.3
    height = side + leading * len(lines) + margin

    svg = ET.Element(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        version="1.1",
        width=f"{_num(side * module_mm)}mm",
        height=f"{_num(height * module_mm)}mm",
        viewBox=f"0 0 {_num(side)} {_num(height)}",
    )
    ET.SubElement(svg, "title").text = f"{label.title} {label.hri}" if label.title else label.hri
    ET.SubElement(svg, "rect", width="100%", height="100%", fill="#ffffff")
    ET.SubElement(svg, "path", d=path, fill="#000000")
    for index, (line, line_size) in enumerate(lines):
        text = ET.SubElement(
            svg,
            "text",
            x=_num(side / 2),
            y=_num(side + index * leading + line_size * 0.8),
            fill="#000000",
            attrib={
                "font-family": _SVG_FONTS,
                "font-size": _num(line_size),
                "text-anchor": "middle",
            },
        )
        text.text = line
    body = ET.tostring(svg, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


# ───────────── sheets: PDF ─────────────


@dataclass(frozen=True)
class _Grid:
    """Cells of a sheet in points: margins around, a gutter between, cut lines in the gutters."""

    page: PageSize
    columns: int
    rows: int
    margin_x: float = 8 * mm
    margin_top: float = 12 * mm  # the claim sheet's warning lives here
    margin_bottom: float = 8 * mm
    gutter: float = 4 * mm
    padding: float = 2 * mm

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    @property
    def cell_width(self) -> float:
        usable = self.page[0] - 2 * self.margin_x - (self.columns - 1) * self.gutter
        return usable / self.columns

    @property
    def cell_height(self) -> float:
        usable = self.page[1] - self.margin_top - self.margin_bottom
        return (usable - (self.rows - 1) * self.gutter) / self.rows

    def check(self, what: str) -> None:
        if self.columns < 1 or self.rows < 1:
            raise LabelError(
                what, f"needs at least 1 column and 1 row, got {self.columns} × {self.rows}"
            )
        if min(self.cell_width, self.cell_height) <= 4 * self.padding:
            raise LabelError(
                what, f"{self.columns} × {self.rows} cells do not fit the page; use fewer"
            )

    def cell(self, index: int) -> tuple[float, float]:
        """Bottom-left corner of cell ``index`` of its page, filled row by row from the top."""
        row, column = divmod(index % self.per_page, self.columns)
        x = self.margin_x + column * (self.cell_width + self.gutter)
        top = self.page[1] - self.margin_top - row * (self.cell_height + self.gutter)
        return x, top - self.cell_height

    def draw_cut_lines(self, canvas: Any) -> None:
        canvas.saveState()
        canvas.setStrokeGray(0.8)
        canvas.setLineWidth(0.3)
        canvas.setDash(2, 2)
        # Through the middle of the gutters, a little past the outer cells, not into the header.
        width, height = self.page
        overhang = self.gutter / 2
        top, bottom = height - self.margin_top + overhang, self.margin_bottom - overhang
        for column in range(1, self.columns):
            x = self.margin_x + column * (self.cell_width + self.gutter) - self.gutter / 2
            canvas.line(x, bottom, x, top)
        for row in range(1, self.rows):
            y = height - self.margin_top - row * (self.cell_height + self.gutter) + self.gutter / 2
            canvas.line(self.margin_x - overhang, y, width - self.margin_x + overhang, y)
        canvas.restoreState()


def label_sheet_pdf(
    labels: Sequence[Label],
    *,
    columns: int = 3,
    rows: int = 8,
    page: PageSize = A4,
    compress: bool = True,
) -> bytes:
    """A PDF of ``labels``, ``columns`` by ``rows`` to a page, as many pages as needed.

    Each cell holds the QR code as vector modules on the left (its quiet zone inside the cell)
    and the title and HRI text on the right; dashed light-grey cut lines run through the
    gutters, so a cut a little off the line never touches a code. Raises ``LabelError`` when
    there are no labels or the cells are too small for modules of ``MIN_MODULE_MM``.
    ``compress=False`` writes readable content streams (for tests and debugging).
    """
    what = "label sheet"
    grid = _Grid(page, columns, rows)
    grid.check(what)
    if not labels:
        raise LabelError(what, "no labels given")
    side = grid.cell_height - 2 * grid.padding
    canvas = _canvas(page, compress, "Item labels")
    for index, label, first in _cells(labels, grid):
        if first and index:
            canvas.showPage()
        if first:
            grid.draw_cut_lines(canvas)
        x, y = grid.cell(index)
        matrix = _qr_matrix(label.uri, QUIET_ZONE)
        module = side / len(matrix)
        if module < MIN_MODULE_MM * mm:
            raise LabelError(
                what,
                f"modules of {module / mm:.2f} mm in {columns} × {rows} cells are below "
                f"{MIN_MODULE_MM} mm for {label.hri}; use fewer rows or columns",
            )
        _draw_matrix(canvas, matrix, x + grid.padding, y + grid.padding, module)
        text_x = x + grid.padding + side + grid.padding
        width = x + grid.cell_width - grid.padding - text_x
        _draw_text_block(canvas, label, x=text_x, y=y, width=width, height=grid.cell_height)
    canvas.showPage()
    return cast(bytes, canvas.getpdfdata())


def claim_code_sheet_pdf(
    entries: Sequence[tuple[Label, str]],
    *,
    columns: int = 3,
    rows: int = 8,
    page: PageSize = A4,
    compress: bool = True,
) -> bytes:
    """A PDF of hidden claim codes: each code large, its GTIN and serial small under it.

    Never a QR code of a claim code: the code is a secret that a scan must not reveal. Every
    page carries the warning ``CLAIM_SHEET_WARNING``; cell ``i`` sits where cell ``i`` of
    :func:`label_sheet_pdf` of the same labels does. Codes are checked like claim codes
    (``InvalidClaimCode``); raises ``LabelError`` when there are none.
    """
    what = "claim-code sheet"
    grid = _Grid(page, columns, rows)
    grid.check(what)
    if not entries:
        raise LabelError(what, "no claim codes given")
    for _, code in entries:
        normalise_claim_code(code)
    canvas = _canvas(page, compress, "Hidden claim codes (confidential)")
    width = grid.cell_width - 2 * grid.padding
    for index, (label, code), first in _cells(entries, grid):
        if first and index:
            canvas.showPage()
        if first:
            _draw_warning(canvas, grid, index // grid.per_page + 1, _pages(len(entries), grid))
            grid.draw_cut_lines(canvas)
        x, y = grid.cell(index)
        lines = _code_lines(code.strip(), width)
        code_size = _fit_size(lines, 16.0, width, _courier_width)
        hri_size = _fit_size([label.hri], 7.0, width, _helvetica_width)
        leading = code_size * 1.15
        block = leading * len(lines) + hri_size * 1.6
        baseline = y + (grid.cell_height + block) / 2 - code_size
        canvas.setFont("Courier-Bold", code_size)
        for line in lines:
            canvas.drawCentredString(x + grid.cell_width / 2, baseline, line)
            baseline -= leading
        canvas.setFont("Helvetica", hri_size)
        canvas.drawCentredString(x + grid.cell_width / 2, baseline - hri_size * 0.4, label.hri)
    canvas.showPage()
    return cast(bytes, canvas.getpdfdata())


def _cells(items: Sequence[_T], grid: _Grid) -> Iterator[tuple[int, _T, bool]]:
    """Each item with its index and whether it opens a new page."""
    for index, item in enumerate(items):
        yield index, item, index % grid.per_page == 0


def _pages(count: int, grid: _Grid) -> int:
    return math.ceil(count / grid.per_page)


def _canvas(page: PageSize, compress: bool, title: str) -> Any:
    # invariant: the same labels give the same bytes (no timestamp, no random document id).
    canvas = Canvas(io.BytesIO(), pagesize=page, pageCompression=int(compress), invariant=1)
    canvas.setTitle(title)
    canvas.setCreator("Veritag")
    return canvas


def _draw_matrix(canvas: Any, matrix: list[list[bool]], x: float, y: float, module: float) -> None:
    """Dark modules as one filled path of rectangles, one per horizontal run (no seams)."""
    path = canvas.beginPath()
    top = y + module * len(matrix)
    for row_index, row in enumerate(matrix):
        start: int | None = None
        for column, dark in enumerate([*row, False]):
            if dark and start is None:
                start = column
            elif not dark and start is not None:
                bottom = top - (row_index + 1) * module
                path.rect(x + start * module, bottom, (column - start) * module, module)
                start = None
    canvas.setFillGray(0)
    canvas.drawPath(path, stroke=0, fill=1)


def _draw_text_block(
    canvas: Any, label: Label, *, x: float, y: float, width: float, height: float
) -> None:
    """Title (bold) and HRI lines, left-aligned and centred vertically in the cell."""
    hri_size = _fit_size(label.hri_lines, 7.0, width, _helvetica_width)
    lines: list[tuple[str, str, float]] = []
    if label.title:
        _refuse_undrawable(label.title, _missing_in_pdf_fonts(label.title), "PDF")
        title_size = 8.0
        title = _truncate(label.title, width, lambda t: stringWidth(t, "Helvetica-Bold", 8.0))
        lines.append((title, "Helvetica-Bold", title_size))
    lines.extend((line, "Helvetica", hri_size) for line in label.hri_lines)
    steps = [size * 1.35 for _, _, size in lines]
    baseline = y + (height + sum(steps)) / 2
    for (text, font, size), step in zip(lines, steps, strict=True):
        baseline -= step
        canvas.setFont(font, size)
        canvas.drawString(x, baseline + size * 0.35, text)


def _draw_warning(canvas: Any, grid: _Grid, page_number: int, pages: int) -> None:
    canvas.setFont("Helvetica-Bold", 10)
    baseline = grid.page[1] - grid.margin_top / 2 - 3
    canvas.drawString(grid.margin_x, baseline, CLAIM_SHEET_WARNING)
    canvas.setFont("Helvetica", 8)
    canvas.drawRightString(grid.page[0] - grid.margin_x, baseline, f"page {page_number} of {pages}")


def _code_lines(code: str, width: float) -> list[str]:
    """The code on one line if it fits large enough, else its dash groups on two lines.

    The break drops no character a claim needs: dashes and spaces are ignored when a code is
    typed in (``normalise_claim_code``).
    """
    groups = code.split("-")
    if _fit_size([code], 16.0, width, _courier_width) >= 12 or len(groups) < 2:
        return [code]
    half = math.ceil(len(groups) / 2)
    return ["-".join(groups[:half]), "-".join(groups[half:])]


# ───────────── QR matrix and text measures ─────────────


def _qr_code(uri: str, border: int, **options: Any) -> Any:
    if border < QUIET_ZONE:
        raise LabelError(
            "label", f"a quiet zone of {border} modules is too small; QR codes need {QUIET_ZONE}"
        )
    code = qrcode.QRCode(error_correction=_ERROR_CORRECTION, border=border, **options)
    code.add_data(uri)
    code.make(fit=True)
    return code


def _qr_matrix(uri: str, border: int) -> list[list[bool]]:
    """The modules of the QR code of ``uri``, quiet zone included; True is dark."""
    return [[bool(dark) for dark in row] for row in _qr_code(uri, border).get_matrix()]


def _fit_size(
    lines: Sequence[str], target: float, width: float, measure: Callable[[str, float], float]
) -> float:
    """``target`` or smaller, so that every line measures at most ``width``."""
    widest = max(measure(line, target) for line in lines)
    return target if widest <= width else target * width / widest


def _truncate(text: str, width: float, measure: Callable[[str], float]) -> str:
    """``text``, cut and ended with '…' if it is wider than ``width``."""
    if measure(text) <= width:
        return text
    while text and measure(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _pil_width(text: str, size: float) -> float:
    return float(ImageFont.load_default(size=size).getlength(text))


def _mono_width(text: str, size: float) -> float:
    return len(text) * size * _MONO_ADVANCE


def _helvetica_width(text: str, size: float) -> float:
    return float(stringWidth(text, "Helvetica", size))


def _courier_width(text: str, size: float) -> float:
    return float(stringWidth(text, "Courier-Bold", size))


def _num(value: float) -> str:
    """A number for SVG: at most three decimals, no trailing zeros."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


# ───────────── input checks ─────────────


def _missing_in_png_font(text: str) -> str:
    """The characters of ``text`` that Pillow's bundled font draws as its empty box."""
    font = ImageFont.load_default(size=20)
    box = bytes(font.getmask("\uffff"))
    return "".join(dict.fromkeys(c for c in text if bytes(font.getmask(c)) == box))


def _missing_in_pdf_fonts(text: str) -> str:
    """The characters of ``text`` outside WinAnsi, the encoding of the PDF's standard fonts."""
    return "".join(dict.fromkeys(c for c in text if not _in_cp1252(c)))


def _in_cp1252(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_undrawable(title: str, missing: str, output: str) -> None:
    """Refuse a title the output's font would print with boxes for some characters."""
    if missing:
        raise LabelError(
            "label",
            f"its title {title!r} has {missing!r}, which the {output} font cannot draw; "
            "spell the title without them"
            + (", or make an SVG (it uses the viewer's fonts)" if output == "PNG" else ""),
        )


def _check_title(title: str) -> None:
    if not title.strip():
        raise LabelError("label", "its title is blank; give a product name or no title")
    if control := next((c for c in title if not c.isprintable()), None):
        raise LabelError("label", f"its title {title!r} has the control character {control!r}")


def _gtin_and_serial(uri: str) -> tuple[str, str]:
    """The GTIN and serial of the one item ``uri`` names (``InvalidDigitalLink`` if malformed)."""
    if not uri:
        raise LabelError("label", "its URI is empty; give the item's GS1 Digital Link")
    link = parse_digital_link(uri)
    if link.gtin is None or link.serial is None:
        raise LabelError(
            "label",
            f"URI {uri!r} names no single item; a label needs https://HOST/01/GTIN/21/SERIAL",
        )
    return link.gtin, link.serial
