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

from flask import abort, current_app, flash, g, make_response, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.contrib.sqla.fields import InlineModelFormList, QuerySelectField
from flask_admin.model.template import EndpointLinkRowAction
from flask_admin.model import typefmt
from sqlalchemy import inspect as sa_inspect, or_, select
from sqlalchemy.orm import object_session
from wtforms import StringField
from wtforms.validators import DataRequired, NumberRange, Optional, Regexp, ValidationError

from admin import labels
from admin.access import CARD_MODELS, SEE_ALL, can_see, linkable, scope, sees_mobile
from admin.display import ENUM_COLUMNS, choices, label_of, show_phone
from admin.phones import request_phones_sync, sip_settings
from admin.times import CompanyTimeTaskForm, admin_now, datetime_formatter
from pbx_daemon.crm import models as m
from pbx_daemon.telephony.names import ENDPOINT_NAME
from pbx_daemon.telephony.phones_file import new_sip_password, set_sip_password
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


# ---- validators ---------------------------------------------------------------------------
def _region() -> str:
    from flask import current_app

    return current_app.extensions["pbx_crm_config"].general.default_region


PHONE_INPUT = 40  # "+7 (916) 999-88-77 доб. 1234" and the like, as people type them


def phone_error() -> str:
    return gettext("Not a phone number. Type it as people write it, e.g. 8 (916) 999-88-77 "
                   "or +7 916 999 88 77 доб. 12.")


def e164_field(form, field):
    """Normalise a typed number to E.164 (its extension to ``field.ext``) or refuse it with
    a field error the user can act on."""
    field.ext = None
    if not field.data:
        return
    if len(field.data) > PHONE_INPUT:
        raise ValidationError(gettext("A phone number is at most %(n)s characters.", n=PHONE_INPUT))
    try:
        number = normalize(field.data, _region())
    except InvalidPhoneNumber:
        raise ValidationError(phone_error()) from None
    field.data, field.ext = number.e164, number.ext


class PhoneField(StringField):
    """A phone input that takes any human format (up to :data:`PHONE_INPUT` characters,
    not the column's 16) and stores E.164; the extension typed after "доб." goes to the
    row's ``<name>_ext`` column when it has one. Used through ``form_overrides``, so
    Flask-Admin adds no ``Length(max=16)`` (and no ``maxlength="16"`` on the input)."""

    def __init__(self, label=None, validators=None, **kwargs):
        # Normalised first: the Unique check Flask-Admin adds then sees the E.164 form.
        validators = [e164_field, *(v for v in (validators or []) if v is not e164_field)]
        render_kw = {"maxlength": PHONE_INPUT, "inputmode": "tel", "autocomplete": "tel",
                     "placeholder": "8 (916) 999-88-77", **(kwargs.pop("render_kw", None) or {})}
        kwargs.pop("filters", None)  # "" -> None is done below
        super().__init__(label, validators=validators, render_kw=render_kw,
                         filters=[lambda v: v.strip() if isinstance(v, str) else v], **kwargs)

    def populate_obj(self, obj, name):
        setattr(obj, name, self.data or None)
        ext = getattr(self, "ext", None)
        if ext and hasattr(type(obj), f"{name}_ext"):  # a number typed without one keeps the row's
            setattr(obj, f"{name}_ext", ext)


# Every phone column a form edits: typed as people write it, stored as E.164.
PHONE_OVERRIDES = {"phone": PhoneField, "number": PhoneField, "mobile": PhoneField}


AJAX_PAGE = 20  # rows an ajax lookup returns at most, whatever the request asks


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """An ajax lookup (``form_ajax_refs``) that finds only rows the user may link to."""

    def get_query(self):
        query = super().get_query()
        clause = linkable(self.model, g.user)
        return query if clause is None else query.filter(clause)

    def get_list(self, term, offset=0, limit=AJAX_PAGE):
        return super().get_list(term or "", max(offset or 0, 0), min(max(limit or AJAX_PAGE, 1), AJAX_PAGE))


# Cards a manager or operator must own: one they create or leave without a responsible is
# theirs, or it would vanish from their own list.
OWNED_CARDS = (m.Company, m.Contact, m.Lead, m.Deal)
OWNERS = frozenset({"manager", "operator"})


