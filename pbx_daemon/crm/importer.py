"""Call-list import (seed 000: "any export"; seed 001: Excel from any system).

Reading (:mod:`pbx_daemon.crm.tables`, in a limited child process): XLSX (the first
sheet) and CSV in any delimiter (``,`` ``;`` tab ``|``) and encoding (UTF-8 with or
without BOM, UTF-16 with a BOM, else Windows-1251, what Russian Excel writes), within
:class:`~pbx_daemon.crm.import_limits.ImportLimits`. The first non-empty row is the header.

Mapping: :func:`guess_mapping` recognises Russian and English headers ("Телефон",
"Phone", "Компания", "ФИО", "E-mail"...); the operator can override any field.

Checking, per row, nothing dropped silently (:class:`RowResult`): no valid phone,
duplicate inside the file, already in this list, belongs to a client or an open lead,
blocklisted. Only ``ok`` rows are added, in one transaction: a file is imported whole or
not at all, and importing it again adds nothing and says so (every row: already in the
list). The checks are batched (one ``IN`` query per kind per 500 numbers), so a
100,000-row file costs a few hundred queries, not a few hundred thousand.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.exports import excel_csv
from pbx_daemon.crm.import_limits import LIMITS, ImportLimits
from pbx_daemon.crm.phones import InvalidPhoneNumber, normalize
from pbx_daemon.crm.table_sandbox import read_table_isolated
from pbx_daemon.crm.tables import ImportError_
from pbx_daemon.crm.texts import plural

__all__ = ["FIELDS", "ImportError_", "ImportReport", "RowResult", "check_rows", "describe_mapping",
           "guess_mapping", "import_call_list", "read_table"]

FIELDS = ("phone", "company_name", "contact_name", "email")
SYNONYMS = {
    "phone": ("телефон", "тел", "телефоны", "номер", "номер телефона", "мобильный", "моб", "phone",
              "phone number", "telephone", "tel", "mobile", "msisdn", "контактный телефон"),
    "company_name": ("компания", "организация", "наименование", "название", "название компании",
                     "юрлицо", "company", "company name", "organization", "organisation", "account"),
    "contact_name": ("фио", "контакт", "контактное лицо", "имя", "фамилия имя", "ответственное лицо",
                     "name", "full name", "contact", "contact name", "person"),
    "email": ("email", "e-mail", "e mail", "почта", "эл почта", "электронная почта", "mail"),
}
# What each row came to, in the words the report shows (Russian: the sales team reads it).
STATUSES = {
    "ok": "добавлено",
    "no_phone": "нет верного номера телефона",
    "duplicate_in_file": "тот же номер уже есть выше в этом файле",
    "already_in_list": "уже есть в этом списке",
    "client": "номер клиента",
    "lead": "номер открытого лида",
    "blocklisted": "номер в чёрном списке",
}
CHUNK = 500


def _key(header: str) -> str:
    text = str(header or "").strip().casefold().replace("ё", "е")
    return " ".join(re.sub(r"[^\w@]+", " ", text).split())


def guess_mapping(headers: list[str]) -> dict[str, int]:
    """field -> column index, from the header names (Russian or English)."""
    keys = [_key(h) for h in headers]
    mapping: dict[str, int] = {}
    for name, words in SYNONYMS.items():
        wanted = {_key(w) for w in words}
        exact = [i for i, k in enumerate(keys) if k in wanted]
        loose = [i for i, k in enumerate(keys) if any(k.startswith(w) for w in wanted if len(w) > 3)]
        for i in exact + loose:
            if i not in mapping.values():
                mapping[name] = i
                break
    return mapping


def read_table(path: str | Path, data: bytes | None = None,
               limits: ImportLimits = LIMITS) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of a CSV or XLSX file, read in a limited child process
    (:mod:`pbx_daemon.crm.table_sandbox`); rows are not padded to the header's width."""
    path = Path(path)
    if data is None:
        try:
            with path.open("rb") as f:
                data = f.read(limits.file_bytes + 1)
        except OSError as e:
            raise ImportError_(f"cannot read {path}: {e.strerror}") from None
    return read_table_isolated(data, path.name, limits)


@dataclass
class RowResult:
    line: int  # in the file, the header is line 1
    status: str
    phone: str | None = None
    ext: str = ""
    detail: str = ""

    @property
    def message(self) -> str:
        return STATUSES[self.status] + (f": {self.detail}" if self.detail else "")


