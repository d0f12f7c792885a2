"""The cold-call operator's day in the admin (issue 15, item 8): "Лид" makes the lead, the
workspace shows the list and its progress, an empty knowledge-base search says so, the
script can step back, and an import ends on the list's staffing."""

from __future__ import annotations

import html
import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from pbx_daemon.crm import models as m
from pbx_daemon.crm.cold_calling import finish_entry, list_progress, next_entry
from tests.unit.helpers import admin_login, memory_session, staffed_admin

SCRIPT = {"start": "q1", "nodes": {"q1": {"text": "Окна нужны?", "answers": [{"label": "Да", "next": "q2"}]},
                                   "q2": {"text": "Сколько окон?", "answers": []}}}
PEOPLE = (("admin", "admin", None), ("vera", "head", "Sales"), ("olga", "cold_operator", None),
          ("semyon", "cold_operator", "Support"), ("kira", "cold_operator", "Sales"))


@pytest.fixture
def app(tmp_path):
    with staffed_admin(f"sqlite:///{tmp_path}/admin.sqlite3", PEOPLE,
                       {"PBX_CRM_GENERAL_DATA_DIR": str(tmp_path)}) as (app, s, _departments, people):
        call_list = m.CallList(name="Рестораны Москвы", operators=[people["olga"]], created_by_id=people["vera"].id,
                               script=m.CallScript(name="Окна", body=SCRIPT))
        s.add(call_list)
        s.flush()
        for i in range(3):
            s.add(m.CallListEntry(call_list_id=call_list.id, position=i + 1, phone=f"+7916555000{i}",
                                  company_name=f"Кафе {i}", contact_name=f"Иван {i}"))
        s.add(m.KbArticle(title="Цены", body="Прайс на окна", tags="прайс"))
        s.commit()
    return app


def token(page: str) -> str:
    return re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)


def claim(client):
    page = client.get("/admin/workspace/").get_data(as_text=True)
    client.post("/admin/workspace/next", data={"csrf_token": token(page)})
    return client.get("/admin/workspace/").get_data(as_text=True)


def finish(client, page, **form):
    entry_id = re.search(r'data-entry="(\d+)"', page).group(1)
    return client.post(f"/admin/workspace/{entry_id}/finish", data={"csrf_token": token(page), **form})


def rows(app, model):
    with app.app_context():
        return app.extensions["sqlalchemy"].session.scalars(select(model)).all()


def test_the_lead_disposition_creates_exactly_one_lead_with_the_entrys_data(app):
    olga = admin_login(app, "olga")
    page = claim(olga)
    finish(olga, page, disposition="lead", comment="Нужны 12 окон, перезвонить в пятницу",
           answers='{"q1": "Да"}')
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        (lead,) = s.scalars(select(m.Lead)).all()
        entry = s.scalar(select(m.CallListEntry).where(m.CallListEntry.lead_id.isnot(None)))
        vera = s.scalar(select(m.Employee).where(m.Employee.login == "vera"))
        assert (lead.phone, lead.company_name, lead.full_name, lead.status) == \
            ("+79165550000", "Кафе 0", "Иван 0", "new")
        assert "Нужны 12 окон" in lead.notes and "q1: Да" in lead.notes
        assert lead.source.name == "Cold calling"
        # The rule: the list's creator (the head who imported it) is responsible, in their department.
        assert (lead.responsible_id, lead.department_id) == (vera.id, vera.department_id)
        assert entry.lead_id == lead.id and entry.disposition == "lead" and entry.status == "done"
        assert s.scalar(select(func.count()).select_from(m.Inquiry)) == 0
    landed = html.unescape(olga.get("/admin/workspace/").get_data(as_text=True))
    assert f"создан лид №{lead.id} (ответственный: Vera)" in landed


def test_without_an_active_list_creator_the_operator_is_responsible(app):
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        s.scalar(select(m.Employee).where(m.Employee.login == "vera")).active = False
        s.commit()
    olga = admin_login(app, "olga")
    finish(olga, claim(olga), disposition="lead")
    (lead,) = rows(app, m.Lead)
    with app.app_context():
        olga_id = app.extensions["sqlalchemy"].session.scalar(select(m.Employee.id).where(m.Employee.login == "olga"))
    assert lead.responsible_id == olga_id


def test_other_dispositions_make_no_lead(app):
    olga = admin_login(app, "olga")
    finish(olga, claim(olga), disposition="no_answer")
    assert rows(app, m.Lead) == []


def test_saving_lead_again_on_a_call_back_keeps_one_lead():
    with memory_session() as s:
        olga = m.Employee(full_name="Olga", login="olga", role="cold_operator")
        s.add(olga)
        s.flush()
        call_list = m.CallList(name="L", operators=[olga])
        s.add(call_list)
        s.flush()
        s.add(m.CallListEntry(call_list_id=call_list.id, phone="+79165550000"))
        s.flush()
        now = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
        entry = next_entry(s, olga, now)
        first = finish_entry(s, entry, operator=olga, disposition="lead", callback_at=now + timedelta(hours=1), now=now)
        entry = next_entry(s, olga, now + timedelta(hours=2))
        again = finish_entry(s, entry, operator=olga, disposition="lead", now=now + timedelta(hours=2))
        assert first.id == again.id and s.scalar(select(func.count()).select_from(m.Lead)) == 1


def test_the_workspace_shows_the_list_and_its_progress(app):
    olga = admin_login(app, "olga")
    page = html.unescape(olga.get("/admin/workspace/").get_data(as_text=True))
    assert "Рестораны Москвы" in page and "Готово 0 из 3, осталось на сегодня: 3" in page  # before claiming
    page = claim(olga)
    finish(olga, page, disposition="no_answer")  # and the next one is claimed
    page = html.unescape(olga.get("/admin/workspace/").get_data(as_text=True))
    assert '<b id="list-name">Рестораны Москвы</b>' in page
    assert "Готово 1 из 3, осталось на сегодня: 2" in page


