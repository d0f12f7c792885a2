"""Merging duplicates on a real PostgreSQL (issue 18): the schema from the migrations
(0013's audit_log included), real foreign keys, and the row locks: two companies merge,
their contacts, calls (with recordings), tasks and deals move, the duplicate number goes,
the audit row is written, the other company is gone."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.crm.merge import MergeRefused, merge_cards
from tests.postgres import throwaway_database

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def postgres_url():
    yield from throwaway_database()


def test_two_companies_merge_on_postgresql(postgres_url):
    db.upgrade(postgres_url)
    engine = db.make_engine(postgres_url)
    try:
        with db.make_session_factory(engine)() as s:
            db.seed_reference_data(s)
            anna = m.Employee(full_name="Anna", login="anna", role="manager")
            s.add(anna)
            s.flush()
            a = m.Company(name="Ромашка", responsible_id=anna.id, phones=[m.CompanyPhone(phone="+74951234567")])
            b = m.Company(name="Ромашка", tax_id="7701234567", responsible_id=anna.id,
                          phones=[m.CompanyPhone(phone="+74951234567"), m.CompanyPhone(phone="+74951234568")])
            s.add_all([a, b])
            s.flush()
            call = m.Call(linkedid="pg.1", direction="inbound", caller="+74951234568", started_at=T0, company_id=b.id)
            s.add_all([call, m.Contact(full_name="Иван", company_id=b.id),
                       m.Task(title="t", type="call", responsible_id=anna.id, deadline=T0, comment="c",
                              company_id=b.id),
                       m.Deal(title="d", company_id=b.id, stage_id=s.scalar(select(m.DealStage.id).limit(1)))])
            s.flush()
            s.add(m.Recording(call_id=call.id, path="pg.1.wav"))
            s.commit()
            with pytest.raises(MergeRefused):
                merge_cards(s, "company", a.id, a.id, by=anna, may_see=lambda row: True, now=T0)
            s.rollback()
            merge_cards(s, "company", a.id, b.id, by=anna, may_see=lambda row: True, now=T0)
            s.commit()
            a_id, b_id = a.id, b.id
        with db.make_session_factory(engine)() as s:
            assert s.get(m.Company, b_id) is None
            kept = s.get(m.Company, a_id)
            assert kept.tax_id == "7701234567" and sorted(p.phone for p in kept.phones) == [
                "+74951234567", "+74951234568"]
            for model in (m.Call, m.Contact, m.Task, m.Deal):
                assert s.scalar(select(func.count()).select_from(model).where(model.company_id == a_id)) == 1
            assert s.scalar(select(m.Recording.call_id)) == s.scalar(select(m.Call.id))
            audit = s.scalars(select(m.AuditLog)).one()
            assert audit.details["moved"]["calls"] == 1 and audit.details["merged_card"]["tax_id"] == "7701234567"
    finally:
        engine.dispose()
