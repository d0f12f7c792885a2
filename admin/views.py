"""Flask-Admin views over the data model, each scoped to what its user's role may see.

Roles (seed 001 "Разделение прав доступа", seed 000's outsourced operators):

=============  ================================================================
admin          everything
owner          everything, read-mostly (telephony settings read-only)
head           their department: its employees' cards, calls and inquiries
manager        their own clients / leads / deals / inquiries / tasks / calls, and the
               department's inquiries nobody has taken yet
operator       like a manager
cold_operator  only the call lists assigned to them, the scripts and the knowledge base
=============  ================================================================

A row outside the scope is not listed, not counted, and opening it is 403.
"""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext
from flask_admin.contrib.sqla import ModelView
from flask_admin.model import typefmt
from sqlalchemy.orm import object_session
from wtforms.validators import DataRequired, NumberRange, Optional, Regexp, ValidationError

from admin.access import can_see, scope
from admin.times import CompanyTimeTaskForm, datetime_formatter
from pbx_daemon.crm import models as m
from pbx_daemon.telephony.names import ENDPOINT_NAME
from pbx_daemon.crm.phones import InvalidPhoneNumber, normalize

ALL_ROLES = frozenset(m.ROLES)
OFFICE = frozenset({"admin", "owner", "head", "manager", "operator"})
SUPERVISORS = frozenset({"admin", "owner", "head"})
MAX_PAGE = 1_000_000


class RoleGate:
    """Mixin: only logged-in employees with one of ``roles`` get in; ``edit_roles`` may
    create, edit and delete."""

    roles: frozenset[str] = frozenset({"admin"})
    edit_roles: frozenset[str] | None = None

    def is_accessible(self) -> bool:
        user = g.get("user")
        return user is not None and user.role in self.roles

    def inaccessible_callback(self, name, **kwargs):
        if g.get("user") is None:
            return redirect(url_for("login", next=request.full_path))
        abort(403)

    def _editable(self) -> bool:
        user = g.get("user")
        edit = self.edit_roles if self.edit_roles is not None else self.roles
        return user is not None and user.role in edit


class ScopedModelView(RoleGate, ModelView):
    can_view_details = True
    page_size = 50
    # Times in company time (general.timezone), lists and details alike.
    column_type_formatters = {**typefmt.BASE_FORMATTERS, datetime: datetime_formatter}
    column_type_formatters_detail = {**typefmt.DETAIL_FORMATTERS, datetime: datetime_formatter}
    # Searching a phone column with "8 (916) 123-45-67" finds "+79161234567".
    phone_search = False

    @property
    def can_create(self):  # noqa: D401 - Flask-Admin reads these as attributes
        return self._editable()

    @property
    def can_edit(self):
        return self._editable()

    @property
    def can_delete(self):
        return self._editable() and g.user.role in ("admin",)

    def _scope(self):
        return scope(self.model, g.user)

    def get_query(self):
        query = super().get_query()
        clause = self._scope()
        return query if clause is None else query.filter(clause)

    def get_count_query(self):
        query = super().get_count_query()
        clause = self._scope()
        return query if clause is None else query.filter(clause)

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        # ?page= is any integer the URL says; past this the OFFSET overflows the database's.
        if page is not None and not 0 <= page <= MAX_PAGE:
            abort(400, f"page: 0..{MAX_PAGE}")
        return super().get_list(page, sort_column, sort_desc, search, filters, execute, page_size)

    def get_one(self, id):
        row = super().get_one(id)
        if row is None:
            return None
        if not can_see(object_session(row), g.user, row):
            abort(403)
        return row

    def _apply_search(self, query, count_query, joins, count_joins, search):
        if self.phone_search and search:
            try:
                search = normalize(search, _region()).e164
            except InvalidPhoneNumber:
                pass
        return super()._apply_search(query, count_query, joins, count_joins, search)


# ---- validators ---------------------------------------------------------------------------
def _region() -> str:
    from flask import current_app

    return current_app.extensions["pbx_crm_config"].general.default_region


def e164_field(form, field):
    if not field.data:
        return
    try:
        field.data = normalize(field.data, _region()).e164
    except InvalidPhoneNumber as e:
        raise ValidationError(str(e)) from None


def endpoint_field(form, field):
    if field.data in (None, ""):
        field.data = None
        return
    if not ENDPOINT_NAME.match(field.data):
        raise ValidationError("letters, digits, '.', '_' and '-' only (it goes into dial strings)")


def endpoint_list_field(form, field):
    for name in (n.strip() for n in (field.data or "").split(",")):
        if name and not ENDPOINT_NAME.match(name):
            raise ValidationError(f"{name!r} is not an endpoint name")


TIMEOUT = [Optional(), NumberRange(min=1, max=600, message="1..600 seconds")]


