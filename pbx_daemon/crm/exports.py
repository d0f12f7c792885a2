"""CSV that spreadsheets open as data: a text cell starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return is a formula to Excel and LibreOffice (a web form's UTM value,
a name typed by a caller), so it is written with a leading ``'`` (OWASP, "CSV Injection").
Numbers are written as they are. Every CSV the admin or the CLI hands out goes through
:func:`safe_row`.
"""

from __future__ import annotations

from typing import Any, Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` ready for a CSV cell: text that a spreadsheet would run gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
