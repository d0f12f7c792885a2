"""Client-base import, the database side: fetch what the file's values find
(:func:`fetch_known`), write a :class:`~pbx_daemon.crm.client_import.Plan` in one
transaction (:func:`apply_plan`), the presets, and :func:`import_clients` that runs the
whole: read rows, parse, fetch, decide, apply -- or, with any row in error, nothing.

The lookups are batched (one ``IN`` query per kind per 2,000 values, or the whole column
when the table is smaller than the file) and the writes are executemany INSERTs with the
new cards' ids allocated beforehand, so 100,000 rows cost a few hundred statements
(``bench/client_import.py``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterator

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.bulk import collector_paused
from pbx_daemon.crm.importer import _COPY_SPECIAL, _copy_value
from pbx_daemon.crm.client_import import (
    Card,
    ClientRow,
    Known,
    Person,
    PhoneReader,
    Plan,
    Policy,
    Scope,
    decide_rows,
    parse_row,
)

CHUNK = 2000


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def scope_for(session: Session, user: m.Employee) -> Scope:
    """Whose cards ``user`` may import into: admin and owner anyone's; a head their
    department's employees (and themselves), the cards going to their department.
    PermissionError for any other role."""
    if user.role in ("admin", "owner"):
        return Scope()
    if user.role == "head" and user.department_id is not None:
        ids = set(session.scalars(select(m.Employee.id).where(
            m.Employee.department_id == user.department_id, m.Employee.active.is_(True))))
        return Scope(frozenset(ids | {user.id}), user.department_id)
    raise PermissionError("only an admin, the owner or a department head imports clients")


def _index(session: Session, column, key_column, values: list[str]) -> dict[str, tuple[int, ...]]:
    """value -> the ids of the rows holding it, for the file's values. A table with fewer
    rows than the file has values (a first import) is read whole instead: one query, not
    one per 2,000 values."""
    wanted = set(v for v in values if v)
    found: dict[str, list[int]] = defaultdict(list)
    if not wanted:
        return {}
    if session.scalar(select(func.count()).select_from(column.table)) <= len(wanted):
        queries = [select(column, key_column).where(column.isnot(None))]
    else:
        queries = [select(column, key_column).where(column.in_(part)) for part in _chunks(sorted(wanted))]
    for query in queries:
        for value, card_id in session.execute(query):
            if value in wanted and card_id not in found[value]:
                found[value].append(card_id)
    return {k: tuple(v) for k, v in found.items()}


def fetch_known(session: Session, rows: list[ClientRow]) -> Known:
    """Everything the decision needs about the rows' values, in batched queries."""
    phones = [p for r in rows for p, _ext in r.phones]
    emails = [e for r in rows for e in r.emails]
    company_by_phone = _index(session, m.CompanyPhone.phone, m.CompanyPhone.company_id, phones)
    contact_by_phone = _index(session, m.ContactPhone.phone, m.ContactPhone.contact_id, phones)
    company_by_email = _index(session, m.Company.email, m.Company.id, emails)
    contact_by_email = _index(session, m.ContactEmail.email, m.ContactEmail.contact_id, emails)
    company_by_tax_id = _index(session, m.Company.tax_id, m.Company.id, [r.tax_id for r in rows])
    company_by_name = _index(session, m.Company.name_key, m.Company.id,
                             [m.normalize_name(r.company_name) for r in rows if r.company_name])
    contact_by_name = _index(session, m.Contact.name_key, m.Contact.id,
                             [m.normalize_name(r.contact_name) for r in rows if r.contact_name])
    company_ids = sorted({i for d in (company_by_phone, company_by_email, company_by_tax_id, company_by_name)
                          for ids in d.values() for i in ids})
    contact_ids = sorted({i for d in (contact_by_phone, contact_by_email, contact_by_name)
                          for ids in d.values() for i in ids})
    companies, contacts = {}, {}
    c_phones, p_phones, p_emails = defaultdict(set), defaultdict(set), defaultdict(set)
    for part in _chunks(company_ids):
        for cid, phone, ext in session.execute(select(m.CompanyPhone.company_id, m.CompanyPhone.phone,
                                                      m.CompanyPhone.phone_ext).where(m.CompanyPhone.company_id.in_(part))):
            c_phones[cid].add((phone, ext or ""))
        for c in session.execute(select(m.Company.id, m.Company.name, m.Company.responsible_id, m.Company.department_id,
                                        m.Company.email, m.Company.tax_id, m.Company.notes).where(m.Company.id.in_(part))):
            companies[c.id] = Card(("company", c.id), c.name, c.responsible_id, c.department_id,
                                   phones=frozenset(c_phones[c.id]), emails=frozenset([c.email] if c.email else []),
                                   tax_id=c.tax_id or "", notes=c.notes or "")
    for part in _chunks(contact_ids):
        for cid, phone, ext in session.execute(select(m.ContactPhone.contact_id, m.ContactPhone.phone,
                                                      m.ContactPhone.phone_ext).where(m.ContactPhone.contact_id.in_(part))):
            p_phones[cid].add((phone, ext or ""))
        for cid, email in session.execute(select(m.ContactEmail.contact_id, m.ContactEmail.email)
                                          .where(m.ContactEmail.contact_id.in_(part))):
            p_emails[cid].add(email)
        for c in session.execute(select(m.Contact.id, m.Contact.full_name, m.Contact.responsible_id,
                                        m.Contact.company_id, m.Contact.notes).where(m.Contact.id.in_(part))):
            contacts[c.id] = Card(("contact", c.id), c.full_name, c.responsible_id,
                                  company_key=("company", c.company_id) if c.company_id else None,
                                  phones=frozenset(p_phones[c.id]), emails=frozenset(p_emails[c.id]),
                                  notes=c.notes or "")
    people = tuple(Person(e.id, e.login, e.full_name, e.email, e.department_id, e.active)
                   for e in session.execute(select(m.Employee.id, m.Employee.login, m.Employee.full_name,
                                                   m.Employee.email, m.Employee.department_id, m.Employee.active)))
    departments = {m.normalize_name(name): did for did, name in session.execute(
        select(m.Department.id, m.Department.name))}
    return Known(companies, contacts, company_by_phone, contact_by_phone, company_by_email, contact_by_email,
                 company_by_tax_id, company_by_name, contact_by_name, people, departments)


