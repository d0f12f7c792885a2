"""Call-list import speed: 100,000-row CSV (cp1251, ';') and XLSX files into a fresh list.

The files are generated once into /var/tmp (unique numbers, Russian headers, one row in
a thousand without a valid phone, one in a thousand a duplicate); the database is a fresh
SQLite file unless --db names another (PostgreSQL: a scratch database, emptied first).
Prints the wall time of `import_call_list` (read + check + insert) per file.

    .venv/bin/python bench/import.py [--rows 100000] [--db postgresql+psycopg2://...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pbx_daemon import db  # noqa: E402
from pbx_daemon.crm.importer import import_call_list  # noqa: E402

HEADERS = ["Компания", "ФИО", "Телефон", "E-mail", "Город"]


def rows(n: int):
    for i in range(n):
        phone = f"8 (916) {i // 10000:03d}-{(i // 100) % 100:02d}-{i % 100:02d}" if i % 1000 != 7 else "нет"
        if i % 1000 == 9:
            phone = "8 (916) 000-00-00"
        yield [f"ООО Компания {i}", f"Иванов Иван {i}", phone, f"user{i}@example.ru", "Москва"]


def make_files(n: int) -> tuple[Path, Path]:
    base = Path("/var/tmp") / f"pbx-bench-import-{n}"
    base.mkdir(exist_ok=True)
    csv_path, xlsx_path = base / "list.csv", base / "list.xlsx"
    if not csv_path.exists():
        with open(csv_path, "w", encoding="cp1251", newline="") as f:
            f.write(";".join(HEADERS) + "\r\n")
            for r in rows(n):
                f.write(";".join(r) + "\r\n")
    if not xlsx_path.exists():
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(HEADERS)
        for r in rows(n):
            sheet.append(r)
        book.save(xlsx_path)
    return csv_path, xlsx_path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--db", default="")
    args = ap.parse_args()
    csv_path, xlsx_path = make_files(args.rows)
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='pbx-bench-import-')}/pbx.sqlite3"
    if args.db:  # a scratch PostgreSQL database: start from an empty schema
        engine = db.make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
    db.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)
    print(f"database: {url.split('@')[-1]}; {args.rows:,} rows per file")
    for label, path in (("CSV cp1251", csv_path), ("XLSX", xlsx_path)):
        with sessions() as s:
            t0 = time.perf_counter()
            report = import_call_list(s, path, list_name=label)
            took = time.perf_counter() - t0
        print(f"  {label:10s} {took:6.2f} s  ({report.added:,} added; {report.summary()})")
        with sessions() as s:
            t0 = time.perf_counter()
            again = import_call_list(s, path, list_name=label)
            took = time.perf_counter() - t0
        print(f"  {label:10s} {took:6.2f} s  second import: {again.added} added")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