class ScopedModelView(RoleGate, ModelView):
    """A model view limited to the user's scope: lists, counts and rows (:func:`scope`),
    and its forms: each relationship offers and accepts only rows the user may link to
    (:func:`linkable`), checked again on every POST whatever the field's widget."""

    can_view_details = True
    page_size = 50
    # Times in company time (general.timezone), lists and details alike.
    column_type_formatters = {**typefmt.BASE_FORMATTERS, datetime: datetime_formatter}
    column_type_formatters_detail = {**typefmt.DETAIL_FORMATTERS, datetime: datetime_formatter}
    # Searching a phone column with "8 (916) 123-45-67" finds "+79161234567".
    phone_search = False
    form_overrides = PHONE_OVERRIDES

    def __init__(self, model, session, *args, **kwargs):
        # Labels, enum words and enum selects from one table per model (admin.labels,
        # admin.display); what a view sets itself wins.
        def own(name):  # a view's own setting (Flask-Admin's defaults are not dicts)
            value = getattr(self, name, None)
            return value if isinstance(value, (dict, list, tuple)) else {}

        named = [*own("column_filters"), *own("column_searchable_list"), *own("column_list")]
        self.column_labels = {**labels.column_labels(model, named), **own("column_labels")}
        self.column_choices = {**labels.column_choices(model), **own("column_choices")}
        self.form_choices = {**{column: choices(enum) for (table, column), enum in ENUM_COLUMNS.items()
                                if table == model.__tablename__}, **own("form_choices")}
        super().__init__(model, session, *args, **kwargs)

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

    # ---- forms: relationships within the scope --------------------------------------------
    def _link_clause(self, name: str, remote):
        """The rows field ``name`` (a relationship to ``remote``) may point at; None: any."""
        return linkable(remote, g.user)

    def _relations(self, form):
        """(field, remote model) for each relationship field of ``form`` (inline lists
        edit the row's own children and are left to them)."""
        relationships = sa_inspect(self.model).relationships
        for field in form:
            if field.name in relationships and not isinstance(field, InlineModelFormList):
                yield field, relationships[field.name].mapper.class_

    def create_form(self, obj=None):
        form = self._scoped_form(super().create_form(obj), None)
        # A new card's responsible is its creator unless they pick another (issue 15).
        responsible = getattr(form, "responsible", None)
        if request.method == "GET" and isinstance(responsible, QuerySelectField) and responsible.data is None:
            clause = linkable(m.Employee, g.user)
            if clause is None or self._db().scalar(select(m.Employee.id).where(
                    m.Employee.id == g.user.id, clause)) is not None:
                responsible.data = self._db().get(m.Employee, g.user.id)
        return form

    def edit_form(self, obj=None):
        return self._scoped_form(super().edit_form(obj), obj)

    def _scoped_form(self, form, row):
        form.scoped_row = row
        for field in form:
            if hasattr(field, "blank_text"):  # an empty choice reads "—", not "__None" or nothing
                field.blank_text = "—"
        for field, remote in self._relations(form):
            if isinstance(field, QuerySelectField):  # the multiple select is one too
                field.query_factory = self._options(field.name, remote, self._current_ids(row, field.name))
        return form

    def _current_ids(self, row, name) -> set[int]:
        """The ids a saved row already links to through ``name``: keeping them is no change."""
        if row is None:
            return set()
        value = getattr(row, name)
        rows = value if isinstance(value, list) else [value] if value is not None else []
        return {r.id for r in rows}

    def _options(self, name, remote, current: set[int]):
        def query():
            q = self._db().query(remote)
            clause = self._link_clause(name, remote)
            if clause is None:
                return q
            return q.filter(clause | remote.id.in_(current)) if current else q.filter(clause)
        return query

    def _db(self):
        """The request's session (Flask-Admin holds the db object)."""
        return getattr(self.session, "session", self.session)

    def _create_ajax_loader(self, name, options):
        remote = getattr(self.model, name).prop.mapper.class_
        return ScopedAjaxLoader(name, self.session, remote, **options)

    def validate_form(self, form):
        if not super().validate_form(form):
            bad = [field for field, _ in self._relations(form) if field.errors]
            if bad:
                flash(refused_message(bad), "error")
            elif form.errors and request.method == "POST":
                flash(gettext("Not saved: correct the fields marked below."), "error")
            g.form_refused = True  # the field says why: not Flask-Admin's bare "Failed to ..."
            return False
        return self._validate_links(form)

    def render(self, template, **kwargs):
        if g.get("form_refused"):
            from flask import session
            from flask_admin.babel import gettext as admin_gettext

            generic = {str(admin_gettext("Failed to create record.")), str(admin_gettext("Failed to update record."))}
            session["_flashes"] = [f for f in session.get("_flashes", []) if str(f[1]) not in generic]
        return super().render(template, **kwargs)

    def _validate_links(self, form):
        bad = [field for field, remote in self._relations(form) if not self._linkable_post(field, remote, form)]
        if bad:
            flash(refused_message(bad), "error")
            g.form_refused = True
            return False
        return True

    def _linkable_post(self, field, remote, form) -> bool:
        """Are the ids POSTed for ``field`` (whatever its widget sent) all rows the user
        may link to, or ones the row already had?"""
        posted = {v for raw in request.form.getlist(field.name) for v in str(raw).split(",")}
        posted -= {"", "__None"}
        if not posted:
            return True
        if not all(v.isdigit() for v in posted):
            return False
        ids = {int(v) for v in posted} - self._current_ids(getattr(form, "scoped_row", None), field.name)
        if not ids:
            return True
        query = select(remote.id).where(remote.id.in_(ids))
        clause = self._link_clause(field.name, remote)
        if clause is not None:
            query = query.where(clause)
        return len(set(self._db().scalars(query))) == len(ids)

    def on_model_change(self, form, model, is_created):
        """A new row in the creator's department; a card a manager creates, or leaves
        without a responsible, is theirs."""
        user = g.user
        if is_created and isinstance(model, (*OWNED_CARDS, m.Inquiry)) and \
                getattr(model, "department_id", 0) is None:
            model.department_id = user.department_id
        if hasattr(model, "responsible") and model.responsible is None and \
                (is_created or (user.role in OWNERS and isinstance(model, OWNED_CARDS))):
            model.responsible = user

    def _apply_search(self, query, count_query, joins, count_joins, search):
        if self.phone_search and search:
            try:
                search = normalize(search, _region()).e164
            except InvalidPhoneNumber:
                pass
        return super()._apply_search(query, count_query, joins, count_joins, search)


