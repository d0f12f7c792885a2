"""Reading an untrusted CSV or XLSX file into (headers, rows) of strings, within
:class:`~pbx_daemon.crm.import_limits.ImportLimits`. Pure: bytes in, lists out; no
database, no Flask. :mod:`pbx_daemon.crm.table_sandbox` runs it in a child process, so
that what no check foresees (a native crash, a memory blow-up) costs only that child.

CSV: UTF-8 with or without BOM, UTF-16 with a BOM, else Windows-1251 (what Russian Excel
writes) when the text reads as Russian; NUL bytes or other control characters refuse the
file. The header line decides the delimiter (``;`` ``,`` tab ``|``).

XLSX: the ZIP directory is checked before anything is unpacked (member count, unpacked
total, per-member ratio); every XML part is then streamed once through expat
(:class:`SheetScan`: entity declarations, nesting depth, and each worksheet's real used
area, whatever its declared ``<dimension>`` says); only then does calamine read the first
sheet. Trailing empty cells are dropped, no row is padded, and reading stops at the
first cap passed.

Every refusal is an :class:`ImportError_` whose text is one line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator

from pbx_daemon.crm.import_limits import LIMITS, ImportLimits

DELIMITERS = ";,\t|"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_RUSSIAN = re.compile(r"[А-Яа-яЁё]")
_MAGIC = ((b"\xd0\xcf\x11\xe0", "an old Excel .xls or a password-protected workbook: save it as .xlsx (no password) or CSV"),
          (b"%PDF", "a PDF document, not a CSV or XLSX table"),
          (b"\x89PNG", "a PNG image, not a CSV or XLSX table"),
          (b"\xff\xd8\xff", "a JPEG image, not a CSV or XLSX table"),
          (b"GIF8", "a GIF image, not a CSV or XLSX table"),
          (b"\x7fELF", "a program, not a CSV or XLSX table"),
          (b"\x1f\x8b", "a gzip archive, not a CSV or XLSX table"),
          (b"Rar!", "a RAR archive, not a CSV or XLSX table"),
          (b"7z\xbc\xaf", "a 7-Zip archive, not a CSV or XLSX table"))


class ImportError_(ValueError):
    """The file cannot be read or mapped; ``str()`` says why, in one line."""


def read_table_bytes(data: bytes, name: str = "file",
                     limits: ImportLimits = LIMITS) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): the first non-empty row and the non-empty rows after it, each
    without its trailing empty cells (rows are not padded to a common width)."""
    if len(data) > limits.file_bytes:
        raise ImportError_(f"{name} is larger than {limits.describe_bytes(limits.file_bytes)}")
    if not data.strip():
        raise ImportError_(f"{name} is empty: no rows")
    if data[:4] == b"PK\x03\x04" or name.lower().endswith((".xlsx", ".xlsm")):
        raw = _xlsx_rows(data, limits)
    else:
        for magic, what in _MAGIC:
            if data.startswith(magic):
                raise ImportError_(f"{name} is {what}")
        raw = _csv_rows(decode_text(data), limits)
    rows = list(_capped(raw, limits))
    if not rows:
        raise ImportError_(f"{name} has no rows")
    return rows[0], rows[1:]


def read_table_value(data: bytes, name: str, limits: ImportLimits) -> dict:
    """:func:`read_table_bytes` as the sandbox's JSON value."""
    headers, rows = read_table_bytes(data, name, limits)
    return {"headers": headers, "rows": rows}


def decode_text(data: bytes) -> str:
    """The text of a CSV: UTF-8 (BOM or not), UTF-16 with a BOM, or Russian cp1251."""
    try:
        if data.startswith(codecs.BOM_UTF8):
            text = data[3:].decode("utf-8")
        elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        elif b"\x00" in data:
            raise ImportError_("the file has NUL bytes: not a CSV text (UTF-16 without a BOM, "
                               "or a binary file); save it as CSV UTF-8 or XLSX")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("cp1251")
                if not _reads_as_russian(text):
                    raise UnicodeDecodeError("cp1251", data, 0, 1, "not Russian text") from None
    except UnicodeDecodeError:
        raise ImportError_("the file is neither UTF-8 nor Windows-1251 text: "
                           "save it as CSV UTF-8 or XLSX") from None
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise ImportError_(f"line {line} has a control character (U+{ord(bad.group()):04X}): "
                           "not a CSV text; save it as CSV UTF-8 or XLSX")
    return text


