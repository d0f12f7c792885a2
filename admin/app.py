"""The admin web app: ``create_app(config)`` builds a Flask + Flask-Admin application.

Every page but the login page needs a logged-in employee; each view says which roles
may use it. The SQLAlchemy models are the daemon's own (``pbx_daemon.models``): the admin
never redefines a record or a rule.
"""

from __future__ import annotations

import os

from flask import Flask, abort, flash, g, redirect, render_template, request, session, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect, FlaskForm
from sqlalchemy import event, select
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from pbx_daemon import models

# Roles, from most to least powerful (see pbx_daemon.models.Employee.role).
ADMIN_ROLES = frozenset({"admin"})
SUPERVISOR_ROLES = frozenset({"admin", "owner", "head"})


class LoginForm(FlaskForm):
    login = StringField("Login", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


class _RoleGate:
    """Mixin: only logged-in employees with one of ``roles`` get in."""

    roles: frozenset[str] = ADMIN_ROLES

    def is_accessible(self) -> bool:
        user = g.get("user")
        return user is not None and user.role in self.roles

    def inaccessible_callback(self, name, **kwargs):
        if g.get("user") is None:
            return redirect(url_for("login", next=request.full_path))
        abort(403)


class HomeView(_RoleGate, AdminIndexView):
    roles = frozenset({"admin", "owner", "head", "manager", "operator", "cold_operator"})

    @expose("/")
    def index(self):
        return self.render("admin_home.html", user=g.user)


class SecureModelView(_RoleGate, ModelView):
    can_view_details = True
    page_size = 50


class EmployeeView(SecureModelView):
    column_list = ("full_name", "login", "role", "sip_endpoint", "department", "on_shift", "dnd", "active")
    column_searchable_list = ("full_name", "login", "sip_endpoint")
    column_filters = ("role", "on_shift", "dnd", "active")
    # Password hashes are set with `pbx-crm user add|passwd`, never shown or edited here.
    form_excluded_columns = ("password_hash",)
    column_exclude_list = ("password_hash",)
    column_details_exclude_list = ("password_hash",)


def _engine_options(url: str) -> dict:
    options: dict = {"url": url}
    if url.startswith("postgresql"):
        options["pool_pre_ping"] = True
    return options


def create_app(config=None) -> Flask:
    """Build the admin for ``config`` (a :class:`pbx_daemon.config.Config`)."""
    if config is None:
        from pbx_daemon.config import load_config

        config = load_config(None, os.environ)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.admin.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.admin.public_url.startswith("https://"),
        SQLALCHEMY_ENGINES={"default": _engine_options(config.database.url)},
        WTF_CSRF_TIME_LIMIT=None,
    )
    db = SQLAlchemy(app)
    CSRFProtect(app)
    if config.database.url.startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)

    @app.before_request
    def load_user():
        g.user = None
        employee_id = session.get("employee_id")
        if employee_id is not None:
            user = db.session.get(models.Employee, employee_id)
            if user is not None and user.active:
                g.user = user

    @app.route("/")
    def root():
        return redirect(url_for("admin.index"))

    @app.route("/login", methods=["GET", "POST"])
    def login():
        form = LoginForm()
        if form.validate_on_submit():
            user = db.session.scalar(
                select(models.Employee).where(models.Employee.login == form.login.data.strip()))
            if user and user.active and user.password_hash and \
                    check_password_hash(user.password_hash, form.password.data):
                session.clear()
                session["employee_id"] = user.id
                target = request.args.get("next", "")
                # Only same-site paths: never redirect a fresh session off-site.
                if not target.startswith("/") or target.startswith("//"):
                    target = url_for("admin.index")
                return redirect(target)
            flash("Wrong login or password.", "error")
        return render_template("login.html", form=form), 200

    @app.route("/logout", methods=["POST"])
    def logout():
        session.clear()
        return redirect(url_for("login"))

    admin = Admin(app, name="pbx-crm", index_view=HomeView(url="/admin"), theme=Bootstrap4Theme())
    # Flask-Admin reads the session's binding while building views: it needs an app context.
    with app.app_context():
        admin.add_view(EmployeeView(models.Employee, db, category="Telephony"))
        for model, category in _plain_views():
            admin.add_view(SecureModelView(model, db, category=category))
    app.extensions["pbx_crm_config"] = config
    from admin import calls

    calls.init_app(app, db)
    return app


def _plain_views():
    names = [
        ("Department", "Telephony"), ("TrackingNumber", "Telephony"), ("Blocklist", "Telephony"),
        ("Call", "Calls"), ("CallLeg", "Calls"), ("Recording", "Calls"),
        ("Company", "CRM"), ("Contact", "CRM"), ("Lead", "CRM"), ("Deal", "CRM"),
        ("DealStage", "CRM"), ("Task", "CRM"),
        ("Inquiry", "Inquiries"), ("InquiryClass", "Inquiries"), ("InquirySubclass", "Inquiries"),
        ("Source", "Inquiries"),
        ("CallList", "Cold calling"), ("CallListEntry", "Cold calling"),
        ("CallScript", "Cold calling"), ("KbArticle", "Cold calling"),
    ]
    for name, category in names:
        model = getattr(models, name, None)
        if model is not None:
            yield model, category


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
