"""Issue 14, part A: the admin's forms against its own users (Flask test client, SQLite).

Every Flask-Admin model view registered on the app, for every role: each relationship
field offers exactly the rows that role may link to, and a POSTed id of any other row is
refused and changes nothing. Then one test each for the call-list entries, a new card's
responsible, phones of another's client, heads and mobiles, the screen-pop card, heads'
analytics, and call-backs of a deactivated manager.
"""

from __future__ import annotations

import html
import itertools
import re
from datetime import datetime, timezone

import pytest
from flask_admin.contrib.sqla import ModelView
from sqlalchemy import func, inspect as sa_inspect, select

from admin.access import scope
from admin.app import create_app
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m
from pbx_daemon.db import seed_reference_data
from tests.unit.helpers import admin_login, fast_hash

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
# One login per role (and a head of no department), with their department.
PEOPLE = (("admin", "admin", None), ("ivan", "owner", None), ("vera", "head", "Sales"),
          ("hugo", "head", None), ("anna", "manager", "Sales"), ("boris", "manager", "Sales"),
          ("petr", "operator", "Sales"), ("dina", "manager", "Support"),
          ("olga", "cold_operator", None), ("gleb", "manager", "Sales"))
GONE = "gleb"  # deactivated: offered to nobody
LOGINS = ("admin", "ivan", "vera", "hugo", "anna", "petr", "dina", "olga")
REFUSED = "можно указать только доступные вам записи"  # the admin speaks Russian by default


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('forms')}/admin.sqlite3"
    config = load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40})
    app = create_app(config)
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        m.Base.metadata.create_all(s.get_bind())
        seed_reference_data(s)
        departments = {n: m.Department(name=n) for n in ("Sales", "Support")}
        s.add_all(departments.values())
        s.flush()
        people = {}
        for n, (login, role, dept) in enumerate(PEOPLE):
            people[login] = m.Employee(
                full_name=login.title(), login=login, role=role, mobile=f"+7903000000{n}",
                department_id=departments[dept].id if dept else None,
                password_hash=fast_hash(f"{login}-Password-1"))
        people[GONE].active = False
        s.add_all(people.values())
        s.flush()
        departments["Sales"].head_id = people["vera"].id
        s.add(m.Source(name="Site"))
        stage = s.scalar(select(m.DealStage).order_by(m.DealStage.position))
        for n, owner in enumerate(("anna", "boris", "dina", "petr")):
            who = people[owner]
            company = m.Company(name=f"Client of {owner}", responsible=who,
                                department_id=who.department_id,
                                phones=[m.CompanyPhone(phone=f"+7916111000{n}")])
            contact = m.Contact(full_name=f"Contact of {owner}", company=company, responsible=who,
                                phones=[m.ContactPhone(phone=f"+7916222000{n}")])
            s.add_all([company, contact,
                       m.Lead(title=f"Lead of {owner}", responsible=who, department_id=who.department_id),
                       m.Deal(title=f"Deal of {owner}", company=company, contact=contact,
                              stage_id=stage.id, responsible=who, department_id=who.department_id),
                       m.Task(title=f"Task of {owner}", type="call", responsible=who, deadline=T0,
                              comment="call"),
                       m.Inquiry(channel="call", phone=f"+7999000000{n}", status="open",
                                 responsible=who, department_id=who.department_id,
                                 first_seen_at=T0, last_seen_at=T0)])
        mine = m.CallList(name="Olga's list", operators=[people["olga"]],
                          entries=[m.CallListEntry(phone="+74950000001", company_name="Pending Ltd")])
        s.add_all([mine, m.CallList(name="Another list",
                                    entries=[m.CallListEntry(phone="+74950000002")])])
        s.commit()
        app.people = {k: v.id for k, v in people.items()}
        app.departments = {k: v.id for k, v in departments.items()}
    return app


def session(app):
    return app.extensions["sqlalchemy"].session


def model_views(app):
    """Every model view registered on the app's Admin: a new view is covered by itself."""
    views = [v for admin in app.extensions["admin"] for v in admin._views if isinstance(v, ModelView)]
    assert len(views) >= 15
    return views


def relations(view):
    return {r.key: r.mapper.class_ for r in sa_inspect(view.model).relationships}