def _reads_as_russian(text: str) -> bool:
    """cp1251 maps nearly every byte to something; Russian text maps its non-ASCII bytes
    to Russian letters (random bytes: about half of them)."""
    high = len(text) - len(text.encode("ascii", "ignore"))
    russian = len(text) - len(_RUSSIAN.sub("", text))  # no list of matches: one copy at most
    return russian >= 0.8 * high


def _csv_rows(text: str, limits: ImportLimits) -> Iterator[list[str]]:
    # The header line decides the delimiter: it is rarely quoted, and every export writes
    # it. csv.Sniffer guesses from the whole sample and can be misled by a tab or a line
    # break inside a quoted cell; it is only asked when the header has no candidate.
    header = text[:min(len(text), 1 << 20)].split("\n", 1)[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    delimiter = max(counts, key=counts.get)
    if counts[delimiter] >= limits.columns:
        raise ImportError_(f"row 1 has {counts[delimiter] + 1:,} columns; at most {limits.columns:,} are read")
    if not counts[delimiter]:
        try:
            delimiter = csv.Sniffer().sniff(text[:65536], delimiters=DELIMITERS).delimiter
        except csv.Error:
            delimiter = ","  # one column
    reader = csv.reader(io.StringIO(text), csv.excel, delimiter=delimiter)
    try:
        for row in reader:
            yield [c.strip() for c in row]
    except csv.Error as e:
        raise ImportError_(f"line {reader.line_num} is not valid CSV ({e})") from None


def _capped(rows: Iterable[list[str]], limits: ImportLimits) -> Iterator[list[str]]:
    """The non-empty rows, trailing empty cells dropped, until a cap is passed."""
    cells = chars = 0
    for n, row in enumerate(rows, start=1):
        if n > limits.rows:
            raise ImportError_(f"more than {limits.rows:,} rows (empty ones included); "
                               "split the file")
        width = len(row)
        while width and not row[width - 1]:
            width -= 1
        if not width:
            continue
        if width > limits.columns:
            raise ImportError_(f"row {n} has {width:,} columns; at most {limits.columns:,} are read")
        row = row[:width]
        cells += width
        chars += sum(map(len, row))
        if cells > limits.cells:
            raise ImportError_(f"more than {limits.cells:,} cells; split the file")
        if chars > limits.text_chars:
            raise ImportError_(f"more than {limits.text_chars:,} characters of text; split the file")
        yield row


# ---- XLSX ------------------------------------------------------------------------------------

def _xlsx_rows(data: bytes, limits: ImportLimits) -> list[list[str]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise ImportError_("not a readable XLSX workbook (a damaged ZIP archive)") from None
    check_zip(members, limits)
    if "xl/workbook.xml" not in {m.filename for m in members}:
        raise ImportError_("a ZIP archive but not an XLSX workbook (no xl/workbook.xml)")
    for member in members:
        if member.filename.endswith((".xml", ".rels", ".vml")):
            scan = SheetScan(member.filename, limits)
            try:
                with archive.open(member) as part:
                    scan.feed(part)
            except (zipfile.BadZipFile, EOFError, OSError):  # also a bad CRC
                raise ImportError_(f"not a readable XLSX workbook (damaged {member.filename})") from None
    return _calamine_rows(data)


def check_zip(members: list[zipfile.ZipInfo], limits: ImportLimits) -> None:
    """Refuses a ZIP whose directory promises too much, before anything is unpacked.
    (Python's zipfile never inflates a member past its declared size.)"""
    if len(members) > limits.zip_members:
        raise ImportError_(f"the workbook has {len(members):,} parts; at most {limits.zip_members:,} are read")
    total = sum(m.file_size for m in members)
    if total > limits.zip_bytes:
        raise ImportError_(f"the workbook unpacks to {limits.describe_bytes(total)}, more than "
                           f"{limits.describe_bytes(limits.zip_bytes)} (a ZIP bomb?)")
    for m in members:
        if m.file_size > limits.zip_ratio_floor and m.file_size > limits.zip_ratio * max(m.compress_size, 1):
            raise ImportError_(f"{m.filename} is packed {m.file_size // max(m.compress_size, 1):,}:1, "
                               f"more than {limits.zip_ratio}:1 (a ZIP bomb?)")


_REF = re.compile(r"([A-Za-z]{1,4})(\d{1,9})$")


class SheetScan:
    """One streamed pass of expat over an XML part: refuses entity declarations (the
    billion laughs), nesting deeper than ``xml_depth``, and, for a worksheet, a value
    past the row or column cap or a used area (rows x columns of the cells with a value:
    what calamine allocates, whatever the declared ``<dimension>`` says) of more than
    ``cells``. Cells with only a style are not counted: calamine skips them too."""

    def __init__(self, name: str, limits: ImportLimits):
        self.name, self.limits = name, limits
        self.depth = self.row = self.col = self.max_row = self.max_col = 0

    def feed(self, stream) -> None:
        import pyexpat

        parser = pyexpat.ParserCreate()
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.EntityDeclHandler = self._entity
        parser.ExternalEntityRefHandler = self._entity
        try:
            while chunk := stream.read(1 << 20):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except pyexpat.ExpatError as e:
            raise ImportError_(f"{self.name} is not well-formed XML ({pyexpat.ErrorString(e.code)})") from None
        area = self.max_row * self.max_col
        if area > self.limits.cells:
            raise ImportError_(f"{self.name} uses {self.max_row:,} rows x {self.max_col:,} columns "
                               f"({area:,} cells); at most {self.limits.cells:,} are read")

    def _start(self, tag, attrs):
        self.depth += 1
        if self.depth > self.limits.xml_depth:
            raise ImportError_(f"{self.name} nests XML deeper than {self.limits.xml_depth} levels (an XML bomb?)")
        local = tag.rpartition(":")[2]
        if local == "row":
            r = attrs.get("r", "")
            self.row = int(r) if r.isdigit() else self.row + 1
            self.col = 0
        elif local == "c":
            ref = _REF.match(attrs.get("r", ""))
            if ref:
                self.col = _column_number(ref.group(1))
                self.row = int(ref.group(2))
            else:
                self.col += 1
        elif local in ("v", "is"):
            self._value_at(self.row, self.col)  # a cell with only a style is not read

    def _value_at(self, row: int, col: int) -> None:
        if row > self.limits.rows:
            raise ImportError_(f"{self.name} has data on row {row:,}; at most {self.limits.rows:,} rows are read")
        if col > self.limits.columns:
            raise ImportError_(f"{self.name} has data in column {col:,}; "
                               f"at most {self.limits.columns:,} columns are read")
        self.max_row = max(self.max_row, row)
        self.max_col = max(self.max_col, col)

    def _end(self, _tag):
        self.depth -= 1

    def _entity(self, *_args):
        raise ImportError_(f"{self.name} declares XML entities (refused: an XML bomb?)")


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def _calamine_rows(data: bytes) -> list[list[str]]:
    # calamine (Rust) reads a 100,000-row sheet in 0.6 s; openpyxl's read-only mode took
    # 7-10 s. It allocates the used area as one grid: SheetScan has bounded that first.
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not book.sheet_names:
            raise ImportError_("the workbook has no sheets")
        rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except ImportError_:
        raise
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - any unreadable workbook means the same thing
        raise ImportError_(f"not a readable XLSX workbook ({e.__class__.__name__})") from None
    return [[v.strip() if v.__class__ is str else _cell(v) for v in row] for row in rows]  # most cells: text


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps 79161234567 as a number
    return str(value).strip()