# ---- the views ----------------------------------------------------------------------------
class EmployeeView(ScopedModelView):
    roles = SUPERVISORS
    edit_roles = frozenset({"admin"})
    column_list = ("full_name", "login", "role", "sip_endpoint", "department", "on_shift", "dnd", "active")
    column_searchable_list = ("full_name", "login", "sip_endpoint", "mobile")
    column_filters = ("role", "on_shift", "dnd", "active", "department.name")
    # Password hashes are set with `pbx-crm user add|passwd`, never shown or edited here.
    form_excluded_columns = ("password_hash", "created_at", "updated_at")
    column_exclude_list = ("password_hash",)
    column_details_exclude_list = ("password_hash",)
    form_args = {"sip_endpoint": {"validators": [endpoint_field]},
                 "mobile": {"validators": [e164_field]},
                 "login": {"validators": [DataRequired(), Regexp(r"^[A-Za-z0-9_.-]{1,64}$")]},
                 "full_name": {"validators": [DataRequired()]}}
    form_choices = {"role": [(r, r) for r in m.ROLES]}


class DepartmentView(ScopedModelView):
    roles = SUPERVISORS
    edit_roles = frozenset({"admin"})
    column_list = ("name", "head", "duty_employee", "parent", "owner_timeout", "group_timeout",
                   "head_timeout", "top_timeout", "fallback_ring_group")
    form_excluded_columns = ("created_at", "updated_at", "members")
    form_args = {"owner_timeout": {"validators": TIMEOUT}, "group_timeout": {"validators": TIMEOUT},
                 "head_timeout": {"validators": TIMEOUT}, "top_timeout": {"validators": TIMEOUT},
                 "fallback_ring_group": {"validators": [endpoint_list_field]}}
    column_descriptions = {"owner_timeout": "seconds the client's own manager rings alone (empty: config default)",
                           "fallback_ring_group": "endpoints rung when nobody is available, e.g. 101,102"}


class TrackingNumberView(ScopedModelView):
    roles = SUPERVISORS
    edit_roles = frozenset({"admin"})
    phone_search = True
    column_list = ("number", "source", "department", "active", "description")
    column_searchable_list = ("number",)
    form_excluded_columns = ("created_at", "updated_at")
    form_args = {"number": {"validators": [DataRequired(), e164_field]}}


class BlockedNumberView(ScopedModelView):
    roles = SUPERVISORS
    edit_roles = frozenset({"admin", "head"})
    phone_search = True
    column_list = ("phone", "reason", "created_at", "expires_at")
    column_searchable_list = ("phone", "reason")
    form_excluded_columns = ("created_by_id",)
    form_args = {"phone": {"validators": [DataRequired(), e164_field]}}


class DuplicateWarning:
    """Mixin: after a card is created, warn (not refuse) when its phone, e-mail or name
    matches another card (seed 001: duplicates by phone / e-mail / name)."""

    def after_model_change(self, form, model, is_created):
        if not is_created:
            return
        from markupsafe import Markup, escape

        from pbx_daemon.crm.lookups import find_duplicates

        kind = type(model).__tablename__.rstrip("s").replace("companie", "company")
        phone = getattr(model, "phone", None) or next(
            (p.phone for p in getattr(model, "phones", []) or []), None)
        email = getattr(model, "email", None) or next(
            (e.email for e in getattr(model, "emails", []) or []), None)
        name = getattr(model, "name", None) or getattr(model, "full_name", None)
        found = [d for d in find_duplicates(object_session(model), phone=phone, email=email, name=name)
                 if not (d.kind == kind and d.id == model.id)]
        if found:
            links = ", ".join(
                f'<a href="{url_for("card.show", kind=d.kind, card_id=d.id)}">{escape(d.kind)} '
                f'«{escape(d.name)}»</a> ({escape(d.field)})' for d in found[:10])
            flash(Markup(f"{escape(gettext('Possible duplicates:'))} {links}"), "warning")


class CompanyView(DuplicateWarning, ScopedModelView):
    roles = OFFICE
    edit_roles = frozenset({"admin", "head", "manager", "operator"})
    column_list = ("name", "tax_id", "email", "responsible", "created_at")
    column_searchable_list = ("name", "tax_id", "email", "phones.phone")
    column_filters = ("responsible.full_name", "created_at")
    form_excluded_columns = ("name_key", "created_at", "updated_at", "contacts")
    phone_search = True


class ContactView(DuplicateWarning, ScopedModelView):
    roles = OFFICE
    edit_roles = frozenset({"admin", "head", "manager", "operator"})
    column_list = ("full_name", "company", "position", "responsible", "created_at")
    column_searchable_list = ("full_name", "position", "phones.phone", "emails.email")
    column_filters = ("company.name", "responsible.full_name", "created_at")
    form_excluded_columns = ("name_key", "created_at", "updated_at")
    phone_search = True


class LeadView(DuplicateWarning, ScopedModelView):
    roles = OFFICE
    edit_roles = frozenset({"admin", "head", "manager", "operator"})
    column_list = ("title", "full_name", "company_name", "phone", "status", "source", "responsible", "created_at")
    column_searchable_list = ("title", "full_name", "company_name", "phone", "email")
    column_filters = ("status", "source.name", "responsible.full_name", "created_at")
    form_excluded_columns = ("name_key", "created_at", "updated_at")
    form_args = {"phone": {"validators": [e164_field]}}
    form_choices = {"status": [(s, s) for s in m.LEAD_STATUSES]}
    phone_search = True

    def create_form(self, obj=None):
        # "New number -> Create a lead" from the screen-pop page arrives with ?phone=.
        form = super().create_form(obj)
        if request.method == "GET" and request.args.get("phone") and not form.phone.data:
            form.phone.data = request.args["phone"][:20]
            form.title.data = form.title.data or request.args["phone"][:20]
        return form

    def on_model_change(self, form, model, is_created):
        if is_created and model.responsible_id is None and model.responsible is None:
            model.responsible = g.user


