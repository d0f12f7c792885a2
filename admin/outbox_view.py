"""The e-mail outbox in the admin (admins and the owner): what the daemon owes or has
sent (pbx_daemon.crm.outbox), read-only, newest first, filtered by status and kind; the
text on each e-mail's own page only; "Send again" makes a given-up or queued e-mail due
now (the daemon's next look at the outbox, every 15 s, sends it)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup

from admin.access import SEE_ALL
from admin.display import choices, label_of
from admin.times import admin_now
from admin.views import ScopedModelView
from admin.webhooks_view import _button
from pbx_daemon.crm import models as m
from pbx_daemon.crm.outbox.rules import status
from pbx_daemon.crm.outbox.store import STATUS_WHERE, send_again


class StatusFilter(FilterEqual):
    """Status equals queued, sent or failed (derived from ``sent_at`` and ``failed_at``)."""

    def apply(self, query, value, alias=None):
        where = STATUS_WHERE.get(value)
        return query if where is None else query.filter(where)


def _status(row) -> str:
    return status(row.sent_at, row.failed_at)


def _text(v, c, row, name) -> Markup:
    """A multi-line text (the body, an error) as it was written."""
    return Markup('<pre class="mb-0" style="white-space:pre-wrap">{}</pre>').format(getattr(row, name) or "")


class MailOutboxView(ScopedModelView):
    roles = SEE_ALL
    can_create = can_edit = can_delete = False
    can_view_details = True
    column_list = ("created_at", "kind", "recipient", "subject", "status", "attempts",
                   "next_attempt_at", "last_error", "send_again")
    column_details_list = ("id", "created_at", "kind", "recipient", "subject", "status", "attempts",
                           "next_attempt_at", "sent_at", "failed_at", "last_error", "body")
    column_labels = {"status": _l("Status"), "send_again": _l("Send again")}
    column_filters = (StatusFilter(m.MailOutbox.id, _l("Status"), options=choices("mail_status")),
                      FilterEqual(m.MailOutbox.kind, _l("Kind"), options=choices("mail_kind")))
    column_default_sort = [("created_at", True), ("id", True)]
    column_formatters = {
        "status": lambda v, c, row, n: label_of("mail_status", _status(row)),
        "send_again": lambda v, c, row, n: "" if _status(row) == "sent" else _button(
            ".send_again", gettext("Send again"), "btn-outline-warning", mail_id=row.id),
    }
    column_formatters_detail = {
        "status": lambda v, c, row, n: label_of("mail_status", _status(row)),
        "body": _text,
    }

    def _editable(self):
        return False

    @expose("/<int:mail_id>/send-again", methods=("POST",))
    def send_again(self, mail_id: int):
        session = self._db()
        if session.get(m.MailOutbox, mail_id) is None:
            abort(404)
        if send_again(session, mail_id, admin_now()):
            session.commit()
            flash(gettext("E-mail %(id)s is due now: the daemon sends it at its next look at "
                          "the outbox.", id=mail_id), "success")
        else:
            flash(gettext("E-mail %(id)s was sent already: there is nothing to send again.",
                          id=mail_id), "warning")
        return redirect(request.referrer or url_for(".index_view"))
