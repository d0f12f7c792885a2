"""The admin web app: ``create_app(config)`` builds a Flask + Flask-Admin application.

Every page but the login page needs a logged-in employee; each view says which roles
may use it. The SQLAlchemy models are the daemon's own (``pbx_daemon.models``): the admin
never redefines a record or a rule.
"""

from __future__ import annotations

import os

from flask import Flask, abort, flash, g, redirect, render_template, request, session, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.theme import Bootstrap4Theme
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect, FlaskForm
from sqlalchemy import event, select
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from admin.views import RoleGate
from pbx_daemon import models


class LoginForm(FlaskForm):
    login = StringField("Login", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


class HomeView(RoleGate, AdminIndexView):
    roles = frozenset(models.ROLES)

    @expose("/")
    def index(self):
        return self.render("admin_home.html", user=g.user)


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
        for view in _views(db):
            admin.add_view(view)
    app.extensions["pbx_crm_config"] = config
    from admin import calls

    calls.init_app(app, db)
    return app


def _views(db):
    from admin import views as v

    m = models
    return [
        v.EmployeeView(m.Employee, db, category="Telephony"),
        v.DepartmentView(m.Department, db, category="Telephony"),
        v.TrackingNumberView(m.TrackingNumber, db, category="Telephony"),
        v.BlockedNumberView(m.BlockedNumber, db, category="Telephony", name="Blocklist"),
        v.CallView(m.Call, db, category="Calls"),
        v.CompanyView(m.Company, db, category="CRM"),
        v.ContactView(m.Contact, db, category="CRM"),
        v.LeadView(m.Lead, db, category="CRM"),
        v.DealView(m.Deal, db, category="CRM"),
        v.TaskView(m.Task, db, category="CRM"),
        v.ReferenceView(m.DealStage, db, category="CRM"),
        v.ReferenceView(m.DealStageTaskRule, db, category="CRM", name="Stage task rules"),
        v.InquiryView(m.Inquiry, db, category="Inquiries"),
        v.ReferenceView(m.InquiryClass, db, category="Inquiries"),
        v.ReferenceView(m.InquirySubclass, db, category="Inquiries"),
        v.ReferenceView(m.Source, db, category="Inquiries"),
        v.ColdCallingView(m.CallList, db, category="Cold calling"),
        v.ColdCallingView(m.CallListEntry, db, category="Cold calling"),
        v.ColdCallingView(m.CallScript, db, category="Cold calling"),
        v.ColdCallingView(m.KbArticle, db, category="Cold calling"),
    ]


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
