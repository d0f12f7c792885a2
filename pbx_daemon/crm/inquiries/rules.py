"""Missed calls become inquiries with a call-back task (seed 004): the rules, pure.

* A call nobody answered becomes an open inquiry (class "unclear" until someone classifies
  it) with a call-back task for the responsible person: the client's own manager, else the
  department's duty person, else its head, else the company's escalation top. The task's
  deadline is ``callback_deadline_minutes`` after the call (default 15).
* More missed calls from a number with an open inquiry merge into it: the counter goes up,
  no second inquiry, no second task.
* Blocklisted callers and the company's own staff never create inquiries. A caller who
  withheld the number gets an inquiry (it is a lost call) but no task: nobody can call back.
* A later answered call from that number closes the open call-back task ("recovered").

The store applies these decisions in one transaction; nothing here reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class MissedCall:
    caller: str | None  # E.164, None when withheld or not a number
    at: datetime
    blocked: bool = False
    is_staff: bool = False
    owner_id: int | None = None
    department_id: int | None = None
    duty_id: int | None = None
    head_id: int | None = None
    top_id: int | None = None
    source_id: int | None = None
    tracking_number_id: int | None = None
    caller_name: str | None = None


@dataclass(frozen=True)
class OpenInquiry:
    id: int
    missed_count: int


@dataclass(frozen=True)
class Ignore:
    reason: str


@dataclass(frozen=True)
class CreateInquiry:
    phone: str | None
    responsible_id: int | None
    department_id: int | None
    source_id: int | None
    tracking_number_id: int | None
    name: str | None
    first_seen_at: datetime
    task_deadline: datetime | None  # None: no call-back task (no number to call)
    task_title: str
    task_comment: str


@dataclass(frozen=True)
class MergeInquiry:
    inquiry_id: int
    missed_count: int
    last_seen_at: datetime


def decide_missed(call: MissedCall, open_inquiry: OpenInquiry | None,
                  deadline_minutes: int = 15) -> Ignore | CreateInquiry | MergeInquiry:
    if call.blocked:
        return Ignore("blocklisted caller")
    if call.is_staff:
        return Ignore("own staff")
    if open_inquiry is not None:
        return MergeInquiry(open_inquiry.id, open_inquiry.missed_count + 1, call.at)
    responsible = next((x for x in (call.owner_id, call.duty_id, call.head_id, call.top_id)
                        if x is not None), None)
    when = call.at.strftime("%Y-%m-%d %H:%M")
    who = call.caller_name or call.caller or "a withheld number"
    return CreateInquiry(
        phone=call.caller, responsible_id=responsible, department_id=call.department_id,
        source_id=call.source_id, tracking_number_id=call.tracking_number_id,
        name=call.caller_name, first_seen_at=call.at,
        task_deadline=(call.at + timedelta(minutes=deadline_minutes)
                       if call.caller and responsible is not None else None),
        task_title=f"Call back {call.caller or ''}".strip(),
        task_comment=f"Missed call from {who} at {when}.",
    )