def may_link(app, login: str, view, name: str, remote) -> set[int]:
    """What ``login`` may link through ``view``'s field ``name``, stated for the test:
    cards and call lists as the lists scope them; employees: admins and owners anyone,
    a head their department (and, for a call list's operators, the outsourced cold
    operators), everyone else themselves; a deactivated employee nobody."""
    s = session(app)
    user = s.get(m.Employee, app.people[login])
    if remote is m.Employee:
        everyone = [e for e in s.scalars(select(m.Employee)) if e.active]
        if user.role in ("admin", "owner"):
            return {e.id for e in everyone}
        if user.role == "head" and user.department_id is not None:
            return {e.id for e in everyone if e.department_id == user.department_id or e.id == user.id
                    or (name == "operators" and e.role == "cold_operator" and e.department_id is None)}
        return {user.id}
    query = select(remote.id)
    clause = scope(remote, user)
    return set(s.scalars(query if clause is None else query.where(clause)))


def may_edit(view, login: str, app) -> bool:
    role = session(app).get(m.Employee, app.people[login]).role
    edit = view.edit_roles if view.edit_roles is not None else view.roles
    return role in view.roles and role in edit and type(view).can_create is not False


def token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def offered(client, view, page: str, name: str) -> set[int]:
    """The ids a form offers for field ``name``: its select's options, or what the
    field's ajax lookup returns for an empty search."""
    select_tag = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    if select_tag:
        return {int(v) for v in re.findall(r'<option[^>]*value="(\d+)"', select_tag.group(1))}
    assert re.search(rf'<input[^>]*name="{name}"', page), f"{view.endpoint}: no field {name}"
    found = client.get(f"/admin/{view.endpoint}/ajax/lookup/", query_string={"name": name, "query": ""})
    assert found.status_code == 200
    return {row[0] for row in found.get_json()}


@pytest.mark.parametrize("login", LOGINS)
def test_every_form_offers_only_what_the_role_may_link(app, login):
    """Create and edit forms of every model view: each relationship's options are
    exactly the rows the role may link to (never another manager's, never all)."""
    client = admin_login(app, login)
    checked = 0
    with app.app_context():
        for view in model_views(app):
            urls = [f"/admin/{view.endpoint}/new/"]
            row = _one_visible(app, login, view.model)
            if row is not None:
                urls.append(f"/admin/{view.endpoint}/edit/?id={row}")
            for url in urls:
                r = client.get(url)
                if not may_edit(view, login, app):
                    assert r.status_code in (302, 403), (url, r.status_code)
                    continue
                assert r.status_code == 200, (url, r.status_code)
                page = r.get_data(as_text=True)
                for name, remote in relations(view).items():
                    if f'name="{name}"' not in page:
                        continue  # not in the form, or inline rows of the row's own (phones)
                    assert offered(client, view, page, name) == may_link(app, login, view, name, remote), \
                        (login, url, name)
                    checked += 1
    assert checked or login in ("olga",)


def _one_visible(app, login, model):
    user = session(app).get(m.Employee, app.people[login])
    clause = scope(model, user)
    query = select(model.id).order_by(model.id.desc()).limit(1)
    return session(app).scalar(query if clause is None else query.where(clause))


# Enough for a valid new row of each model whose form links to rows a role may not see.
BASE = {
    m.Company: {"name": "Form Co"},
    m.Contact: {"full_name": "Form Contact"},
    m.Lead: {"title": "Form lead", "status": "new"},
    m.Deal: {"title": "Form deal", "amount": "1", "currency": "RUB", "probability": "0"},
    m.Task: {"title": "Form task", "type": "call", "status": "open", "comment": "c",
             "deadline": "2026-12-01 10:00:00"},
    m.Inquiry: {"channel": "call", "status": "open", "missed_count": "0",
                "first_seen_at": "2026-11-23 10:00:00", "last_seen_at": "2026-11-23 10:00:00"},
    m.CallList: {"name": "Form list"},
    m.Department: {"name": "Form department"},
    m.EmployeeShift: {"weekday": "0", "starts": "09:00", "ends": "18:00"},
    m.EmployeeAbsence: {"kind": "sick", "first_day": "2026-12-01", "last_day": "2026-12-02"},
}


_SERIAL = itertools.count(1)


def _base(app, login, view) -> dict:
    assert view.model in BASE, f"add a valid form for {view.model.__name__} to BASE"
    data = dict(BASE[view.model])
    if view.model is m.Department:  # names are unique
        data["name"] = f"Form department {next(_SERIAL)}"
    if view.model is m.Deal:
        data["stage"] = str(session(app).scalar(select(m.DealStage.id).limit(1)))
    if "responsible" in relations(view):
        data["responsible"] = str(app.people[login])
    if "employee" in relations(view):  # a schedule row: one's own
        data["employee"] = str(app.people[login])
    return data


