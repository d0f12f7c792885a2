"""CSV that spreadsheets open as data: a text cell starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return is a formula to Excel and LibreOffice (a web form's UTM value,
a name typed by a caller), so it is written with a leading ``'`` (OWASP, "CSV Injection").
Numbers are written as they are, and so is a phone number in E.164 (``+79161234567``: a
plus and digits only is a number to a spreadsheet, never a formula). Every CSV the admin or the CLI hands out goes through
:func:`safe_row`.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
E164 = re.compile(r"\+[0-9]{1,15}")


def safe_cell(value: Any) -> Any:
    """``value`` ready for a CSV cell: text that a spreadsheet would run gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not E164.fullmatch(value):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


# Excel as a Russian office has it (Windows regional settings "Russian"): the list separator
# is ";" and the decimal separator ",". A comma-separated file opens as one column there,
# and "12.5" becomes a date or text. The BOM tells Excel the file is UTF-8 (else Cyrillic
# headers turn into mojibake).
BOM = "\ufeff"
DELIMITER = ";"


def excel_number(value: float, places: int = 2) -> str:
    """``12.5`` as ``12,50``: no grouping (a space inside a number makes Excel read text)."""
    return f"{value:.{places}f}".replace(".", ",")


def excel_csv(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A whole CSV for Russian Excel: BOM, ``;``, decimal comma, every text cell through
    :func:`safe_cell`. Write it out as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=DELIMITER, lineterminator="\r\n")
    writer.writerow(safe_row(str(h) for h in headers))
    for row in rows:
        # A number is written as one (a negative one is not a formula); text goes through safe_cell.
        writer.writerow([excel_number(v) if isinstance(v, float) else safe_cell(v) for v in row])
    return BOM + out.getvalue()
