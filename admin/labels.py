"""What each model's columns are called on the pages: one table per model (its own names)
over a table of names many models share. Flask-Admin's lists, forms, filters and search
placeholders all take their labels from here (:class:`admin.views.ScopedModelView`), and
the translation test walks the SQLAlchemy metadata: a new column without a label, or a
label without Russian, fails it.

The texts are English msgids; the Russian is in ``admin/translations/ru``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from admin.display import ENUM_COLUMNS, choices
from pbx_daemon.crm import models as m

# Names many tables share, with the same meaning everywhere.
COMMON = {
    "id": _l("No."),
    "name": _l("Name"),
    "full_name": _l("Full name"),
    "title": _l("Title"),
    "phone": _l("Phone"),
    "phone_ext": _l("Extension"),
    "phones": _l("Phones"),
    "email": _l("E-mail"),
    "emails": _l("E-mails"),
    "kind": _l("Kind"),
    "notes": _l("Notes"),
    "comment": _l("Comment"),
    "description": _l("Description"),
    "status": _l("Status"),
    "type": _l("Type"),
    "position": _l("Position"),
    "active": _l("Active"),
    "responsible": _l("Responsible"),
    "responsible_id": _l("Responsible"),
    "department": _l("Department"),
    "department_id": _l("Department"),
    "source": _l("Source"),
    "source_id": _l("Source"),
    "company": _l("Company"),
    "company_id": _l("Company"),
    "company_name": _l("Company"),
    "contact": _l("Contact"),
    "contact_id": _l("Contact"),
    "lead_id": _l("Lead"),
    "deal_id": _l("Deal"),
    "inquiry_id": _l("Inquiry"),
    "call_list_entry_id": _l("Call list entry"),
    "employee": _l("Employee"),
    "employee_id": _l("Employee"),
    "created_by_id": _l("Created by"),
    "created_at": _l("Created"),
    "updated_at": _l("Changed"),
    "answered_at": _l("Answered at"),
    "ended_at": _l("Ended at"),
    "outcome": _l("Outcome"),
    "disposition": _l("Result"),
    "stage": _l("Stage"),
    "stage_id": _l("Stage"),
    "name_key": _l("Name for duplicate search"),
}

# Each model's own names (and where a shared name means something else there).
MODELS = {
    m.Department: {
        "head": _l("Head"), "head_id": _l("Head"), "duty_employee": _l("On duty"),
        "duty_employee_id": _l("On duty"), "parent": _l("Parent department"),
        "parent_id": _l("Parent department"), "members": _l("Employees"),
        "owner_timeout": _l("Own manager rings, s"), "group_timeout": _l("Department rings, s"),
        "head_timeout": _l("Head rings, s"), "top_timeout": _l("Top of escalation rings, s"),
        "fallback_ring_group": _l("Backup ring group"),
        "greeting_file": _l("After-hours greeting"),
        "hold_seconds": _l("Hold when everyone is busy, s"),
    },
    m.Employee: {
        "login": _l("Login"), "password_hash": _l("Password"), "role": _l("Role"),
        "sip_endpoint": _l("SIP phone"), "extension": _l("Internal number"), "mobile": _l("Mobile"),
        "off_until": _l("Off until"), "dnd": _l("Do not disturb"), "session_nonce": _l("Session key"),
        "shifts": _l("Work schedule"), "absences": _l("Absences"),
        "sip_md5_cred": _l("SIP password digest"), "sip_password_set_at": _l("SIP password set"),
        "mobile_follow": _l("Calls follow to the mobile"), "mobile_delay": _l("Mobile rings after, s"),
    },
    m.EmployeeShift: {"employee": _l("Employee"), "weekday": _l("Day of the week"),
                      "starts": _l("From"), "ends": _l("To")},
    m.EmployeeAbsence: {"employee": _l("Employee"), "kind": _l("Absence"), "first_day": _l("First day"),
                        "last_day": _l("Last day"), "note": _l("Note")},
    m.Source: {},
    m.TrackingNumber: {"number": _l("Number"), "phone": _l("Number")},
    m.BlockedNumber: {"reason": _l("Reason"), "expires_at": _l("Blocked until")},
    m.AuditLog: {"at": _l("When"), "action": _l("Action"), "object_kind": _l("Card kind"),
                 "kept_id": _l("Kept card"), "merged_id": _l("Merged card"), "details": _l("Details")},
    m.ReportSend: {"day": _l("Report for"), "status": _l("Status"), "recipients": _l("Sent to"),
                   "attempts": _l("Attempts"), "claimed_at": _l("Started"), "sent_at": _l("Sent at"),
                   "error": _l("Error")},
    m.ApiToken: {"token_hash": _l("Token hash (SHA-256)"), "prefix": _l("Prefix"), "scopes": _l("May read"),
                 "last_used_at": _l("Last used"), "created_by": _l("Created by"),
                 "created_by_id": _l("Created by")},
    m.WorkingHours: {"weekday": _l("Weekday"), "ranges": _l("Hours"), "tracking_number": _l("Tracking number"),
                     "tracking_number_id": _l("Tracking number")},
    m.CalendarDay: {"day": _l("Date"), "ranges": _l("Hours"), "note": _l("Note")},
    m.Company: {"tax_id": _l("Tax ID (INN)"), "website": _l("Website"), "contacts": _l("Contacts")},
    m.CompanyPhone: {},
    m.Contact: {"position": _l("Job title")},
    m.ContactPhone: {},
    m.ContactEmail: {},
    m.Lead: {"full_name": _l("Contact person"), "company_name": _l("Company name")},
    m.DealStage: {"position": _l("Order"), "is_won": _l("Won"), "is_lost": _l("Lost")},
    m.Deal: {"amount": _l("Amount"), "currency": _l("Currency"), "probability": _l("Probability, %"),
             "closed_at": _l("Closed")},
    m.DealStageTaskRule: {"title": _l("Task"), "offset_minutes": _l("Deadline after, min")},
    m.InquiryClass: {"code": _l("Code"), "name": _l("Name (English)"), "name_ru": _l("Name (Russian)"),
                     "is_system": _l("System"), "position": _l("Order")},
    m.InquirySubclass: {"inquiry_class": _l("Class"), "class_id": _l("Class")},
    m.Inquiry: {
        "channel": _l("Channel"), "tracking_number": _l("Tracking number"),
        "tracking_number_id": _l("Tracking number"), "inquiry_class": _l("Class"), "class_id": _l("Class"),
        "subclass": _l("Subclass"), "subclass_id": _l("Subclass"),
        "utm_source": _l("UTM source"), "utm_medium": _l("UTM medium"), "utm_campaign": _l("UTM campaign"),
        "utm_content": _l("UTM content"), "utm_term": _l("UTM term"), "message": _l("Message"),
        "missed_count": _l("Missed calls"), "first_seen_at": _l("First contact"),
        "last_seen_at": _l("Last contact"), "closed_at": _l("Closed"),
    },
    m.Call: {
        "linkedid": _l("Call ID"), "direction": _l("Direction"), "caller": _l("Caller"),
        "caller_raw": _l("Caller as sent"), "caller_name": _l("Caller name"), "callee": _l("Called number"),
        "dialled_number": _l("Dialled number"), "started_at": _l("Started"),
        "answered_by": _l("Answered by"), "answered_by_id": _l("Answered by"),
        "employee": _l("Employee"), "note": _l("Note"), "duration_seconds": _l("Duration, s"),
        "talk_seconds": _l("Talk, s"), "handled_by": _l("Handled by"), "recovered_at": _l("Called back"),
        "legs": _l("Phones rung"), "recording": _l("Recording"),
    },
    m.CallLeg: {"call": _l("Call"), "call_id": _l("Call"), "endpoint": _l("Phone"), "step": _l("Step"),
                "channel_id": _l("Channel"), "ringing_at": _l("Ringing from")},
    m.Recording: {"call": _l("Call"), "call_id": _l("Call"), "path": _l("File"), "format": _l("Format"),
                  "size_bytes": _l("Size, bytes"), "duration_seconds": _l("Duration, s")},
    m.Task: {"deadline": _l("Deadline"), "done_at": _l("Done at"), "remind_at": _l("Reminder at"),
             "escalated_at": _l("Escalated to the head at")},
    m.CallScript: {"body": _l("Script")},
    m.CallList: {"script": _l("Script"), "script_id": _l("Script"), "operators": _l("Operators"),
                 "entries": _l("Entries"), "source_file": _l("Imported from")},
    m.CallListEntry: {
        "call_list": _l("Call list"), "call_list_id": _l("Call list"), "position": _l("Order"),
        "contact_name": _l("Contact person"), "raw": _l("Imported row"), "callback_at": _l("Call back at"),
        "answers": _l("Script answers"), "assigned_operator_id": _l("Operator"),
    },
    m.KbArticle: {"body": _l("Text"), "tags": _l("Tags")},
    m.Webhook: {"url": _l("URL"), "secret": _l("Secret"), "events": _l("Events"),
                "created_at": _l("Created")},
    m.WebhookEvent: {"kind": _l("Event"), "payload": _l("Data"), "webhook": _l("Webhook"),
                     "webhook_id": _l("Webhook"), "fanned_out": _l("Fanned out"),
                     "created_at": _l("Created")},
    m.WebhookDelivery: {
        "webhook": _l("Webhook"), "webhook_id": _l("Webhook"), "event": _l("Event"),
        "event_id": _l("Event id"), "attempts": _l("Attempts"), "next_attempt_at": _l("Next attempt"),
        "last_status_code": _l("Last code"), "last_error": _l("Last error"),
        "delivered_at": _l("Delivered"), "created_at": _l("Created")},
    m.MailOutbox: {"recipient": _l("Recipient"), "subject": _l("Subject"), "body": _l("Text"),
                   "attempts": _l("Attempts"), "next_attempt_at": _l("Next attempt"),
                   "sent_at": _l("Sent at"), "failed_at": _l("Given up at"),
                   "last_error": _l("Last error"), "created_at": _l("Created")},
}

# Tables no page shows: the settings and the analytics rollup.
NOT_SHOWN = frozenset({m.Setting, m.CallStat, m.CallStatDay, m.CallStatDirty, m.ImportPreset})


def label(model, name: str):
    """The label of ``model``'s column or relationship ``name``; KeyError when it has none."""
    own = MODELS[model]
    return own[name] if name in own else COMMON[name]


def names(model) -> list[str]:
    """Every column and relationship of ``model`` (what a form or a list may show)."""
    mapper = model.__mapper__
    return [a.key for a in mapper.column_attrs] + [r.key for r in mapper.relationships]


def column_labels(model, extra=()) -> dict:
    """``column_labels`` for a view of ``model``: every column and relationship, and each
    dotted name of ``extra`` (filters and searches through a relationship:
    ``responsible.full_name`` is "Responsible", ``phones.phone`` is "Phone")."""
    out = {n: label(model, n) for n in names(model) if _has(model, n)}
    for dotted in extra:
        if not isinstance(dotted, str) or "." not in dotted:
            continue
        relation, column = dotted.split(".", 1)
        remote = model.__mapper__.relationships[relation].mapper.class_
        naming = column in ("name", "full_name", "title", "number")
        out[dotted] = label(model, relation) if naming else label(remote, column)
    return out


def _has(model, name) -> bool:
    try:
        label(model, name)
    except KeyError:
        return False
    return True


def column_choices(model) -> dict:
    """``column_choices`` for a view of ``model``: each enum column's values as words."""
    table = model.__tablename__
    return {column: choices(enum) for (t, column), enum in ENUM_COLUMNS.items() if t == table}
