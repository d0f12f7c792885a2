"""The SQL side of a call: calls and call legs written as the call goes.

Writes run off the reactor one at a time, in the order the calls produced them
(:class:`WriteQueue`), so storage never holds up a ringing phone. A write that fails
because the database is away (PostgreSQL restarting, SQLite locked past its busy timeout)
is retried until it goes through, and the writes behind it wait: a call's end is never
lost to a database hiccup, and never lands before its start.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

import itertools
from collections import deque

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from pbx_daemon.crm import models as m
from pbx_daemon.crm.call_links import link_call
from pbx_daemon.crm.inquiries.apply import apply_answered, apply_missed, missed_call_facts
from pbx_daemon.crm.recordings import RecordingNameError, attach_recording
from pbx_daemon.crm.webhooks import emit_call
from pbx_daemon.telephony import names
from pbx_daemon.telephony.calls.interfaces import (CallDetails, ICallRecorder, IOutboundRecorder,
                                                   IPhoneRecorder)

log = Logger(namespace="pbx_daemon.store")


BACKLOG_WARN = (100, 1_000, 10_000)  # a loud line as the backlog passes each
BACKLOG_MAX = 100_000  # beyond this, new writes are refused (logged): memory stays bounded
MAX_BACKOFF = 5.0
WRITE_BATCH_MAX = 50  # writes committed together at most (a burst's backlog drains in few)


def transient(error: BaseException) -> bool:
    """The database was away, not the write wrong: worth trying again."""
    return isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)) or (
        isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated)


class WriteQueue:
    """Runs writes with ``run(job)`` (off the reactor, a Deferred) in order, one batch at a
    time: whatever queued while the last batch ran, up to ``batch_max`` writes, goes as one
    job made by ``combine(jobs)`` (one transaction, one commit: under a burst the store
    commits a few times a second instead of once per write, and the commit is what costs).
    ``combine``'s job returns the writes' results in order; by default it calls each.

    A batch failing with a :func:`transient` error is tried again after a backoff (0.2 s
    doubling up to 5 s) for as long as it takes. Any other failure rolled the whole batch
    back; its writes are then tried one at a time, and the one that fails that way is
    logged and dropped alone (repeating a bug or a constraint violation fails the same
    way)."""

    def __init__(self, run: Callable, clock, *, combine: Callable | None = None,
                 batch_max: int = 1):
        self.run = run
        self.clock = clock
        self.combine = combine or (lambda jobs: lambda: [job() for job in jobs])
        self.batch_max = batch_max
        self.jobs: deque = deque()  # (what, call_id, job, Deferred for the caller)
        self.busy = False
        self.batch = 0  # how many jobs at the front are being written
        self.solo = 0  # after a batch failed for good: this many go one at a time
        self.attempt = 0
        self.retries = 0
        self.dropped = 0
        self.batches = 0  # counters, for logs and metrics
        self.warned = 0

    def call_ids(self) -> frozenset[str]:
        """The calls with writes still waiting."""
        return frozenset(call_id for _, call_id, _, _ in list(self.jobs))

    def put(self, what: str, call_id: str, job: Callable) -> Deferred:
        done: Deferred = Deferred()
        if len(self.jobs) >= BACKLOG_MAX:
            self.dropped += 1
            log.critical("store backlog full ({n} writes): dropping {what} for call {call_id}",
                         n=len(self.jobs), what=what, call_id=call_id)
            done.callback(None)
            return done
        self.jobs.append((what, call_id, job, done))
        n = len(self.jobs)
        if self.warned < len(BACKLOG_WARN) and n >= BACKLOG_WARN[self.warned]:
            self.warned += 1
            log.error("store backlog: {n} writes waiting for the database", n=n)
        if not self.busy:
            self._next()
        return done

    def _next(self) -> None:
        if not self.jobs:
            self.busy = False
            if self.warned:
                log.info("store backlog cleared")
                self.warned = 0
            return
        self.busy = True
        if not self.attempt:  # a retry writes the same batch again
            self.batch = 1 if self.solo else min(self.batch_max, len(self.jobs))
        jobs = [job for _, _, job, _ in itertools.islice(self.jobs, self.batch)]
        self.run(self.combine(jobs)).addCallbacks(self._stored, self._failed)

    def _stored(self, results) -> None:
        what, call_id, _, _ = self.jobs[0]
        if self.attempt:
            log.info("storing {what} for call {call_id} went through after {n} retries",
                     what=what, call_id=call_id, n=self.attempt)
        self.attempt = 0
        self.batches += 1
        self.solo = max(0, self.solo - 1)
        for result in results:
            self.jobs.popleft()[3].callback(result)
        self._next()

    def _failed(self, failure) -> None:
        what, call_id, _, done = self.jobs[0]
        if transient(failure.value):
            self.attempt += 1
            self.retries += 1
            if self.attempt in (1, 10) or self.attempt % 100 == 0:
                log.warn("storing {what} for call {call_id} failed ({error}); retrying, "
                         "{n} writes waiting", what=what, call_id=call_id,
                         error=failure.getErrorMessage()[:200], n=len(self.jobs))
            self.clock.callLater(min(0.2 * 2 ** (self.attempt - 1), MAX_BACKOFF), self._next)
            return
        self.attempt = 0
        if self.batch > 1:
            # Rolled back whole: find the write at fault by writing them one by one.
            self.solo = self.batch
            self._next()
            return
        self.jobs.popleft()
        self.solo = max(0, self.solo - 1)
        log.failure("storing {what} for call {call_id}", failure, what=what, call_id=call_id)
        done.callback(None)
        self._next()


# A recording this short after the beep is a hang-up, not a message.
VOICEMAIL_MIN_SECONDS = 1.0


def _dt(at: float) -> datetime:
    return datetime.fromtimestamp(at, timezone.utc)


def _leg(session, call_id: str, channel_id: str):
    """Call ``call_id``'s leg on ``channel_id``. By call too: after an attended transfer one
    channel is a leg of two calls (the consultation, then the call it took over)."""
    return session.scalar(select(m.CallLeg).join(m.Call, m.Call.id == m.CallLeg.call_id)
                          .where(m.Call.linkedid == call_id, m.CallLeg.channel_id == channel_id))


@implementer(ICallRecorder, IOutboundRecorder, IPhoneRecorder)
class SqlCallRecorder:
    def __init__(self, session_factory, run: Callable, callback_deadline_minutes: int = 15,
                 spool_dir: str = "", store_dir: str = "", recording_format: str = "wav",
                 clock=None, tz: str | None = None):
        """``run(fn)`` runs ``fn`` off the reactor thread and returns a Deferred; ``clock``
        times retries (the reactor by default). Recordings move from ``spool_dir``
        (Asterisk's) to ``store_dir``. ``tz``: the company's time zone (task comments)."""
        if clock is None:
            from twisted.internet import reactor as clock
        self.session_factory = session_factory
        self.run = run
        self.queue = WriteQueue(run, clock, combine=self._in_one_transaction,
                                batch_max=WRITE_BATCH_MAX)
        self.callback_deadline_minutes = callback_deadline_minutes
        self.tz = tz
        self.spool_dir = spool_dir
        self.store_dir = store_dir
        self.recording_format = recording_format
        self.details: dict[str, CallDetails] = {}  # by call id, until the call ends

    def _write(self, what: str, call_id: str, fn: Callable):
        """Queue ``fn(session)``; it is committed with the writes queued beside it."""
        return self.queue.put(what, call_id, fn)

    def _in_one_transaction(self, fns: list[Callable]) -> Callable:
        def job():
            with self.session_factory() as session:
                results = [fn(session) for fn in fns]
                session.commit()
                return results
        return job

    def caller_identified(self, call_id, details):
        self.details[call_id] = details

    def call_started(self, call_id, caller_channel, plan, at):
        details = self.details.get(call_id) or CallDetails(None, "", None)

        def write(session):
            if session.scalar(select(m.Call.id).where(m.Call.linkedid == call_id)):
                return
            call = m.Call(
                linkedid=call_id, direction="inbound", caller=details.caller,
                caller_raw=details.caller_raw[:80], caller_name=plan.caller_name,
                dialled_number=details.dialled, started_at=_dt(at),
                department_id=plan.department_id, handled_by=details.handled_by,
                outcome="blocked" if plan.blocked else "in_progress")
            link_call(session, call)  # on its card from the first ring
            session.add(call)
            emit_call(session, "call.started", call)
        self._write("call", call_id, write)

    def leg_ringing(self, call_id, leg_id, endpoint, agent_id, step, at):
        def write(session):
            call_pk = session.scalar(select(m.Call.id).where(m.Call.linkedid == call_id))
            if call_pk is None:
                return
            # A follow-me mobile (an E.164 number) went out through the trunk.
            label = f"PJSIP/{endpoint}@trunk" if endpoint.startswith("+") else f"PJSIP/{endpoint}"
            session.add(m.CallLeg(call_id=call_pk, employee_id=agent_id, endpoint=label,
                                  step=step, channel_id=leg_id, ringing_at=_dt(at)))
        self._write("leg", call_id, write)

    def leg_ended(self, call_id, leg_id, outcome, at):
        def write(session):
            leg = _leg(session, call_id, leg_id)
            if leg is not None and leg.ended_at is None:
                leg.ended_at = _dt(at)
                leg.outcome = outcome
        self._write("leg end", call_id, write)

    def call_answered(self, call_id, leg_id, agent_id, at):
        def write(session):
            call = session.scalar(select(m.Call).where(m.Call.linkedid == call_id))
            if call is None:
                return
            call.answered_at = _dt(at)
            call.answered_by_id = agent_id
            leg = _leg(session, call_id, leg_id)
            if leg is not None:
                leg.answered_at = _dt(at)
                leg.outcome = "answered"
            emit_call(session, "call.answered", call)
            apply_answered(session, call, _dt(at))
        self._write("answer", call_id, write)

    def leg_answered(self, call_id, leg_id, agent_id, at):
        def write(session):
            leg = _leg(session, call_id, leg_id)
            if leg is not None:
                leg.answered_at = _dt(at)
                leg.outcome = "answered"
        self._write("transfer answer", call_id, write)

    def call_ended(self, call_id, outcome, at):
        details = self.details.pop(call_id, None) or CallDetails(None, "", None)

        def write(session):
            call = session.scalar(select(m.Call).where(m.Call.linkedid == call_id))
            if call is None:
                return
            if outcome == "fallback":
                # The dialplan rings the fallback group now; how it ends is in CEL/CDR.
                call.handled_by = "fallback_group"
                return
            if call.ended_at is not None:
                return  # completed from CEL meanwhile (reconciliation): its rules ran there
            call.ended_at = _dt(at)
            call.outcome = outcome if outcome in m.CALL_OUTCOMES else "failed"
            if outcome in ("missed", "after_hours"):
                # After hours: called back from the next opening (rules.MissedCall).
                facts = missed_call_facts(
                    session, call, blocked=details.blocked, is_staff=details.is_staff,
                    owner_id=details.owner_id, source_id=details.source_id,
                    tracking_number_id=details.tracking_number_id, at=call.started_at,
                    callback_from=details.callback_from if outcome == "after_hours" else None)
                apply_missed(session, call, facts, self.callback_deadline_minutes, tz=self.tz)
            call.duration_seconds = int((_dt(at) - call.started_at).total_seconds())
            if call.answered_at is not None:
                call.talk_seconds = int((_dt(at) - call.answered_at).total_seconds())
            emit_call(session, "call.ended", call)
        self._write("call end", call_id, write)

    def adopted_call_ended(self, call_id, at):
        def write(session):
            call = session.scalar(select(m.Call).where(m.Call.linkedid == call_id))
            if call is None or call.ended_at is not None:
                return
            _close(call, "answered", _dt(at), lambda leg: "cancelled")
            emit_call(session, "call.ended", call)
        self._write("adopted call end", call_id, write)

    # ---- click-to-call -----------------------------------------------------------------
    def outbound_started(self, call_id, request, at):
        def write(session):
            if session.scalar(select(m.Call.id).where(m.Call.linkedid == call_id)):
                return
            employee = session.get(m.Employee, request.employee_id)
            call = m.Call(
                linkedid=call_id, direction="outbound", caller=request.caller_id or None,
                callee=request.number, caller_name=request.shown_name[:120],
                started_at=_dt(at), employee_id=request.employee_id,
                department_id=employee.department_id if employee else None,
                handled_by="daemon", outcome="in_progress", company_id=request.company_id,
                contact_id=request.contact_id, lead_id=request.lead_id,
                deal_id=request.deal_id, inquiry_id=request.inquiry_id,
                call_list_entry_id=request.call_list_entry_id)
            call.legs = [m.CallLeg(employee_id=request.employee_id,
                                   endpoint=f"PJSIP/{request.endpoint}", step=1,
                                   channel_id=call_id, ringing_at=_dt(at))]
            link_call(session, call)  # the request's card kept; its open deal if it named none
            session.add(call)
            emit_call(session, "call.started", call)
        self._write("click-to-call", call_id, write)

    def employee_answered(self, call_id, request, at):
        def write(session):
            call = session.scalar(select(m.Call).where(m.Call.linkedid == call_id))
            if call is None:
                return
            leg = _leg(session, call_id, call_id)
            if leg is not None:
                leg.answered_at, leg.outcome = _dt(at), "answered"
            session.add(m.CallLeg(call_id=call.id, employee_id=None,
                                  endpoint=f"PJSIP/{request.number}@trunk"[:80], step=2,
                                  channel_id=names.client_leg_id(call_id), ringing_at=_dt(at)))
        self._write("click-to-call employee answer", call_id, write)

    def client_answered(self, call_id, request, at):
        def write(session):
            call = session.scalar(select(m.Call).where(m.Call.linkedid == call_id))
            if call is None:
                return
            call.answered_at = _dt(at)
            call.answered_by_id = request.employee_id
            leg = session.scalar(select(m.CallLeg).where(
                m.CallLeg.channel_id == names.client_leg_id(call_id)))
            if leg is not None:
                leg.answered_at, leg.outcome = _dt(at), "answered"
            emit_call(session, "call.answered", call)
            if request.call_list_entry_id is None:  # cold calls stay out of the inquiries
                apply_answered(session, call, _dt(at))
        self._write("click-to-call client answer", call_id, write)

    def outbound_ended(self, call_id, request, outcome, at):
        def write(session):
            call = session.scalar(select(m.Call).where(m.Call.linkedid == call_id))
            if call is None:
                return
            # The employee's own leg that still rings was never answered: no_answer.
            _close(call, outcome, _dt(at), lambda leg: _LEG_OUTCOME.get(outcome, "cancelled")
                   if names.is_client_leg(leg.channel_id) else "no_answer")
            emit_call(session, "call.ended", call)
        self._write("click-to-call end", call_id, write)

    # ---- desk-phone calls --------------------------------------------------------------
    def phone_call_started(self, call_id, request, at):
        """A client's number: the employee's outbound call, stored like a click-to-call
        (same columns, so the analytics count both alike). An extension: an internal call
        (direction ``internal``: the rollup leaves it out of every client figure)."""
        def write(session):
            if session.scalar(select(m.Call.id).where(m.Call.linkedid == call_id)):
                return
            employee = session.get(m.Employee, request.employee_id) \
                if request.employee_id is not None else None
            started = _dt(at)
            call = m.Call(linkedid=call_id, started_at=started, employee_id=request.employee_id,
                          department_id=employee.department_id if employee else None,
                          handled_by="daemon", outcome="in_progress")
            if request.kind == "outbound":
                call.direction = "outbound"
                call.caller = request.caller_id or None
                call.callee = request.number
                call.caller_name = request.shown_name[:120]
                # The card found by the number check (click_to_call.check_number).
                call.company_id, call.contact_id = request.company_id, request.contact_id
                call.lead_id, call.deal_id = request.lead_id, request.deal_id
                call.inquiry_id = request.inquiry_id
                call.call_list_entry_id = request.call_list_entry_id
                link_call(session, call)  # the same card + open deal rule as every call
                peer = m.CallLeg(employee_id=None, endpoint=f"PJSIP/{request.number}@trunk"[:80],
                                 step=2, channel_id=names.peer_leg_id(call_id), ringing_at=started)
            else:
                call.direction = "internal"
                call.caller_raw = request.endpoint
                call.caller_name = request.caller_name[:120] or None
                call.dialled_number = (request.target_endpoint or "")[:16] or None
                peer = m.CallLeg(employee_id=request.target_employee_id,
                                 endpoint=f"PJSIP/{request.target_endpoint}"[:80], step=2,
                                 channel_id=names.peer_leg_id(call_id), ringing_at=started)
            # The phone that dialled is off-hook from the start.
            call.legs = [m.CallLeg(employee_id=request.employee_id,
                                   endpoint=f"PJSIP/{request.endpoint}", step=1,
                                   channel_id=call_id, ringing_at=started, answered_at=started,
                                   outcome="answered"), peer]
            session.add(call)
            emit_call(session, "call.started", call)
        self._write("phone call", call_id, write)

    def phone_call_answered(self, call_id, request, at):
        def write(session):
            call = session.scalar(select(m.Call).where(m.Call.linkedid == call_id))
            if call is None:
                return
            call.answered_at = _dt(at)
            # Outbound: the employee who placed it talked (as for a click-to-call);
            # internal: who answered.
            call.answered_by_id = request.employee_id if request.kind == "outbound" \
                else request.target_employee_id
            leg = session.scalar(select(m.CallLeg).where(
                m.CallLeg.channel_id == names.peer_leg_id(call_id)))
            if leg is not None:
                leg.answered_at, leg.outcome = _dt(at), "answered"
            emit_call(session, "call.answered", call)
            if request.kind == "outbound" and request.call_list_entry_id is None:
                # A client's call-back answered: its task done, its missed calls recovered.
                apply_answered(session, call, _dt(at))
        self._write("phone call answer", call_id, write)

    def phone_call_ended(self, call_id, request, outcome, at):
        def write(session):
            call = session.scalar(select(m.Call).where(m.Call.linkedid == call_id))
            if call is None:
                return
            _close(call, outcome, _dt(at), lambda leg: _LEG_OUTCOME.get(outcome, "cancelled"))
            emit_call(session, "call.ended", call)
        self._write("phone call end", call_id, write)

    # ---- recordings --------------------------------------------------------------------
    def recording_finished(self, call_id):
        """Asterisk closed the call's recording file: move it into the store and link it.
        The Deferred fires with the recording's size in bytes, or None."""
        def write(session):
            call = session.scalar(select(m.Call).where(m.Call.linkedid == call_id))
            if call is None:
                return None
            try:
                recording = attach_recording(session, call, spool_dir=self.spool_dir,
                                             store_dir=self.store_dir, fmt=self.recording_format)
            except RecordingNameError:
                log.warn("call {call_id}: not a safe recording name", call_id=call_id)
                return None
            if recording is None:
                log.warn("call {call_id}: no recording file in {spool}", call_id=call_id,
                         spool=self.spool_dir)
                return None
            log.info("call {call_id}: recording attached ({size} bytes)", call_id=call_id,
                     size=recording.size_bytes)
            if call.outcome == "after_hours" and (recording.duration_seconds or 0) >= VOICEMAIL_MIN_SECONDS:
                call.outcome = "voicemail"  # the caller left a message
            # Asterisk closes the file after the hang-up: call.ended went without it.
            emit_call(session, "call.recording_ready", call)
            return recording.size_bytes
        return self._write("recording", call_id, write)


_LEG_OUTCOME = {"busy": "busy", "no_answer": "no_answer", "failed": "failed"}


def _close(call: m.Call, outcome: str, end: datetime, ringing_leg_outcome) -> None:
    """A call we placed is over: its final outcome and durations, and every leg still open
    closed at ``end`` (a leg still ringing gets ``ringing_leg_outcome(leg)``)."""
    call.ended_at = end
    call.outcome = outcome if outcome in m.CALL_OUTCOMES else "failed"
    call.duration_seconds = int((end - call.started_at).total_seconds())
    if call.answered_at is not None:
        call.talk_seconds = int((end - call.answered_at).total_seconds())
    for leg in call.legs:
        if leg.ended_at is None:
            leg.ended_at = end
            if leg.outcome == "ringing":
                leg.outcome = ringing_leg_outcome(leg)
