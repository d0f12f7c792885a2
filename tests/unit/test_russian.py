"""A Russian sales team's admin (issue 15, items 6, 7 and 10): every label, enum value and
message has its Russian; a crawl of every page for every role, with a Russian browser,
finds no English word from Flask-Admin or the models and no raw enum value; errors are
pages in the admin's layout with a way back; the screen-pop links only cards its user may
open; a lost session leads to the login page; click-to-call failures read Russian."""

from __future__ import annotations

import ast
import json
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask_admin.contrib.sqla import ModelView

import admin.calls
from admin import labels
from admin.app import create_app
from admin.display import ENUM_COLUMNS, ENUMS
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m
from pbx_daemon.crm import texts
from pbx_daemon.db import seed_reference_data
from pbx_daemon.lab import demo
from pbx_daemon.telephony.api_client import ClickToCallError
from tests.unit.helpers import admin_login, fast_hash

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "admin" / "translations" / "ru" / "LC_MESSAGES" / "messages.po"
CYRILLIC = re.compile("[а-яё]", re.I)
PASSWORD = "Demo-Password-1"

# The models' enum constants and the display table that says each of them.
ENUM_CONSTANTS = {"role": m.ROLES, "task_type": m.TASK_TYPES, "task_status": m.TASK_STATUSES,
                  "lead_status": m.LEAD_STATUSES, "inquiry_channel": m.INQUIRY_CHANNELS,
                  "inquiry_status": m.INQUIRY_STATUSES, "call_direction": m.CALL_DIRECTIONS,
                  "call_outcome": m.CALL_OUTCOMES, "call_handler": m.CALL_HANDLERS,
                  "leg_outcome": m.LEG_OUTCOMES, "entry_status": m.ENTRY_STATUSES}
# Written the same in both languages.
SAME_IN_RUSSIAN = {"E-mail", "e-mail", "UTM source", "UTM medium", "UTM campaign", "UTM content", "UTM term"}


def _catalog():
    with open(PO, "rb") as f:
        return read_po(f, locale="ru")


def _russian(lazy) -> str:
    """What a lazy label says in the Russian catalog (msgid, or context and msgid)."""
    func, args = lazy._func, lazy._args
    catalog = _catalog()
    message = catalog.get(args[1], context=args[0]) if func.__name__.endswith("pgettext") \
        else catalog.get(args[0])
    return message.string if message is not None else ""


def _msgid(lazy) -> str:
    return lazy._args[-1]


# ---- the translation test -------------------------------------------------------------------
def _shown_models():
    return sorted((mapper.class_ for mapper in m.Base.registry.mappers
                   if mapper.class_ not in labels.NOT_SHOWN), key=lambda c: c.__name__)


@pytest.mark.parametrize("model", _shown_models(), ids=lambda c: c.__name__)
def test_every_model_column_and_relationship_has_a_russian_label(model):
    missing, untranslated = [], []
    for name in labels.names(model):
        try:
            text = labels.label(model, name)
        except KeyError:
            missing.append(name)
            continue
        ru = _russian(text)
        if not ru or (ru == _msgid(text) and ru not in SAME_IN_RUSSIAN and CYRILLIC.search(ru) is None
                      and ru != "№"):
            untranslated.append(f"{name}: {_msgid(text)!r}")
    assert missing == [], f"add a label to admin/labels.py for {model.__name__}"
    assert untranslated == []


def test_every_table_is_labelled_or_named_as_not_shown():
    tables = {mapper.class_ for mapper in m.Base.registry.mappers}
    assert set(labels.MODELS) | labels.NOT_SHOWN == tables


@pytest.mark.parametrize("enum", sorted(ENUM_CONSTANTS))
def test_every_enum_value_has_its_russian_word(enum):
    table = ENUMS[enum]
    assert set(table) == set(ENUM_CONSTANTS[enum]), f"admin/display.py ENUMS[{enum!r}] != the model's values"
    for value, text in table.items():
        ru = _russian(text)
        assert ru and CYRILLIC.search(ru), f"{enum}.{value}: no Russian for {_msgid(text)!r}"


def test_every_enum_column_with_a_check_constraint_has_a_display_table():
    """A CHECK (x IN (...)) column is an enum: the pages must say its values in words."""
    constrained = set()
    for table in m.Base.metadata.tables.values():
        for constraint in table.constraints:
            text = str(getattr(constraint, "sqltext", ""))
            match = re.match(r"(\w+) IN \(", text)
            if match:
                constrained.add((table.name, match.group(1)))
    assert constrained <= set(ENUM_COLUMNS)


