"""Issue 12, Links in the admin: the company card lists its calls and its contacts' calls,
the deal card its deal's calls, each with who talked, the recording player and the note,
for everyone allowed to see the card (the responsible manager, their head, the owner);
another manager gets 403 for the cards and the recordings."""

from __future__ import annotations

import re
import wave
from datetime import datetime, timezone

import pytest

from admin.app import create_app
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m
from tests.unit.helpers import admin_login, fast_hash

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path}/admin.sqlite3"
    store = tmp_path / "recordings"
    store.mkdir()
    config = load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40,
                                "PBX_CRM_RECORDINGS_DIR": str(store)})
    app = create_app(config)
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        m.Base.metadata.create_all(db.engine)
        s = db.session
        sales, other = m.Department(name="Sales"), m.Department(name="Other")
        s.add_all([sales, other])
        s.flush()

        def person(login, role, department):
            return m.Employee(full_name=login.title(), login=login, role=role,
                              department_id=department.id if department else None,
                              password_hash=fast_hash(f"{login}-Password-1"))
        people = {"anna": person("anna", "manager", sales), "vera": person("vera", "head", sales),
                  "owner": person("owner", "owner", None), "boris": person("boris", "manager", other)}
        s.add_all(people.values())
        s.flush()
        anna = people["anna"]
        stage = m.DealStage(name="Переговоры (test)")
        s.add(stage)
        s.flush()
        company = m.Company(name="ООО Ромашка", responsible_id=anna.id)
        s.add(company)
        s.flush()
        # Nobody is responsible for the contact itself: its company's manager still hears it.
        contact = m.Contact(full_name="Пётр Петров", company_id=company.id)
        s.add(contact)
        s.flush()
        deal = m.Deal(title="Окна на дачу", company_id=company.id, stage_id=stage.id,
                      responsible_id=anna.id)
        s.add(deal)
        s.flush()
        calls = {
            # Linked the way the store links it now: contact, company, deal.
            "linked": m.Call(linkedid="1732.1", direction="inbound", caller="+79161234567",
                             started_at=T0, outcome="answered", answered_by_id=anna.id,
                             company_id=company.id, contact_id=contact.id, deal_id=deal.id,
                             note="Хотят замер в субботу", talk_seconds=42),
            # Linked to the contact only (as click-to-calls from a contact card were).
            "contact only": m.Call(linkedid="1732.2", direction="outbound", callee="+79161234567",
                                   started_at=T0, outcome="answered", employee_id=anna.id,
                                   contact_id=contact.id, note="Перезвонить"),
            # Another client's call never shows.
            "elsewhere": m.Call(linkedid="1732.3", direction="inbound", caller="+79990001122",
                                started_at=T0, outcome="missed"),
        }
        s.add_all(calls.values())
        s.flush()
        for call in calls.values():
            path = store / f"{call.linkedid}.wav"
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
                w.writeframes(b"\x01\x00" * 800)
            s.add(m.Recording(call_id=call.id, path=path.name, size_bytes=path.stat().st_size))
        s.commit()
        app.ids = {"company": company.id, "contact": contact.id, "deal": deal.id,
                   **{k: c.id for k, c in calls.items()}}
    return app


def _rows(page: str) -> dict[int, str]:
    """The calls table's rows, by call id."""
    table = page[page.index('id="calls"'):]
    table = table[:table.index("</table>")]
    return {int(i): row for i, row in re.findall(r'<tr data-call="(\d+)">(.*?)</tr>', table, re.S)}


@pytest.mark.parametrize("who", ["anna", "vera", "owner"])
def test_the_company_card_lists_its_and_its_contacts_calls_with_who_talked_player_and_note(app, who):
    client = admin_login(app, who)
    page = client.get(f"/admin/card/company/{app.ids['company']}").get_data(as_text=True)
    rows = _rows(page)
    assert set(rows) == {app.ids["linked"], app.ids["contact only"]}
    linked, contact_only = rows[app.ids["linked"]], rows[app.ids["contact only"]]
    assert '<td class="talked">Anna</td>' in linked and '<td class="talked">Anna</td>' in contact_only
    assert "Хотят замер в субботу" in linked and "Перезвонить" in contact_only
    assert "Пётр Петров" in linked  # which contact called
    for call in ("linked", "contact only"):
        assert f'<audio controls preload="none" src="/calls/{app.ids[call]}/recording">' in rows[app.ids[call]]
        r = client.get(f"/calls/{app.ids[call]}/recording")
        assert r.status_code == 200 and r.data[:4] == b"RIFF"


@pytest.mark.parametrize("who", ["anna", "vera", "owner"])
def test_the_deal_card_lists_the_deals_calls_with_the_player(app, who):
    page = admin_login(app, who).get(f"/admin/card/deal/{app.ids['deal']}").get_data(as_text=True)
    rows = _rows(page)
    assert set(rows) == {app.ids["linked"]}
    assert f'src="/calls/{app.ids["linked"]}/recording"' in rows[app.ids["linked"]]
    assert '<td class="talked">Anna</td>' in rows[app.ids["linked"]]


def test_another_manager_gets_403_for_the_cards_and_their_recordings(app):
    client = admin_login(app, "boris")
    for kind in ("company", "deal", "contact"):
        assert client.get(f"/admin/card/{kind}/{app.ids[kind]}").status_code == 403
    for call in ("linked", "contact only"):
        assert client.get(f"/calls/{app.ids[call]}/recording").status_code == 403


def test_a_card_without_calls_says_so(app):
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        lone = m.Company(name="АО Тихое")
        s.add(lone)
        s.commit()
        lone_id = lone.id
    page = admin_login(app, "owner").get(f"/admin/card/company/{lone_id}").get_data(as_text=True)
    assert _rows(page) == {} and "Звонков пока нет." in page  # Russian by default