class DealView(ScopedModelView):
    roles = OFFICE
    edit_roles = frozenset({"admin", "head", "manager", "operator"})
    column_list = ("title", "company", "stage", "amount", "currency", "responsible", "created_at")
    column_searchable_list = ("title", "company.name")
    column_filters = ("stage.name", "responsible.full_name", "created_at", "amount")
    form_excluded_columns = ("created_at", "updated_at", "closed_at")

    def on_model_change(self, form, model, is_created):
        # Stage rules (seed 004): putting a deal into a stage creates the stage's tasks.
        from datetime import datetime, timezone

        from sqlalchemy import inspect as sa_inspect

        from pbx_daemon.crm.funnel import entered_stage

        if model.stage is None:
            return
        history = sa_inspect(model).attrs.stage.history
        old = history.deleted[0] if history.deleted else None
        if is_created or (history.has_changes() and (old is None or old.id != model.stage.id)):
            if model.responsible_id is None and model.responsible is None:
                model.responsible = g.user
            session = object_session(model)
            session.flush()
            created = entered_stage(session, model, model.stage, by=g.user,
                                    now=datetime.now(timezone.utc))
            if created:
                flash(f"{len(created)} task(s) created by the stage's rules", "info")


class TaskView(CompanyTimeTaskForm, ScopedModelView):
    roles = ALL_ROLES
    column_list = ("title", "type", "responsible", "deadline", "status", "comment")
    column_default_sort = ("deadline", False)
    column_searchable_list = ("title", "comment")
    column_filters = ("status", "type", "responsible.full_name", "deadline")
    # The deadline is typed in company time; the reminder and the creator follow from the
    # form (admin.times.CompanyTimeTaskForm).
    form_excluded_columns = ("created_at", "updated_at", "done_at", "created_by_id", "remind_at")
    form_args = {"title": {"validators": [DataRequired()]}, "comment": {"validators": [DataRequired()]},
                 "deadline": {"validators": [DataRequired()]},
                 "responsible": {"validators": [DataRequired()]}}
    form_choices = {"type": [(t, t) for t in m.TASK_TYPES], "status": [(s, s) for s in m.TASK_STATUSES]}


class InquiryView(ScopedModelView):
    roles = OFFICE
    edit_roles = frozenset({"admin", "head", "manager", "operator"})
    column_list = ("first_seen_at", "channel", "phone", "name", "inquiry_class", "source",
                   "tracking_number", "missed_count", "status", "responsible")
    column_default_sort = ("first_seen_at", True)
    column_searchable_list = ("phone", "name", "email", "utm_source", "utm_campaign")
    column_filters = ("status", "channel", "inquiry_class.name", "source.name", "first_seen_at",
                      "responsible.full_name")
    form_excluded_columns = ("name_key", "created_at", "updated_at")
    phone_search = True


class CallView(ScopedModelView):
    roles = OFFICE
    can_create = False
    can_edit = False
    can_delete = False
    column_list = ("started_at", "direction", "caller", "callee", "caller_name", "outcome",
                   "answered_by", "talk_seconds", "handled_by", "recovered_at")
    column_default_sort = ("started_at", True)
    column_searchable_list = ("caller", "callee", "caller_name", "linkedid")
    column_filters = ("direction", "outcome", "handled_by", "started_at", "answered_by.full_name")
    phone_search = True
    # A call to a number on no card says so, with a one-click "new lead" (issue 12).
    column_formatters = {"callee": lambda view, context, call, name: _callee_cell(call)}

    def _editable(self):
        return False


def _callee_cell(call):
    from flask import render_template
    from markupsafe import Markup, escape

    return Markup(f"{escape(call.callee or '')} ") + Markup(
        render_template("_call_actions.html", c=call))


class ReferenceView(ScopedModelView):
    """Classes, sources, stages, rules: everyone in the office reads; admins and heads
    add (custom inquiry classes and subclasses, seed 003)."""

    roles = OFFICE
    edit_roles = frozenset({"admin", "head"})


class ColdCallingView(ScopedModelView):
    roles = frozenset({"admin", "owner", "head", "cold_operator"})
    edit_roles = frozenset({"admin", "head"})


class CallScriptView(ColdCallingView):
    """Branching scripts: checked before they are saved (every answer leads somewhere that
    exists, every question can be reached)."""

    form_excluded_columns = ("created_at", "updated_at")

    def on_model_change(self, form, model, is_created):
        from pbx_daemon.crm.cold_calling import validate_script

        problems = validate_script(model.body)
        if problems:
            raise ValidationError("; ".join(problems[:5]))
