"""The client import's speed-ups (bench/client_import.py) give what the straightforward
code gave: the per-(kind, key) match index against the set-based one it replaced, on a
random file with many overlaps; the plain-number shortcut of PhoneReader against
``normalize``; the new cards' raw INSERTs against SQLAlchemy's; the streamed COPY text
against the text built whole; normalize_name against its regex; the collector back on."""

from __future__ import annotations

import gc
import random
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, text

from pbx_daemon.crm import client_import as ci
from pbx_daemon.crm import models as m
from pbx_daemon.crm.client_import import Card, ClientRow, Known, Person, PhoneReader, Policy, Scope, decide_rows
from pbx_daemon.crm.client_import_sql import _bound, _CopyStream, _insert_plain, import_clients
from pbx_daemon.crm.importer import _copy_value
from pbx_daemon.crm.phones import normalize
from tests.unit.helpers import memory_session


# ---- the match index: the set-based version it replaced, as it was ---------------------
class _SetIndex:
    def __init__(self, known: Known):
        self.cards = {("company", i): c for i, c in known.companies.items()}
        self.cards.update({("contact", i): c for i, c in known.contacts.items()})
        self.extra = defaultdict(set)
        self.name_keys = {}
        self.stored = {(kind, by): getattr(known, f"{kind}_by_{by}") for kind, by in (
            ("company", "phone"), ("contact", "phone"), ("company", "email"), ("contact", "email"),
            ("company", "tax_id"), ("company", "name"), ("contact", "name"))}

    def lookup(self, kind, by, value):
        return {(kind, i) for i in self.stored[(kind, by)].get(value, ())} | self.extra.get((kind, by, value), set())

    def name_key(self, name):
        return m.normalize_name(name) or ""

    def add(self, card):
        self.cards[card.key] = card
        kind = card.key[0]
        for phone, _ext in card.phones:
            self.extra[(kind, "phone", phone)].add(card.key)
        for email in card.emails:
            self.extra[(kind, "email", email)].add(card.key)
        if card.tax_id:
            self.extra[(kind, "tax_id", card.tax_id)].add(card.key)
        if card.name:
            self.extra[(kind, "name", self.name_key(card.name))].add(card.key)


def _set_match(index, kind, row, policy, company_key):
    for key in policy.match:
        found = set()
        if key == "phone":
            for phone, _ext in row.phones:
                found |= index.lookup(kind, "phone", phone)
        elif key == "email":
            for email in row.emails:
                found |= index.lookup(kind, "email", email)
        elif key == "inn" and kind == "company" and row.tax_id:
            found = index.lookup(kind, "tax_id", row.tax_id)
        elif key == "name":
            name = row.company_name if kind == "company" else row.contact_name
            if name:
                found = index.lookup(kind, "name", index.name_key(name))
                if kind == "contact":
                    found = {k for k in found if company_key and index.cards[k].company_key == company_key}
        if found:
            return found, ci._MATCHED_BY[key]
    return set(), ""


def _random_case(seed: int) -> tuple[list[ClientRow], Known]:
    """Few distinct values, so that rows find stored cards, earlier rows' cards, several cards."""
    rnd = random.Random(seed)
    phones = [f"+7916000000{i}" for i in range(8)]
    emails = [f"u{i}@x.ru" for i in range(6)]
    inns = [f"77000000{i:02d}" for i in range(5)]
    companies = ["ООО Ромашка", "ооо  ромашка", "ИП Лютик", "АО Ёлка", "АО Елка", ""]
    people = ["Иванов Иван", "Петрова Анна", "Сидоров", ""]
    known_companies = {i: Card(("company", i), rnd.choice(companies[:-1]), rnd.choice([1, 2, None]), rnd.choice([10, 20]),
                               phones=frozenset(rnd.sample([(p, "") for p in phones], rnd.randint(0, 2))),
                               emails=frozenset(rnd.sample(emails, rnd.randint(0, 1))),
                               tax_id=rnd.choice(inns + [""]), notes=rnd.choice(["", "важный"]))
                       for i in range(1, 6)}
    known_contacts = {i: Card(("contact", i), rnd.choice(people[:-1]), rnd.choice([1, 2]),
                              company_key=rnd.choice([None, ("company", rnd.randint(1, 5))]),
                              phones=frozenset(rnd.sample([(p, "") for p in phones], rnd.randint(0, 2))),
                              emails=frozenset(rnd.sample(emails, rnd.randint(0, 2))))
                      for i in range(1, 6)}

    def by(cards, values):
        index = defaultdict(list)
        for i, card in cards.items():
            for v in values(card):
                index[v].append(i)
        return {k: tuple(v) for k, v in index.items()}

    known = Known(known_companies, known_contacts,
                  by(known_companies, lambda c: [p for p, _ in c.phones]),
                  by(known_contacts, lambda c: [p for p, _ in c.phones]),
                  by(known_companies, lambda c: c.emails), by(known_contacts, lambda c: c.emails),
                  by(known_companies, lambda c: [c.tax_id] if c.tax_id else []),
                  by(known_companies, lambda c: [m.normalize_name(c.name)]),
                  by(known_contacts, lambda c: [m.normalize_name(c.name)]),
                  (Person(1, "ivanov", "Иванов Иван", None, 10), Person(2, "olga", "Ольга", None, 20)),
                  {"продажи": 10})
    rows = [ClientRow(line=n, company_name=rnd.choice(companies), contact_name=rnd.choice(people),
                      tax_id=rnd.choice(inns + ["", ""]),
                      phones=tuple(dict.fromkeys((p, "") for p in rnd.sample(phones, rnd.randint(0, 2)))),
                      emails=tuple(rnd.sample(emails, rnd.randint(0, 2))),
                      responsible=rnd.choice(["", "ivanov", "olga"]), notes=rnd.choice(["", "звонить", "важный"]))
            for n in range(2, 60)]
    return rows, known


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("policy", [Policy(), Policy(on_match="skip"), Policy(on_match="create"),
                                    Policy(match=("name",)), Policy(match=("email", "phone"))])