def card_link(kind: str, text=None, id_of=None):
    """A list column formatter: the cell's value (or ``text(row)``) as a link to the client
    card (:class:`admin.crm.CardView`) of ``kind``, whose id is ``id_of(row)`` (the row's
    own by default); empty when there is none."""
    from markupsafe import Markup, escape

    def format(view, context, row, name):
        card_id = id_of(row) if id_of else row.id
        value = text(row) if text else getattr(row, name)
        if value is None or value == "":
            return ""
        if card_id is None:
            return escape(value)
        return Markup(f'<a href="{url_for("card.show", kind=kind, card_id=card_id)}">{escape(value)}</a>')
    return format


def _row_card(row):
    """(kind, id) of the client card a task or a call is about, the most specific first."""
    for kind in ("contact", "company", "lead", "deal", "inquiry"):
        card_id = getattr(row, f"{kind}_id", None)
        if card_id is not None:
            return kind, card_id
    return None, None


def row_card_link(view, context, row, name):
    from markupsafe import Markup, escape

    kind, card_id = _row_card(row)
    value = getattr(row, name) or ""
    if kind is None:
        return escape(value)
    return Markup(f'<a href="{url_for("card.show", kind=kind, card_id=card_id)}">'
                  f'{escape(value or gettext("Client card"))}</a>')


def refused_message(fields) -> str:
    return gettext("Not saved: %(fields)s may only name records you have access to "
                   "(responsible: yourself, or for a head someone in the department).",
                   fields=", ".join(str(f.label.text) for f in fields))



def endpoint_field(form, field):
    if field.data in (None, ""):
        field.data = None
        return
    if not ENDPOINT_NAME.match(field.data):
        raise ValidationError(gettext("letters, digits, '.', '_' and '-' only (it goes into dial strings)"))


def endpoint_list_field(form, field):
    for name in (n.strip() for n in (field.data or "").split(",")):
        if name and not ENDPOINT_NAME.match(name):
            raise ValidationError(gettext("%(name)s is not an endpoint name", name=repr(name)))


TIMEOUT = [Optional(), NumberRange(min=1, max=600, message=_l("1..600 seconds"))]


