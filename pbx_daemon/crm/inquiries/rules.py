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
* A deactivated employee is skipped wherever one is chosen (the client's manager, the
  inquiry's responsible, duty, head, top): the next in the order takes the call-back, so a
  manager who left leaves no call-back with nobody to make it.
* Blocklisted callers and the company's own staff never create inquiries. A caller who
  withheld the number gets an inquiry (it is a lost call) but no task: nobody can call back.
* A call outside working hours (greeting, maybe a voicemail) is a missed call too, except
  that its call-back deadline counts from the department's next opening
  (``MissedCall.callback_from``), not from the call: nobody is there at night.
* A later answered call from that number closes the open call-back task ("recovered").
* A missed call stored only after its call-back deadline had passed (reconciled from CEL
  after the daemon was down, or a first start against an old CEL log) gets its inquiry but
  no task of its own: a task overdue the moment it appears, times hundreds, buries the live
  ones. Instead (:func:`decide_late_callbacks`, ``inquiries.stale_missed_tasks``):
  ``summary`` (the default) leaves each responsible person one task listing their late
  calls, due ``callback_deadline_minutes`` from now; ``none`` leaves the inquiries alone.

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
from datetime import datetime, timedelta, timezone
from typing import Sequence
from zoneinfo import ZoneInfo
from pbx_daemon.crm.texts import missed_calls, text


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
    inactive_ids: frozenset[int] = frozenset()  # of the people above (and the inquiry's), the deactivated
    # After hours: the next opening, from which the call-back deadline counts.
    callback_from: datetime | None = None


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
    inactive_ids: frozenset[int] = frozenset()


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
class LateCallback:
    """A call-back a missed call would have had, had its deadline not passed already."""

    responsible_id: int
    caller: str
    at: datetime
    caller_name: str | None = None


@dataclass(frozen=True)
class SummaryTask:
    """One call-back task listing one person's late missed calls."""

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
    late: LateCallback | None = None  # no task: its deadline had passed (see the rules)


@dataclass(frozen=True)
class MergeInquiry:
    inquiry_id: int
    missed_count: int
    last_seen_at: datetime
    task: CallbackTask | None = None  # a missed call on an inquiry without an open task
    responsible_id: int | None = None  # set when the inquiry has nobody responsible yet
    late: LateCallback | None = None  # the task it would get, had its deadline not passed


def wall_clock(at: datetime, tz: str | None) -> str:
    """``at`` as people read it in a task: the company's wall-clock time (``tz``,
    ``general.timezone``; None: UTC)."""
    zone = ZoneInfo(tz) if tz else timezone.utc
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def decide_missed(call: MissedCall, open_inquiry: OpenInquiry | None,
                  deadline_minutes: int = 15, now: datetime | None = None, tz: str | None = None
                  ) -> Ignore | CreateInquiry | MergeInquiry:
    """``now``: when the call is being stored; a call-back due before it is late (the
    module's rules). None: the call is stored as it happens, never late. ``tz``: the
    company's time zone, for the time in the task's comment."""
    if call.blocked:
        return Ignore("blocklisted caller")
    if call.is_staff:
        return Ignore("own staff")
    responsible = _first_active((call.owner_id, call.duty_id, call.head_id, call.top_id),
                                call.inactive_ids)
    when = wall_clock(call.at, tz)
    who = call.caller_name or call.caller or text("withheld_number")
    deadline = max(call.at, call.callback_from or call.at) + timedelta(minutes=deadline_minutes)
    comment_key = "after_hours_comment" if call.callback_from is not None else "missed_call_comment"
    is_late = now is not None and deadline < now
    if open_inquiry is not None:
        task = late = None
        callback_to = _first_active((open_inquiry.responsible_id, responsible), call.inactive_ids)
        if not open_inquiry.has_open_task and call.caller and callback_to is not None:
            if is_late:
                late = LateCallback(callback_to, call.caller, call.at, call.caller_name)
            else:
                task = CallbackTask(callback_to, deadline, text("callback_title", phone=call.caller),
                                    text(comment_key, who=who, when=when))
        return MergeInquiry(open_inquiry.id, open_inquiry.missed_count + 1, call.at, task,
                            late=late)
    has_task = bool(call.caller) and responsible is not None
    return CreateInquiry(
        phone=call.caller, responsible_id=responsible, department_id=call.department_id,
        source_id=call.source_id, tracking_number_id=call.tracking_number_id,
        name=call.caller_name, first_seen_at=call.at,
        task_deadline=deadline if has_task and not is_late else None,
        task_title=text("callback_title", phone=call.caller or "").strip(),
        task_comment=text(comment_key, who=who, when=when),
        late=LateCallback(responsible, call.caller, call.at, call.caller_name)
        if has_task and is_late else None,
    )


def _first_active(candidates, inactive: frozenset[int]) -> int | None:
    return next((x for x in candidates if x is not None and x not in inactive), None)


SUMMARY_LINES = 50  # calls listed in one summary task; the rest are counted


def decide_late_callbacks(late: Sequence[LateCallback], mode: str,
                          now: datetime, deadline_minutes: int = 15,
                          tz: str | None = None) -> tuple[SummaryTask, ...]:
    """``mode`` ``summary``: one task per responsible person listing their late calls
    (oldest first, at most :data:`SUMMARY_LINES`, then a count), due ``deadline_minutes``
    from ``now``; ``none``: no task."""
    if mode != "summary" or not late:
        return ()
    by_person: dict[int, list[LateCallback]] = {}
    for item in late:
        by_person.setdefault(item.responsible_id, []).append(item)
    tasks = []
    for person, items in by_person.items():
        items = sorted(items, key=lambda i: i.at)
        lines = [f"{wall_clock(i.at, tz)}  {i.caller}"
                 + (f"  {i.caller_name}" if i.caller_name else "") for i in items[:SUMMARY_LINES]]
        if len(items) > SUMMARY_LINES:
            lines.append(text("late_more", count=len(items) - SUMMARY_LINES))
        calls = missed_calls(len(items))
        tasks.append(SummaryTask(
            person, now + timedelta(minutes=deadline_minutes),
            text("late_title", calls=calls),
            text("late_comment", calls=calls.capitalize()) + "\n".join(lines)))
    return tuple(tasks)


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
    responsible = _first_active((call.answered_by_id, call.duty_id, call.head_id, call.top_id),
                                call.inactive_ids)
    who = call.caller_name or call.caller
    return CreateInquiry(
        phone=call.caller, responsible_id=responsible, department_id=call.department_id,
        source_id=call.source_id, tracking_number_id=call.tracking_number_id,
        name=call.caller_name, first_seen_at=call.at, task_deadline=None, task_title="",
        task_comment=text("answered_new_number_comment", who=who,
                          when=call.at.strftime('%Y-%m-%d %H:%M')), missed_count=0)
