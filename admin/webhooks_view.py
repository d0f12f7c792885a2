"""Webhooks in the admin (admins only): the URLs and their event kinds (the secret made
here, shown to admins on the webhook's page), "Send test event" (a ``ping`` for that
webhook alone), and the deliveries log with "Retry now" for a failed one. The daemon
sends (pbx_daemon.telephony.outputs.webhooks)."""

from __future__ import annotations


from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup, escape
from wtforms import SelectMultipleField
from wtforms.validators import DataRequired, Length, ValidationError

from admin.views import ScopedModelView
from admin.times import admin_now
from pbx_daemon.crm import models as m
from pbx_daemon.crm.webhooks import emit
from pbx_daemon.crm.webhooks.delivery import url_problem
from pbx_daemon.crm.webhooks.store import retry_now

ADMINS = frozenset({"admin"})


class KindsField(SelectMultipleField):
    """The event kinds, stored space-separated (none chosen: every kind)."""

    def process_data(self, value):
        self.data = value.split() if isinstance(value, str) else list(value or [])

    def populate_obj(self, obj, name):
        setattr(obj, name, " ".join(self.data or []))

    def pre_validate(self, form):
        bad = set(self.data or []) - set(m.WEBHOOK_EVENT_KINDS)
        if bad:
            raise ValidationError(gettext("Unknown event kinds: %(kinds)s", kinds=", ".join(sorted(bad))))


# url_problem's words, for the form.
URL_PROBLEMS = {
    "not a valid URL": _l("not a valid URL"),
    "only http:// and https:// URLs": _l("only http:// and https:// URLs"),
    "the URL has no host": _l("the URL has no host"),
    "no user name or password in the URL": _l("no user name or password in the URL"),
}


def _url(form, field):
    problem = url_problem(field.data or "")
    if problem is not None:
        raise ValidationError(gettext("Not a webhook URL: %(problem)s",
                                      problem=URL_PROBLEMS.get(problem, problem)))


def _button(endpoint: str, label: str, css: str, **values) -> Markup:
    from flask_wtf.csrf import generate_csrf

    return Markup('<form method="post" action="{}" style="display:inline">'
                  '<input type="hidden" name="csrf_token" value="{}">'
                  '<button class="btn btn-sm {}" type="submit">{}</button></form>').format(
        url_for(endpoint, **values), generate_csrf(), css, label)


class WebhookView(ScopedModelView):
    roles = ADMINS
    column_list = ("name", "url", "events", "active", "created_at", "test")
    column_details_list = ("name", "url", "events", "active", "created_at", "secret")
    column_labels = {"test": _l("Test")}
    form_columns = ("name", "url", "events", "active")
    form_overrides = {"events": KindsField}
    form_args = {
        "name": {"validators": [DataRequired(), Length(max=120)]},
        "url": {"validators": [DataRequired(), Length(max=500), _url]},
        "events": {"choices": [(k, k) for k in m.WEBHOOK_EVENT_KINDS],
                   "description": _l("None chosen: every event.")},
    }
    column_formatters = {
        "events": lambda v, c, row, n: row.events or gettext("all"),
        "test": lambda v, c, row, n: _button(".ping", gettext("Send test event"),
                                             "btn-outline-primary", webhook_id=row.id),
    }

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        if is_created:
            flash(Markup(escape(gettext("The webhook's secret (the receiver checks "
                                        "X-PbxCrm-Signature with it):"))) +
                  Markup(" <code>{}</code>").format(model.secret), "info")

    @expose("/<int:webhook_id>/ping", methods=("POST",))
    def ping(self, webhook_id: int):
        """A test event for this webhook alone (delivered like any other, logged)."""
        session = self._db()
        hook = session.get(m.Webhook, webhook_id)
        if hook is None:
            abort(404)
        emit(session, "ping", {"webhook": {"id": hook.id, "name": hook.name},
                               "at": admin_now().isoformat()}, webhook_id=hook.id)
        session.commit()
        flash(gettext("A test event is queued for %(name)s; see Webhook deliveries.", name=hook.name),
              "success")
        return redirect(request.referrer or url_for(".index_view"))


class WebhookDeliveryView(ScopedModelView):
    """The deliveries log: read-only, filtered by webhook and status."""

    roles = ADMINS
    can_create = can_edit = can_delete = False
    can_view_details = False
    column_list = ("id", "webhook", "event.kind", "event_id", "status", "attempts",
                   "next_attempt_at", "last_status_code", "last_error", "delivered_at", "retry")
    column_labels = {"id": _l("Delivery"), "event.kind": _l("Event"), "retry": _l("Retry")}
    column_filters = ("webhook.name", "status")
    column_default_sort = ("id", True)
    column_formatters = {
        "retry": lambda v, c, row, n: _button(".retry", gettext("Retry now"), "btn-outline-warning",
                                              delivery_id=row.id) if row.status == "failed" else "",
    }

    def _editable(self):
        return False

    @expose("/<int:delivery_id>/retry", methods=("POST",))
    def retry(self, delivery_id: int):
        session = self._db()
        if retry_now(session, delivery_id, admin_now()):
            session.commit()
            flash(gettext("Delivery %(id)s will be tried again now.", id=delivery_id), "success")
        else:
            flash(gettext("Only a failed delivery can be retried."), "warning")
        return redirect(request.referrer or url_for(".index_view"))