def _new_ids(session: Session, model, n: int) -> list[int]:
    """``n`` primary keys for new rows of ``model``, so that contacts can name their new
    companies without a RETURNING per row (SQLite returns ids in order only row by row:
    40,000 statements for 20,000 cards). PostgreSQL: from the table's sequence, safe with
    other writers. SQLite: after the largest id; a writer that slips in between makes the
    insert fail on the primary key, and the import (one transaction) writes nothing."""
    if n == 0:
        return []
    table = model.__table__.name
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(text(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"), {"n": n}))
    start = (session.scalar(select(func.max(model.id))) or 0) + 1
    return list(range(start, start + n))


def _insert_plain(session: Session, table: str, columns: tuple[str, ...], rows: list[tuple],
                  typed: bool = False) -> None:
    """Rows straight to the driver: PostgreSQL's COPY; SQLite's executemany (a third of a
    Core insert's cost) unless ``typed`` (datetimes: SQLAlchemy writes SQLite's text form)."""
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2":
        # One COPY (as the call-list import does): INSERT batches cost ~5x the CPU. The
        # rows are formatted as the server asks for them, so both work at once.
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT text)",
                               _CopyStream(rows), size=1 << 16)
        finally:
            cursor.close()
        return
    if conn.dialect.name != "sqlite":
        target = m.Base.metadata.tables[table]
        for part in _chunks(rows, 5000):
            conn.execute(insert(target), [dict(zip(columns, r)) for r in part])
        return
    if typed:
        rows = _bound(conn.dialect, m.Base.metadata.tables[table], columns, rows)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['?'] * len(columns))})"
    for part in _chunks(rows, 5000):
        conn.exec_driver_sql(sql, part)


