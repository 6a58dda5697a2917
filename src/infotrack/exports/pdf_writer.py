"""PDF exports: A4 landscape, Chinese text, page numbers, a watermark naming the exporter.

How it is built, and why:

* Pages are laid out here, row by row, and drawn straight onto a ReportLab canvas. A row's
  height is known as soon as its cells are wrapped, so nothing needs platypus: no ``Table``
  (splitting a big one is quadratic) and no ``Paragraph`` (its CJK wrapping is slow). Rows
  are read one at a time and dropped once drawn.
* Cells wrap by character width (Chinese has no spaces to break at), keeping runs of ASCII
  such as phone numbers and English words whole where they fit.
* The bundled Droid Sans Fallback has Chinese glyphs but no Latin letters or digits. Those
  are drawn in Helvetica, a PDF standard font every reader has (nothing to embed); each
  character goes to the CJK font when it has a glyph for it, so a configured font that also
  covers Latin draws everything itself. ReportLab embeds only the glyphs used (a subset).
* ``第 N 页 / 共 M 页`` needs the total: the canvas holds its finished pages and emits them
  on save (ReportLab keeps every page in memory until then in any case).
* The watermark is one form XObject, drawn first on every page so the content sits over it.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from reportlab import rl_config
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfgen.textobject import PDFTextObject

from infotrack.errors import ConfigError

from .columns import COLUMNS, HEADERS, TIME_FORMAT, ExportRow
from .schemas import ExportMeta

# ReportLab wraps every stream in ASCII85 by default (7-bit-safe files, for old mail systems):
# a fifth more bytes, and a fifth to a third of the writing time at 20,000 rows. This process
# makes no other PDFs, so plain Flate streams for all of them.
rl_config.useA85 = 0

BUNDLED_FONT = Path(__file__).with_name("fonts") / "DroidSansFallbackFull.ttf"
LATIN_FONT = "Helvetica"
EMPTY_TEXT = "没有符合条件的记录"

PAGE_WIDTH, PAGE_HEIGHT = landscape(A4)
MARGIN = 28.0  # left, right and top
TABLE_BOTTOM = 40.0  # the lowest a table row may reach; the footer lives below
FOOTER_Y = 20.0
TABLE_WIDTH = PAGE_WIDTH - 2 * MARGIN

CELL_SIZE = 8.0
CELL_LEADING = 10.0
PAD_X = 2.5
PAD_Y = 2.5
# From a row's top edge to its first baseline: the padding, half the extra leading, and the
# ascent (about 0.78 em in both fonts).
CELL_ASCENT = PAD_Y + (CELL_LEADING - CELL_SIZE) / 2 + 0.78 * CELL_SIZE

TITLE_SIZE = 16.0
INFO_SIZE = 9.0
INFO_LEADING = 13.0
FOOTER_SIZE = 7.5
WATERMARK_SIZE = 20.0
WATERMARK_FORM = "infotrackWatermark"
WATERMARK_GRAY = 0.5
WATERMARK_ALPHA = 0.12
# Where the stamp repeats, in the watermark's rotated frame around the page centre: a cut-out
# of any part of a printed page still carries one.
WATERMARK_SPOTS = ((-250.0, 170.0), (250.0, 170.0), (0.0, 0.0), (-250.0, -170.0), (250.0, -170.0))

GRID_GRAY = 0.55
HEADER_FILL_GRAY = 0.92
MUTED_GRAY = 0.35
# A row taller than a page starts on the current one only if this many of its lines fit there.
MIN_SPLIT_LINES = 3

_COLUMN_X: tuple[float, ...] = tuple(
    MARGIN + TABLE_WIDTH * sum(c.pdf_share for c in COLUMNS[:i]) for i in range(len(COLUMNS))
) + (MARGIN + TABLE_WIDTH,)
# Text room per column, in em of the cell font: widths are measured at 1 pt and cached.
_COLUMN_EM: tuple[float, ...] = tuple(
    (_COLUMN_X[i + 1] - _COLUMN_X[i] - 2 * PAD_X) / CELL_SIZE for i in range(len(COLUMNS))
)

# Runs of printable ASCII stay together on a line where they fit (words, numbers, phone
# numbers); any other character is a place to break.
_TOKEN = re.compile(r"[!-~]+|.", re.DOTALL)
_NO_LINE_START = frozenset("，。、；：！？）》」』】〕〉”’…,.;:!?)]}%")
# Control characters would draw as nothing or as boxes; a tab or stray CR reads as a space.
_CONTROLS = {code: " " for code in (*range(0x20), 0x7F) if code != 0x0A}


class _Fonts:
    """The CJK font and Helvetica, which character each draws, and cached character widths."""

    def __init__(self, name: str, font: TTFont) -> None:
        self.cjk = name
        self._ttf = font
        self._glyphs: Mapping[int, int] = font.face.charToGlyph
        self._em: dict[str, float] = {}  # width at 1 pt
        self._face: dict[str, str] = {}  # font name; "" for a space, which joins its neighbours

    def width(self, text: str) -> float:
        """The width of ``text`` in em (points at 1 pt)."""
        em = self._em
        try:
            return sum(map(em.__getitem__, text))
        except KeyError:
            for char in text:
                if char not in em:
                    self._learn(char)
            return sum(map(em.__getitem__, text))

    def wrap(self, text: str, room: float) -> list[str]:
        """``text`` broken into lines at most ``room`` em wide (a lone character may exceed)."""
        lines: list[str] = []
        for para in text.split("\n"):
            if self.width(para) <= room:
                lines.append(para)
                continue
            em = self._em
            line = ""
            used = 0.0
            for token in _TOKEN.findall(para):
                wide = em[token] if len(token) == 1 else sum(map(em.__getitem__, token))
                if used + wide <= room:
                    line += token
                    used += wide
                    continue
                if token == " ":  # the space a line breaks at is not carried over
                    lines.append(line)
                    line, used = "", 0.0
                    continue
                if line:
                    carry = ""
                    if token[0] in _NO_LINE_START and len(line) > 1 and not line[-1].isascii():
                        # Chinese punctuation never starts a line: it takes the character
                        # before it along (line breaking rules, GB/T 15834).
                        carry, line = line[-1], line[:-1]
                    lines.append(line)
                    line, used = carry, em[carry] if carry else 0.0
                if used + wide <= room:
                    line += token
                    used += wide
                    continue
                for char in token:  # an ASCII run wider than the cell: break it anywhere
                    if line and used + em[char] > room:
                        lines.append(line)
                        line, used = "", 0.0
                    line += char
                    used += em[char]
            lines.append(line)
        return lines

    def runs(self, text: str) -> list[tuple[str, str]]:
        """``text`` cut into (font name, text) runs, each drawable in one font."""
        self.width(text)  # learns any new character
        face = self._face
        runs: list[tuple[str, str]] = []
        current = ""
        start = 0
        for index, char in enumerate(text):
            name = face[char]
            if name and name != current:
                if current:
                    runs.append((current, text[start:index]))
                    start = index
                current = name
        runs.append((current or self.cjk, text[start:]))
        return runs

    def _learn(self, char: str) -> None:
        if char == " ":
            # Drawn in whichever font is current; measured as the wider of the two spaces.
            self._face[char] = ""
            self._em[char] = max(
                self._ttf.stringWidth(char, 1), pdfmetrics.stringWidth(char, LATIN_FONT, 1)
            )
            return
        if ord(char) in self._glyphs or not _latin(char):
            # A character neither font has goes to the CJK font too: it shows as a blank box,
            # but copying the text still gives it back.
            self._face[char] = self.cjk
            self._em[char] = self._ttf.stringWidth(char, 1)
        else:
            self._face[char] = LATIN_FONT
            self._em[char] = pdfmetrics.stringWidth(char, LATIN_FONT, 1)


def _latin(char: str) -> bool:
    """True when Helvetica (WinAnsi encoding, close to cp1252) can draw ``char``."""
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return char.isprintable()


_fonts_lock = threading.Lock()
_fonts_loaded: dict[str, _Fonts] = {}


def _fonts(font_path: Path | None) -> _Fonts:
    """The fonts for ``font_path`` (the bundled one when None), loaded once per process."""
    path = font_path if font_path is not None else BUNDLED_FONT
    key = str(path)
    # Parsing the 4 MB bundled font takes about half a second: only the first PDF pays, and
    # threads exporting at the same moment wait for one load rather than each doing one.
    with _fonts_lock:
        fonts = _fonts_loaded.get(key)
        if fonts is None:
            fonts = _fonts_loaded[key] = _load_font(path, bundled=font_path is None)
        return fonts


def _load_font(path: Path, *, bundled: bool) -> _Fonts:
    hint = "" if bundled else "(请检查 INFOTRACK_PDF_FONT)"
    if not path.is_file():
        raise ConfigError(f"PDF 字体文件不存在或不是文件:{path}{hint}", code="invalid_pdf_font")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = "InfoTrackCJK" if bundled else f"InfoTrackCJK-{digest}"
    try:
        with path.open("rb") as probe:  # a clear error for permissions, before the parser's
            probe.read(1)
        font = TTFont(name, str(path))
    except OSError as exc:
        raise ConfigError(
            f"无法读取 PDF 字体文件:{path}({exc.strerror or exc}){hint}", code="invalid_pdf_font"
        ) from exc
    except Exception as exc:  # the parser's TTFError, or whatever a damaged file makes it raise
        raise ConfigError(
            f"PDF 字体文件不是可用的 TrueType 字体:{path}({exc}){hint}", code="invalid_pdf_font"
        ) from exc
    if not all(ord(char) in font.face.charToGlyph for char in "中文记录"):
        raise ConfigError(f"PDF 字体文件没有中文字形:{path}{hint}", code="invalid_pdf_font")
    pdfmetrics.registerFont(font)
    return _Fonts(name, font)


class _HoldingCanvas(Canvas):
    """A canvas that holds finished pages until :meth:`finish`, so each can name the total."""

    def __init__(self, out: IO[bytes]) -> None:
        super().__init__(out, pagesize=(PAGE_WIDTH, PAGE_HEIGHT))
        self._held: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._held.append({k: v for k, v in self.__dict__.items() if k != "_held"})
        self._startPage()  # type: ignore[attr-defined]  # what Canvas.showPage ends with

    def finish(self, decorate: Callable[[int, int], None]) -> None:
        """Emit the held pages, calling ``decorate(number, total)`` on each, and save."""
        held, self._held = self._held, []
        total = len(held)
        for index in range(total):
            self.__dict__.update(held[index])
            held[index] = {}  # the page's drawing goes to the document now; keep no copy
            decorate(index + 1, total)
            Canvas.showPage(self)
        self.save()


class _Pen:
    """Writes lines of mixed Chinese and Latin text into one text object.

    Fonts change only where a line needs it: a ``Tf`` per cell would double the page
    streams.
    """

    def __init__(self, canvas: Canvas, fonts: _Fonts, gray: float = 0.0) -> None:
        self.text: PDFTextObject = canvas.beginText()
        # Its own colour: text otherwise takes whatever fill the page last used (the header's).
        self.text.setFillGray(gray)
        self._fonts = fonts
        self._font = ""
        self._size = 0.0

    def line(self, x: float, y: float, text: str, size: float) -> None:
        text_object = self.text
        text_object.setTextOrigin(x, y)
        for font, run in self._fonts.runs(text):
            if font != self._font or size != self._size:
                text_object.setFont(font, size)
                self._font, self._size = font, size
            text_object.textOut(run)


class _Sheet:
    """Lays out the heading and the table, page after page."""

    def __init__(self, canvas: _HoldingCanvas, fonts: _Fonts) -> None:
        self.canvas = canvas
        self.fonts = fonts
        self.header = [fonts.wrap(h, room) for h, room in zip(HEADERS, _COLUMN_EM, strict=True)]
        self.header_height = _height(self.header)
        # The most lines a row can show on an empty page, under the header row.
        room = PAGE_HEIGHT - MARGIN - TABLE_BOTTOM - self.header_height - 2 * PAD_Y
        self.max_lines = max(1, int(room // CELL_LEADING))
        self.y = PAGE_HEIGHT - MARGIN
        self.table_top: float | None = None
        self.rules: list[float] = []
        self.pen = self._open_page()

    def write(self, text: str, size: float, leading: float) -> float:
        """A line of heading text under the last one (on a new page when this one is full).

        Returns its baseline.
        """
        if self.y - size < TABLE_BOTTOM:
            self._turn_page()
        baseline = self.y - size
        self.pen.line(MARGIN, baseline, text, size)
        self.y -= leading
        return baseline

    def add_row(self, cells: list[list[str]]) -> None:
        """A table row, on the next page when it does not fit on this one.

        A row taller than a whole page fills what is left of this one and goes on, as further
        rows, on the next pages.
        """
        lines = max(map(len, cells))
        if self._room() < lines <= self.max_lines:
            self._turn_page()
        while True:
            room = self._room()
            if lines <= room:
                self._draw_row(cells)
                return
            if room < MIN_SPLIT_LINES:
                self._turn_page()
                continue
            self._draw_row([cell[:room] for cell in cells])
            cells = [cell[room:] for cell in cells]
            lines -= room
            self._turn_page()

    def end_page(self) -> None:
        """Finish the page: the table's grid, then all its text over it."""
        self._close_table()
        self.canvas.drawText(self.pen.text)
        self.canvas.showPage()

    def _open_page(self) -> _Pen:
        canvas = self.canvas
        canvas.saveState()
        canvas.setFillAlpha(WATERMARK_ALPHA)
        canvas.doForm(WATERMARK_FORM)
        canvas.restoreState()
        self.y = PAGE_HEIGHT - MARGIN
        return _Pen(canvas, self.fonts)

    def _room(self) -> int:
        """How many lines a row may have here (under a header row, if it needs one)."""
        space = self.y - TABLE_BOTTOM - 2 * PAD_Y
        if self.table_top is None:
            space -= self.header_height
        return max(0, int(space // CELL_LEADING))

    def _turn_page(self) -> None:
        self.end_page()
        self.pen = self._open_page()

    def _open_table(self) -> None:
        top = self.y
        self.canvas.setFillGray(HEADER_FILL_GRAY)
        self.canvas.rect(MARGIN, top - self.header_height, TABLE_WIDTH, self.header_height, 0, 1)
        self._draw_cells(self.header, top)
        self.table_top = top
        self.y = top - self.header_height
        self.rules = [top, self.y]

    def _close_table(self) -> None:
        if self.table_top is None:
            return
        top, bottom = self.table_top, self.y
        canvas = self.canvas
        canvas.setStrokeGray(GRID_GRAY)
        canvas.setLineWidth(0.3)
        lines = [(MARGIN, y, MARGIN + TABLE_WIDTH, y) for y in self.rules]
        lines.extend((x, top, x, bottom) for x in _COLUMN_X)
        canvas.lines(lines)
        self.table_top = None

    def _draw_row(self, cells: list[list[str]]) -> None:
        if self.table_top is None:
            self._open_table()
        self._draw_cells(cells, self.y)
        self.y -= _height(cells)
        self.rules.append(self.y)

    def _draw_cells(self, cells: list[list[str]], top: float) -> None:
        line = self.pen.line
        for x, lines in zip(_COLUMN_X, cells, strict=False):
            y = top - CELL_ASCENT
            for text in lines:
                if text:
                    line(x + PAD_X, y, text, CELL_SIZE)
                y -= CELL_LEADING


def _height(cells: list[list[str]]) -> float:
    return max(map(len, cells)) * CELL_LEADING + 2 * PAD_Y


def _cells(row: ExportRow, fonts: _Fonts) -> list[list[str]]:
    texts = [str(row.seq), str(row.id)]
    texts.extend(value.translate(_CONTROLS) if value else "" for value in row[2:13])
    texts.append(row.operation_time.strftime(TIME_FORMAT) if row.operation_time else "")
    wrap = fonts.wrap
    return [wrap(text, room) for text, room in zip(texts, _COLUMN_EM, strict=True)]


def _define_watermark(canvas: Canvas, fonts: _Fonts, stamp: str) -> None:
    # The alpha is set by the page around ``Do``: ReportLab gives a form no ExtGState resource.
    canvas.beginForm(WATERMARK_FORM)
    canvas.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
    canvas.rotate(30)
    pen = _Pen(canvas, fonts, WATERMARK_GRAY)
    half = fonts.width(stamp) * WATERMARK_SIZE / 2
    for x, y in WATERMARK_SPOTS:
        pen.line(x - half, y, stamp, WATERMARK_SIZE)
    canvas.drawText(pen.text)
    canvas.endForm()


def write_pdf(
    rows: Iterable[ExportRow], meta: ExportMeta, out: IO[bytes], *, font_path: Path | None = None
) -> int:
    """Write the rows as a PDF to ``out``; returns how many rows it holds.

    ``font_path`` replaces the bundled CJK font (a TrueType file); an unusable one raises
    :class:`ConfigError`.
    """
    fonts = _fonts(font_path)
    canvas = _HoldingCanvas(out)
    canvas.setTitle(meta.title)
    canvas.setAuthor(meta.exported_by)
    canvas.setSubject(meta.stamp)
    canvas.setCreator("infotrack")
    _define_watermark(canvas, fonts, meta.stamp)

    sheet = _Sheet(canvas, fonts)
    room = TABLE_WIDTH / INFO_SIZE
    sheet.write(meta.title, TITLE_SIZE, TITLE_SIZE + 10)
    for label, value in meta.conditions:
        for text in fonts.wrap(f"{label}：{value}".translate(_CONTROLS), room):
            sheet.write(text, INFO_SIZE, INFO_LEADING)
    exported_at = meta.exported_at.strftime(TIME_FORMAT)
    who = f"导出人：{meta.exported_by}    导出时间：{exported_at}    "
    baseline = sheet.write(who.rstrip(), INFO_SIZE, INFO_LEADING + 6)
    # The count follows on the same line, drawn on save as the number of rows written: rows
    # changed after the service counted them would otherwise make it disagree with the table.
    count_at = (canvas.getPageNumber(), MARGIN + fonts.width(who) * INFO_SIZE, baseline)

    count = 0
    for row in rows:
        sheet.add_row(_cells(row, fonts))
        count += 1
    if count == 0:
        sheet.write(EMPTY_TEXT, INFO_SIZE + 1, INFO_LEADING)
    sheet.end_page()

    footer = f"{meta.title} · {meta.stamp}"

    def decorate(number: int, total: int) -> None:
        pen = _Pen(canvas, fonts, MUTED_GRAY)
        pen.line(MARGIN, FOOTER_Y, footer, FOOTER_SIZE)
        pages = f"第 {number} 页 / 共 {total} 页"
        right = PAGE_WIDTH - MARGIN - fonts.width(pages) * FOOTER_SIZE
        pen.line(right, FOOTER_Y, pages, FOOTER_SIZE)
        if number == count_at[0]:
            pen.text.setFillGray(0)
            pen.line(count_at[1], count_at[2], f"共 {count} 条", INFO_SIZE)
        canvas.drawText(pen.text)

    canvas.finish(decorate)
    return count
