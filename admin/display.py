"""How the pages show things: names in the page's language and phone numbers as people
write them. The templates get these as Jinja globals (:func:`admin.app.create_app`); views
import them from here. Display only: nothing here decides or stores anything.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import get_locale, gettext
from flask_babel import lazy_pgettext as _p

from pbx_daemon.crm.phones import format_display


def in_page_language(name: str, name_ru: str | None) -> str:
    """``name_ru`` on a Russian page when there is one, else ``name``."""
    return name_ru if str(get_locale()) == "ru" and name_ru else name


def class_name(inquiry_class) -> str:
    """An inquiry class in the page's language (seed 003's classes carry both)."""
    if inquiry_class is None:
        return ""
    return in_page_language(inquiry_class.name, inquiry_class.name_ru)


def show_phone(number: str | None) -> str:
    """``+79161234567`` as ``8 (916) 123-45-67`` at home (``general.default_region``),
    international form abroad; anything unparsable as it is."""
    if not number:
        return ""
    try:
        return format_display(number, current_app.extensions["pbx_crm_config"].general.default_region)
    except Exception:  # noqa: BLE001 - display only
        return number


# ---- enumerations: one table per enum, the stored value -> what a person reads -----------
# The keys are the models' constants (the translation test checks they match); the texts
# are English msgids with their Russian in the catalog.
ENUMS: dict[str, dict[str, object]] = {
    "role": {"admin": _p("role", "administrator"), "owner": _p("role", "owner"), "head": _p("role", "head of department"),
             "manager": _p("role", "manager"), "operator": _p("role", "operator"), "cold_operator": _p("role", "cold-call operator")},
    "task_type": {"call": _p("task_type", "call"), "meeting": _p("task_type", "meeting"), "email": _p("task_type", "e-mail")},
    "task_status": {"open": _p("task_status", "open"), "done": _p("task_status", "done"), "cancelled": _p("task_status", "cancelled")},
    "lead_status": {"new": _p("lead_status", "new"), "in_progress": _p("lead_status", "in progress"), "converted": _p("lead_status", "converted"),
                    "lost": _p("lead_status", "lost")},
    "inquiry_channel": {"call": _p("inquiry_channel", "phone call"), "web_form": _p("inquiry_channel", "web form"), "email": _p("inquiry_channel", "e-mail"),
                        "cold_call": _p("inquiry_channel", "cold call")},
    "inquiry_status": {"open": _p("inquiry_status", "open"), "in_progress": _p("inquiry_status", "in progress"), "closed": _p("inquiry_status", "closed")},
    "call_direction": {"inbound": _p("call_direction", "incoming"), "outbound": _p("call_direction", "outgoing"), "internal": _p("call_direction", "internal")},
    "call_outcome": {"answered": _p("call_outcome", "answered"), "missed": _p("call_outcome", "missed"), "busy": _p("call_outcome", "busy"),
                     "failed": _p("call_outcome", "failed"), "no_answer": _p("call_outcome", "no answer"), "blocked": _p("call_outcome", "blocked"),
                     "abandoned": _p("call_outcome", "abandoned"), "in_progress": _p("call_outcome", "in progress"),
                     "after_hours": _p("call_outcome", "after hours"), "voicemail": _p("call_outcome", "voicemail")},
    "call_handler": {"daemon": _p("call_handler", "call routing"), "agi_fallback": _p("call_handler", "backup routing"),
                     "fallback_group": _p("call_handler", "backup ring group"), "reconciled": _p("call_handler", "restored from the PBX log")},
    "leg_outcome": {"ringing": _p("leg_outcome", "ringing"), "answered": _p("leg_outcome", "answered"), "no_answer": _p("leg_outcome", "no answer"),
                    "busy": _p("leg_outcome", "busy"), "rejected": _p("leg_outcome", "rejected"), "cancelled": _p("leg_outcome", "cancelled"),
                    "failed": _p("leg_outcome", "failed")},
    "entry_status": {"pending": _p("entry_status", "to call"), "in_progress": _p("entry_status", "in progress"), "done": _p("entry_status", "done")},
    "card_kind": {"company": _p("card_kind", "company"), "contact": _p("card_kind", "contact"), "lead": _p("card_kind", "lead"), "deal": _p("card_kind", "deal"),
                  "inquiry": _p("card_kind", "inquiry"), "call_list_entry": _p("card_kind", "call list entry")},
    "report_send_status": {"sending": _p("report_send_status", "sending"), "sent": _p("report_send_status", "sent"),
                           "failed": _p("report_send_status", "failed")},
    "delivery_status": {"pending": _p("delivery_status", "pending"), "delivered": _p("delivery_status", "delivered"),
                        "failed": _p("delivery_status", "failed")},
    "mail_status": {"queued": _p("mail_status", "queued"), "sent": _p("mail_status", "sent"),
                    "failed": _p("mail_status", "given up")},
    "mail_kind": {"escalation": _p("mail_kind", "escalation")},
    "calendar_day_kind": {"closed": _p("calendar_day_kind", "day off"), "working": _p("calendar_day_kind", "working day")},
    "absence_kind": {"vacation": _p("absence_kind", "vacation"), "sick": _p("absence_kind", "sick leave"),
                     "other": _p("absence_kind", "other absence")},
    "duplicate_field": {"phone": _p("duplicate_field", "phone"), "email": _p("duplicate_field", "e-mail"), "name": _p("duplicate_field", "name")},
}

# Which model column holds which enum: lists, filters and forms show these (admin.labels).
ENUM_COLUMNS = {
    ("employees", "role"): "role",
    ("tasks", "type"): "task_type", ("tasks", "status"): "task_status",
    ("deal_stage_task_rules", "type"): "task_type",
    ("leads", "status"): "lead_status",
    ("inquiries", "channel"): "inquiry_channel", ("inquiries", "status"): "inquiry_status",
    ("calls", "direction"): "call_direction", ("calls", "outcome"): "call_outcome",
    ("calls", "handled_by"): "call_handler",
    ("call_legs", "outcome"): "leg_outcome",
    ("call_list_entries", "status"): "entry_status",
    ("report_sends", "status"): "report_send_status",
    ("webhook_deliveries", "status"): "delivery_status",
    ("mail_outbox", "kind"): "mail_kind",
    ("calendar_days", "kind"): "calendar_day_kind",
    ("employee_absences", "kind"): "absence_kind",
}


def label_of(enum: str, value) -> str:
    """A stored enum ``value`` as the page's language says it; an unknown value as it is."""
    if value is None:
        return ""
    text = ENUMS[enum].get(value)
    return str(text) if text is not None else str(value)


def choices(enum: str, keep=None) -> list[tuple[str, object]]:
    """``[(value, label)]`` for a select or a filter (``keep``: only these values)."""
    return [(v, t) for v, t in ENUMS[enum].items() if keep is None or v in keep]


def card_label(kind: str, card_id) -> str:
    """``company #1`` in the page's language: «компания № 1»."""
    return gettext("%(kind)s #%(id)s", kind=label_of("card_kind", kind), id=card_id)