def _foreign_cases(app):
    """(view, login, field, a row id the login may not link) for every view and role
    that may edit, wherever such a row exists."""
    with app.app_context():
        for view in model_views(app):
            for login in LOGINS:
                if not may_edit(view, login, app):
                    continue
                for name, remote in relations(view).items():
                    everything = set(session(app).scalars(select(remote.id)))
                    foreign = everything - may_link(app, login, view, name, remote)
                    if foreign:
                        yield view, login, name, min(foreign)


def _count(app, model):
    with app.app_context():
        return session(app).scalar(select(func.count()).select_from(model))


def test_posting_a_foreign_id_is_refused_and_changes_nothing(app):
    """A new row, and an edit of a visible one, naming a row outside the scope: refused
    with a message; no row added, the edited row unchanged. The same form without the
    foreign id is saved (so the refusal is the id's doing)."""
    cases = list(_foreign_cases(app))
    assert len(cases) >= 10
    clients, posted = {}, 0
    for view, login, name, foreign in cases:
        case = (view.endpoint, login, name, foreign)
        client = clients.get(login) or clients.setdefault(login, admin_login(app, login))
        with app.app_context():
            base = _base(app, login, view)
            multiple = getattr(view.model, name).prop.uselist
        new = f"/admin/{view.endpoint}/new/"
        before = _count(app, view.model)
        page = client.get(new).get_data(as_text=True)
        if f'name="{name}"' not in page:
            continue  # not a field of the form (a back-reference, or the row's own inline rows)
        posted += 1
        r = client.post(new, data={**base, "csrf_token": token(page)})
        assert r.status_code == 302, (case, html.unescape(r.get_data(as_text=True))[:3000])
        assert _count(app, view.model) == before + 1
        page = client.get(new).get_data(as_text=True)
        with app.app_context():
            base = _base(app, login, view)  # a new unique name where names are unique
        bad = {**base, name: [str(foreign)] if multiple else str(foreign), "csrf_token": token(page)}
        r = client.post(new, data=bad)
        assert r.status_code == 200 and REFUSED in html.unescape(r.get_data(as_text=True)), case
        assert _count(app, view.model) == before + 1
        with app.app_context():
            row_id = _one_visible(app, login, view.model)
            row = session(app).get(view.model, row_id)
            was = getattr(row, name)
            was = sorted(x.id for x in was) if multiple else (was.id if was is not None else None)
        edit = f"/admin/{view.endpoint}/edit/?id={row_id}"
        page = client.get(edit).get_data(as_text=True)
        r = client.post(edit, data={**bad, "csrf_token": token(page)})
        assert r.status_code == 200 and REFUSED in html.unescape(r.get_data(as_text=True)), case
        with app.app_context():
            row = session(app).get(view.model, row_id)
            now = getattr(row, name)
            assert (sorted(x.id for x in now) if multiple else (now.id if now is not None else None)) == was, case
    assert posted >= 10


# ---- one test each ------------------------------------------------------------------------
def _form(client, url):
    return token(client.get(url).get_data(as_text=True))


def test_saving_a_call_list_form_keeps_its_entries(app):
    """The call-list form has no entries field; saving it leaves every entry in place."""
    with app.app_context():
        s = session(app)
        listed = m.CallList(name="Big list", entries=[m.CallListEntry(phone=f"+7495100{n:04d}")
                                                      for n in range(50)])
        s.add(listed)
        s.commit()
        list_id = listed.id
    client = admin_login(app, "admin")
    page = client.get(f"/admin/calllist/edit/?id={list_id}").get_data(as_text=True)
    assert 'name="entries"' not in page and "+74951000001" not in page
    r = client.post(f"/admin/calllist/edit/?id={list_id}", data={"name": "Big list, renamed",
                                                                 "csrf_token": token(page)})
    assert r.status_code == 302
    with app.app_context():
        assert session(app).scalar(select(func.count()).where(m.CallListEntry.call_list_id == list_id)) == 50
        assert session(app).get(m.CallList, list_id).name == "Big list, renamed"


def test_a_managers_new_company_is_theirs_and_stays_in_their_list(app):
    client = admin_login(app, "anna")
    r = client.post("/admin/company/new/", data={"name": "Fresh Ltd", "csrf_token": _form(client, "/admin/company/new/")})
    assert r.status_code == 302
    with app.app_context():
        company = session(app).scalar(select(m.Company).where(m.Company.name == "Fresh Ltd"))
        assert company.responsible_id == app.people["anna"]
        assert company.department_id == app.departments["Sales"]
    assert "Fresh Ltd" in client.get("/admin/company/").get_data(as_text=True)


