"""Issue 18, "Merging two contacts moves their calls and recordings; the card shows them
together": the duplicate warning's "Merge…" link, the side-by-side confirmation, the POST
(CSRF), the kept card with both calls and their players; the roles (a manager never merges
another manager's card, a head within the department); the owner's audit log page."""

from __future__ import annotations

import re
import wave
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from admin.app import create_app
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m
from tests.unit.helpers import admin_login, fast_hash

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path}/admin.sqlite3"
    store = tmp_path / "recordings"
    store.mkdir()
    app = create_app(load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40,
                                        "PBX_CRM_RECORDINGS_DIR": str(store)}))
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        m.Base.metadata.create_all(db.engine)
        s = db.session
        sales, other = m.Department(name="Sales"), m.Department(name="Other")
        s.add_all([sales, other])
        s.flush()
        people = {login: m.Employee(full_name=login.title(), login=login, role=role, department_id=dept.id if dept else None,
                                    password_hash=fast_hash(f"{login}-Password-1"))
                  for login, role, dept in (("anna", "manager", sales), ("vera", "head", sales),
                                            ("owner", "owner", None), ("boris", "manager", other),
                                            ("olga", "operator", sales))}
        s.add_all(people.values())
        s.flush()
        # The same person twice: the second card came with a new number and an e-mail.
        kept = m.Contact(full_name="Пётр Петров", responsible_id=people["anna"].id,
                         phones=[m.ContactPhone(phone="+79161234567")])
        twin = m.Contact(full_name="Пётр Петров", responsible_id=people["anna"].id, position="Директор",
                         phones=[m.ContactPhone(phone="+79161234567"), m.ContactPhone(phone="+74951112233")],
                         emails=[m.ContactEmail(email="petrov@example.ru")])
        borises = m.Contact(full_name="Пётр Петров", responsible_id=people["boris"].id,
                            phones=[m.ContactPhone(phone="+79161234567")])
        s.add_all([kept, twin, borises])
        s.flush()
        calls = {}
        for name, card, caller in (("first", kept, "+79161234567"), ("second", twin, "+74951112233"),
                                   ("boris", borises, "+79161234567")):
            call = m.Call(linkedid=f"merge.{name}", direction="inbound", caller=caller, started_at=T0,
                          outcome="answered", contact_id=card.id, answered_by_id=card.responsible_id,
                          talk_seconds=30, note=f"звонок {name}")
            s.add(call)
            s.flush()
            path = store / f"{call.linkedid}.wav"
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
                w.writeframes(b"\x01\x00" * 800)
            s.add(m.Recording(call_id=call.id, path=path.name, size_bytes=path.stat().st_size))
            calls[name] = call
        s.add(m.Task(title="Перезвонить", type="call", responsible_id=people["anna"].id, deadline=T0,
                     comment="c", contact_id=twin.id))
        s.commit()
        app.ids = {"kept": kept.id, "twin": twin.id, "borises": borises.id,
                   **{k: c.id for k, c in calls.items()}}
    return app


def _token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _calls(page: str) -> dict[int, str]:
    table = page[page.index('id="calls"'):]
    table = table[:table.index("</table>")]
    return {int(i): row for i, row in re.findall(r'<tr data-call="(\d+)">(.*?)</tr>', table, re.S)}


def _count(app, model, *where):
    with app.app_context():
        return app.extensions["sqlalchemy"].session.scalar(select(func.count()).select_from(model).where(*where))


def test_merging_two_contacts_moves_their_calls_and_recordings_and_the_card_shows_them_together(app):
    ids = app.ids
    client = admin_login(app, "anna")
    card = client.get(f"/admin/card/contact/{ids['kept']}").get_data(as_text=True)
    merge_href = f"/admin/card/contact/{ids['kept']}/merge?other={ids['twin']}"
    assert f'class="merge-link" href="{merge_href}"' in card  # next to the duplicate
    assert set(_calls(card)) == {ids["first"]}

    confirm = client.get(merge_href).get_data(as_text=True)
    assert f'data-card="{ids["kept"]}"' in confirm and f'data-card="{ids["twin"]}"' in confirm
    plan = confirm[confirm.index('id="merge-plan"'):]
    moved = dict(re.findall(r'data-moved="(\w+)">[^<]*: (\d+)<', plan))
    assert moved == {"calls": "1", "tasks": "1", "phones": "1", "phones_dropped": "1", "emails": "1"}
    assert "Директор" in plan  # the empty position is filled

    r = client.post(f"/admin/card/contact/{ids['kept']}/merge",
                    data={"csrf_token": _token(confirm), "other": ids["twin"], "keep": ids["kept"]})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/admin/card/contact/{ids['kept']}")
    card = client.get(r.headers["Location"]).get_data(as_text=True)
    assert re.search(r'alert-success[^>]*>.*?[#№] ?%d' % ids["twin"], card, re.S)  # the flash
    rows = _calls(card)
    assert set(rows) == {ids["first"], ids["second"]}  # both calls on one card
    for call in ("first", "second"):
        assert f'<audio controls preload="none" src="/calls/{ids[call]}/recording">' in rows[ids[call]]
        played = client.get(f"/calls/{ids[call]}/recording")
        assert played.status_code == 200 and played.data[:4] == b"RIFF"
    assert "Перезвонить" in card[card.index('id="tasks"'):]
    assert client.get(f"/admin/card/contact/{ids['twin']}").status_code == 404
    assert _count(app, m.ContactPhone) == 3  # kept: 2 numbers (the shared one once); Boris's: 1

    owner = admin_login(app, "owner")
    log = owner.get("/admin/audit_log/").get_data(as_text=True)
    assert "Anna" in log and str(ids["twin"]) in log and "petrov@example.ru" in log
    assert admin_login(app, "anna").get("/admin/audit_log/").status_code == 403