@dataclass
class ImportReport:
    list_id: int | None
    rows: list[RowResult] = field(default_factory=list)
    added: int = 0
    applied: bool = False

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    def summary(self) -> str:
        """``3 строки: 2 добавлено, 1 нет верного номера телефона``."""
        parts = [f"{self.count(s)} {STATUSES[s]}" for s in STATUSES if self.count(s)]
        n = len(self.rows)
        head = f"{n} {plural(n, 'строка', 'строки', 'строк')}: " + ", ".join(parts)
        if self.count("ok") == 0 and self.count("already_in_list"):
            head += " (импортировано раньше: добавить нечего)"
        return head

    def csv(self) -> str:
        """The per-row report for Russian Excel (BOM, ``;``; the cells that carry what the
        uploaded file said go through the formula neutralising)."""
        return excel_csv(["Строка", "Телефон", "Доб.", "Итог"],
                         ([r.line, r.phone or "", r.ext, r.message] for r in self.rows))


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _existing(session: Session, list_id: int | None, phones: list[str]) -> dict[str, set]:
    found = {"client": set(), "lead": set(), "blocklisted": set(), "in_list": set()}
    for part in _chunks(phones):
        found["client"] |= set(session.scalars(select(m.CompanyPhone.phone).where(m.CompanyPhone.phone.in_(part))))
        found["client"] |= set(session.scalars(select(m.ContactPhone.phone).where(m.ContactPhone.phone.in_(part))))
        found["lead"] |= set(session.scalars(select(m.Lead.phone).where(
            m.Lead.phone.in_(part), m.Lead.status.in_(("new", "in_progress")))))
        found["blocklisted"] |= set(session.scalars(select(m.BlockedNumber.phone).where(
            m.BlockedNumber.phone.in_(part))))
    if list_id is not None:
        # The whole list in one read: cheaper than asking per chunk (PostgreSQL took ~23 ms
        # per IN query against a 100,000-entry list).
        found["in_list"] = {(p, e) for p, e in session.execute(
            select(m.CallListEntry.phone, m.CallListEntry.phone_ext).where(m.CallListEntry.call_list_id == list_id))}
    return found


def check_rows(session: Session, rows: Iterable[list[str]], mapping: dict[str, int], *,
               list_id: int | None, region: str = "RU", default_area_code: str = "",
               progress: Callable[[int], None] | None = None) -> tuple[ImportReport, list[dict]]:
    """Every row's fate, and the entries to add (for ``ok`` rows)."""
    if "phone" not in mapping:
        raise ImportError_("no phone column: map one (e.g. --map phone=Телефон)")
    parsed = []
    for n, row in enumerate(rows, start=2):
        raw_phone = row[mapping["phone"]] if mapping["phone"] < len(row) else ""
        try:
            number = normalize(raw_phone, region, default_area_code)
            parsed.append((n, row, number.e164, number.ext or "", None))
        except InvalidPhoneNumber as e:
            parsed.append((n, row, None, "", str(e)))
        if progress and n % 1000 == 0:
            progress(n - 1)
    existing = _existing(session, list_id, sorted({p[2] for p in parsed if p[2]}))
    report = ImportReport(list_id)
    entries, seen = [], set()
    for n, row, phone, ext, error in parsed:
        if phone is None:
            report.rows.append(RowResult(n, "no_phone", None, "", error or ""))
            continue
        if (phone, ext) in seen:
            status = "duplicate_in_file"
        elif (phone, ext) in existing["in_list"]:
            status = "already_in_list"
        elif phone in existing["blocklisted"]:
            status = "blocklisted"
        elif phone in existing["client"]:
            status = "client"
        elif phone in existing["lead"]:
            status = "lead"
        else:
            status = "ok"
        seen.add((phone, ext))
        report.rows.append(RowResult(n, status, phone, ext))
        if status == "ok":
            def value(name, limit):
                i = mapping.get(name)
                return (row[i][:limit] or None) if i is not None and i < len(row) else None
            entries.append({"phone": phone, "phone_ext": ext, "company_name": value("company_name", 300),
                            "contact_name": value("contact_name", 200),
                            # Lower-cased as the model's e-mail columns are (a bulk insert skips its hook).
                            "email": (value("email", 254) or "").lower() or None,
                            "raw": dict(zip(map(str, range(len(row))), row))})
    return report, entries