def test_every_message_of_the_catalog_has_its_russian():
    """Flash messages, gettext calls and template strings: nothing extracted is left
    without a translation (scripts/translations.py --check)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("translations", ROOT / "scripts" / "translations.py")
    translations = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(translations)
    assert translations.problems() == []


def test_the_domain_writes_russian_and_every_text_it_uses_exists():
    for key, text in texts.RU.items():
        assert CYRILLIC.search(text), key
    used = set()
    for path in (ROOT / "pbx_daemon").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if "from pbx_daemon.crm.texts import" not in source:
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "text" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                used.add(node.args[0].value)
    assert used and used <= set(texts.RU)
    assert texts.missed_calls(1) == "1 пропущенный звонок"
    assert texts.missed_calls(3) == "3 пропущенных звонка"
    assert texts.missed_calls(11) == "11 пропущенных звонков"


def test_the_seeded_reference_data_is_russian():
    assert all(CYRILLIC.search(name) for name, _, _ in m.DEAL_STAGES)


# ---- the crawl ------------------------------------------------------------------------------
# Flask-Admin's and the models' English, and raw enum values: none may show on a Russian page.
ENGLISH = {"Failed", "Save", "Cancel", "List", "Create", "Delete", "Edit", "Search", "Filter", "None",
           "Responsible", "Status", "Title", "Name", "Phone", "Phones", "Created", "Deadline", "Comment",
           "Type", "Source", "Company", "Contact", "Record", "Details", "View", "Add", "Home", "Login",
           "Password", "Employees", "Full", "Stage", "Amount", "Currency", "Description", "Active",
           "Role", "Direction", "Caller", "Callee", "Outcome", "Proposal", "Qualification",
           "Negotiation", "Won", "Lost", "Forbidden", "Bad Request", "Not Found", "Internal"}
RAW = {v for values in ENUM_CONSTANTS.values() for v in values} - {"open", "done", "call", "email", "new"}
RAW |= {"inbound", "outbound", "answered", "missed", "in_progress", "cold_operator", "manager",
        "daemon", "__None"}
LOWER_WORDS = {"company", "contact", "lead", "deal", "inquiry", "open", "closed", "all"}


class _Visible(HTMLParser):
    """The text a person reads: no tags, scripts or styles; of the attributes only
    placeholder, title and aria-label; Flask-Admin's filter table (JSON) by its names."""

    def __init__(self):
        super().__init__()
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        for key, value in attrs:
            if key in ("placeholder", "title", "aria-label") and value:
                self.out.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(self.skip - 1, 0)

    def handle_data(self, data):
        if self.skip or not data.strip():
            return
        text = data.strip()
        if text[:1] in "{[":
            try:
                self.out.extend(_strings(json.loads(text)))
                return
            except ValueError:
                pass
        if "<" in text:  # an inline form's template, escaped into the page
            inner = _Visible()
            inner.feed(text)
            self.out.extend(inner.out)
            return
        self.out.append(text)


