"""The SQL side of a call: calls and call legs written as the call goes.

Writes run in a one-thread pool, so they never block the reactor and stay in the order
the call produced them. A failed write is logged and the call goes on: storage never
holds up a ringing phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import select
from twisted.logger import Logger
from zope.interface import implementer

from pbx_daemon import models as m
from pbx_daemon.inbound import ICallRecorder
from pbx_daemon.inquiry_store import apply_answered, apply_missed, missed_call_facts

log = Logger(namespace="pbx_daemon.store")


def _dt(at: float) -> datetime:
    return datetime.fromtimestamp(at, timezone.utc)


@dataclass(frozen=True)
class CallDetails:
    caller: str | None  # E.164 or None
    caller_raw: str
    dialled: str | None
    handled_by: str = "daemon"
    # What the lookup found, for the missed-call rules.
    blocked: bool = False
    is_staff: bool = False
    owner_id: int | None = None
    source_id: int | None = None
    tracking_number_id: int | None = None


@implementer(ICallRecorder)
class SqlCallRecorder:
    def __init__(self, session_factory, run: Callable, callback_deadline_minutes: int = 15):
        """``run(fn)`` runs ``fn`` off the reactor thread and returns a Deferred."""
        self.session_factory = session_factory
        self.run = run
        self.callback_deadline_minutes = callback_deadline_minutes
        self.details: dict[str, CallDetails] = {}
        self.plans: dict[str, object] = {}

    def _write(self, what: str, call_id: str, fn: Callable) -> None:
        def job():
            with self.session_factory() as session:
                fn(session)
                session.commit()

        d = self.run(job)
        d.addErrback(lambda f: log.failure("storing {what} for call {call_id}", f,
                                           what=what, call_id=call_id))

    def call_started(self, call_id, caller_channel, plan, at):
        details = self.details.get(call_id) or CallDetails(None, "", None)

        def write(session):
            if session.scalar(select(m.Call.id).where(m.Call.linkedid == call_id)):
                return
            session.add(m.Call(
                linkedid=call_id, direction="inbound", caller=details.caller,
                caller_raw=details.caller_raw[:80], caller_name=plan.caller_name,
                dialled_number=details.dialled, started_at=_dt(at),
                department_id=plan.department_id, handled_by=details.handled_by,
                outcome="blocked" if plan.blocked else "in_progress"))
        self._write("call", call_id, write)

    def leg_ringing(self, call_id, leg_id, endpoint, agent_id, step, at):
        def write(session):
            call_pk = session.scalar(select(m.Call.id).where(m.Call.linkedid == call_id))
            if call_pk is None:
                return
            session.add(m.CallLeg(call_id=call_pk, employee_id=agent_id, endpoint=f"PJSIP/{endpoint}",
                                  step=step, channel_id=leg_id, ringing_at=_dt(at)))
        self._write("leg", call_id, write)

    def leg_ended(self, call_id, leg_id, outcome, at):
        def write(session):
            leg = session.scalar(select(m.CallLeg).where(m.CallLeg.channel_id == leg_id))
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
            leg = session.scalar(select(m.CallLeg).where(m.CallLeg.channel_id == leg_id))
            if leg is not None:
                leg.answered_at = _dt(at)
                leg.outcome = "answered"
            apply_answered(session, call, _dt(at))
        self._write("answer", call_id, write)

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
            call.ended_at = _dt(at)
            call.outcome = outcome if outcome in m.CALL_OUTCOMES else "failed"
            if outcome == "missed":
                facts = missed_call_facts(
                    session, call, blocked=details.blocked, is_staff=details.is_staff,
                    owner_id=details.owner_id, source_id=details.source_id,
                    tracking_number_id=details.tracking_number_id, at=call.started_at
                    if call.started_at.tzinfo else call.started_at.replace(tzinfo=timezone.utc))
                apply_missed(session, call, facts, self.callback_deadline_minutes)
            started = call.started_at if call.started_at.tzinfo else call.started_at.replace(tzinfo=timezone.utc)
            call.duration_seconds = int((_dt(at) - started).total_seconds())
            if call.answered_at is not None:
                answered = call.answered_at if call.answered_at.tzinfo else call.answered_at.replace(tzinfo=timezone.utc)
                call.talk_seconds = int((_dt(at) - answered).total_seconds())
        self._write("call end", call_id, write)
