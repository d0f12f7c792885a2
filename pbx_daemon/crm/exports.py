"""CSV that spreadsheets open as data: a text cell starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return is a formula to Excel and LibreOffice (a web form's UTM value,
a name typed by a caller), so it is written with a leading ``'`` (OWASP, "CSV Injection").
Numbers are written as they are, and so is a phone number in E.164 (``+79161234567``: a
plus and digits only is a number to a spreadsheet, never a formula). Every CSV the admin or the CLI hands out goes through
:func:`safe_row`.
"""

from __future__ import annotations

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