class _CopyStream:
    """COPY's text format of ``rows`` (as :func:`_copy_value` writes each value), made as
    it is read: ``read(size)`` gives at least ``size`` characters, or the rest. Strings
    and ints are written here; other values once per distinct value (the timestamps)."""

    def __init__(self, rows: list[tuple]):
        self.rows = iter(rows)
        self.done: dict[tuple, str] = {}

    def _value(self, value) -> str:
        try:
            key = (value.__class__, value)
            text = self.done.get(key)
            if text is None:
                text = self.done[key] = _copy_value(value)
            return text
        except TypeError:  # unhashable (a dict: JSON)
            return _copy_value(value)

    def read(self, size: int = -1) -> str:
        lines, length, special = [], 0, _COPY_SPECIAL.search
        for r in self.rows:
            parts = []
            for v in r:
                if v is None:
                    parts.append("\\N")
                elif v.__class__ is str:
                    parts.append(_copy_value(v) if special(v) else v)
                elif v.__class__ is int:
                    parts.append(str(v))
                else:
                    parts.append(self._value(v))
            line = "\t".join(parts) + "\n"
            lines.append(line)
            length += len(line)
            if 0 <= size <= length:
                break
        return "".join(lines)


def _bound(dialect, table, columns: tuple[str, ...], rows: list[tuple]) -> list[tuple]:
    """The rows as SQLAlchemy would bind them (each column type's bind processor: a
    datetime becomes SQLite's text form), each distinct value processed once: the
    import's timestamps are one value."""
    processors = []
    for name in columns:
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        processors.append(None if process is None else (process, {}))
    if not any(processors):
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i, entry in enumerate(processors):
            if entry is not None and values[i] is not None:
                process, seen = entry
                value = values[i]
                try:
                    key = (value.__class__, value)  # 1 and True are not one value
                    values[i] = seen[key] if key in seen else seen.setdefault(key, process(value))
                except TypeError:  # unhashable
                    values[i] = process(value)
        out.append(tuple(values))
    return out


def apply_plan(session: Session, plan: Plan) -> dict[str, int]:
    """Write the plan's cards (new ones inserted, found ones updated, phones and e-mails
    added) in the session's transaction; the caller commits. Counts of what was written."""
    now = m.utcnow()
    ids: dict[tuple[str, int], int] = {}
    counts = {"companies_created": 0, "contacts_created": 0, "companies_updated": 0, "contacts_updated": 0,
              "phones": 0, "emails": 0}

    def real(key):
        return None if key is None else (key[1] if key[1] > 0 else ids[key])

    # Several rows may change one found card: their changes are merged, notes appended.
    updates: dict[tuple[str, int], dict] = {}
    phones: dict[str, list[tuple]] = {"company": [], "contact": []}
    emails: list[tuple] = []
    name_key = m.normalize_name
    for kind, model in (("company", m.Company), ("contact", m.Contact)):
        new = [c for c in plan.cards if c.key[0] == kind and c.key[1] < 0]
        new_ids = _new_ids(session, model, len(new))
        for c, new_id in zip(new, new_ids):
            ids[c.key] = new_id
        if kind == "company":
            columns = ("id", "name_key", "notes", "responsible_id", "created_at", "updated_at",
                       "name", "tax_id", "email", "department_id")
            rows = [(i, name_key(c.name), c.notes, c.responsible_id, now, now, c.name, c.tax_id, c.email,
                     c.department_id) for c, i in zip(new, new_ids)]
        else:
            columns = ("id", "name_key", "notes", "responsible_id", "created_at", "updated_at",
                       "full_name", "position", "company_id")
            rows = [(i, name_key(c.name), c.notes, c.responsible_id, now, now, c.name, c.position,
                     real(c.company_key)) for c, i in zip(new, new_ids)]
        _insert_plain(session, model.__table__.name, columns, rows, typed=True)
        counts[f"{'companies' if kind == 'company' else 'contacts'}_created"] = len(new)
        kind_phones = phones[kind]
        for c in plan.cards:
            if c.key[0] != kind:
                continue
            card_id = real(c.key)
            kind_phones.extend((card_id, p, ext or None) for p, ext in c.phones)
            emails.extend((card_id, e) for e in c.emails)
            if c.key[1] < 0:
                continue
            change = updates.setdefault(c.key, {"id": c.key[1]})
            for name in ("tax_id", "email", "position", "responsible_id", "department_id"):
                if getattr(c, name) is not None:
                    change[name] = getattr(c, name)
            if c.company_key is not None:
                change["company_id"] = real(c.company_key)
            if c.notes:
                change["notes_add"] = change.get("notes_add", []) + [c.notes]
        changed = [u for k, u in updates.items() if k[0] == kind]
        notes = {}
        for part in _chunks([u["id"] for u in changed if "notes_add" in u]):
            notes.update(session.execute(select(model.id, model.notes).where(model.id.in_(part))).all())
        by_columns: dict[tuple, list[dict]] = defaultdict(list)
        for u in changed:
            if "notes_add" in u:
                u["notes"] = "\n".join(([notes[u["id"]]] if notes.get(u["id"]) else []) + u.pop("notes_add"))
            u["updated_at"] = now
            by_columns[tuple(sorted(u))].append(u)
        for group in by_columns.values():
            session.execute(update(model), group)  # ORM bulk UPDATE by primary key
        counts[f"{'companies' if kind == 'company' else 'contacts'}_updated"] = len(changed)
    for kind, model in (("company", m.CompanyPhone), ("contact", m.ContactPhone)):
        kind_default = model.__table__.c.kind.default.arg  # "work" / "mobile", as the ORM sets it
        _insert_plain(session, model.__table__.name, (f"{kind}_id", "phone", "phone_ext", "kind"),
                      [p + (kind_default,) for p in phones[kind]])
    _insert_plain(session, "contact_emails", ("contact_id", "email"), emails)
    counts["phones"] = len(phones["company"]) + len(phones["contact"])
    counts["emails"] = len(emails)
    return counts


