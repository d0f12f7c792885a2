"""The admin's layout: its modules import each other without a cycle and reach into the
daemon only through its doors; ``admin/app.py`` is the one place that adds pages,
endpoints and blueprints, and the menu, endpoints and URLs stay what users and links know."""

from __future__ import annotations

import ast
import graphlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from flask_admin.contrib.sqla import ModelView

import admin
from admin.app import create_app
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m
from tests.unit.helpers import admin_login, fast_hash

ADMIN = Path(admin.__file__).parent
ROOT = ADMIN.parent

# The daemon as the admin may see it: the CRM domain, config, database, logging, the
# daemon's HTTP API client (click-to-call, phones sync), the endpoint-name guard (in
# asterisk_render today, maybe in telephony.names tomorrow), and a phone's credentials:
# the digest realm and the pure password functions of the phones file (issue 16).
ALLOWED_PACKAGES = ("pbx_daemon.crm",)
ALLOWED_MODULES = frozenset({"pbx_daemon.config", "pbx_daemon.db", "pbx_daemon.logs",
                             "pbx_daemon.telephony.api_client", "pbx_daemon.telephony.names"})
ALLOWED_NAMES = {"pbx_daemon.telephony.asterisk_render": frozenset({"ENDPOINT_NAME", "SIP_REALM"}),
                 "pbx_daemon.telephony.phones_file": frozenset({"new_sip_password", "set_sip_password"})}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path):
    """``(line, module, name)`` for every import in ``path``, those inside functions too;
    ``from package import module`` counts as importing the module (name None)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package, one level up per extra dot
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (node.lineno, sub, None) if _is_module(sub) else (node.lineno, base, alias.name)


def _admin_files():
    return sorted(ADMIN.rglob("*.py"))


def _admin_graph() -> dict[str, set[str]]:
    modules = {_module_name(p) for p in _admin_files()}
    return {_module_name(p): {mod for _line, mod, _name in _imports(p) if mod in modules}
            for p in _admin_files()}


def test_the_import_scan_sees_imports_inside_functions():
    """The checker is not blind: serve imports the app inside make_site, app imports popup."""
    graph = _admin_graph()
    assert "admin.app" in graph["admin.serve"]
    assert {"admin.popup", "admin.calls", "admin.crm", "admin.display"} <= graph["admin.app"]


def test_admin_modules_import_each_other_without_a_cycle():
    try:
        graphlib.TopologicalSorter(_admin_graph()).prepare()
    except graphlib.CycleError as e:
        pytest.fail(f"import cycle in admin/: {' -> '.join(e.args[1])}")


def test_feature_modules_do_not_import_the_app_factory():
    """Only serve (which runs the app) may import admin.app; the pages never do."""
    importers = {mod for mod, deps in _admin_graph().items() if "admin.app" in deps}
    assert importers == {"admin.serve"}


def test_admin_reaches_the_daemon_only_through_its_doors():
    wrong = []
    for path in _admin_files():
        for line, module, name in _imports(path):
            if module != "pbx_daemon" and not module.startswith("pbx_daemon."):
                continue
            if module.startswith(tuple(p + "." for p in ALLOWED_PACKAGES)) or module in ALLOWED_PACKAGES \
                    or module in ALLOWED_MODULES or name in ALLOWED_NAMES.get(module, ()):
                continue
            wrong.append(f"{path.relative_to(ROOT)}:{line}: {module}" + (f".{name}" if name else ""))
    assert wrong == []


def test_only_app_py_adds_views_routes_and_blueprints():
    """Feature modules define pages and blueprints; registering them is app.py's alone."""
    registering = {"add_view", "register_blueprint", "add_url_rule", "add_views"}
    where = set()
    for path in _admin_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in registering:
                where.add(path.name)
            # app.route / app.get ... decorators (a blueprint's @bp.route is a definition)
            if isinstance(node, ast.FunctionDef):
                for deco in node.decorator_list:
                    target = deco.func if isinstance(deco, ast.Call) else deco
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                            and target.value.id == "app":
                        where.add(path.name)
    assert where == {"app.py"}


