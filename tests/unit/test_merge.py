"""Issue 18, merging duplicates: the rule (a table of described cases, no database), its
application on SQLite (calls, recordings, tasks, deals, inquiries move; phones deduplicated;
the audit row; the other card gone), the roles, and every foreign key to a card handled."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from pbx_daemon.crm import models as m
from pbx_daemon.crm.merge import (
    OWNED,
    REPOINTED,
    Card,
    EmailRow,
    MergeFacts,
    MergeRefused,
    PhoneRow,
    decide_merge,
    merge_cards,
)
from tests.unit.helpers import memory_session

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def contact(id, phones=(), emails=(), visible=True, **fields):
    return Card("contact", id, tuple(fields.items()), tuple(PhoneRow(*p) for p in phones),
                tuple(EmailRow(*e) for e in emails), visible)


def company(id, phones=(), **fields):
    return Card("company", id, tuple(fields.items()), tuple(PhoneRow(*p) for p in phones))


def lead(id, **fields):
    return Card("lead", id, tuple(fields.items()))


REFUSED = [
    ("a card with itself", contact(1), contact(1), "manager", "same_card"),
    ("a company with a contact", company(1), contact(2), "admin", "different_kinds"),
    ("deals are not merged here", Card("deal", 1), Card("deal", 2), "admin", "not_mergeable"),
    ("the other card is gone", contact(1), None, "admin", "not_found"),
    ("an operator does not merge", contact(1), contact(2), "operator", "not_allowed"),
    ("a cold operator does not merge", contact(1), contact(2), "cold_operator", "not_allowed"),
    ("a manager who may not see the other card", contact(1), contact(2, visible=False), "manager",
     "not_allowed"),
    ("a head who may not see the kept card", contact(1, visible=False), contact(2), "head", "not_allowed"),
    ("two contacts of two companies are two people", contact(1, company_id=5), contact(2, company_id=6),
     "admin", "different_companies"),
    ("two leads of two companies", lead(1, company_id=5), lead(2, company_id=6), "admin",
     "different_companies"),
]


@pytest.mark.parametrize("why, kept, merged, role, reason", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_merges_say_why(why, kept, merged, role, reason):
    with pytest.raises(MergeRefused) as refused:
        decide_merge(MergeFacts(kept, merged, role))
    assert refused.value.reason == reason


PLANS = [
    ("empty fields of the kept card are filled, its responsible stays",
     contact(1, full_name="Пётр Петров", position=None, responsible_id=7, company_id=None),
     contact(2, full_name="  пётр   ПЕТРОВ", position="Директор", responsible_id=8, company_id=3),
     {"fill": (("company_id", 3), ("position", "Директор"))}),
    ("a kept card without a responsible takes the other's",
     company(1, name="Ромашка", responsible_id=None), company(2, name="Ромашка", responsible_id=8),
     {"fill": (("responsible_id", 8),)}),
    ("a different name and the other's notes go into the kept card's notes",
     company(1, name="Ромашка", notes="Старый клиент"), company(2, name="ООО Ромашка-2", notes="Звонить утром"),
     {"fill": (("notes", "Старый клиент\n\nИз объединённой карточки № 2:\nназвание: ООО Ромашка-2\n"
                         "Звонить утром"),)}),
    ("the same number (and extension) is dropped, a new one moves",
     company(1, phones=[(10, "+74951234567", None)], name="A"),
     company(2, phones=[(20, "+74951234567", None), (21, "+74951234567", "12"), (22, "+79161234567", None)],
             name="A"),
     {"phones_moved": (21, 22), "phones_dropped": (20,)}),
    ("a number twice on the merged card is kept once",
     contact(1, full_name="A"), contact(2, full_name="A", phones=[(20, "+79161234567", None),
                                                                 (21, "+79161234567", None)]),
     {"phones_moved": (20,), "phones_dropped": (21,)}),
    ("e-mails: the one the kept card has is dropped",
     contact(1, full_name="A", emails=[(10, "a@x.ru")]),
     contact(2, full_name="A", emails=[(20, "a@x.ru"), (21, "b@x.ru")]),
     {"emails_moved": (21,), "emails_dropped": (20,)}),
    ("a lead's number comes with its extension when the kept lead has none",
     lead(1, title="Лид", phone=None, phone_ext=None), lead(2, title="Лид", phone="+74951234567", phone_ext="5"),
     {"fill": (("phone", "+74951234567"), ("phone_ext", "5"))}),
    ("a lead's other number goes into the notes, its own stays",
     lead(1, title="Лид", phone="+79161234567"), lead(2, title="Лид", phone="+74951234567", phone_ext="5"),
     {"fill": (("notes", "Из объединённой карточки № 2:\nтелефон: +74951234567 доб. 5"),)}),
    ("a contact without a company may merge with one in a company (it joins it)",
     contact(1, full_name="A", company_id=None), contact(2, full_name="A", company_id=4),
     {"fill": (("company_id", 4),)}),
]


@pytest.mark.parametrize("why, kept, merged, expected", PLANS, ids=[p[0] for p in PLANS])
def test_the_plan(why, kept, merged, expected):
    plan = decide_merge(MergeFacts(kept, merged, "manager"))
    for name, value in expected.items():
        got = getattr(plan, name)
        assert (tuple(sorted(got)) if name == "fill" else got) == (
            tuple(sorted(value)) if name == "fill" else value), name


def test_the_plan_lists_the_rows_that_move_and_snapshots_the_merged_card():
    merged = contact(2, full_name="B", notes="x")
    plan = decide_merge(MergeFacts(contact(1, full_name="A"), merged, "admin",
                                   (("calls", "contact_id", 3), ("deals", "contact_id", 0))))
    assert plan.moves == (("calls", "contact_id", 3),)  # nothing to say about no deals
    assert plan.counts()["calls"] == 3 and dict(plan.snapshot)["full_name"] == "B"


def test_every_foreign_key_to_a_card_is_handled_by_the_merge():
    """A new table (or column) naming a company, a contact or a lead must be added to
    REPOINTED or OWNED, or a merge would leave it pointing at a deleted card."""
    tables = {"company": "companies", "contact": "contacts", "lead": "leads"}
    for kind, table in tables.items():
        referencing = {(fk.parent.table.name, fk.parent.name)
                       for t in m.Base.metadata.tables.values() for fk in t.foreign_keys
                       if fk.column.table.name == table}
        assert referencing == set(REPOINTED[kind]) | set(OWNED[kind]), kind


# ---- on SQLite ------------------------------------------------------------------------------
@pytest.fixture
def db():
    with memory_session() as s:
        sales, other = m.Department(name="Sales"), m.Department(name="Other")
        s.add_all([sales, other])
        s.flush()
        people = {login: m.Employee(full_name=login.title(), login=login, role=role, department_id=dept.id)
                  for login, role, dept in (("anna", "manager", sales), ("boris", "manager", other),
                                            ("vera", "head", sales), ("admin", "admin", sales))}
        s.add_all(people.values())
        s.flush()
        s.people = people
        yield s


def _two_contacts(s, second_responsible="anna"):
    anna = s.people["anna"]
    stage = s.scalar(select(m.DealStage).limit(1))
    firm = m.Company(name="Ромашка", responsible_id=anna.id)
    s.add(firm)
    s.flush()
    kept = m.Contact(full_name="Пётр Петров", responsible_id=anna.id, company_id=firm.id,
                     phones=[m.ContactPhone(phone="+79161234567")], emails=[m.ContactEmail(email="p@x.ru")])
    other = m.Contact(full_name="Петров П.", position="Директор",
                      responsible_id=s.people[second_responsible].id,
                      phones=[m.ContactPhone(phone="+79161234567"), m.ContactPhone(phone="+74950000001")],
                      emails=[m.ContactEmail(email="P@x.ru"), m.ContactEmail(email="petrov@y.ru")])
    s.add_all([kept, other])
    s.flush()
    calls = [m.Call(linkedid=f"l{i}", direction="inbound", caller="+79161234567", started_at=T0,
                    outcome="answered", contact_id=c.id) for i, c in enumerate((kept, other, other))]
    s.add_all(calls)
    s.flush()
    s.add_all([m.Recording(call_id=c.id, path=f"{c.linkedid}.wav") for c in calls])
    s.add(m.Task(title="Перезвонить", type="call", responsible_id=anna.id, deadline=T0, comment="c",
                 contact_id=other.id))
    s.add(m.Deal(title="Окна", contact_id=other.id, stage_id=stage.id, responsible_id=anna.id))
    s.add(m.Inquiry(channel="call", phone="+74950000001", contact_id=other.id))
    s.add(m.Lead(title="Лид", contact_id=other.id))
    s.commit()
    return kept.id, other.id


def test_merging_two_contacts_moves_everything_and_writes_the_audit(db):
    kept_id, other_id = _two_contacts(db)
    anna = db.people["anna"]
    plan = merge_cards(db, "contact", kept_id, other_id, by=anna, may_see=lambda row: True, now=T0)
    db.commit()
    assert db.get(m.Contact, other_id) is None
    kept = db.get(m.Contact, kept_id)
    assert sorted(p.phone for p in kept.phones) == ["+74950000001", "+79161234567"]
    assert sorted(e.email for e in kept.emails) == ["p@x.ru", "petrov@y.ru"]
    assert kept.position == "Директор" and kept.responsible_id == anna.id
    assert "ФИО: Петров П." in kept.notes
    calls = db.scalars(select(m.Call).where(m.Call.contact_id == kept_id)).all()
    assert len(calls) == 3 and all(c.recording is not None for c in calls)
    for model in (m.Task, m.Deal, m.Inquiry, m.Lead):
        assert db.scalar(select(func.count()).select_from(model).where(model.contact_id == kept_id)) == 1
        assert db.scalar(select(func.count()).select_from(model).where(model.contact_id == other_id)) == 0
    assert db.scalar(select(func.count()).select_from(m.ContactPhone)) == 2  # the duplicate number is gone
    audit = db.scalars(select(m.AuditLog)).one()
    assert (audit.action, audit.object_kind, audit.kept_id, audit.merged_id, audit.employee_id, audit.at) == \
        ("merge", "contact", kept_id, other_id, anna.id, T0)
    assert audit.details["moved"]["calls"] == 2 and audit.details["moved"]["phones_dropped"] == 1
    assert audit.details["merged_card"]["full_name"] == "Петров П."
    assert audit.details["merged_phones"][1]["phone"] == "+74950000001"
    assert plan.counts()["tasks"] == 1


def test_merging_two_companies_moves_their_contacts_leads_phones(db):
    anna = db.people["anna"]
    a = m.Company(name="Ромашка", responsible_id=anna.id, phones=[m.CompanyPhone(phone="+74951234567")])
    b = m.Company(name="Ромашка ООО", tax_id="7701234567", responsible_id=anna.id,
                  phones=[m.CompanyPhone(phone="+74951234567"), m.CompanyPhone(phone="+74951234568")])
    db.add_all([a, b])
    db.flush()
    db.add_all([m.Contact(full_name="Иван", company_id=b.id), m.Lead(title="Л", company_id=b.id),
                m.Call(linkedid="c1", direction="outbound", callee="+74951234568", started_at=T0,
                       company_id=b.id)])
    db.commit()
    merge_cards(db, "company", a.id, b.id, by=db.people["admin"], may_see=lambda row: True, now=T0)
    db.commit()
    a = db.get(m.Company, a.id)
    assert a.tax_id == "7701234567" and [c.full_name for c in a.contacts] == ["Иван"]
    assert sorted(p.phone for p in a.phones) == ["+74951234567", "+74951234568"]
    assert db.scalar(select(m.Lead.company_id)) == a.id and db.scalar(select(m.Call.company_id)) == a.id
    assert db.scalar(select(func.count()).select_from(m.Company)) == 1


def test_merging_two_leads_moves_call_list_entries_and_inquiries(db):
    vera = db.people["vera"]
    a, b = m.Lead(title="Лид 1", responsible_id=vera.id), m.Lead(title="Лид 2", phone="+79161234567",
                                                                 responsible_id=vera.id)
    clist = m.CallList(name="Обзвон")
    db.add_all([a, b, clist])
    db.flush()
    db.add_all([m.CallListEntry(call_list_id=clist.id, phone="+79161234567", lead_id=b.id),
                m.Inquiry(channel="call", phone="+79161234567", lead_id=b.id)])
    db.commit()
    merge_cards(db, "lead", a.id, b.id, by=vera, may_see=lambda row: True, now=T0)
    db.commit()
    assert db.get(m.Lead, a.id).phone == "+79161234567"
    assert db.scalar(select(m.CallListEntry.lead_id)) == a.id and db.scalar(select(m.Inquiry.lead_id)) == a.id


def test_a_manager_cannot_merge_another_managers_card_and_nothing_changes(db):
    """The admin's scopes decide what a user sees; a refusal leaves both cards and no audit."""
    from admin.access import can_see

    kept_id, other_id = _two_contacts(db, second_responsible="boris")
    anna = db.people["anna"]
    with pytest.raises(MergeRefused) as refused:
        merge_cards(db, "contact", kept_id, other_id, by=anna, may_see=lambda row: can_see(db, anna, row),
                    now=T0)
    assert refused.value.reason == "not_allowed"
    db.rollback()
    assert db.get(m.Contact, other_id) is not None
    assert db.scalar(select(func.count()).select_from(m.Call).where(m.Call.contact_id == other_id)) == 2
    assert db.scalar(select(func.count()).select_from(m.AuditLog)) == 0
    # Their head (Sales) sees Anna's card but not Boris's (Other): refused as well.
    vera = db.people["vera"]
    with pytest.raises(MergeRefused):
        merge_cards(db, "contact", kept_id, other_id, by=vera, may_see=lambda row: can_see(db, vera, row), now=T0)