def test_the_match_index_decides_every_row_as_the_set_based_one_did(seed, policy, monkeypatch):
    rows, known = _random_case(seed)
    scope = Scope(frozenset({1}), 10) if seed % 3 == 0 else Scope()
    fast = decide_rows(rows, known, policy, scope)
    monkeypatch.setattr(ci, "_Index", _SetIndex)
    monkeypatch.setattr(ci, "_match", _set_match)
    plain = decide_rows(rows, known, policy, scope)
    assert fast.rows == plain.rows and fast.cards == plain.cards
    assert len({r.status for r in fast.rows}) >= 2 or policy.on_match == "create"  # not a trivial case


# ---- phones ------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["8 (916) 123-45-67", "+7 (916) 123-45-67 доб. 5", "8 916 123 45 67 #12",
                                 "7-916-123-45-67", "8.916.123.45.67", "+7 916 123 45 67 x 3", "8 (916) 123-45-6",
                                 "8 (916) 123-45-678", "+7 800 555 35 35, доб. 1", "8 916 123 45 67 ext. 99",
                                 "8 (916) 123-45-67 доб.", "доб. 12"])
def test_the_plain_number_shortcut_reads_as_normalize_does(raw):
    reader = PhoneReader()
    for _attempt in range(2):  # the second time through the known prefix
        try:
            expected = normalize(raw)
        except ValueError:
            with pytest.raises(ValueError):
                reader(raw)
        else:
            assert reader(raw) == (expected.e164, expected.ext or "")


# ---- writes --------------------------------------------------------------------------------
def _company(i, when):
    return {"id": i, "name": "ООО «Ромашка»\t\\", "name_key": "ооо «ромашка»", "tax_id": None, "email": "a@x.ru",
            "notes": "строка 1\nстрока 2", "responsible_id": None, "department_id": None,
            "created_at": when, "updated_at": when}


def test_new_cards_written_raw_read_back_as_sqlalchemys_insert_wrote_them():
    aware = datetime(2026, 12, 1, 15, 0, 1, 250000, tzinfo=timezone(timedelta(hours=3)))
    naive = datetime(2026, 12, 1, 12, 0, 1)
    with memory_session() as s:
        columns = tuple(_company(1, aware))
        s.execute(insert(m.Company), [_company(1, aware), _company(2, naive)])
        _insert_plain(s, "companies", columns, [tuple(_company(i, when).values()) for i, when in ((3, aware), (4, naive))],
                      typed=True)
        stored = s.execute(text("SELECT *, typeof(created_at) FROM companies WHERE id IN (1, 2, 3, 4) ORDER BY id")).all()
        assert [r[1:] for r in stored[:2]] == [r[1:] for r in stored[2:]]
        assert stored[2].created_at == "2026-12-01 12:00:01.250000"  # UTC, SQLite's text form
        assert s.get(m.Company, 3).created_at == aware


def test_bound_values_are_processed_per_column_and_value_type():
    table = m.Base.metadata.tables["companies"]
    from sqlalchemy.dialects import sqlite

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = _bound(sqlite.dialect(), table, ("id", "created_at", "updated_at"), [(1, when, None), (True, when, when)])
    assert rows == [(1, "2026-01-01 00:00:00.000000", None), (True, "2026-01-01 00:00:00.000000",
                                                              "2026-01-01 00:00:00.000000")]


@pytest.mark.parametrize("size", [1, 7, 100, 1 << 16, -1])
def test_the_streamed_copy_text_is_the_text_built_whole(size):
    rows = [(1, "a\tb", None, datetime(2026, 1, 1, tzinfo=timezone.utc), True),
            (2, "c\\d\ne\rf", "", 0, {"a": "b\tc"}), (3, "ООО «Ромашка»", None, None, 1.5)] * 50
    whole = "".join("\t".join(_copy_value(v) for v in r) + "\n" for r in rows)
    stream, parts = _CopyStream(rows), []
    while part := stream.read(size):
        assert size < 0 or len(part) >= size or not stream.read(size)
        parts.append(part)
    assert "".join(parts) == whole


def test_normalize_name_splits_on_what_the_regex_called_whitespace():
    old = lambda name: re.sub(r"\s+", " ", name).strip().casefold().replace("ё", "е") or None
    spaces = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
    for name in ["  Иванов   Иван ", f"a{spaces}b", spaces, "", "ЁЛКА ёж", "Straße\u00a0X", "x\x1cy\x1fz"]:
        assert m.normalize_name(name) == old(name), repr(name)


# ---- the collector -------------------------------------------------------------------------
def test_the_collector_is_back_on_after_a_run_and_after_a_failed_one():
    rows = [["ООО Ромашка", "8 916 123-45-67"]]
    with memory_session() as s:
        assert gc.isenabled()
        import_clients(s, rows, {"company_name": [0], "phone": [1]})
        assert gc.isenabled()
        with pytest.raises(ValueError):
            import_clients(s, rows, {"phone": [1]})  # refused before the run
        assert gc.isenabled()
        gc.disable()
        try:
            import_clients(s, rows, {"company_name": [0], "phone": [1]}, dry_run=True)
            assert not gc.isenabled()  # left as the caller had it
        finally:
            gc.enable()