@pytest.fixture
def app(tmp_path):
    config = load_config(None, {"PBX_CRM_DATABASE_URL": f"sqlite:///{tmp_path}/admin.sqlite3",
                                "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40})
    return create_app(config)


# The menu (English names), with each entry's endpoint and URL: issue 15 grouped it into five
# categories (one line at 1280 px); the endpoints and URLs are what users and links know.
MENU = [
    ("Home", "admin", "/admin/"),
    ("Work", [("Queue", "queue", "/admin/queue/"),
              ("My tasks", "my_tasks", "/admin/my-tasks/"),
              ("My deals", "my_deals", "/admin/my-deals/"),
              ("Workspace", "workspace", "/admin/workspace/"),
              ("Who is on duty", "duty", "/admin/duty/")]),
    ("Clients", [("Companies", "company", "/admin/company/"),
                 ("Contacts", "contact", "/admin/contact/"),
                 ("Leads", "lead", "/admin/lead/"),
                 ("Deals", "deal", "/admin/deal/"),
                 ("Tasks", "task", "/admin/task/"),
                 ("All inquiries", "inquiry", "/admin/inquiry/"),
                 ("Calls", "call", "/admin/call/"),
                 ("Import clients", "import_clients", "/admin/import-clients/")]),
    ("Cold calling", [("Call lists", "calllist", "/admin/calllist/"),
                      ("Call list entries", "calllistentry", "/admin/calllistentry/"),
                      ("Call scripts", "callscript", "/admin/callscript/"),
                      ("Knowledge base", "kbarticle", "/admin/kbarticle/"),
                      ("Import a call list", "import_list", "/admin/import/")]),
    ("Reports", [("Analytics", "analytics", "/admin/analytics/"),
                 ("Source quality", "source_quality", "/admin/source-quality/"),
                 ("Sent reports", "report_sends", "/admin/report_sends/"),
                 ("Audit log", "audit_log", "/admin/audit_log/"),
                 ("E-mail outbox", "mail_outbox", "/admin/mail_outbox/")]),
    ("Settings", [("Employees", "employee", "/admin/employee/"),
                  ("Work schedules", "shifts", "/admin/shifts/"),
                  ("Absences", "absences", "/admin/absences/"),
                  ("Departments", "department", "/admin/department/"),
                  ("Tracking numbers", "trackingnumber", "/admin/trackingnumber/"),
                  ("Blocklist", "blockednumber", "/admin/blockednumber/"),
                  ("Working hours", "hours", "/admin/hours/"),
                  ("Deal stages", "dealstage", "/admin/dealstage/"),
                  ("Stage task rules", "dealstagetaskrule", "/admin/dealstagetaskrule/"),
                  ("Inquiry classes", "inquiryclass", "/admin/inquiryclass/"),
                  ("Inquiry subclasses", "inquirysubclass", "/admin/inquirysubclass/"),
                  ("Sources", "source", "/admin/source/"),
                  ("Webhooks", "webhooks", "/admin/webhooks/"),
                  ("Webhook deliveries", "webhook_deliveries", "/admin/webhook_deliveries/"),
                  ("API tokens", "api_tokens", "/admin/api-tokens/")]),
    ("Card", "card", "/admin/card/"),  # registered, hidden from the menu (is_visible)
]


def _menu(items):
    out = []
    for item in items:
        if item.is_category():
            out.append((str(item.name), _menu(item._children)))
        else:
            out.append((str(item.name), item._view.endpoint, item.get_url()))
    return out


def test_the_menu_keeps_its_order_names_endpoints_and_urls(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert _menu(app.extensions["admin"][0]._menu) == MENU


# Every rule outside the model views' standard ones (those follow from the endpoints above).
ROUTES = {
    ("/", "root", ("GET",)),
    ("/static/<path:filename>", "static", ("GET",)),
    ("/login", "login", ("GET", "POST")),
    ("/logout", "logout", ("POST",)),
    ("/lang/<code>", "set_language", ("POST",)),
    ("/admin/", "admin.index", ("GET",)),
    ("/admin/static/<path:filename>", "admin.static", ("GET",)),
    ("/admin/analytics/", "analytics.index", ("GET",)),
    ("/admin/analytics/day", "analytics.day", ("GET",)),
    ("/admin/card/", "card.index", ("GET",)),
    ("/admin/duty/", "duty.index", ("GET",)),
    ("/admin/duty/<int:employee_id>", "duty.change", ("POST",)),
    ("/admin/card/<kind>/<int:card_id>", "card.show", ("GET",)),
    ("/admin/card/lead/<int:lead_id>/convert", "card.convert", ("POST",)),
    ("/admin/card/<kind>/<int:card_id>/reassign", "card.reassign", ("POST",)),
    ("/admin/card/<kind>/<int:card_id>/merge", "card.merge", ("GET", "POST")),
    ("/admin/import/", "import_list.index", ("GET", "POST")),
    ("/admin/import/lists/<int:list_id>/staff", "import_list.staff", ("POST",)),
    ("/admin/import/preview/<token>", "import_list.preview", ("GET",)),
    ("/admin/import/report/<token>", "import_list.report", ("GET",)),
    ("/admin/import/run/<token>", "import_list.run", ("POST",)),
    ("/admin/import-clients/", "import_clients.index", ("GET", "POST")),
    ("/admin/import-clients/preview/<token>", "import_clients.preview", ("GET",)),
    ("/admin/import-clients/run/<token>", "import_clients.run", ("POST",)),
    ("/admin/hours/", "hours.index", ("GET",)),
    ("/admin/hours/save", "hours.save", ("POST",)),
    ("/admin/hours/day", "hours.add_day", ("POST",)),
    ("/admin/hours/day/<int:day_id>/delete", "hours.delete_day", ("POST",)),
    ("/admin/hours/greeting", "hours.greeting", ("POST",)),
    ("/admin/my-deals/", "my_deals.index", ("GET",)),
    ("/admin/my-tasks/", "my_tasks.index", ("GET",)),
    ("/admin/my-tasks/<int:task_id>/done", "my_tasks.done", ("POST",)),
    ("/admin/queue/", "queue.index", ("GET",)),
    ("/admin/queue/<int:inquiry_id>/classify", "queue.classify", ("POST",)),
    ("/admin/queue/<int:inquiry_id>/reassign", "queue.reassign", ("POST",)),
    ("/admin/source-quality/", "source_quality.index", ("GET",)),
    ("/admin/workspace/", "workspace.index", ("GET",)),
    ("/admin/workspace/<int:entry_id>/finish", "workspace.finish", ("POST",)),
    ("/admin/workspace/kb", "workspace.kb", ("GET",)),
    ("/admin/workspace/next", "workspace.take_next", ("POST",)),
    ("/api/inquiries", "web_inquiry", ("POST",)),
    ("/admin/api-tokens/", "api_tokens.index", ("GET",)),
    ("/admin/api-tokens/create", "api_tokens.create", ("POST",)),
    ("/admin/api-tokens/<int:token_id>/revoke", "api_tokens.revoke", ("POST",)),
    ("/api/v1/openapi.json", "rest_api.openapi", ("GET",)),
    ("/api/v1/calls", "rest_api.list_calls", ("GET",)),
    ("/api/v1/calls/<int:call_id>", "rest_api.get_call", ("GET",)),
    ("/api/v1/inquiries", "rest_api.list_inquiries", ("GET",)),
    ("/api/v1/inquiries/<int:inquiry_id>", "rest_api.get_inquiry", ("GET",)),
    ("/api/v1/recordings", "rest_api.list_recordings", ("GET",)),
    ("/api/v1/recordings/<int:recording_id>", "rest_api.get_recording", ("GET",)),
    ("/api/v1/recordings/<int:recording_id>/audio", "rest_api.get_recording_audio", ("GET",)),
    ("/calls/<int:call_id>/recording", "calls.recording", ("GET",)),
    ("/calls/<int:call_id>/new-lead", "calls.new_lead", ("POST",)),
    ("/cards/<kind>/<int:card_id>/calls", "calls.card_calls", ("GET",)),
    ("/click-to-call", "calls.start_click_to_call", ("POST",)),
    ("/screen-pop", "popup.page", ("GET",)),
    ("/screen-pop/card", "popup.card", ("GET",)),
    ("/screen-pop/reminders", "popup.reminders", ("GET",)),
    ("/notifications/due", "notify.due", ("GET",)),
    ("/screen-pop/calls/<call_id>", "popup.call_info", ("GET",)),
    ("/screen-pop/calls/<call_id>/note", "popup.note", ("POST",)),
    ("/screen-pop/calls/<call_id>/classify", "popup.classify", ("POST",)),
    ("/screen-pop/calls/<call_id>/task", "popup.task", ("POST",)),
}


def test_pages_blueprints_and_endpoints_keep_their_urls(app):
    model_views = {v.endpoint for v in app.extensions["admin"][0]._views if isinstance(v, ModelView)}
    routes = {(r.rule, r.endpoint, tuple(sorted(r.methods - {"HEAD", "OPTIONS"})))
              for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] not in model_views}
    assert routes == ROUTES


def test_two_apps_in_one_process_each_keep_their_own_database(tmp_path):
    """The blueprints bind to no database at registration: each reads the session of the
    app serving the request, so a second app (another config) leaves the first one's alone."""
    apps = []
    for name in ("first", "second"):
        config = load_config(None, {"PBX_CRM_DATABASE_URL": f"sqlite:///{tmp_path}/{name}.sqlite3",
                                    "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40})
        app = create_app(config)
        with app.app_context():
            db = app.extensions["sqlalchemy"]
            m.Base.metadata.create_all(db.engine)
            anna = m.Employee(full_name="Anna", login="anna", role="manager",
                              password_hash=fast_hash("anna-Password-1"))
            db.session.add(anna)
            db.session.flush()
            db.session.add(m.Task(title=f"call back ({name})", type="call", responsible_id=anna.id,
                                  deadline=datetime.now(timezone.utc),
                                  comment="-", status="open"))
            db.session.commit()
        apps.append(app)
    for app, name in zip(apps, ("first", "second")):
        reminders = admin_login(app, "anna").get("/screen-pop/reminders").get_json()["reminders"]
        assert [r["title"] for r in reminders] == [f"call back ({name})"]