def _strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            if k == "options" and isinstance(v, list):  # (value, label): the label shows
                yield from (str(pair[1]) for pair in v if isinstance(pair, list) and len(pair) == 2)
            elif k not in ("type", "arg"):
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def visible_text(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return " | ".join(parser.out)


def english_words(text: str) -> set[str]:
    found = set()
    for word in ENGLISH:
        if re.search(rf"(?<![\w@.]){re.escape(word)}(?![\w@])", text):
            found.add(word)
    for word in RAW:
        if re.search(rf"(?<![\w@./-]){re.escape(word)}(?![\w@/-])", text):
            found.add(word)
    return found


def test_the_crawler_sees_what_a_person_reads():
    page = ('<html><head><title>Save</title><script>var Status = 1;</script></head><body>'
            '<a href="/x?status=in_progress" class="Delete">Сохранить</a><input placeholder="Search">'
            '<div>{"responsible / Employees / Full Name": [{"operation": "равно", "type": "x"}]}</div>'
            '<span aria-label="Отмена">inbound</span></body></html>')
    assert english_words(visible_text(page)) == {"Save", "Search", "Employees", "Full", "Name", "inbound"}


@pytest.fixture(scope="module")
def russian_app(tmp_path_factory):
    """The demo's data plus a row in every table a page shows, and one employee a role."""
    path = tmp_path_factory.mktemp("ru") / "admin.sqlite3"
    config = load_config(None, {"PBX_CRM_DATABASE_URL": f"sqlite:///{path}",
                                "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40})
    app = create_app(config)
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        m.Base.metadata.create_all(db.engine)
        s = db.session
        seed_reference_data(s)
        people = demo.seed(s, PASSWORD)
        hashed = fast_hash(PASSWORD)
        sales = people_dept = s.get(m.Employee, people["anna"]).department_id
        s.add_all([m.Employee(full_name="Админ Главный", login="root", role="admin", password_hash=hashed),
                   m.Employee(full_name="Иван Операторов", login="ivan", role="operator",
                              department_id=people_dept, password_hash=hashed)])
        s.flush()
        anna = people["anna"]
        now = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
        company = s.query(m.Company).filter_by(name="ООО Ромашка").one()
        source = s.query(m.Source).first()
        klass = s.query(m.InquiryClass).filter_by(code="lead").one()
        s.add(m.InquirySubclass(class_id=klass.id, name="Окна"))
        inquiry = m.Inquiry(channel="call", phone="+79035550001", status="in_progress", name="Неизвестный",
                            responsible_id=anna, department_id=sales, source_id=source.id, missed_count=2,
                            first_seen_at=now, last_seen_at=now)
        s.add(inquiry)
        s.flush()
        lead = m.Lead(title="Окна на дачу", phone="+79035550009", status="in_progress",
                      responsible_id=anna, department_id=sales, inquiry_id=inquiry.id, source_id=source.id)
        s.add(lead)
        s.flush()
        for i, (direction, outcome, handled) in enumerate((("inbound", "answered", "daemon"),
                                                          ("inbound", "missed", "reconciled"),
                                                          ("outbound", "answered", "agi_fallback"))):
            call = m.Call(linkedid=f"ru.{i}", direction=direction, outcome=outcome, handled_by=handled,
                          caller="+79161234567" if direction == "inbound" else "+74951110001",
                          callee="+74951110001" if direction == "inbound" else "+79161234567",
                          started_at=now + timedelta(minutes=i), answered_by_id=anna if outcome == "answered" else None,
                          employee_id=anna, department_id=sales, company_id=company.id,
                          inquiry_id=inquiry.id if outcome == "missed" else None, talk_seconds=30)
            call.legs.append(m.CallLeg(endpoint="PJSIP/101", employee_id=anna, step=1, ringing_at=call.started_at,
                                       outcome="answered" if outcome == "answered" else "no_answer"))
            call.legs.append(m.CallLeg(endpoint="PJSIP/+79160000000@trunk", step=2, ringing_at=call.started_at,
                                       outcome="cancelled"))
            s.add(call)
        s.add(m.Task(title="Перезвонить +79035550001", type="call", responsible_id=anna, deadline=now,
                     comment="Пропущенный звонок", status="open", inquiry_id=inquiry.id, lead_id=lead.id,
                     company_id=company.id))
        s.add(m.Task(title="Встреча", type="meeting", responsible_id=people["olga"], deadline=now,
                     comment="Обсудить", status="done"))
        s.add(m.BlockedNumber(phone="+79035550666", reason="спам", created_at=now))
        entry = s.query(m.CallListEntry).first()
        entry.status, entry.assigned_operator_id = "in_progress", people["olga"]
        s.commit()
        app.ids = {"inquiry": inquiry.id, "lead": lead.id, "company": company.id,
                   "contact": s.query(m.Contact).first().id, "deal": s.query(m.Deal).first().id}
    return app


ROLES = {"root": "admin", "oleg": "owner", "vera": "head", "anna": "manager", "ivan": "operator",
         "olga": "cold_operator"}


def _pages(app) -> list[str]:
    """Every GET page without URL arguments, every model view's list, create, edit and
    details page with a real row, and every card."""
    pages = set()
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and not rule.endpoint.endswith("static") \
                and rule.endpoint not in ("root",):
            pages.add(rule.rule)
    admin_ext = app.extensions["admin"][0]
    with app.app_context():
        session = app.extensions["sqlalchemy"].session
        for view in admin_ext._views:
            if isinstance(view, ModelView):
                base = view.url.rstrip("/")
                pages |= {f"{base}/", f"{base}/new/"}
                row = session.query(view.model).first()
                if row is not None:
                    pk = view.get_pk_value(row)
                    pages |= {f"{base}/edit/?id={pk}", f"{base}/details/?id={pk}"}
    for kind, card_id in app.ids.items():
        pages.add(f"/admin/card/{kind}/{card_id}")
    pages |= {"/admin/queue/?status=in_progress", "/admin/queue/?status=all", "/admin/no-such-page"}
    return sorted(pages)


@pytest.mark.parametrize("login", sorted(ROLES))
def test_no_english_on_any_page_for_any_role(russian_app, login):
    client = admin_login(russian_app, login, PASSWORD)
    assert client.get("/admin/").status_code == 200, "logged in"
    found = {}
    for page in _pages(russian_app):
        response = client.get(page, headers={"Accept-Language": "ru-RU,ru;q=0.9"})
        assert response.status_code < 500, page
        if response.status_code in (301, 302) or not response.mimetype.startswith("text/html"):
            continue
        words = english_words(visible_text(response.get_data(as_text=True)))
        if words:
            found[page] = sorted(words)
    assert found == {}


# ---- item 7: errors, the screen-pop link, a lost session, click-to-call ---------------------
def test_errors_are_pages_in_the_admins_layout_in_russian_with_a_way_back(russian_app):
    client = admin_login(russian_app, "anna", PASSWORD)
    headers = {"Accept-Language": "ru", "Referer": "http://localhost/admin/company/"}
    for path, status, title in (("/admin/employee/", 403, "Нет доступа"),
                                ("/admin/no-such-page", 404, "Не найдено"),
                                ("/admin/company/?page=-5", 400, "Запрос не понят")):
        r = client.get(path, headers=headers)
        page = r.get_data(as_text=True)
        assert r.status_code == status, path
        assert title in page and 'href="/admin/company/" id="error-back"' in page
        assert "navbar" in page  # the admin's own layout, its menu
        assert "Forbidden" not in page and "Bad Request" not in page


def test_413_429_and_500_are_russian_pages_too(russian_app, monkeypatch):
    from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests

    from admin import errors

    with russian_app.test_request_context("/admin/import/", headers={"Accept-Language": "ru"}):
        from flask import g

        g.user = None
        for exc, words in ((RequestEntityTooLarge(), "Слишком большой"), (TooManyRequests(), "Слишком много"),
                           (RuntimeError("boom"), "Что-то пошло не так")):
            body, status = errors.handle_unexpected(exc)
            assert words in body and status in (413, 429, 500)


def test_screen_pop_offers_no_card_its_user_cannot_open(russian_app):
    """Борис's client АО Вектор (Пётр's number): Анна sees who it is, without a link."""
    anna = admin_login(russian_app, "anna", PASSWORD)
    other = anna.get("/screen-pop/card", query_string={"phone": demo.PETR}).get_json()
    assert other["known"] and other["restricted"] and "url" not in other
    own = anna.get("/screen-pop/card", query_string={"phone": demo.ROMASHKA}).get_json()
    assert own["url"] == f"/admin/card/company/{russian_app.ids['company']}"
    assert anna.get(own["url"]).status_code == 200
    page = anna.get("/screen-pop").get_data(as_text=True)
    assert "if (c.url)" in page  # the page draws "Открыть карточку" only with a link


def test_a_form_from_a_tab_left_open_after_logout_leads_to_the_login_page(russian_app):
    client = admin_login(russian_app, "anna", PASSWORD)
    page = client.get("/admin/my-tasks/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/logout", data={"csrf_token": token})  # in another tab of the same browser
    r = client.post("/admin/my-tasks/1/done", data={"csrf_token": token},
                    headers={"Referer": "http://localhost/admin/my-tasks/"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    login_page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Сеанс завершён" in login_page and "CSRF" not in login_page


def test_click_to_call_with_the_daemon_away_says_so_in_russian(russian_app, monkeypatch):
    def away(*args, **kwargs):
        raise ClickToCallError(503, "the daemon's API at http://127.0.0.1:8091 is not reachable "
                                    "([Errno 111] Connection refused)")

    monkeypatch.setattr(admin.calls, "click_to_call", away)
    client = admin_login(russian_app, "anna", PASSWORD)
    page = client.get("/admin/my-tasks/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/click-to-call", data={"number": demo.ROMASHKA, "csrf_token": token})
    assert r.status_code == 503
    assert r.get_json()["error"] == "Телефония недоступна, попробуйте позже."
    assert "Errno" not in r.get_json()["error"]


# ---- item 10: accessibility -----------------------------------------------------------------
def test_custom_pages_label_their_inputs_and_say_their_language(russian_app):
    client = admin_login(russian_app, "anna", PASSWORD)
    popup = client.get("/screen-pop", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert '<html lang="ru">' in popup
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", popup):
        if 'type="hidden"' in tag:
            continue
        field_id = re.search(r'id="([^"]+)"', tag)
        assert "aria-label=" in tag or (field_id and f'for="{field_id.group(1)}"' in popup), tag
    card = client.get(f"/admin/card/company/{russian_app.ids['company']}").get_data(as_text=True)
    assert ">⬇</a>" not in card
    login = russian_app.test_client().get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in login
