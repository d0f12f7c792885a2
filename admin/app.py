"""The admin web app: ``create_app(config)`` builds a Flask + Flask-Admin application.

Every page but the login page needs a logged-in employee; each view says which roles
may use it. The SQLAlchemy models are the daemon's own (``pbx_daemon.crm.models``): the admin
never redefines a record or a rule.

This module wires; the feature modules only define their pages and blueprints, and
:func:`register_views` is the one place that adds them, in menu order.
"""

from __future__ import annotations

import hmac
import math
import os
from pathlib import Path

from flask import Flask, has_request_context, flash, g, redirect, render_template, request, session, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_babel import Babel, get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_admin.theme import Bootstrap4Theme
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect, FlaskForm
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from admin import analytics_view, api_tokens, calls, client_import_view, crm, errors, hours_view, import_view, \
    inquiry_classes, notify, outbox_view, popup, schedules, views, webhooks_view, workspace
from admin.rest_api import http as rest_http
from admin.display import card_label, class_name, label_of, show_phone
from admin.times import company_time
from admin.logins import LoginThrottle, PasswordCheck, WallClock, client_key, safe_next
from admin.views import RoleGate
from pbx_daemon.crm import models
from pbx_daemon.crm.funnel import on_no_card
from pbx_daemon.crm.stats.rollup import install_dirty_marker
from pbx_daemon.crm.webhooks import install_emitter
from pbx_daemon.db import engine_options, install_connect_hook


