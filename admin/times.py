"""The company's time zone (``general.timezone``) on every time the admin shows or takes.

Stored times are aware UTC (:mod:`pbx_daemon.crm.types`). A page shows them in company
time (:func:`company_time`, the ``company_time`` Jinja filter, the model views' datetime
formatter); a time typed without a zone (a ``datetime-local`` input, a Flask-Admin date
field) is company time, with that date's own offset, and is stored as UTC
(:func:`typed_time`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, g
from markupsafe import Markup

from pbx_daemon.crm.funnel import REMIND_BEFORE


def admin_now() -> datetime:
    """The admin's clock (``create_app(clock=...)``, the system clock unless a test gives
    one) as an aware UTC datetime: every page's "now" and "today" come from it."""
    return datetime.fromtimestamp(current_app.extensions["pbx_crm_clock"].seconds(), timezone.utc)


def company_zone() -> ZoneInfo:
    return ZoneInfo(current_app.extensions["pbx_crm_config"].general.timezone)


def company_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``value`` (aware, or naive UTC) as the company's wall-clock time."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(company_zone()).strftime(fmt)


def in_company_time(value: datetime) -> datetime:
    """Aware ``value`` (naive: UTC) converted to the company's zone (isoformat with offset)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(company_zone())


def typed_time(value: datetime) -> datetime:
    """A time someone typed: naive means company time. Aware UTC out."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=company_zone())
    return value.astimezone(timezone.utc)


def datetime_formatter(view, value, name) -> Markup:
    """Flask-Admin's type formatter for datetimes: lists and details in company time."""
    return Markup.escape(company_time(value, "%Y-%m-%d %H:%M:%S"))


class CompanyTimeTaskForm:
    """Mixin for the task view: the deadline is typed and shown in company time, stored
    UTC; the reminder follows the deadline (call tasks, :data:`REMIND_BEFORE` before, as
    the screen-pop's tasks); a new task records who created it."""

    def on_form_prefill(self, form, id):
        super().on_form_prefill(form, id)
        if getattr(form, "deadline", None) is not None and isinstance(form.deadline.data, datetime):
            form.deadline.data = in_company_time(form.deadline.data).replace(tzinfo=None)

    def _on_model_change(self, form, model, is_created):
        if isinstance(model.deadline, datetime):
            model.deadline = typed_time(model.deadline)
            model.remind_at = model.deadline - REMIND_BEFORE if model.type == "call" else None
        if is_created and model.created_by_id is None and g.get("user") is not None:
            model.created_by_id = g.user.id
        super()._on_model_change(form, model, is_created)


def company_day(now: datetime) -> tuple[datetime, datetime]:
    """The company's calendar day holding ``now``: [midnight, next midnight) as aware UTC."""
    from datetime import timedelta

    local = in_company_time(now)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1, hours=2)).replace(hour=0)  # a DST day is 23 or 25 hours
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def company_midnight(now: datetime) -> datetime:
    return company_day(now)[0]
