"""How much of an untrusted CSV or XLSX file an import may read: one frozen object, read by
the admin's upload, ``pbx-crm import-list`` and the sandboxed reader alike.

Sized from a legitimate 100,000-row, 6-column call list (the scale the importer is built
and benchmarked for): 6 MB as CSV; 3.2 MB as XLSX, whose sheet XML unpacks to 40 MB at
12:1; the sandboxed read (expat scan, then calamine) takes ~2 s and peaks at ~? MB.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class ImportLimits:
    #: The file itself. 3x the 100,000-row CSV; an XLSX of that list is half as big.
    file_bytes: int = 20 * MiB
    #: ZIP members of an XLSX. Excel writes 10-30 parts (sheets, styles, themes, images).
    zip_members: int = 1_000
    #: Everything an XLSX unpacks to, added up from the ZIP directory before anything is
    #: unpacked (Python's zipfile then never inflates past a member's declared size).
    #: 5x the 100,000-row sheet's 40 MB.
    zip_bytes: int = 200 * MiB
    #: Unpacked / packed size of one member larger than ``zip_ratio_floor``. Sheet XML packs
    #: 5-20:1, a deflate bomb ~1,000:1.
    zip_ratio: int = 100
    zip_ratio_floor: int = 1 * MiB
    #: Element nesting in any XML part of an XLSX. Excel's deepest parts (drawings, rich
    #: text) nest ~15 levels; a nesting bomb nests millions.
    xml_depth: int = 64
    #: Columns of one row (after its trailing empty cells are dropped). CRM exports with
    #: custom fields reach 100-200; Excel's own maximum is 16,384.
    columns: int = 1_024
    #: Rows read, empty ones included (the sheet's row numbers or the CSV's records): twice
    #: the 100,000-row list. Excel's own maximum is 1,048,576.
    rows: int = 200_000
    #: Non-padded cells of all rows: 100,000 rows of 20 columns. Bounds what the admin
    #: process holds after the read (~70 bytes a short cell: ~140 MB at worst).
    cells: int = 2_000_000
    #: Characters of all cells: XLSX shared strings can repeat one long string in every
    #: cell; the 100,000-row list has ~6 million.
    text_chars: int = 32 * MiB
    #: Address space of the reading process (RLIMIT_AS): Python and openpyxl take ~60 MB,
    #: the 100,000-row read peaks at ~105 MB RSS, a full 200,000-row, 2-million-cell read
    #: at ~500 MB. A reader that wants more fails alone, not the admin.
    memory_bytes: int = 1024 * MiB
    #: Wall-clock seconds for the read: 6x the 100,000-row XLSX (the slowest legitimate
    #: case), and how long an admin request thread may wait.
    seconds: float = 60.0

    def describe_bytes(self, n: int) -> str:
        return f"{n / MiB:.0f} MB" if n >= MiB else f"{n} bytes"


LIMITS = ImportLimits()
