"""Keep the admin's Russian catalog in step with the code, and compile it.

    .venv/bin/python scripts/translations.py            # extract, merge into ru, compile
    .venv/bin/python scripts/translations.py --check    # exit 1 when the .mo is stale or a
                                                        # message has no translation

The compiled ``messages.mo`` is committed so that an install needs no build step; the
unit tests run ``--check``'s logic so a new string without a translation fails CI.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
ADMIN = ROOT / "admin"
PO = ADMIN / "translations" / "ru" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2),
            "_p": ((1, "c"), 2), "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]


def extract() -> Catalog:
    catalog = Catalog(project="pbx-crm")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ADMIN), METHODS, keywords=KEYWORDS, options_map={"templates/**.html": {}}):
        catalog.add(message, None, [(filename, lineno)], context=context)
    return catalog


def merged() -> Catalog:
    with open(PO, "rb") as f:
        ru = read_po(f, locale="ru")
    ru.update(extract(), no_fuzzy_matching=True)
    return ru


def compiled(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def problems() -> list[str]:
    catalog = merged()
    out = [f"no Russian for {m.id!r}" for m in catalog if m.id and not m.string]
    want = {(m.id, m.context): m.string for m in catalog if m.id}
    have = {}
    if MO.exists():
        with open(MO, "rb") as f:
            have = {(m.id, m.context): m.string for m in read_mo(f) if m.id}
    if have != want:
        out.append(f"{MO.relative_to(ROOT)} is stale: run scripts/translations.py")
    return out


def main() -> int:
    if "--check" in sys.argv:
        found = problems()
        for p in found:
            print(p)
        return 1 if found else 0
    catalog = merged()
    with open(PO, "wb") as f:
        write_po(f, catalog, width=100, omit_header=False, ignore_obsolete=True)
    MO.write_bytes(compiled(catalog))
    missing = [m.id for m in catalog if m.id and not m.string]
    print(f"{PO.relative_to(ROOT)}: {len(catalog)} messages, {len(missing)} without Russian")
    return 0


if __name__ == "__main__":
    sys.exit(main())