def test_the_user_chooses_which_card_is_kept(app):
    ids = app.ids
    client = admin_login(app, "anna")
    confirm = client.get(f"/admin/card/contact/{ids['kept']}/merge?other={ids['twin']}&keep={ids['twin']}")
    page = confirm.get_data(as_text=True)
    assert f'name="keep" value="{ids["twin"]}"' in page
    client.post(f"/admin/card/contact/{ids['kept']}/merge",
                data={"csrf_token": _token(page), "other": ids["twin"], "keep": ids["twin"]})
    assert _count(app, m.Contact, m.Contact.id == ids["kept"]) == 0
    assert _count(app, m.Call, m.Call.contact_id == ids["twin"]) == 2


@pytest.mark.parametrize("who, card, other", [
    ("boris", "kept", "twin"),  # another manager's two cards
    ("anna", "kept", "borises"),  # her card with another manager's
    ("vera", "kept", "borises"),  # a head: not across departments
    ("olga", "kept", "twin"),  # an operator does not merge
])
def test_merging_a_card_one_may_not_see_is_forbidden_and_changes_nothing(app, who, card, other):
    ids = app.ids
    client = admin_login(app, who)
    url = f"/admin/card/contact/{ids[card]}/merge"
    assert client.get(f"{url}?other={ids[other]}").status_code == 403
    token = _token(client.get("/admin/my-tasks/").get_data(as_text=True)) if who != "olga" else ""
    r = client.post(url, data={"csrf_token": token, "other": ids[other], "keep": ids[card]})
    assert r.status_code in (400, 403)
    assert _count(app, m.Contact) == 3 and _count(app, m.AuditLog) == 0
    assert _count(app, m.Call, m.Call.contact_id == ids[other]) == 1


def test_a_head_merges_within_the_department(app):
    ids = app.ids
    client = admin_login(app, "vera")
    page = client.get(f"/admin/card/contact/{ids['twin']}/merge?other={ids['kept']}").get_data(as_text=True)
    r = client.post(f"/admin/card/contact/{ids['twin']}/merge",
                    data={"csrf_token": _token(page), "other": ids["kept"], "keep": ids["twin"]})
    assert r.status_code == 302 and _count(app, m.Contact) == 2


def test_the_merge_needs_the_csrf_token(app):
    ids = app.ids
    client = admin_login(app, "anna")
    r = client.post(f"/admin/card/contact/{ids['kept']}/merge", data={"other": ids["twin"], "keep": ids["kept"]})
    assert r.status_code == 400 and _count(app, m.Contact) == 3


def test_a_card_with_itself_is_refused_with_a_message(app):
    ids = app.ids
    client = admin_login(app, "anna")
    page = client.get(f"/admin/card/contact/{ids['kept']}/merge?other={ids['kept']}").get_data(as_text=True)
    assert 'id="merge-error"' in page and "саму с собой" in page
    assert 'id="merge-form"' not in page


def test_the_duplicate_warning_after_creating_a_contact_offers_the_merge(app):
    ids = app.ids
    client = admin_login(app, "anna")
    page = client.get("/admin/contact/new/").get_data(as_text=True)
    r = client.post("/admin/contact/new/", data={
        "full_name": "Пётр Петров (новый)", "phones-0-phone": "+74951112233", "phones-0-kind": "mobile",
        "csrf_token": re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)})
    assert r.status_code == 302
    with app.app_context():
        new_id = app.extensions["sqlalchemy"].session.scalar(
            select(m.Contact.id).where(m.Contact.full_name == "Пётр Петров (новый)"))
    listed = client.get(r.headers["Location"]).get_data(as_text=True)
    assert f'class="merge-link" href="/admin/card/contact/{new_id}/merge?other={ids["twin"]}"' in listed