def test_a_call_back_tomorrow_is_not_left_today():
    with memory_session() as s:
        olga = m.Employee(full_name="Olga", login="olga", role="cold_operator")
        s.add(olga)
        s.flush()
        call_list = m.CallList(name="L", operators=[olga])
        s.add(call_list)
        s.flush()
        s.add_all([m.CallListEntry(call_list_id=call_list.id, position=i, phone=f"+7916555000{i}") for i in range(4)])
        s.flush()
        now = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
        end_of_day = datetime(2026, 11, 23, 21, 0, tzinfo=timezone.utc)
        finish_entry(s, next_entry(s, olga, now), operator=olga, disposition="no_answer", now=now)
        finish_entry(s, next_entry(s, olga, now), operator=olga, disposition="call_back_later",
                     callback_at=now + timedelta(days=1), now=now)
        next_entry(s, olga, now)  # in hand: still left today
        p = list_progress(s, call_list.id, end_of_day)
        assert (p.name, p.total, p.done, p.left_today) == ("L", 4, 1, 2)


def test_an_empty_knowledge_base_search_says_so(app):
    olga = admin_login(app, "olga")
    found = olga.get("/admin/workspace/kb", query_string={"q": "прайс"}).get_json()
    assert [a["title"] for a in found["articles"]] == ["Цены"] and found["message"] is None
    none = olga.get("/admin/workspace/kb", query_string={"q": "вертолёт"}).get_json()
    assert none == {"articles": [], "message": "В базе знаний ничего не найдено по запросу «вертолёт»."}
    assert olga.get("/admin/workspace/kb", query_string={"q": " "}).get_json()["message"] is None


def test_the_script_can_step_back_and_lead_needs_no_extra_box(app):
    """The page carries a Back button driven by the path of answers (the browser test clicks it)."""
    olga = admin_login(app, "olga")
    page = claim(olga)
    assert 'id="script-back"' in page and "history.pop()" in page and "delete answers[step.node]" in page
    assert 'name="to_funnel"' not in page and "«Лид» создаёт лид" in html.unescape(page)


CSV = "Компания;Телефон\nКафе Ромашка;8 (916) 777-66-55\nБар Лютик;+7 916 777-66-54\n".encode("utf-8")


def _import(client, name="Новый список"):
    r = client.post("/admin/import/", data={"csrf_token": token(client.get("/admin/import/").get_data(as_text=True)),
                                            "list": name, "file": (io.BytesIO(CSV), "list.csv")},
                    content_type="multipart/form-data")
    tok = r.headers["Location"].split("/preview/")[1].split("?")[0]
    preview = client.get(r.headers["Location"]).get_data(as_text=True)
    return client.post(f"/admin/import/run/{tok}", data={"csrf_token": token(preview), "list": name,
                                                          "map_company_name": "0", "map_phone": "1"})


def _ids(app):
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        return {e.login: e.id for e in s.scalars(select(m.Employee))}, \
            s.scalar(select(m.CallScript.id)), s.scalar(select(m.CallList.id).where(m.CallList.name == "Новый список"))


def test_an_import_ends_on_the_lists_operators_and_script(app):
    admin = admin_login(app, "admin")
    done = _import(admin).get_data(as_text=True)
    people, script_id, list_id = _ids(app)
    assert f'action="/admin/import/lists/{list_id}/staff"' in done
    assert all(f'value="{people[x]}"' in done for x in ("olga", "semyon", "kira"))
    assert f"/admin/calllist/edit/?id={list_id}" in done
    r = admin.post(f"/admin/import/lists/{list_id}/staff",
                   data={"csrf_token": token(done), "operator": [people["olga"]], "script": script_id})
    assert r.status_code == 302 and f"/admin/calllist/edit/?id={list_id}" in r.headers["Location"]
    with app.app_context():
        call_list = app.extensions["sqlalchemy"].session.get(m.CallList, list_id)
        assert [e.login for e in call_list.operators] == ["olga"] and call_list.script_id == script_id
    # ... and it reaches Olga's workspace.
    page = html.unescape(admin_login(app, "olga").get("/admin/workspace/").get_data(as_text=True))
    assert "<b>Новый список</b>: <span class=\"list-progress\">Готово 0 из 2," in page


def test_a_head_staffs_a_list_from_the_department_and_the_outsourced_operators_only(app):
    vera = admin_login(app, "vera")
    done = _import(vera).get_data(as_text=True)
    people, _script, list_id = _ids(app)
    assert f'value="{people["olga"]}"' in done and f'value="{people["kira"]}"' in done
    assert f'value="{people["semyon"]}"' not in done  # Support's
    vera.post(f"/admin/import/lists/{list_id}/staff",
              data={"csrf_token": token(done), "operator": [people["semyon"], people["kira"]]})
    with app.app_context():
        call_list = app.extensions["sqlalchemy"].session.get(m.CallList, list_id)
        assert [e.login for e in call_list.operators] == ["kira"]


def test_a_list_left_without_operators_warns(app):
    admin = admin_login(app, "admin")
    done = _import(admin).get_data(as_text=True)
    _people, _script, list_id = _ids(app)
    admin.post(f"/admin/import/lists/{list_id}/staff", data={"csrf_token": token(done)})
    page = html.unescape(admin.get(f"/admin/calllist/edit/?id={list_id}").get_data(as_text=True))
    assert "У списка «Новый список» пока нет операторов: его никто не обзвонит." in page