def test_another_clients_phone_cannot_be_added_to_ones_own_company(app):
    """Boris's client's number on Anna's company would ring Anna and land on her card."""
    client = admin_login(app, "anna")
    with app.app_context():
        mine = session(app).scalar(select(m.Company.id).where(m.Company.name == "Client of anna"))
    url = f"/admin/company/edit/?id={mine}"
    r = client.post(url, data={"name": "Client of anna", "responsible": str(app.people["anna"]),
                               "phones-0-phone": "+79161110001", "phones-0-kind": "work",
                               "csrf_token": _form(client, url)})
    assert "есть в карточке клиента другого сотрудника" in html.unescape(r.get_data(as_text=True))
    with app.app_context():
        phones = session(app).scalars(select(m.CompanyPhone.phone).where(m.CompanyPhone.company_id == mine)).all()
        assert phones == ["+79161110000"]
        assert session(app).scalar(select(func.count()).where(m.CompanyPhone.phone == "+79161110001")) == 1


def test_a_head_sees_mobiles_of_their_department_only(app):
    client = admin_login(app, "vera")
    anna, dina = app.people["anna"], app.people["dina"]
    with app.app_context():
        anna_mobile, dina_mobile = (session(app).get(m.Employee, i).mobile for i in (anna, dina))
    assert anna_mobile in client.get(f"/admin/employee/details/?id={anna}").get_data(as_text=True)
    assert dina_mobile not in client.get(f"/admin/employee/details/?id={dina}").get_data(as_text=True)
    found = client.get("/admin/employee/", query_string={"search": dina_mobile}).get_data(as_text=True)
    assert "Dina" not in found
    assert "Anna" in client.get("/admin/employee/", query_string={"search": anna_mobile}).get_data(as_text=True)


def test_screen_pop_card_shows_only_calls_in_scope_and_cold_operators_only_their_numbers(app):
    """Anna's client's number: Boris's call about it (not linked to her card) stays his;
    a cold operator learns names only for numbers of their own call lists."""
    phone = "+79161110000"  # Client of anna
    with app.app_context():
        s = session(app)
        for n, (who, note) in enumerate((("anna", "anna's note"), ("boris", "boris's secret note"))):
            s.add(m.Call(linkedid=f"pop-{n}", direction="inbound", caller=phone, started_at=T0,
                         outcome="answered", answered_by_id=app.people[who], note=note,
                         company_id=None if who == "boris" else
                         s.scalar(select(m.Company.id).where(m.Company.name == "Client of anna"))))
        s.add(m.CallListEntry(call_list_id=s.scalar(select(m.CallList.id).where(m.CallList.name == "Olga's list")),
                              phone="+79161110002"))  # Client of dina
        s.commit()
    card = admin_login(app, "anna").get("/screen-pop/card", query_string={"phone": phone}).get_json()
    assert [c["note"] for c in card["calls"]] == ["anna's note"]
    olga = admin_login(app, "olga")
    other = olga.get("/screen-pop/card", query_string={"phone": phone}).get_json()
    assert other == {"known": True, "phone": phone, "restricted": True}
    listed = olga.get("/screen-pop/card", query_string={"phone": "+79161110002"}).get_json()
    assert listed["name"] == "Client of dina" and listed["restricted"] and "calls" not in listed


def test_heads_analytics_and_source_quality_are_their_departments(app):
    """Vera (Sales) counts Sales's inquiries only; Hugo, head of nothing, sees nothing."""
    with app.app_context():
        s = session(app)
        site = s.scalar(select(m.Source).where(m.Source.name == "Site"))
        s.add_all([m.Source(name="Support ads")])
        s.flush()
        support = s.scalar(select(m.Source.id).where(m.Source.name == "Support ads"))
        for phone, dept, source in (("+79995550001", "Sales", site.id), ("+79995550002", "Support", support)):
            s.add(m.Inquiry(channel="call", phone=phone, status="open", department_id=app.departments[dept],
                            source_id=source, first_seen_at=datetime.now(timezone.utc),
                            last_seen_at=datetime.now(timezone.utc)))
        s.commit()
    vera = admin_login(app, "vera")
    for url in ("/admin/source-quality/", "/admin/analytics/"):
        page = vera.get(url).get_data(as_text=True)
        assert "Site" in page and "Support ads" not in page, url
    assert "Support ads" in admin_login(app, "admin").get("/admin/source-quality/").get_data(as_text=True)
    hugo = admin_login(app, "hugo")
    for url in ("/admin/source-quality/", "/admin/analytics/"):
        page = html.unescape(hugo.get(url).get_data(as_text=True))
        assert "руководитель без отдела" in page and "Site" not in page, url