@dataclass
class ClientImport:
    """A run's outcome: the plan (every row's result), whether it was written, and what."""

    plan: Plan
    applied: bool = False
    written: dict[str, int] = field(default_factory=dict)


def import_clients(session: Session, rows: list[list[str]], mapping: dict[str, list[int]], *,
                   policy: Policy = Policy(), scope: Scope = Scope(), region: str = "RU",
                   default_area_code: str = "", dry_run: bool = False) -> ClientImport:
    """Parse, fetch, decide; unless ``dry_run``, write everything in one transaction --
    or nothing at all when any row is an error (the report says which)."""
    if not any(f in mapping for f in ("company_name", "contact_name", "last_name", "first_name")):
        raise ValueError("no column for the company's or the person's name: map one")
    with collector_paused():
        reader = PhoneReader(region, default_area_code)
        parsed = [parse_row(n, row, mapping, phone=reader) for n, row in enumerate(rows, start=2)]
        plan = decide_rows(parsed, fetch_known(session, parsed), policy, scope)
        result = ClientImport(plan)
        if dry_run or not plan.ok:
            return result
        try:
            result.written = apply_plan(session, plan)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    result.applied = True
    return result


def load_preset(session: Session, name: str) -> dict[str, list[str]] | None:
    preset = session.scalar(select(m.ImportPreset).where(m.ImportPreset.kind == "clients",
                                                         m.ImportPreset.name == name))
    return dict(preset.mapping) if preset is not None and isinstance(preset.mapping, dict) else None


def save_preset(session: Session, name: str, mapping: dict[str, list[str]], employee_id: int | None) -> None:
    """Keep ``mapping`` (by header names) as the preset of source ``name``; the caller commits."""
    name = name.strip()[:120]
    if not name:
        return
    preset = session.scalar(select(m.ImportPreset).where(m.ImportPreset.kind == "clients",
                                                         m.ImportPreset.name == name))
    if preset is None:
        preset = m.ImportPreset(name=name, kind="clients", created_by_id=employee_id)
        session.add(preset)
    preset.mapping = mapping
    preset.updated_at = m.utcnow()