# ---- the views ----------------------------------------------------------------------------
class EmployeeView(ScopedModelView):
    roles = SUPERVISORS
    edit_roles = frozenset({"admin"})
    column_list = ("full_name", "login", "role", "sip_endpoint", "department", "off_until", "dnd", "active")
    column_searchable_list = ("full_name", "login", "sip_endpoint", "mobile")
    column_filters = ("role", "dnd", "active", "department.name")
    # Password hashes are set with `pbx-crm user add|passwd`, never shown or edited here.
    # SIP credentials are set with the "SIP password" action (shown once), never edited here.
    # Schedules and absences have their own pages (admin.schedules), which heads edit too;
    # "off now" is set on the duty page (in company time, from buttons).
    form_excluded_columns = ("password_hash", "session_nonce", "created_at", "updated_at",
                             "sip_md5_cred", "sip_password_set_at", "shifts", "absences",
                             "off_until")
    column_exclude_list = ("password_hash", "sip_md5_cred")
    column_details_exclude_list = ("password_hash", "sip_md5_cred")
    form_args = {"sip_endpoint": {"validators": [endpoint_field]},
                 "mobile": {"validators": [e164_field]},
                 "mobile_delay": {"validators": [Optional(), NumberRange(0, 120, message=_l("0..120 seconds"))]},
                 "login": {"validators": [DataRequired(), Regexp(r"^[A-Za-z0-9_.-]{1,64}$")]},
                 "full_name": {"validators": [DataRequired()]},
                 # Escalation e-mails go to it: one address, nothing an e-mail header would split.
                 "email": {"validators": [Optional(), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]}}
    column_descriptions = {"sip_endpoint": _l("the phone's SIP account, e.g. 101; changing it "
                                              "cancels the SIP password (set a new one)"),
                           "mobile_follow": _l("the mobile rings in the employee's own steps; "
                                               "they press 1 to take the call")}
    # A head sees the mobiles of their own department only (:func:`sees_mobile`).
    column_formatters = {"mobile": lambda view, context, e, name: e.mobile if sees_mobile(g.user, e) else "—"}

    # ---- SIP phones: the password page, and the phones file after a change ----------------
    def get_list_row_actions(self):
        actions = super().get_list_row_actions()
        if g.user.role == "admin":
            actions.append(EndpointLinkRowAction("fa fa-key", ".sip_password_view",
                                                 title=_l("SIP password"), id_arg="employee_id"))
        return actions

    @expose("/sip-password/<int:employee_id>", methods=("GET", "POST"))
    def sip_password_view(self, employee_id):
        """GET: who, and a button; POST (CSRF): a new password, shown on this one page and
        never again (only its HA1 is stored). Admins only: a head sees the employees but
        never a phone's credentials."""
        if g.user.role != "admin":
            abort(403)
        session = self._db()
        employee = session.get(m.Employee, employee_id)
        if employee is None:
            abort(404)
        if request.method == "GET" or not employee.sip_endpoint:
            if request.method == "POST":
                flash(gettext("Set the employee's SIP phone first."), "error")
            return self.render("sip_password_confirm.html", employee=employee)
        password = new_sip_password()
        set_sip_password(employee, password, admin_now())
        session.commit()
        request_phones_sync()
        response = make_response(self.render(
            "sip_password.html", employee=employee,
            settings=sip_settings(current_app.extensions["pbx_crm_config"],
                                  employee.sip_endpoint, password)))
        # Shown once: no cache, no back-button copy, no proxy keeps it.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    def on_model_change(self, form, model, is_created):
        """The digest covers the endpoint's name: a renamed endpoint loses its credentials."""
        super().on_model_change(form, model, is_created)
        state = sa_inspect(model)
        renamed = not is_created and state.attrs.sip_endpoint.history.has_changes()
        if renamed and model.sip_md5_cred:
            model.sip_md5_cred = None
            model.sip_password_set_at = None
        g.phones_changed = renamed or state.attrs.active.history.has_changes() or \
            bool(is_created and model.sip_endpoint)

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        if not g.pop("phones_changed", False):
            return
        if model.sip_endpoint and not model.sip_md5_cred and model.active:
            from markupsafe import Markup, escape

            link = url_for(".sip_password_view", employee_id=model.id)
            said = gettext("The phone %(endpoint)s cannot register until it has a SIP password:",
                           endpoint=model.sip_endpoint)
            action = gettext("set a SIP password")
            flash(Markup(f'{escape(said)} <a href="{link}" id="set-sip-password">{escape(action)}</a>'),
                  "warning")
        request_phones_sync()

    def on_model_delete(self, model):
        super().on_model_delete(model)
        g.phones_changed = bool(model.sip_endpoint)

    def after_model_delete(self, model):
        super().after_model_delete(model)
        if g.pop("phones_changed", False):
            request_phones_sync()

    def _apply_search(self, query, count_query, joins, count_joins, search):
        # Nor can a head find who has a mobile by searching for it: outside the department
        # every word must match something else.
        query, count_query, joins, count_joins = super()._apply_search(
            query, count_query, joins, count_joins, search)
        user = g.user
        if search and user.role not in SEE_ALL:
            mine = m.Employee.department_id == user.department_id if user.department_id is not None \
                else m.Employee.id == user.id
            for word in search.split():
                pattern = f"%{word}%"
                clause = mine | or_(*(getattr(m.Employee, c).ilike(pattern)
                                      for c in ("full_name", "login", "sip_endpoint")))
                query = query.filter(clause)
                count_query = count_query.filter(clause) if count_query is not None else None
        return query, count_query, joins, count_joins


