"""Missed calls and calls from new numbers become inquiries (seeds 002, 003, 004): the
rules, pure.

* A call nobody answered becomes an open inquiry (class "unclear" until someone classifies
  it) with a call-back task for the responsible person: the client's own manager, else the
  department's duty person, else its head, else the company's escalation top. The task's
  deadline is ``callback_deadline_minutes`` after the call (default 15).
* More missed calls from a number with an open inquiry merge into it: the counter goes up,
  no second inquiry. While the inquiry has an open call-back task there is no second task;
  when it has none (an answered call closed it, or the inquiry came from an answered call
  and never had one) the missed call gets a call-back task again, for the inquiry's
  responsible (else the missed-call order above): a lost call is always called back.
* Blocklisted callers and the company's own staff never create inquiries. A caller who
  withheld the number gets an inquiry (it is a lost call) but no task: nobody can call back.
* A later answered call from that number closes the open call-back task ("recovered").

New numbers (:func:`decide_answered`, seed 002: a lead "вне зависимости от того, состоялся
ли разговор"; seed 003: Spam and source quality see every call):

* An answered inbound call from a number on no card (no company, contact or open lead) and
  with no open inquiry creates an inquiry: class "unclear", the answering employee
  responsible (nobody known answered, e.g. the dialplan's fallback group: the duty person,
  else the head, else the top), missed count 0, **no call-back task** (they talked).
* An answered inbound call from a number with an open inquiry merges into it: the call is
  linked, ``last_seen_at`` moves forward (never back), the missed counter stays (it counts
  missed calls), and an inquiry nobody is responsible for gets the answering employee.
  This holds for known cards too (a client's missed call opened it).
* Withheld numbers, blocklisted callers, staff and known cards without an open inquiry:
  nothing. Outbound calls create nothing by themselves (the admin offers "new lead" on the
  call row instead).
* Once per call: a call already linked to an inquiry that is no longer open (classified
  meanwhile) creates nothing; linked to the open one, the merge changes nothing twice. So
  the daemon's store and reconciliation from CEL may both apply the same call.

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
class AnsweredCall:
    """An answered call as the new-number rule sees it (fetched before deciding)."""

    caller: str | None  # the client's number, E.164; None when withheld
    at: datetime
    direction: str = "inbound"
    answered_by_id: int | None = None
    blocked: bool = False
    is_staff: bool = False
    known_card: bool = False  # a company, contact or open lead has this number
    linked_inquiry_id: int | None = None  # the call's inquiry, when already applied
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
    responsible_id: int | None = None
    has_open_task: bool = False  # an open call-back task hangs on it
    last_seen_at: datetime | None = None


@dataclass(frozen=True)
class CallbackTask:
    responsible_id: int
    deadline: datetime
    title: str
    comment: str


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
    missed_count: int = 1


@dataclass(frozen=True)
class MergeInquiry:
    inquiry_id: int
    missed_count: int
    last_seen_at: datetime
    task: CallbackTask | None = None  # a missed call on an inquiry without an open task
    responsible_id: int | None = None  # set when the inquiry has nobody responsible yet


def decide_missed(call: MissedCall, open_inquiry: OpenInquiry | None,
                  deadline_minutes: int = 15) -> Ignore | CreateInquiry | MergeInquiry:
    if call.blocked:
        return Ignore("blocklisted caller")
    if call.is_staff:
        return Ignore("own staff")
    responsible = next((x for x in (call.owner_id, call.duty_id, call.head_id, call.top_id)
                        if x is not None), None)
    when = call.at.strftime("%Y-%m-%d %H:%M")
    who = call.caller_name or call.caller or "a withheld number"
    if open_inquiry is not None:
        task = None
        callback_to = open_inquiry.responsible_id or responsible
        if not open_inquiry.has_open_task and call.caller and callback_to is not None:
            deadline = call.at + timedelta(minutes=deadline_minutes)
            task = CallbackTask(callback_to, deadline, f"Call back {call.caller}",
                                f"Missed call from {who} at {when}.")
        return MergeInquiry(open_inquiry.id, open_inquiry.missed_count + 1, call.at, task)
    return CreateInquiry(
        phone=call.caller, responsible_id=responsible, department_id=call.department_id,
        source_id=call.source_id, tracking_number_id=call.tracking_number_id,
        name=call.caller_name, first_seen_at=call.at,
        task_deadline=(call.at + timedelta(minutes=deadline_minutes)
                       if call.caller and responsible is not None else None),
        task_title=f"Call back {call.caller or ''}".strip(),
        task_comment=f"Missed call from {who} at {when}.",
    )


def decide_answered(call: AnsweredCall, open_inquiry: OpenInquiry | None
                    ) -> Ignore | CreateInquiry | MergeInquiry:
    """A new number's answered call -> an inquiry to classify (the module's rules)."""
    if call.direction != "inbound":
        return Ignore("not an inbound call")
    if not call.caller:
        return Ignore("withheld number")
    if call.blocked:
        return Ignore("blocklisted caller")
    if call.is_staff:
        return Ignore("own staff")
    if call.linked_inquiry_id is not None and (
            open_inquiry is None or open_inquiry.id != call.linked_inquiry_id):
        return Ignore("already applied")
    if open_inquiry is not None:
        last = max(call.at, open_inquiry.last_seen_at) if open_inquiry.last_seen_at else call.at
        return MergeInquiry(open_inquiry.id, open_inquiry.missed_count, last,
                            responsible_id=(call.answered_by_id
                                            if open_inquiry.responsible_id is None else None))
    if call.known_card:
        return Ignore("known card")
    responsible = next((x for x in (call.answered_by_id, call.duty_id, call.head_id, call.top_id)
                        if x is not None), None)
    who = call.caller_name or call.caller
    return CreateInquiry(
        phone=call.caller, responsible_id=responsible, department_id=call.department_id,
        source_id=call.source_id, tracking_number_id=call.tracking_number_id,
        name=call.caller_name, first_seen_at=call.at, task_deadline=None, task_title="",
        task_comment=f"Answered call from a new number, {who}, at "
                     f"{call.at.strftime('%Y-%m-%d %H:%M')}.", missed_count=0)