def import_call_list(session: Session, path: str | Path, *, list_name: str | None = None,
                     list_id: int | None = None, mapping: dict[str, int] | None = None,
                     overrides: dict[str, str] | None = None, region: str = "RU",
                     default_area_code: str = "", created_by_id: int | None = None,
                     dry_run: bool = False, data: bytes | None = None,
                     table: tuple[list[str], list[list[str]]] | None = None,
                     progress: Callable[[int], None] | None = None) -> ImportReport:
    """Read, check and (unless ``dry_run``) add a file's rows to a call list, all or
    nothing. ``overrides``: field -> header name, over the guessed mapping. ``table``:
    (headers, rows) already read by :func:`read_table`, so that the file is read once."""
    headers, rows = table if table is not None else read_table(path, data)
    mapping = dict(mapping or guess_mapping(headers))
    keys = [_key(h) for h in headers]
    for name, header in (overrides or {}).items():
        if name not in FIELDS:
            raise ImportError_(f"unknown field {name!r} (fields: {', '.join(FIELDS)})")
        if _key(header) not in keys:
            raise ImportError_(f"no column {header!r} in the file (columns: {', '.join(headers)[:300]})")
        mapping[name] = keys.index(_key(header))
    call_list = None
    if list_id is not None:
        call_list = session.get(m.CallList, list_id)
        if call_list is None:
            raise ImportError_(f"no call list {list_id}")
    elif list_name:
        call_list = session.scalar(select(m.CallList).where(m.CallList.name == list_name))
    report, entries = check_rows(session, rows, mapping, list_id=call_list.id if call_list else None,
                                 region=region, default_area_code=default_area_code, progress=progress)
    if dry_run:
        return report
    if call_list is None:
        call_list = m.CallList(name=list_name or Path(path).stem, source_file=Path(path).name[:300],
                               created_by_id=created_by_id)
        session.add(call_list)
        session.flush()
    report.list_id = call_list.id
    start = session.scalar(select(m.CallListEntry.position).where(
        m.CallListEntry.call_list_id == call_list.id).order_by(m.CallListEntry.position.desc()).limit(1)) or 0
    now = m.utcnow()
    for i, entry in enumerate(entries, start=start + 1):
        entry.update(call_list_id=call_list.id, position=i, status="pending", created_at=now, updated_at=now)
    bind = session.get_bind()
    if entries and bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg2":
        _copy_entries(session, entries)
    else:
        # Core inserts on the table: the ORM's bulk path costs more per row than SQLite.
        for part in _chunks(entries, 5000):
            session.execute(insert(m.CallListEntry.__table__), part)
    session.commit()
    report.added = len(entries)
    report.applied = True
    return report


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _copy_value(value) -> str:
    """One field of COPY's text format: \\N is NULL; backslash, tab and line ends escaped."""
    if value is None:
        return "\\N"
    if isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, datetime):
        value = value.isoformat()
    else:
        value = str(value)
    if _COPY_SPECIAL.search(value):
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _copy_entries(session: Session, entries: list[dict]) -> None:
    """PostgreSQL: the entries in one COPY, in the session's transaction. 100,000 rows
    took ~6 s as INSERT batches; COPY takes well under a second. Columns the entries do
    not carry get their model defaults here, as an INSERT through SQLAlchemy would."""
    table = m.CallListEntry.__table__
    columns = [c for c in table.columns if not c.primary_key and (c.name in entries[0] or c.default is not None)]
    defaults = {c.name: (c.default.arg(None) if c.default.is_callable else c.default.arg)
                for c in columns if c.name not in entries[0]}
    buf = io.StringIO()
    for entry in entries:
        buf.write("\t".join(_copy_value(entry[c.name] if c.name in entry else defaults[c.name])
                            for c in columns))
        buf.write("\n")
    buf.seek(0)
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        cursor.copy_expert(f"COPY {table.name} ({', '.join(c.name for c in columns)}) FROM STDIN (FORMAT text)",
                           buf)
    finally:
        cursor.close()


def describe_mapping(headers: list[str], mapping: dict[str, int]) -> str:
    return ", ".join(f"{name} <- {headers[i]!r}" for name, i in sorted(mapping.items(), key=lambda x: x[1]))