class DepartmentView(ScopedModelView):
    roles = SUPERVISORS
    edit_roles = frozenset({"admin"})
    column_list = ("name", "head", "duty_employee", "parent", "owner_timeout", "group_timeout",
                   "head_timeout", "top_timeout", "fallback_ring_group")
    # The greeting is uploaded on the working-hours page (admin.hours_view), never typed.
    form_excluded_columns = ("created_at", "updated_at", "members", "greeting_file")
    form_args = {"owner_timeout": {"validators": TIMEOUT}, "group_timeout": {"validators": TIMEOUT},
                 "head_timeout": {"validators": TIMEOUT}, "top_timeout": {"validators": TIMEOUT},
                 "fallback_ring_group": {"validators": [endpoint_list_field]},
                 "hold_seconds": {"validators": [Optional(), NumberRange(0, 600, message=_l("0..600 seconds"))]}}
    column_descriptions = {"owner_timeout": _l("seconds the client's own manager rings alone (empty: config default)"),
                           "hold_seconds": _l("every phone busy: the caller waits with music this long "
                                              "for the first one to free up (0: off)"),
                           "fallback_ring_group": _l("endpoints rung when nobody is available, e.g. 101,102")}


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
            from pbx_daemon.crm.merge import CARDS, MERGERS

            mergeable = kind in CARDS and g.user.role in MERGERS

            def merge_link(d):  # next to a duplicate of the same kind: merge it into this card
                if not (mergeable and d.kind == kind):
                    return ""
                href = url_for("card.merge", kind=kind, card_id=model.id, other=d.id)
                return f' <a class="merge-link" href="{href}">{escape(gettext("Merge…"))}</a>'

            links = ", ".join(
                f'<a href="{url_for("card.show", kind=d.kind, card_id=d.id)}">{escape(d.kind)} '
                f'«{escape(d.name)}»</a> ({escape(d.field)}){merge_link(d)}' for d in found[:10])
            flash(Markup(f"{escape(gettext('Possible duplicates:'))} {links}"), "warning")


def _inline(model, **form_args):
    """A card's own phones or e-mails, edited in the card's form: only its rows, never a
    select over the whole table (a posted id that is not the card's adds a new row)."""
    options = {"form_args": form_args, "column_labels": labels.column_labels(model)}
    if "phone" in form_args:
        options["form_excluded_columns"] = ("phone_ext",)
        options["form_overrides"] = PHONE_OVERRIDES
    return model, options


PHONE_ARGS = {"phone": {"validators": [DataRequired(), e164_field]}}
# Cards picked by typing a few letters (scoped lookups), not a select of 20,000 rows.
COMPANY_REF = {"company": {"fields": ("name",), "page_size": AJAX_PAGE}}
CONTACT_REF = {"contact": {"fields": ("full_name",), "page_size": AJAX_PAGE}}


class OwnPhones:
    """Mixin: a phone number added to a card may not be one on a card the user may not see
    (its calls would ring this card's manager and land on this card)."""

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        from pbx_daemon.crm.lookups import find_by_phone

        session = object_session(model)
        kind = "company" if isinstance(model, m.Company) else "contact"
        for phone in model.phones:
            state = sa_inspect(phone)
            if phone.phone is None or not (state.pending or state.transient or
                                           state.attrs.phone.history.has_changes()):
                continue
            for match in find_by_phone(session, phone.phone):
                if match.kind in ("company", "contact", "lead") and (match.kind, match.id) != (kind, model.id) \
                        and not can_see(session, g.user, session.get(CARD_MODELS[match.kind], match.id)):
                    raise ValidationError(gettext(
                        "Not saved: %(phone)s is on a card of another employee's client.",
                        phone=phone.phone))


