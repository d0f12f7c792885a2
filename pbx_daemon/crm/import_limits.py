"""How much of an untrusted CSV or XLSX file an import may read: one frozen object, read by
the admin's upload, ``pbx-crm import-list`` and the sandboxed reader alike.

Sized from the legitimate 100,000-row, 5-column call list of ``bench/import.py`` (the
scale the importer is built and benchmarked for; 7.8 million characters): 8.0 MB as cp1251
CSV, read in a sandboxed child in 0.9 s at a peak of 142 MB; 2.6 MB as XLSX, whose sheet
XML unpacks to 34 MB at 13:1, read in 3.1 s (2 s of it the expat scan) at 122 MB. The
admin process then holds the table: +70 MB.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class ImportLimits:
    #: The file itself: 2.5x the 100,000-row CSV, 8x its XLSX.
    file_bytes: int = 20 * MiB
    #: ZIP members of an XLSX. Excel writes 10-30 parts (sheets, styles, themes, images).
    zip_members: int = 1_000
    #: Everything an XLSX unpacks to, added up from the ZIP directory before anything is
    #: unpacked (Python's zipfile then never inflates past a member's declared size).
    #: 6x the 100,000-row sheet's 34 MB.
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
    #: Non-padded cells of all rows, and for an XLSX its used area (rows x columns, which
    #: calamine allocates as one grid): 100,000 rows of 10 columns. The admin process holds
    #: the table it gets back, ~75 bytes a cell plus its text.
    cells: int = 1_000_000
    #: Characters of all cells (XLSX shared strings can repeat one long string in every
    #: cell): 2x the 100,000-row list's ~8 million. With ``cells``, bounds the table the
    #: admin holds to ~110 MB (measured: 1,980,020 short Cyrillic cells took 237 MB).
    text_chars: int = 16 * MiB
    #: Address space of the reading child (RLIMIT_AS): the 100,000-row reads peak at
    #: 122-142 MB, a 13 MB CSV of 2 million short cells at 314 MB, an XLSX of 2 million
    #: shared-string cells at 446 MB (refused by ``text_chars``). A reader that wants more
    #: fails alone (MemoryError, or killed), not the admin.
    memory_bytes: int = 1024 * MiB
    #: Wall-clock seconds for the read (and CPU seconds, RLIMIT_CPU): ~20x the 100,000-row
    #: XLSX, the slowest legitimate case, on a loaded machine 2-3x slower still; the longest
    #: an admin request thread waits for it.
    seconds: float = 60.0
    #: Reads running at once in one admin process (more wait up to ``queue_seconds``, then
    #: are told to retry): what imports can take is ``readers`` x ``memory_bytes``, 2 GiB.
    readers: int = 2
    queue_seconds: float = 10.0

    def describe_bytes(self, n: int) -> str:
        return f"{n / MiB:.0f} MB" if n >= MiB else f"{n} bytes"


LIMITS = ImportLimits()
