"""A corpus of hostile import files, built in memory (each in milliseconds; nothing binary
in git), and two sandbox targets that blow up on purpose. ``CORPUS``: name -> (file name,
bytes, words the one-line refusal must contain).

Run as a script to write the corpus to a folder: ``python -m tests.hostile DIR``."""

from __future__ import annotations

import io
import random
import struct
import sys
import zipfile
from pathlib import Path

NS = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
_WORKBOOK_PARTS = {
    "[Content_Types].xml":
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
        b'"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
        b'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxml'
        b'formats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels":
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml":
        b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels":
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def xlsx(sheet_xml: bytes) -> bytes:
    """A minimal workbook (what Excel needs, no styles) around one sheet's XML."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in _WORKBOOK_PARTS.items():
            z.writestr(name, data)
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return out.getvalue()


def sheet(rows: bytes, dimension: bytes = b"A1:B2", prolog: bytes = b"") -> bytes:
    return (b'<?xml version="1.0" encoding="UTF-8"?>' + prolog + NS + b'<dimension ref="' + dimension
            + b'"/><sheetData>' + rows + b"</sheetData></worksheet>")


def cell(ref: str, text: str) -> bytes:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()


HEADER = b'<row r="1">' + cell("A1", "Phone") + cell("B1", "Name") + b"</row>"
ROW = b'<row r="2">' + cell("A2", "+79161112233") + cell("B2", "Anna") + b"</row>"
GOOD_XLSX = xlsx(sheet(HEADER + ROW))


def huge_used_range() -> bytes:
    """Two cells, A1 and XFD1048576: the whole grid, the file that aborted the admin."""
    far = b'<row r="1048576">' + cell("XFD1048576", "x") + b"</row>"
    return xlsx(sheet(HEADER + far, b"A1:XFD1048576"))


def huge_declared_range() -> bytes:
    """A two-row sheet that declares the whole grid: the declaration is not trusted (reads)."""
    return xlsx(sheet(HEADER + ROW, b"A1:XFD1048576"))


def wide_and_long() -> bytes:
    """Every cap on its own is met (row 3,000, column 1,000), the area they span is not."""
    return xlsx(sheet(HEADER + b'<row r="3000">' + cell("ALL3000", "x") + b"</row>"))


def zip_bomb_ratio() -> bytes:
    """16 MB of whitespace inside the sheet packs ~1,000:1."""
    return xlsx(sheet(HEADER + b" " * (16 << 20) + ROW))


def zip_bomb_declared() -> bytes:
    """A ZIP whose directory promises a 3 GB sheet: refused before anything is unpacked."""
    data = bytearray(GOOD_XLSX)
    at = data.rfind(b"PK\x01\x02")  # the last central-directory entry: the sheet
    struct.pack_into("<I", data, at + 24, 3 << 30)  # its uncompressed size
    return bytes(data)


def billion_laughs() -> bytes:
    lol = b'<!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)) + b"]>"
    return xlsx(sheet(b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>', prolog=lol))


def deep_nesting() -> bytes:
    depth = 100_000
    return xlsx(sheet(HEADER + b'<row r="2"><c r="A2">' + b"<x>" * depth + b"</x>" * depth + b"</c></row>"))


def wide_csv() -> bytes:
    """A 100,000-column header and short rows (they grew past 1.5 GB while padded)."""
    return ";".join(f"c{i}" for i in range(100_000)).encode() + b"\n" + b"+79161112233;a\n" * 1000


def random_bytes(size: int = 64 << 10, high: bool = False) -> bytes:
    rng = random.Random(14)
    return bytes(rng.randrange(128 if high else 0, 256) for _ in range(size))


CORPUS = {
    "huge used range": ("range.xlsx", huge_used_range, "row 1,048,576"),
    "used area": ("area.xlsx", wide_and_long, "(3,000,000 cells)"),
    "zip bomb (ratio)": ("bomb.xlsx", zip_bomb_ratio, "ZIP bomb"),
    "zip bomb (declared)": ("bomb2.xlsx", zip_bomb_declared, "unpacks to 3072 MB"),
    "billion laughs": ("lol.xlsx", billion_laughs, "declares XML entities"),
    "deep nesting": ("deep.xlsx", deep_nesting, "deeper than 64 levels"),
    "damaged zip": ("cut.xlsx", lambda: GOOD_XLSX[:len(GOOD_XLSX) // 2], "damaged"),
    "zip, not xlsx": ("a.xlsx", lambda: _zip({"readme.txt": b"hi"}), "not an XLSX"),
    "100k columns": ("wide.csv", wide_csv, "100,000 columns"),
    "NUL bytes": ("nul.csv", lambda: b"phone;name\n+79161112233\x00;a\n", "NUL bytes"),
    "control characters": ("ctl.csv", lambda: b"phone;name\n+79161112233\x07;a\n", "control character"),
    "random bytes": ("random.csv", random_bytes, "NUL bytes"),
    "random high bytes": ("high.csv", lambda: random_bytes(high=True), "neither UTF-8 nor Windows-1251"),
    "empty": ("empty.csv", lambda: b"", "empty"),
    "blank": ("blank.csv", lambda: b"\r\n \n", "empty"),
    "a PNG as .csv": ("list.csv", lambda: b"\x89PNG\r\n\x1a\n" + random_bytes(1000), "PNG image"),
    "an old .xls": ("list.xls", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1000), "an old Excel .xls"),
}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


# ---- sandbox targets that blow up on purpose (run in the child) ------------------------------

def allocate_past_the_limit(data: bytes, name: str, limits) -> None:
    """Asks for twice the child's address-space limit, as a runaway reader would."""
    return len(bytearray(2 * limits.memory_bytes))


def calamine_unguarded(data: bytes, name: str, limits) -> None:
    """The old read: calamine on the file with no scan first (the used-range file aborts it)."""
    from python_calamine import CalamineWorkbook

    return len(CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python())


def sleep_past_the_deadline(data: bytes, name: str, limits) -> None:
    """Hangs, as a reader stuck in a loop would."""
    import time

    time.sleep(limits.seconds + 30)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for key, (filename, build, _words) in CORPUS.items():
        (folder / f"{key.replace(' ', '_').replace(',', '')}-{filename}").write_bytes(build())