class CompanyView(OwnPhones, DuplicateWarning, ScopedModelView):
    roles = OFFICE
    edit_roles = frozenset({"admin", "head", "manager", "operator"})
    column_searchable_list = ("name", "tax_id", "email", "phones.phone")
    column_filters = ("responsible.full_name", "created_at")
    form_excluded_columns = ("name_key", "created_at", "updated_at", "contacts")
    inline_models = (_inline(m.CompanyPhone, **PHONE_ARGS),)
    phone_search = True
    column_list = ("name", "phones", "tax_id", "email", "responsible", "created_at")
    column_formatters = {"name": card_link("company"),
                         "phones": lambda v, c, row, n: ", ".join(show_phone(p.phone) for p in row.phones)}


class ContactView(OwnPhones, DuplicateWarning, ScopedModelView):
    roles = OFFICE
    edit_roles = frozenset({"admin", "head", "manager", "operator"})
    column_searchable_list = ("full_name", "position", "phones.phone", "emails.email")
    column_filters = ("company.name", "responsible.full_name", "created_at")
    form_excluded_columns = ("name_key", "created_at", "updated_at")
    form_ajax_refs = COMPANY_REF
    inline_models = (_inline(m.ContactPhone, **PHONE_ARGS),
                     _inline(m.ContactEmail, email={"validators": [DataRequired(), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]}))
    phone_search = True
    column_list = ("full_name", "phones", "company", "position", "responsible", "created_at")
    column_formatters = {"full_name": card_link("contact"),
                         "company": card_link("company", text=lambda c: c.company.name if c.company else None,
                                              id_of=lambda c: c.company_id),
                         "phones": lambda v, c, row, n: ", ".join(show_phone(p.phone) for p in row.phones)}


class LeadView(DuplicateWarning, ScopedModelView):
    roles = OFFICE
    edit_roles = frozenset({"admin", "head", "manager", "operator"})
    column_list = ("title", "full_name", "company_name", "phone", "status", "source", "responsible", "created_at")
    column_searchable_list = ("title", "full_name", "company_name", "phone", "email")
    column_filters = ("status", "source.name", "responsible.full_name", "created_at")
    # The extension is typed with the number ("... доб. 12"): PhoneField fills phone_ext.
    form_excluded_columns = ("name_key", "created_at", "updated_at", "phone_ext")
    form_args = {"phone": {"validators": [e164_field]}}
    phone_search = True
    column_formatters = {"title": card_link("lead"), "full_name": card_link("lead"),
                         "phone": lambda v, c, row, n: show_phone(row.phone)}

    def create_form(self, obj=None):
        # "New number -> Create a lead" from the screen-pop page arrives with ?phone=.
        form = super().create_form(obj)
        if request.method == "GET" and request.args.get("phone") and not form.phone.data:
            form.phone.data = request.args["phone"][:PHONE_INPUT]
            form.title.data = form.title.data or request.args["phone"][:PHONE_INPUT]
        return form

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)


class DealView(ScopedModelView):
    roles = OFFICE
    edit_roles = frozenset({"admin", "head", "manager", "operator"})
    column_list = ("title", "company", "stage", "amount", "currency", "responsible", "created_at")
    column_searchable_list = ("title", "company.name")
    column_filters = ("stage.name", "responsible.full_name", "created_at", "amount")
    form_excluded_columns = ("created_at", "updated_at", "closed_at")
    form_ajax_refs = {**COMPANY_REF, **CONTACT_REF}
    column_formatters = {"title": card_link("deal"),
                         "company": card_link("company", text=lambda d: d.company.name if d.company else None,
                                              id_of=lambda d: d.company_id)}

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        # Stage rules (seed 004): putting a deal into a stage creates the stage's tasks.
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
                                    now=admin_now())
            if created:
                flash(gettext("Tasks created by the stage's rules: %(n)s", n=len(created)), "info")