class LoginForm(FlaskForm):
    login = StringField(_l("Login"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class HomeView(RoleGate, AdminIndexView):
    """The home page: one's own work to do (new inquiries, overdue call-backs, today's
    planned calls), each a link to the filtered list; for a head, the department's too."""

    roles = frozenset(models.ROLES)

    def __init__(self, db, **kwargs):
        super().__init__(**kwargs)
        self.db = db

    @expose("/")
    def index(self):
        return self.render("admin_home.html", user=g.user, work=crm.dashboard(self.db.session, g.user))


def create_app(config=None, clock=None) -> Flask:
    """Build the admin for ``config`` (a :class:`pbx_daemon.config.Config`); ``clock``
    (``seconds()``: the reactor, a test's ``Clock``) times the login throttle and says
    which reminders are due (:mod:`admin.notify`)."""
    if config is None:
        from pbx_daemon.config import load_config

        config = load_config(None, os.environ)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.admin.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.admin.public_url.startswith("https://"),
        SQLALCHEMY_ENGINES={"default": {"url": config.database.url, **engine_options(config.database.url)}},
        WTF_CSRF_TIME_LIMIT=None,
        # Twisted refuses a larger body before reading it (admin.serve); this covers the
        # WSGI app served any other way.
        MAX_CONTENT_LENGTH=config.admin.max_request_bytes,
    )
    if config.admin.trusted_proxies:
        _behind_proxies(app, config.admin.trusted_proxies)
    db = SQLAlchemy(app)
    CSRFProtect(app)
    Babel(app, locale_selector=_locale, default_locale="ru",
          default_translation_directories=str(Path(__file__).parent / "translations"))
    app.jinja_env.globals["show_phone"] = show_phone
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["class_name"] = class_name
    app.jinja_env.globals["label_of"] = label_of  # enum values as words (admin.display.ENUMS)
    app.jinja_env.globals["card_label"] = card_label
    app.jinja_env.globals["on_no_card"] = on_no_card  # a call row's "unknown number"
    app.jinja_env.filters["company_time"] = company_time
    with app.app_context():  # the daemon's pragmas, the rollup's dirty marker, the webhooks' events
        install_connect_hook(db.engine)
        install_dirty_marker(db.sessionmaker)
        install_emitter(db.sessionmaker)

    @app.before_request
    def load_user():
        g.user = None
        employee_id = session.get("employee_id")
        if employee_id is not None:
            user = db.session.get(models.Employee, employee_id)
            nonce = session.get("nonce")
            if user is not None and user.active and user.session_nonce and isinstance(nonce, str) \
                    and hmac.compare_digest(nonce, user.session_nonce):
                g.user = user
            else:  # logged out elsewhere, password changed, deactivated: this cookie is over
                session.clear()

    @app.context_processor
    def page_language():
        # For <html lang="...">: the page's language, never empty.
        return {"page_lang": str(get_locale() or "ru")}

    app.register_error_handler(HTTPException, _api_or(rest_http.http_error, errors.handle_http_error))
    app.register_error_handler(Exception, _api_or(rest_http.unexpected_error, errors.handle_unexpected))
    app.register_error_handler(CSRFError, lambda e: errors.handle_csrf_error(e, load_user))

    @app.route("/")
    def root():
        return redirect(url_for("admin.index"))

    clock = clock if clock is not None else WallClock()
    app.extensions["pbx_crm_clock"] = clock  # reminders' 'now', the REST API's last_used_at
    names = LoginThrottle(clock, max_failures=config.admin.login_max_failures,
                          lockout_seconds=config.admin.login_lockout_seconds)
    addresses = LoginThrottle(clock, max_failures=config.admin.login_max_failures_per_address,
                              lockout_seconds=config.admin.login_lockout_seconds)
    passwords = PasswordCheck()

    @app.route("/login", methods=["GET", "POST"])
    def login():
        form = LoginForm()
        if form.validate_on_submit():
            name = form.login.data.strip()
            address = client_key(request.remote_addr)
            wait = max(names.wait_seconds(name.casefold()), addresses.wait_seconds(address))
            if wait:
                flash(gettext("Too many failed logins: try again in %(minutes)s min.",
                              minutes=math.ceil(wait / 60)), "error")
                return render_template("login.html", form=form), 429
            user = db.session.scalar(select(models.Employee).where(models.Employee.login == name))
            usable = user is not None and user.active
            if passwords.check(user.password_hash if usable else None, form.password.data):
                names.succeeded(name.casefold())
                if not user.session_nonce:
                    user.session_nonce = models.new_session_nonce()
                    db.session.commit()
                session.clear()
                session["employee_id"] = user.id
                session["nonce"] = user.session_nonce
                # Only same-site paths: never redirect a fresh session off-site.
                return redirect(safe_next(request.args.get("next")) or url_for("admin.index"))
            names.failed(name.casefold())
            addresses.failed(address)
            flash(gettext("Wrong login or password."), "error")
        return render_template("login.html", form=form), 200

    @app.route("/lang/<code>", methods=["POST"])
    def set_language(code):
        if code in LANGUAGES:
            session["lang"] = code
        target = request.referrer or url_for("admin.index")
        # Only our own pages: the referrer is what the browser says.
        if not target.startswith(request.host_url):
            target = url_for("admin.index")
        return redirect(target)

    @app.route("/logout", methods=["POST"])
    def logout():
        if g.user is not None:  # every session of the employee ends, saved cookies included
            g.user.session_nonce = models.new_session_nonce()
            db.session.commit()
        session.clear()
        return redirect(url_for("login"))

    app.extensions["pbx_crm_config"] = config
    admin = Admin(app, name="pbx-crm", index_view=HomeView(db, url="/admin"),
                  theme=Bootstrap4Theme(base_template="admin/pbx_base.html", fluid=True))
    # Flask-Admin reads the session's binding while building views: it needs an app context.
    with app.app_context():
        register_views(admin, app, db)
    return app


LANGUAGES = ("ru", "en")


def _behind_proxies(app: Flask, hops: int) -> None:
    """Believe the last ``hops`` values of X-Forwarded-For, -Proto, -Host and -Port (each
    trusted proxy appends or sets its own): ``request.remote_addr`` is then the client's
    address (the per-address login throttle), ``request.scheme`` https and
    ``request.host`` the public host (``url_for(_external=True)``, the same-site checks
    on referrers, Flask-WTF's HTTPS referrer check). Never X-Forwarded-Prefix: nginx as
    the README sets it up passes a client's own through. Without this (the default) no
    X-Forwarded-* header changes anything: Twisted's WSGI container gives the peer."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=0)


def _api_or(api_handler, page_handler):
    """Errors under /api/v1 in the REST API's JSON, the others as the admin's pages."""
    def handle(e):
        return api_handler(e) if rest_http.owns(request.path) else page_handler(e)
    return handle


def _locale():
    """The language picked on the page, else the browser's, else Russian (what the
    seeds' users speak)."""
    if not has_request_context():
        return "ru"  # building views at start-up
    return session.get("lang") or request.accept_languages.best_match(LANGUAGES) or "ru"


def register_views(admin: Admin, app: Flask, db) -> None:
    """Every page and endpoint of the admin: the pages of :func:`_views`, then the
    web-form endpoint and the blueprints. Feature modules define; only this adds."""
    for view in _views(db):
        admin.add_view(view)
    # Site forms post inquiries with a token, not a session: no CSRF there.
    app.add_url_rule("/api/inquiries", "web_inquiry", app.extensions["csrf"].exempt(crm.web_inquiry),
                     methods=["POST"])
    app.register_blueprint(calls.bp)  # recordings, click-to-call
    app.register_blueprint(popup.bp)  # the screen-pop page and its JSON
    app.register_blueprint(notify.bp)  # browser notifications' reminders (static/notify.js)
    # The REST API for integrations: Bearer tokens only, never the admin's session or CSRF.
    app.register_blueprint(app.extensions["csrf"].exempt(rest_http.bp))


def _views(db) -> list:
    """The pages in menu order: Flask-Admin builds the menu in the order views are added
    (a category sits where its first page is), so this list reads as the menu does.
    Five categories keep the navbar on one line at 1280 px for heads and admins: one's
    own work, the clients, cold calling, reports, settings (reference data, telephony).
    Endpoints and URLs are what ``url_for`` and links use: keep them."""
    m, v = models, views
    work, clients, cold, reports, settings = (_l("Work"), _l("Clients"), _l("Cold calling"), _l("Reports"),
                                              _l("Settings"))
    return [
        crm.InquiryQueueView(db, name=_l("Queue"), category=work, endpoint="queue", url="/admin/queue"),
        crm.MyTasksView(db, name=_l("My tasks"), category=work, endpoint="my_tasks", url="/admin/my-tasks"),
        crm.MyDealsView(db, name=_l("My deals"), category=work, endpoint="my_deals", url="/admin/my-deals"),
        workspace.WorkspaceView(db, name=_l("Workspace"), category=work, endpoint="workspace",
                                url="/admin/workspace"),
        schedules.DutyView(db, name=_l("Who is on duty"), category=work, endpoint="duty", url="/admin/duty"),
        v.CompanyView(m.Company, db, name=_l("Companies"), category=clients),
        v.ContactView(m.Contact, db, name=_l("Contacts"), category=clients),
        v.LeadView(m.Lead, db, name=_l("Leads"), category=clients),
        v.DealView(m.Deal, db, name=_l("Deals"), category=clients),
        v.TaskView(m.Task, db, name=_l("Tasks"), category=clients),
        v.InquiryView(m.Inquiry, db, name=_l("All inquiries"), category=clients),
        v.CallView(m.Call, db, name=_l("Calls"), category=clients),
        client_import_view.ClientImportView(db, name=_l("Import clients"), category=clients,
                                            endpoint="import_clients", url="/admin/import-clients"),
        v.CallListView(m.CallList, db, name=_l("Call lists"), category=cold),
        v.ColdCallingView(m.CallListEntry, db, name=_l("Call list entries"), category=cold),
        v.CallScriptView(m.CallScript, db, name=_l("Call scripts"), category=cold),
        v.ColdCallingView(m.KbArticle, db, name=_l("Knowledge base"), category=cold),
        import_view.ImportView(db, name=_l("Import a call list"), category=cold, endpoint="import_list",
                               url="/admin/import"),
        analytics_view.AnalyticsView(db, name=_l("Analytics"), category=reports, endpoint="analytics",
                                     url="/admin/analytics"),
        crm.SourceQualityView(db, name=_l("Source quality"), category=reports, endpoint="source_quality",
                              url="/admin/source-quality"),
        v.ReportSendView(m.ReportSend, db, name=_l("Sent reports"), category=reports,
                         endpoint="report_sends"),
        v.AuditLogView(m.AuditLog, db, name=_l("Audit log"), category=reports, endpoint="audit_log"),
        outbox_view.MailOutboxView(m.MailOutbox, db, name=_l("E-mail outbox"), category=reports,
                                   endpoint="mail_outbox"),
        v.EmployeeView(m.Employee, db, name=_l("Employees"), category=settings),
        schedules.ShiftView(m.EmployeeShift, db, name=_l("Work schedules"), category=settings,
                            endpoint="shifts"),
        schedules.AbsenceView(m.EmployeeAbsence, db, name=_l("Absences"), category=settings,
                              endpoint="absences"),
        v.DepartmentView(m.Department, db, name=_l("Departments"), category=settings),
        v.TrackingNumberView(m.TrackingNumber, db, name=_l("Tracking numbers"), category=settings),
        v.BlockedNumberView(m.BlockedNumber, db, name=_l("Blocklist"), category=settings),
        hours_view.HoursView(db, name=_l("Working hours"), category=settings, endpoint="hours",
                             url="/admin/hours"),
        v.ReferenceView(m.DealStage, db, name=_l("Deal stages"), category=settings),
        v.ReferenceView(m.DealStageTaskRule, db, name=_l("Stage task rules"), category=settings),
        inquiry_classes.InquiryClassView(m.InquiryClass, db, name=_l("Inquiry classes"), category=settings),
        v.ReferenceView(m.InquirySubclass, db, name=_l("Inquiry subclasses"), category=settings),
        v.ReferenceView(m.Source, db, name=_l("Sources"), category=settings),
        webhooks_view.WebhookView(m.Webhook, db, name=_l("Webhooks"), category=settings,
                                  endpoint="webhooks"),
        webhooks_view.WebhookDeliveryView(m.WebhookDelivery, db, name=_l("Webhook deliveries"),
                                          category=settings, endpoint="webhook_deliveries"),
        api_tokens.ApiTokenView(db, name=_l("API tokens"), category=settings, endpoint="api_tokens",
                                url="/admin/api-tokens"),
        crm.CardView(db, name=_l("Card"), endpoint="card", url="/admin/card"),  # hidden: reached by links
    ]
