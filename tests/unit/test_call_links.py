"""Issue 12, Links: every stored call is linked to the card its number matches and to that
card's open deal; the rule (a table), the fetch+apply step, and the store and
reconciliation calling it."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from twisted.internet.defer import succeed

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.crm.call_links import DealFacts, Links, choose_links, link_call
from pbx_daemon.crm.lookups import Match
from tests.unit.helpers import memory_session

T = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


def deal(id, *, open=True, updated=T, created=T - 24 * H, **owners):
    return DealFacts(id=id, open=open, updated_at=updated, created_at=created, **owners)


CONTACT = Match("contact", 5, "Анна Иванова", 1, company_id=10)
LONE_CONTACT = Match("contact", 6, "Без компании", 1)
COMPANY = Match("company", 10, "ООО Ромашка", 1, company_id=10)
OTHER_COMPANY = Match("company", 20, "АО Другое", 2, company_id=20)
LEAD = Match("lead", 7, "Лид", 1)
INQUIRY = Match("inquiry", 9, "+79161234567", None)

RULE_CASES = [
    # (what, cards in match order, deals, the links)
    ("unknown number: nothing", [], [deal(1, company_id=10)], Links()),
    ("a contact of a company: contact + company + the company's one open deal",
     [CONTACT], [deal(1, company_id=10)], Links(company_id=10, contact_id=5, deal_id=1)),
    ("the contact's own open deal before its company's, however recent",
     [CONTACT], [deal(1, company_id=10, updated=T + H), deal(2, company_id=10, contact_id=5)],
     Links(company_id=10, contact_id=5, deal_id=2)),
    ("a contact without a company: no company link",
     [LONE_CONTACT], [deal(3, contact_id=6)], Links(contact_id=6, deal_id=3)),
    ("several open deals: the most recently updated",
     [COMPANY], [deal(1, company_id=10, updated=T), deal(2, company_id=10, updated=T + H),
                 deal(3, company_id=10, updated=T - H)],
     Links(company_id=10, deal_id=2)),
    ("same updated_at: the later created, then the higher id",
     [COMPANY], [deal(1, company_id=10, created=T - H), deal(2, company_id=10, created=T - 2 * H),
                 deal(4, company_id=10, created=T - 3 * H), deal(3, company_id=10, created=T - H)],
     Links(company_id=10, deal_id=3)),
    ("closed deals are ignored, even the most recent",
     [COMPANY], [deal(1, company_id=10, updated=T), deal(2, company_id=10, open=False, updated=T + H)],
     Links(company_id=10, deal_id=1)),
    ("only closed deals: no deal", [COMPANY], [deal(2, company_id=10, open=False)],
     Links(company_id=10)),
    ("another card's deals do not count", [COMPANY], [deal(8, company_id=20), deal(9, contact_id=5)],
     Links(company_id=10)),
    ("a lead and its open deal", [LEAD], [deal(5, lead_id=7)], Links(lead_id=7, deal_id=5)),
    ("an open inquiry, and the deal it names",
     [INQUIRY], [deal(6, inquiry_ids=frozenset({9}))], Links(inquiry_id=9, deal_id=6)),
    ("a number on two cards: the first in match order decides (a contact, not the other company)",
     [CONTACT, OTHER_COMPANY], [deal(1, company_id=20, updated=T + H)],
     Links(company_id=10, contact_id=5)),
]


@pytest.mark.parametrize("cards, deals, links", [c[1:] for c in RULE_CASES],
                         ids=[c[0] for c in RULE_CASES])
def test_choose_links(cards, deals, links):
    assert choose_links(cards, deals) == links


# ---- fetch and apply -----------------------------------------------------------------------
NUMBER = "+79161234567"
COMPANY_NUMBER = "+74951234567"


@pytest.fixture
def s():
    with memory_session() as session:
        yield session


def _stages(s):
    open_stage = m.DealStage(name="Переговоры (test)", position=90)
    won = m.DealStage(name="Выиграна (test)", position=91, is_won=True)
    lost = m.DealStage(name="Проиграна (test)", position=92, is_lost=True)
    s.add_all([open_stage, won, lost])
    s.flush()
    return open_stage, won, lost


def _world(s):
    """ООО Ромашка (its number), its contact Пётр (NUMBER), deals: one open, one open
    but older, one won later (closed_at set), one whose stage is lost (closed_at unset)."""
    anna = m.Employee(full_name="Anna", login="anna")
    s.add(anna)
    s.flush()
    company = m.Company(name="ООО Ромашка", responsible_id=anna.id,
                        phones=[m.CompanyPhone(phone=COMPANY_NUMBER)])
    s.add(company)
    s.flush()
    contact = m.Contact(full_name="Пётр", company_id=company.id, responsible_id=anna.id,
                        phones=[m.ContactPhone(phone=NUMBER)])
    s.add(contact)
    open_stage, won, lost = _stages(s)
    deals = {
        "older": m.Deal(title="older", company_id=company.id, stage_id=open_stage.id,
                        created_at=T - 48 * H, updated_at=T - 2 * H),
        "active": m.Deal(title="active", company_id=company.id, stage_id=open_stage.id,
                         created_at=T - 48 * H, updated_at=T - H),
        "won": m.Deal(title="won", company_id=company.id, stage_id=won.id,
                      created_at=T - 48 * H, updated_at=T, closed_at=T),
        "lost stage": m.Deal(title="lost stage", company_id=company.id, stage_id=lost.id,
                             created_at=T - 48 * H, updated_at=T),
    }
    s.add_all(deals.values())
    s.flush()
    return company, contact, deals


def _inbound(caller, **kw):
    return m.Call(linkedid=f"c-{caller}-{len(kw)}", direction="inbound", caller=caller,
                  started_at=T, **kw)


def test_an_inbound_call_from_a_contact_links_contact_company_and_the_active_open_deal(s):
    company, contact, deals = _world(s)
    call = _inbound(NUMBER)
    link_call(s, call)
    assert (call.company_id, call.contact_id, call.lead_id, call.inquiry_id, call.deal_id) == \
        (company.id, contact.id, None, None, deals["active"].id)


def test_the_company_number_links_the_company_and_its_deal(s):
    company, _contact, deals = _world(s)
    call = _inbound(COMPANY_NUMBER)
    link_call(s, call)
    assert (call.company_id, call.contact_id, call.deal_id) == (company.id, None, deals["active"].id)


def test_a_deal_that_changes_becomes_the_most_recently_active(s):
    company, _contact, deals = _world(s)
    deals["older"].amount = 1000  # any change bumps updated_at (to now, after T)
    s.flush()
    call = _inbound(NUMBER)
    link_call(s, call)
    assert call.deal_id == deals["older"].id


def test_only_closed_deals_link_no_deal(s):
    _company, _contact, deals = _world(s)
    for name in ("older", "active"):
        s.delete(deals[name])
    s.flush()
    call = _inbound(NUMBER)
    link_call(s, call)
    assert call.contact_id is not None and call.deal_id is None


def test_a_lead_and_an_open_inquiry_are_linked(s):
    lead = m.Lead(title="Лид", phone="+79031230002", status="new")
    inquiry = m.Inquiry(channel="call", phone="+79031230003", status="open")
    closed = m.Inquiry(channel="call", phone="+79031230004", status="closed")
    s.add_all([lead, inquiry, closed])
    s.flush()
    calls = [_inbound(lead.phone), _inbound(inquiry.phone), _inbound(closed.phone)]
    for call in calls:
        link_call(s, call)
    assert (calls[0].lead_id, calls[0].inquiry_id) == (lead.id, None)
    assert (calls[1].lead_id, calls[1].inquiry_id) == (None, inquiry.id)
    assert all(getattr(calls[2], c) is None
               for c in ("company_id", "contact_id", "lead_id", "inquiry_id", "deal_id"))


def test_unknown_and_withheld_numbers_link_nothing(s):
    _world(s)
    for call in (_inbound("+79990001122"), _inbound(None)):
        assert link_call(s, call) == Links()
        assert (call.company_id, call.contact_id, call.deal_id) == (None, None, None)


def test_a_number_on_a_contact_and_on_another_company_follows_the_match_order(s):
    company, contact, deals = _world(s)
    other = m.Company(name="АО Другое", phones=[m.CompanyPhone(phone=NUMBER)])
    s.add(other)
    s.flush()
    call = _inbound(NUMBER)
    link_call(s, call)
    assert (call.contact_id, call.company_id, call.deal_id) == \
        (contact.id, company.id, deals["active"].id)


def test_a_click_to_call_keeps_its_card_and_gets_that_cards_deal(s):
    company, contact, deals = _world(s)
    other = m.Company(name="АО Другое", phones=[m.CompanyPhone(phone="+74950000001")])
    s.add(other)
    s.flush()
    # Started from Ромашка's card, to a number that is another company's.
    call = m.Call(linkedid="out-1", direction="outbound", callee="+74950000001", started_at=T,
                  company_id=company.id)
    link_call(s, call)
    assert (call.company_id, call.contact_id, call.deal_id) == (company.id, None, deals["active"].id)
    # A deal it named is kept.
    named = m.Call(linkedid="out-2", direction="outbound", callee=NUMBER, started_at=T,
                   company_id=company.id, contact_id=contact.id, deal_id=deals["older"].id)
    link_call(s, named)
    assert named.deal_id == deals["older"].id


def test_a_cold_call_is_linked_to_a_card_but_never_to_an_inquiry(s):
    inquiry = m.Inquiry(channel="call", phone="+79031230005", status="open")
    s.add(inquiry)
    call_list = m.CallList(name="Окна (test)")
    s.add(call_list)
    s.flush()
    entry = m.CallListEntry(call_list_id=call_list.id, phone=inquiry.phone)
    s.add(entry)
    s.flush()
    call = m.Call(linkedid="cold-1", direction="outbound", callee=inquiry.phone, started_at=T,
                  call_list_entry_id=entry.id)
    link_call(s, call)
    assert call.inquiry_id is None


# ---- the call sites ------------------------------------------------------------------------
@pytest.fixture
def factory():
    engine = db.make_engine("sqlite://")
    m.Base.metadata.create_all(engine)
    factory = db.make_session_factory(engine)
    with factory() as session:
        db.seed_reference_data(session)
        session.commit()
    yield factory
    engine.dispose()


def _recorder(factory, tmp_path):
    from pbx_daemon.telephony.outputs.store import SqlCallRecorder

    return SqlCallRecorder(factory, run=lambda fn: succeed(fn()), spool_dir=str(tmp_path),
                           store_dir=str(tmp_path))


def test_the_store_links_an_inbound_call_when_it_starts(factory, tmp_path):
    from pbx_daemon.telephony.calls.interfaces import CallDetails
    from pbx_daemon.telephony.routing.policy import RoutePlan

    with factory() as s:
        company, contact, deals = _world(s)
        ids = company.id, contact.id, deals["active"].id
        s.commit()
    store = _recorder(factory, tmp_path)
    store.caller_identified("1732.1", CallDetails(NUMBER, NUMBER, None, card=("contact", ids[1])))
    store.call_started("1732.1", "1732.1", RoutePlan(steps=()), T.timestamp())
    with factory() as s:
        call = s.scalar(select(m.Call).where(m.Call.linkedid == "1732.1"))
        assert (call.company_id, call.contact_id, call.deal_id) == ids


def test_the_store_fills_a_click_to_calls_missing_deal(factory, tmp_path):
    from pbx_daemon.telephony.calls.outbound import ClickToCallRequest

    with factory() as s:
        company, contact, deals = _world(s)
        s.add(m.Employee(full_name="Boris", login="boris", sip_endpoint="102"))
        s.flush()
        boris = s.scalar(select(m.Employee.id).where(m.Employee.login == "boris"))
        ids = company.id, contact.id, deals["active"].id
        s.commit()
    request = ClickToCallRequest(employee_id=boris, endpoint="102", number=NUMBER,
                                 company_id=ids[0], contact_id=ids[1])
    _recorder(factory, tmp_path).outbound_started("c2c-1", request, T.timestamp())
    with factory() as s:
        call = s.scalar(select(m.Call).where(m.Call.linkedid == "c2c-1"))
        assert (call.company_id, call.contact_id, call.deal_id) == ids


def _cel(linkedid, caller, at):
    def ev(kind, chan, uniqueid, t, **extra):
        return json.dumps({"eventtype": kind, "eventtime": str(at + t), "channame": chan,
                           "uniqueid": uniqueid, "linkedid": linkedid, **extra})
    return [ev("CHAN_START", "PJSIP/pbxcrm-trunk-00000001", linkedid, 0, num=caller, exten="+74951110001"),
            ev("CHAN_START", "PJSIP/101-00000002", "leg-1", 0.1),
            ev("ANSWER", "PJSIP/101-00000002", "leg-1", 2),
            ev("HANGUP", "PJSIP/101-00000002", "leg-1", 6, eventextra='{"hangupcause": 16}'),
            ev("LINKEDID_END", "PJSIP/pbxcrm-trunk-00000001", linkedid, 6)]


def test_reconciliation_links_the_calls_it_stores(factory, tmp_path):
    from pbx_daemon.telephony.reconcile import reconcile

    with factory() as s:
        company, contact, deals = _world(s)
        s.add(m.Employee(full_name="Anna 101", login="a101", sip_endpoint="101"))
        ids = company.id, contact.id, deals["active"].id
        s.commit()
        summary = reconcile(s, _cel("pbx-1.5", NUMBER, T.timestamp()), recordings_dir=tmp_path)
        assert (summary.stored, summary.answered) == (1, 1)
    with factory() as s:
        call = s.scalar(select(m.Call).where(m.Call.linkedid == "pbx-1.5"))
        assert call.handled_by == "reconciled" and call.answered_by.login == "a101"
        assert (call.company_id, call.contact_id, call.deal_id) == ids


def test_reconciliation_fills_the_deal_of_a_call_handed_to_the_fallback_group(factory, tmp_path):
    from pbx_daemon.telephony.reconcile import reconcile

    with factory() as s:
        company, contact, deals = _world(s)
        ids = company.id, contact.id, deals["active"].id
        # The daemon stored it (linked, before the deal was opened), then handed it over.
        s.add(m.Call(linkedid="pbx-1.6", direction="inbound", caller=NUMBER, started_at=T,
                     outcome="in_progress", handled_by="fallback_group",
                     company_id=company.id, contact_id=contact.id))
        s.commit()
        reconcile(s, _cel("pbx-1.6", NUMBER, T.timestamp()), recordings_dir=tmp_path)
    with factory() as s:
        call = s.scalar(select(m.Call).where(m.Call.linkedid == "pbx-1.6"))
        assert call.outcome == "answered"
        assert (call.company_id, call.contact_id, call.deal_id) == ids


# ---- backfill ------------------------------------------------------------------------------
def test_backfill_links_only_calls_that_name_no_card(s):
    from pbx_daemon.crm.call_links import link_unlinked_calls

    company, contact, deals = _world(s)
    old = _inbound(NUMBER)
    unknown = _inbound("+79990001122")
    given = m.Call(linkedid="given", direction="outbound", callee=NUMBER, started_at=T,
                   deal_id=deals["older"].id)
    internal = m.Call(linkedid="internal", direction="internal", caller=NUMBER, started_at=T)
    s.add_all([old, unknown, given, internal])
    s.commit()
    assert link_unlinked_calls(s, batch=2) == (2, 1)
    assert (old.company_id, old.contact_id, old.deal_id) == (company.id, contact.id, deals["active"].id)
    assert given.company_id is None and given.deal_id == deals["older"].id
    assert internal.company_id is None
    assert link_unlinked_calls(s) == (1, 0)  # the unknown number, again


def test_the_link_calls_command(tmp_path, monkeypatch, capsys):
    from pbx_daemon.cli import main

    for key in [k for k in os.environ if k.startswith("PBX_CRM_")]:
        monkeypatch.delenv(key)
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    monkeypatch.setenv("PBX_CRM_DATABASE_URL", url)
    db.upgrade(url)
    with db.session_for(url) as s:
        _world(s)
        s.add(_inbound(NUMBER))
        s.commit()
    assert main(["link-calls"]) == 0
    assert capsys.readouterr().out == "link-calls: 1 calls without a card, 1 linked\n"