class TaskView(CompanyTimeTaskForm, ScopedModelView):
    roles = ALL_ROLES
    column_list = ("title", "type", "responsible", "deadline", "status", "comment")
    column_default_sort = ("deadline", False)
    column_searchable_list = ("title", "comment")
    column_filters = ("status", "type", "responsible.full_name", "deadline")
    column_formatters = {"title": row_card_link}
    # The deadline is typed in company time; the reminder and the creator follow from the
    # form (admin.times.CompanyTimeTaskForm).
    form_excluded_columns = ("created_at", "updated_at", "done_at", "created_by_id", "remind_at", "escalated_at")
    form_args = {"title": {"validators": [DataRequired()]}, "comment": {"validators": [DataRequired()]},
                 "deadline": {"validators": [DataRequired()]},
                 "responsible": {"validators": [DataRequired()]}}

    def on_model_change(self, form, model, is_created):
        """A task marked done here gets its time (its webhook events are the session's:
        :func:`pbx_daemon.crm.webhooks.install_emitter`)."""
        super().on_model_change(form, model, is_created)
        if model.status == "done" and (is_created or sa_inspect(model).attrs.status.history.has_changes()):
            model.done_at = model.done_at or admin_now()


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
    column_formatters = {"phone": card_link("inquiry", text=lambda i: show_phone(i.phone)),
                         "name": card_link("inquiry")}


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
    column_formatters = {"callee": lambda view, context, call, name: _callee_cell(call),
                         "caller_name": row_card_link}

    def _editable(self):
        return False


class ReportSendView(ScopedModelView):
    """The daily reports the daemon e-mailed by itself (report.send_at): what, to whom,
    when, and why not when it failed. The owner's and the admin's, read-only."""

    roles = SEE_ALL
    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    column_list = ("day", "status", "recipients", "attempts", "sent_at", "error")
    column_default_sort = ("day", True)

    def _editable(self):
        return False


class AuditLogView(ScopedModelView):
    """Who merged which cards, when, and what moved (the merged card's fields are in the
    details). The owner's and the admin's, read-only."""

    roles = SEE_ALL
    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    column_list = ("at", "employee", "action", "object_kind", "kept_id", "merged_id", "details")
    column_details_list = column_list
    column_default_sort = ("at", True)
    column_filters = ("action", "object_kind")
    column_formatters = {
        "action": lambda v, c, row, n: {"merge": gettext("merge")}.get(row.action, row.action),
        "object_kind": lambda v, c, row, n: label_of("card_kind", row.object_kind),
        "kept_id": lambda v, c, row, n: _audit_card(row, row.kept_id),
        "details": lambda v, c, row, n: _audit_details(row.details),
    }

    def _editable(self):
        return False


def _audit_card(row, card_id):
    """The kept card's link while it exists (the merged one is gone: its number only)."""
    from markupsafe import Markup, escape

    if card_id is None or row.object_kind not in ("company", "contact", "lead"):
        return card_id
    return Markup(f'<a href="{url_for("card.show", kind=row.object_kind, card_id=card_id)}">'
                  f'{escape(card_id)}</a>')


def _audit_details(details):
    import json

    from markupsafe import Markup, escape

    text = json.dumps(details or {}, ensure_ascii=False, indent=1, sort_keys=True)
    return Markup(f'<pre class="mb-0" style="max-height:12em;overflow:auto">{escape(text)}</pre>')


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

    def is_visible(self):
        # In the menu for those who maintain them; the forms that use them need no menu.
        return self._editable()


class ColdCallingView(ScopedModelView):
    roles = frozenset({"admin", "owner", "head", "cold_operator"})
    edit_roles = frozenset({"admin", "head"})

    def _link_clause(self, name, remote):
        # A head staffs a call list from the department and the outsourced cold operators
        # (who belong to no department).
        clause = super()._link_clause(name, remote)
        if name == "operators" and g.user.role == "head" and g.user.department_id is not None:
            return clause | ((m.Employee.role == "cold_operator") & m.Employee.department_id.is_(None))
        return clause


class CallListView(ColdCallingView):
    """A call list's entries are never in its form (20,000 rows; saving the form without
    them must not delete them): they are listed, filtered by list, in the entries view."""

    form_excluded_columns = ("entries", "created_at", "updated_at", "created_by_id")


class CallScriptView(ColdCallingView):
    """Branching scripts: checked before they are saved (every answer leads somewhere that
    exists, every question can be reached)."""

    form_excluded_columns = ("created_at", "updated_at")

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        from pbx_daemon.crm.cold_calling import validate_script

        problems = validate_script(model.body)
        if problems:
            raise ValidationError("; ".join(problems[:5]))
