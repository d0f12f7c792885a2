"""Reconciliation: calls Asterisk handled while the daemon was not watching.

Asterisk writes every channel event to CEL (``asterisk_conf/cel_custom.conf``: JSON lines
in ``astlogdir/cel-custom/pbx-crm.jsonl``) whether or not the daemon runs. A call is
complete when its ``LINKEDID_END`` is written. For each complete inbound call whose
linkedid is not in the calls table we store the call and its phone legs, attach its
recording if the dialplan's MixMonitor or ARI wrote one (``<linkedid>.wav``), and run the
missed-call rules. The linkedid is unique in the table, so running it twice stores nothing
twice. A row the table has with outcome ``in_progress`` (a call the daemon began and
handed to the fallback group, or was killed during) is completed from CEL the same way,
unless the daemon still holds the call (``live_call_ids``).

The daemon's periodic run (:class:`Reconciler`) reads only the lines written since its
last run (:class:`~pbx_daemon.telephony.cel_tail.CelTail`), keeps the calls not complete
yet in memory, and stores in the ``settings`` table (:data:`POSITION_KEY`), in the same
transaction as the calls it wrote, where to read again after a restart: the first line of
the earliest call not complete yet, so that call is read whole again (complete calls read
twice are already stored: skipped). A database without that row has never reconciled: it
imports only calls that ended within ``asterisk.reconcile_horizon_hours`` before its
first run, and that cut-off is stored with the position. It commits every
:data:`BATCH` calls and checks its stop flag between batches, so stopping the daemon
never waits for a long run and never leaves a call half-written.

CEL facts relied on (Asterisk 22): the trunk channel is ``PJSIP/trunk-...`` and its
``CHAN_START`` carries the caller's number as the trunk sent it and the dialled number as
``exten``; a phone leg is a ``PJSIP/<endpoint>-...`` channel whose ``ANSWER`` means the
phone picked up (the daemon's own legs have the ids it gave them, so a stored leg is
found by its channel id); ``HANGUP`` carries ``{"hangupcause": N}`` in ``eventextra``.
Asterisk does not escape a backslash in a caller name, so a line may not be valid JSON:
such lines are skipped (a call is still rebuilt from its other events).

Desk-phone calls the dialplan placed itself (``[pbxcrm-phone-fallback]``, daemon down)
carry a ``PBXCRM_PHONE_FALLBACK`` user event on the phone's channel, whose ``exten`` is
what the phone dialled: up to 6 digits an internal call to that extension, else an
outbound call (normalised with the same rules as click-to-call, linked to the number's
card). The other channel of the call is the far side: its ``ANSWER`` is the answer, its
``HANGUP`` cause the outcome when nobody answered.

Webhooks: a call stored or completed here sends the ``call.*`` events the daemon did not,
in the same transaction and in the order they happened, each marked ``"reconciled": true``
and carrying the call as stored (already ended): a new row ``call.started``, then
``call.answered`` if answered, the rules' ``inquiry.*``/``task.*``, ``call.ended`` and
``call.recording_ready`` if a recording was found; a row the daemon began (it sent
``call.started``, and ``call.answered`` if it saw the answer) only the rest. A stored, final
row is never touched again, so no event goes twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.logger import Logger

from pbx_daemon.crm import models as m
from pbx_daemon.crm.call_links import link_call
from pbx_daemon.crm.inquiries.apply import (apply_answered, apply_missed, apply_summary_tasks,
                                            missed_call_facts)
from pbx_daemon.crm.inquiries.rules import LateCallback, decide_late_callbacks
from pbx_daemon.crm.recordings import RecordingNameError, attach_recording
from pbx_daemon.crm.webhooks import emit_call
from pbx_daemon.telephony import names
from pbx_daemon.telephony.cel_tail import CelTail, Position

log = Logger(namespace="pbx_daemon.reconcile")

_CHANNEL = re.compile(r"^PJSIP/(?P<endpoint>[A-Za-z0-9_.-]+)-[0-9a-f]+$")
# The provider trunk's PJSIP endpoint (trunk.endpoint): its channels are the caller's side.
TRUNK_ENDPOINT = "pbxcrm-trunk"
POSITION_KEY = "cel_reconcile_position"
# Calls per transaction (with SQLite the write lock is held ~0.1 s, so the store's own
# writes wait no longer than that); the stop flag is checked between batches.
BATCH = 20
IDLE_BATCHES = 50  # batches with nothing to write between two saves of the position
CHUNK_BYTES = 256 * 1024  # CEL read per step (about 600 lines)
# A call whose CEL has not ended this long after its last event is forgotten, and a row
# in progress this long with no end in CEL is closed as failed.
STALE_AFTER = 6 * 3600
MAX_PENDING = 20_000  # incomplete calls kept in memory at most (the oldest go first)
SWEEP_EVERY = 3600  # seconds between looks for rows in progress that never ended


@dataclass
class CelCall:
    linkedid: str
    events: list[dict] = field(default_factory=list)
    complete: bool = False
    first: tuple[int, int] = (0, 0)  # (generation, byte offset) of its first line
    last_at: float = 0.0  # the latest eventtime seen


def _event(line: str) -> dict | None:
    line = line.strip()
    if not line:
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and event.get("linkedid") else None


class CelCalls:
    """CEL events grouped by call, in the order the calls began: what has been read and
    not yet stored (or found stored). Pure: lines in, calls out."""

    def __init__(self):
        self.calls: dict[str, CelCall] = {}
        self._complete: dict[str, None] = {}  # linkedids, in the order they completed
        self.newest = 0.0  # the latest eventtime read: "now" as far as the log goes

    def __len__(self) -> int:
        return len(self.calls)

    def add(self, line: str, where: tuple[int, int] = (0, 0)) -> None:
        event = _event(line)
        if event is None:
            return
        linkedid = str(event["linkedid"])
        call = self.calls.get(linkedid)
        if call is None:
            call = self.calls[linkedid] = CelCall(linkedid, first=where)
        call.events.append(event)
        try:
            at = float(event.get("eventtime") or 0)
        except (TypeError, ValueError):
            at = 0.0
        call.last_at = max(call.last_at, at)
        self.newest = max(self.newest, at)
        if event.get("eventtype") == "LINKEDID_END":
            call.complete = True
            self._complete[linkedid] = None

    def settled(self, before: float | None) -> list[CelCall]:
        """Complete calls whose last event is older than ``before`` (None: all), in the
        order they began."""
        ready = [self.calls[i] for i in self._complete
                 if before is None or self.calls[i].last_at < before]
        return sorted(ready, key=lambda c: c.first)

    def remove(self, linkedid: str) -> None:
        self.calls.pop(linkedid, None)
        self._complete.pop(linkedid, None)

    def earliest(self) -> tuple[int, int] | None:
        """Where the earliest call still held began: read again from there."""
        return min((c.first for c in self.calls.values()), default=None)

    def forget(self, stale_after: float = STALE_AFTER,
               keep_at_most: int = MAX_PENDING) -> list[CelCall]:
        """Drop calls whose last event is ``stale_after`` seconds older than the newest
        event read (the log's own clock, so reading old history forgets nothing early),
        and the oldest beyond ``keep_at_most``; returns them."""
        gone = [c for c in self.calls.values() if c.last_at < self.newest - stale_after]
        for call in gone:
            self.remove(call.linkedid)
        if len(self.calls) > keep_at_most:
            oldest = sorted(self.calls.values(), key=lambda c: c.first)
            extra = oldest[:len(self.calls) - keep_at_most]
            for call in extra:
                self.remove(call.linkedid)
            gone += extra
        return gone


def read_cel(lines: Iterable[str]) -> dict[str, CelCall]:
    calls = CelCalls()
    for line in lines:
        calls.add(line)
    return calls.calls


def _at(event: dict) -> datetime:
    return datetime.fromtimestamp(float(event.get("eventtime") or 0), timezone.utc)


def _endpoint(event: dict) -> str | None:
    match = _CHANNEL.match(event.get("channame", ""))
    return match.group("endpoint") if match else None


def _end_event(cel: CelCall) -> dict:
    return next(e for e in cel.events if e.get("eventtype") == "LINKEDID_END")


@dataclass(frozen=True)
class Summary:
    seen: int
    stored: int  # rows written: new calls and completed ones
    missed: int
    answered: int
    completed: int = 0  # of ``stored``: rows that were in progress
    old: int = 0  # complete calls not imported: ended before the first start's horizon
    closed: int = 0  # rows in progress with no end in CEL, closed as failed
    forgotten: int = 0  # incomplete calls dropped from memory
    stopped: bool = False  # the stop flag cut the run short

    def __add__(self, other: "Summary") -> "Summary":
        return Summary(*(a + b for a, b in zip(self._values(), other._values())),
                       stopped=self.stopped or other.stopped)

    def _values(self):
        return (self.seen, self.stored, self.missed, self.answered, self.completed, self.old,
                self.closed, self.forgotten)


EMPTY = Summary(0, 0, 0, 0)


@dataclass(frozen=True)
class Options:
    """What one run decides with: ``since`` (epoch seconds) is the horizon: a call the
    table lacks that ended before it is not imported; ``now`` (aware) makes a missed
    call's overdue call-back late (:func:`~pbx_daemon.crm.inquiries.rules.decide_missed`;
    None: never late); ``live_call_ids`` are the calls the daemon holds right now."""

    recordings_dir: str | Path
    store_dir: str | Path | None = None
    region: str = "RU"
    callback_deadline_minutes: int = 15
    since: float | None = None
    now: datetime | None = None
    live_call_ids: frozenset[str] = frozenset()
    tz: str | None = None  # the company's time zone, for task comments
    trunk_endpoint: str = TRUNK_ENDPOINT


@dataclass
class _Batch:
    summary: Summary = EMPTY
    kept: list[str] = field(default_factory=list)  # complete, but the daemon still holds it
    late: list[LateCallback] = field(default_factory=list)


def store_calls(session: Session, complete: list[CelCall], opts: Options) -> _Batch:
    """Store (or complete) each of ``complete`` the calls table lacks (or has in
    progress); flushes, the caller commits."""
    out = _Batch()
    rows = {row.linkedid: row for row in session.scalars(select(m.Call).where(
        m.Call.linkedid.in_([c.linkedid for c in complete])))} if complete else {}
    endpoints = None
    stored = missed = answered = completed = old = 0
    for cel in complete:
        row = rows.get(cel.linkedid)
        if row is not None and row.outcome != "in_progress":
            continue  # stored, final
        if cel.linkedid in opts.live_call_ids:
            out.kept.append(cel.linkedid)  # the daemon is still on it: look again next run
            continue
        if row is None and opts.since is not None \
                and float(_end_event(cel).get("eventtime") or 0) < opts.since:
            old += 1
            continue
        if endpoints is None:
            endpoints = {e.sip_endpoint: e.id for e in session.scalars(select(m.Employee))
                         if e.sip_endpoint}
        marker = next((e for e in cel.events
                       if e.get("userdeftype") == names.CEL_PHONE_FALLBACK), None)
        if row is None and marker is not None:
            call = _phone_call(session, cel, marker, endpoints, opts.region)
            if call is None:
                continue
            session.add(call)
            session.flush()
            _emit(session, call, started=True, answered=call.answered_at is not None)
            if call.answered_at is not None:
                _attach(session, call, opts)
                if call.direction == "outbound":
                    apply_answered(session, call, call.answered_at)
                answered += 1
            _emit_end(session, call)
            stored += 1
            continue
        if row is not None and row.direction != "inbound":
            _complete_placed(session, row, cel, opts)
            stored += 1
            completed += 1
            answered += row.outcome == "answered"
            continue
        call, late = _inbound(session, cel, row, endpoints, opts)
        if call is None:
            continue
        if late is not None:
            out.late.append(late)
        stored += 1
        completed += row is not None
        missed += call.outcome == "missed"
        answered += call.outcome == "answered"
    out.summary = Summary(seen=len(complete), stored=stored, missed=missed, answered=answered,
                          completed=completed, old=old)
    return out


def _emit(session: Session, call: m.Call, *, started: bool, answered: bool) -> None:
    """The webhooks' events of a call from its start to its answer (see the module's docstring)."""
    if started:
        emit_call(session, "call.started", call, reconciled=True)
    if answered:
        emit_call(session, "call.answered", call, reconciled=True)


def _emit_end(session: Session, call: m.Call) -> None:
    # attach_recording adds the row by call_id: the relationship loaded before is stale.
    session.expire(call, ["recording"])
    emit_call(session, "call.ended", call, reconciled=True)
    if call.recording is not None:
        emit_call(session, "call.recording_ready", call, reconciled=True)


def _attach(session: Session, call: m.Call, opts: Options) -> None:
    try:
        attach_recording(session, call, spool_dir=opts.recordings_dir,
                         store_dir=opts.store_dir or opts.recordings_dir)
    except RecordingNameError:
        pass  # a linkedid we would not use as a file name: no recording


def _inbound(session: Session, cel: CelCall, call: m.Call | None, endpoints: dict[str, int],
             opts: Options) -> tuple[m.Call | None, LateCallback | None]:
    """An inbound call from CEL: a new row, or ``call`` (in progress) completed."""
    from pbx_daemon.telephony.routing.directory import lookup_caller

    # An inbound call is one the trunk channel started (its uniqueid is the linkedid);
    # a click-to-call also has a trunk channel, but the employee's phone started it.
    trunk = next((e for e in cel.events if e.get("eventtype") == "CHAN_START"
                  and _endpoint(e) == opts.trunk_endpoint
                  and e.get("uniqueid") == cel.linkedid), None)
    if trunk is None and call is None:
        return None, None
    if trunk is not None:
        caller_raw, dialled = str(trunk.get("num", "")), str(trunk.get("exten", ""))
        started = _at(trunk)
    else:  # the row knows what the call's first lines said
        caller_raw = call.caller_raw or call.caller or ""
        dialled, started = call.dialled_number or "", call.started_at
    facts = lookup_caller(session, caller_raw, dialled, started, opts.region)
    new = call is None
    answered_before = not new and call.answered_at is not None
    if call is None:
        call = m.Call(linkedid=cel.linkedid, direction="inbound", caller=facts.number,
                      caller_raw=caller_raw[:80], dialled_number=_e164_or_none(dialled),
                      started_at=started, handled_by="reconciled", outcome="missed",
                      department_id=facts.department_id)
    link_call(session, call)  # a stored call keeps its links; a missing deal is filled
    # The daemon's own legs (originated over ARI, stored as they rang) are completed from
    # their CEL; CEL adds the dialplan's.
    legs = {leg.channel_id: leg for leg in call.legs}
    added: dict[str, m.CallLeg] = {}
    for event in cel.events:
        endpoint = _endpoint(event)
        if endpoint is None or endpoint == opts.trunk_endpoint:
            continue
        channel = event.get("uniqueid", "")
        kind = event.get("eventtype")
        leg = legs.get(channel) or added.get(channel)
        if kind == "CHAN_START" and leg is None:
            added[channel] = m.CallLeg(employee_id=endpoints.get(endpoint),
                                       endpoint=f"PJSIP/{endpoint}", channel_id=channel,
                                       ringing_at=_at(event), outcome="no_answer")
        elif kind == "ANSWER" and leg is not None:
            if leg.answered_at is None:
                leg.answered_at = _at(event)
                leg.outcome = "answered"
            if call.answered_at is None:
                call.answered_at = leg.answered_at
                call.answered_by_id = leg.employee_id
        elif kind == "HANGUP" and leg is not None and leg.ended_at is None:
            leg.ended_at = _at(event)
            if leg.outcome in ("no_answer", "ringing"):
                leg.outcome = _leg_outcome(event)
    end = _at(_end_event(cel))
    call.ended_at = end
    call.duration_seconds = int((end - call.started_at).total_seconds())
    if call.answered_at is not None:
        call.outcome = "answered"
        call.talk_seconds = int((end - call.answered_at).total_seconds())
    elif facts.blocked:
        call.outcome = "blocked"
    else:
        call.outcome = "missed"
    first_step = max((leg.step for leg in call.legs), default=0) + 1
    for step, leg in enumerate(sorted(added.values(), key=lambda leg: leg.ringing_at),
                               first_step):
        leg.step = step
        call.legs.append(leg)
    for leg in call.legs:  # a leg CEL says nothing more about ended with the call
        if leg.ended_at is None:
            leg.ended_at = end
            if leg.outcome == "ringing":
                leg.outcome = "no_answer"
    session.add(call)
    session.flush()
    _emit(session, call, started=new,
          answered=call.answered_at is not None and not answered_before)
    late = None
    if call.answered_at is not None:
        _attach(session, call, opts)
    if call.outcome == "missed":
        late = apply_missed(session, call, missed_call_facts(
            session, call, blocked=facts.blocked, is_staff=facts.is_staff,
            owner_id=facts.owner_id, source_id=facts.source_id,
            tracking_number_id=facts.tracking_number_id, at=call.started_at),
            opts.callback_deadline_minutes, opts.now, opts.tz)
    elif call.outcome == "answered":
        apply_answered(session, call, call.answered_at)
    _emit_end(session, call)
    return call, late


def _complete_placed(session: Session, call: m.Call, cel: CelCall, opts: Options) -> None:
    """A click-to-call or desk-phone call the daemon placed and never saw end: its legs
    (step 1 the employee's own phone, step 2 the far side) from CEL, then the outcome."""
    legs = {leg.channel_id: leg for leg in call.legs}
    answered_before = call.answered_at is not None
    far_hangup: dict | None = None
    for event in cel.events:
        leg = legs.get(event.get("uniqueid", ""))
        if leg is None:
            continue
        kind = event.get("eventtype")
        if kind == "ANSWER" and leg.answered_at is None:
            leg.answered_at, leg.outcome = _at(event), "answered"
        elif kind == "HANGUP":
            if leg.step >= 2:
                far_hangup = event
            if leg.ended_at is None:
                leg.ended_at = _at(event)
                if leg.outcome == "ringing":
                    leg.outcome = _leg_outcome(event)
    far = [leg for leg in call.legs if leg.step >= 2 and leg.answered_at is not None]
    if call.answered_at is None and far:
        call.answered_at = far[0].answered_at
        call.answered_by_id = call.employee_id if call.direction == "outbound" \
            else far[0].employee_id
    end = _at(_end_event(cel))
    call.ended_at = end
    call.duration_seconds = int((end - call.started_at).total_seconds())
    if call.answered_at is not None:
        call.outcome = "answered"
        call.talk_seconds = int((end - call.answered_at).total_seconds())
    else:
        call.outcome = _PHONE_OUTCOME.get(_cause(far_hangup), "no_answer") \
            if far_hangup else "no_answer"
    for leg in call.legs:
        if leg.ended_at is None:
            leg.ended_at = end
            if leg.outcome == "ringing":
                leg.outcome = "no_answer"
    session.flush()
    _emit(session, call, started=False, answered=call.answered_at is not None and not answered_before)
    if call.answered_at is not None:
        _attach(session, call, opts)
        if call.direction == "outbound" and call.call_list_entry_id is None:
            apply_answered(session, call, call.answered_at)
    _emit_end(session, call)


def close_abandoned(session: Session, before: datetime, keep: Iterable[str]) -> list[str]:
    """Rows still in progress that began before ``before`` and are not in ``keep`` (calls
    the daemon holds or CEL is still writing): their end will never be known. Closed as
    failed; returns their linkedids."""
    keep = set(keep)
    closed = []
    for call in session.scalars(select(m.Call).where(m.Call.outcome == "in_progress",
                                                     m.Call.started_at < before)):
        if call.linkedid in keep:
            continue
        call.outcome = "failed"
        for leg in call.legs:
            if leg.outcome == "ringing":
                leg.outcome = "failed"
        emit_call(session, "call.ended", call, reconciled=True)
        closed.append(call.linkedid)
    session.flush()
    return closed


def reconcile(session: Session, cel_lines: Iterable[str], *, recordings_dir: str | Path,
              store_dir: str | Path | None = None, region: str = "RU",
              callback_deadline_minutes: int = 15,
              settled_before: float | None = None,
              live_call_ids: frozenset[str] = frozenset(), since: float | None = None,
              now: datetime | None = None, stale_missed_tasks: str = "summary",
              tz: str | None = None, trunk_endpoint: str = TRUNK_ENDPOINT) -> Summary:
    """Store every complete inbound call in ``cel_lines`` that the calls table lacks, and
    every desk-phone call the dialplan placed without the daemon; complete rows in
    progress (not in ``live_call_ids``) from their CEL. One transaction.

    ``recordings_dir`` is Asterisk's spool, ``store_dir`` where recordings are kept
    (:mod:`pbx_daemon.crm.recordings`; default: left in the spool).
    ``settled_before`` (epoch seconds): leave calls that ended after it to the daemon,
    which may still be writing them. ``since``, ``now``: see :class:`Options`;
    ``stale_missed_tasks``: ``summary`` or ``none`` (late call-backs, with ``now``)."""
    calls = CelCalls()
    for line in cel_lines:
        calls.add(line)
    opts = Options(recordings_dir=recordings_dir, store_dir=store_dir, region=region,
                   callback_deadline_minutes=callback_deadline_minutes, since=since, now=now,
                   live_call_ids=live_call_ids, tz=tz, trunk_endpoint=trunk_endpoint)
    batch = store_calls(session, calls.settled(settled_before), opts)
    if now is not None:
        apply_summary_tasks(session, decide_late_callbacks(
            batch.late, stale_missed_tasks, now, callback_deadline_minutes, tz), {})
    session.commit()
    return batch.summary


# ---- the daemon's periodic run ----------------------------------------------------------
@dataclass(frozen=True)
class SavedPosition:
    """The ``settings`` row: where to read CEL again, and the first start's horizon."""

    position: Position | None
    since: float

    def to_text(self) -> str:
        return json.dumps({"position": self.position.to_json() if self.position else None,
                           "since": self.since})

    @classmethod
    def from_text(cls, text: str) -> "SavedPosition":
        data = json.loads(text)
        return cls(Position.from_json(data["position"]) if data.get("position") else None,
                   float(data.get("since") or 0))


def load_position(session: Session) -> SavedPosition | None:
    row = session.get(m.Setting, POSITION_KEY)
    if row is None:
        return None
    try:
        return SavedPosition.from_text(row.value)
    except (ValueError, KeyError, TypeError):
        log.warn("settings {key}: unreadable ({value!r}): reconciling as on a first start",
                 key=POSITION_KEY, value=row.value[:200])
        return None


def save_position(session: Session, saved: SavedPosition) -> None:
    row = session.get(m.Setting, POSITION_KEY)
    if row is None:
        session.add(m.Setting(key=POSITION_KEY, value=saved.to_text()))
    else:
        row.value = saved.to_text()


class Reconciler:
    """The daemon's reconcile, run again and again (on a thread of its own: blocking file
    and SQL work): ``run(now=..., live_call_ids=..., should_stop=...)`` reads the CEL
    lines written since the last run and stores what they complete (module docstring).

    ``sessions()`` gives a session; after any failure the reader starts over from the
    stored position on the next run."""

    def __init__(self, sessions: Callable[[], Session], cel_log: str | Path, *,
                 recordings_dir: str | Path, store_dir: str | Path | None = None,
                 region: str = "RU", callback_deadline_minutes: int = 15,
                 horizon_hours: int = 24, stale_missed_tasks: str = "summary",
                 settle: float = 5.0, tz: str | None = None,
                 trunk_endpoint: str = TRUNK_ENDPOINT):
        self.sessions = sessions
        self.cel_log = Path(cel_log)
        self.opts = Options(recordings_dir=recordings_dir, store_dir=store_dir, region=region,
                            callback_deadline_minutes=callback_deadline_minutes, tz=tz,
                            trunk_endpoint=trunk_endpoint)
        self.horizon_hours = horizon_hours
        self.stale_missed_tasks = stale_missed_tasks
        self.settle = settle
        self._tail: CelTail | None = None
        self._calls = CelCalls()
        self._since = 0.0
        self._saved: SavedPosition | None = None
        self._next_sweep = 0.0

    def run(self, *, now: float, live_call_ids: frozenset[str] = frozenset(),
            should_stop: Callable[[], bool] = lambda: False) -> Summary:
        """One pass: ``now`` (epoch seconds, the caller's clock); calls that ended within
        ``settle`` seconds of it are left for the next pass (the daemon may still be
        writing them); returns early, between batches, once ``should_stop()``."""
        try:
            return self._run(now, live_call_ids, should_stop)
        except BaseException:
            self.reset()
            raise

    def reset(self) -> None:
        """Forget what is in memory: the next run reads again from the stored position."""
        if self._tail is not None:
            self._tail.close()
        self._tail, self._calls, self._saved = None, CelCalls(), None

    def _start(self, now: float) -> None:
        with self.sessions() as session:
            saved = load_position(session)
            if saved is None:  # the cut-off holds from now on, whatever happens to this run
                since = now - self.horizon_hours * 3600 if self.horizon_hours else 0.0
                save_position(session, SavedPosition(None, since))
                session.commit()
        if saved is None:
            self._since = since
            log.info("first reconcile of this database: importing calls from {path} that "
                     "ended after {since} (asterisk.reconcile_horizon_hours = {hours})",
                     path=str(self.cel_log), hours=self.horizon_hours,
                     since=datetime.fromtimestamp(self._since, timezone.utc).isoformat()
                     if self._since else "the start of the log")
            start = None
        else:
            self._since, start = saved.since, saved.position
            self._saved = saved
        self._tail = CelTail(self.cel_log, start,
                             log=lambda message: log.info("{message}", message=message))
        self._calls = CelCalls()

    def _run(self, now: float, live_call_ids: frozenset[str],
             should_stop: Callable[[], bool]) -> Summary:
        if self._tail is None:
            self._start(now)
        tail = self._tail
        at = datetime.fromtimestamp(now, timezone.utc)
        opts = replace(self.opts, since=self._since, now=at, live_call_ids=live_call_ids)
        settled_before = now - self.settle
        total = EMPTY
        late: list[LateCallback] = []
        summary_tasks: dict[int, int] = {}
        examined: set[str] = set()  # calls kept for the daemon are looked at once a run
        forgotten: list[CelCall] = []
        idle = 0
        while True:
            if should_stop():
                return replace(total, stopped=True)
            lines = tail.read(CHUNK_BYTES)
            for line in lines:
                self._calls.add(line.text, (line.generation, line.offset))
            ready = [c for c in self._calls.settled(settled_before) if c.linkedid not in examined]
            for i in range(0, len(ready), BATCH):
                if should_stop():
                    return replace(total, stopped=True)
                batch = ready[i:i + BATCH]
                with self.sessions() as session:
                    done = store_calls(session, batch, opts)
                    for cel in batch:
                        examined.add(cel.linkedid)
                        if cel.linkedid not in done.kept:
                            self._calls.remove(cel.linkedid)
                    if done.late:
                        late += done.late
                        apply_summary_tasks(session, decide_late_callbacks(
                            late, self.stale_missed_tasks, at,
                            opts.callback_deadline_minutes, opts.tz), summary_tasks)
                    # A batch that found everything stored commits only now and then: a
                    # restart from an older position reads a little more, nothing else.
                    idle += 1
                    if done.summary.stored or done.late or idle >= IDLE_BATCHES:
                        idle = 0
                        self._save(session)
                        session.commit()
                total += done.summary
            forgotten += self._calls.forget()
            if not lines:
                break
        if forgotten:
            log.warn("reconcile: forgot {count} calls CEL never ended within {hours} h "
                     "(the oldest {linkedid})", count=len(forgotten), hours=STALE_AFTER // 3600,
                     linkedid=forgotten[0].linkedid)
        # Once the log is read to its end: rows no CEL will ever end (at start, then
        # hourly: the query walks every row older than STALE_AFTER).
        closed: list[str] = []
        with self.sessions() as session:
            if now >= self._next_sweep:
                self._next_sweep = now + SWEEP_EVERY
                closed = close_abandoned(session, at - timedelta(seconds=STALE_AFTER),
                                         set(live_call_ids) | set(self._calls.calls))
            if closed:
                log.warn("reconcile: {count} calls in progress for over {hours} h with no "
                         "end in CEL closed as failed ({linkedids})", count=len(closed),
                         hours=STALE_AFTER // 3600, linkedids=", ".join(closed[:10]))
            self._save(session)
            session.commit()
        return total + Summary(0, 0, 0, 0, closed=len(closed), forgotten=len(forgotten))

    def _save(self, session: Session) -> None:
        earliest = self._calls.earliest()
        position = self._tail.position(*earliest) if earliest is not None else self._tail.end()
        saved = SavedPosition(position, self._since)
        if saved != self._saved:
            save_position(session, saved)
            self._saved = saved


_PHONE_OUTCOME = {17: "busy", 21: "busy", 18: "no_answer", 19: "no_answer"}


def _phone_call(session: Session, cel: CelCall, marker: dict, endpoints: dict[str, int],
                region: str) -> m.Call | None:
    """A desk phone's call the dialplan placed (see the module's docstring), or None when
    the CEL does not show whose phone it was."""
    from pbx_daemon.telephony.api_client import ClickToCallError
    from pbx_daemon.telephony.click_to_call import check_number

    phone = _endpoint(marker)
    if phone is None:
        return None
    dialled = "".join(c for c in str(marker.get("exten", "")) if c.isdigit() or c == "+")[:20]
    phone_channel = marker.get("uniqueid", "")
    start = next((e for e in cel.events if e.get("eventtype") == "CHAN_START"
                  and e.get("uniqueid") == phone_channel), marker)
    started = _at(start)
    end = _at(next(e for e in cel.events if e.get("eventtype") == "LINKEDID_END"))
    employee_id = endpoints.get(phone)
    employee = session.get(m.Employee, employee_id) if employee_id else None
    call = m.Call(linkedid=cel.linkedid, started_at=started, ended_at=end,
                  employee_id=employee_id, handled_by="reconciled",
                  department_id=employee.department_id if employee else None)
    internal = len(dialled) <= 6
    if internal:
        call.direction = "internal"
        call.caller_raw = phone
        call.caller_name = employee.full_name[:120] if employee else None
        call.dialled_number = dialled or None
    else:
        call.direction = "outbound"
        try:
            checked = check_number(session, dialled, now=started, region=region)
            call.callee = checked.number
            call.caller_name = checked.shown_name[:120]
            for key, value in checked.links.items():
                setattr(call, key, value)
            link_call(session, call)  # the same card + open deal rule as every call
        except ClickToCallError:
            # Not a number we would have dialled (or blocklisted): stored all the same,
            # without a card, since the dialplan placed it.
            call.caller_name = dialled
    call.legs = [m.CallLeg(employee_id=employee_id, endpoint=f"PJSIP/{phone}", step=1,
                           channel_id=phone_channel, ringing_at=started, answered_at=started,
                           outcome="answered", ended_at=end)]
    peer: m.CallLeg | None = None
    peer_hangup: dict | None = None
    for event in cel.events:
        channel = event.get("uniqueid", "")
        endpoint = _endpoint(event)
        if channel == phone_channel or endpoint is None:
            continue
        kind = event.get("eventtype")
        if kind == "CHAN_START" and peer is None:
            peer = m.CallLeg(employee_id=endpoints.get(endpoint) if internal else None,
                             endpoint=f"PJSIP/{endpoint}"[:80], step=2, channel_id=channel,
                             ringing_at=_at(event), outcome="no_answer")
            call.legs.append(peer)
        elif peer is not None and channel == peer.channel_id:
            if kind == "ANSWER" and peer.answered_at is None:
                peer.answered_at, peer.outcome = _at(event), "answered"
            elif kind == "HANGUP":
                peer.ended_at = _at(event)
                peer_hangup = event
    if peer is not None and peer.answered_at is not None:
        call.answered_at = peer.answered_at
        call.answered_by_id = employee_id if not internal else peer.employee_id
        call.outcome = "answered"
        call.talk_seconds = int((end - call.answered_at).total_seconds())
    elif peer is None:
        call.outcome = "failed"
    else:
        cause = _cause(peer_hangup) if peer_hangup else 0
        call.outcome = _PHONE_OUTCOME.get(cause, "abandoned")
        if peer.outcome != "answered":
            peer.outcome = _leg_outcome(peer_hangup) if peer_hangup else "no_answer"
    call.duration_seconds = int((end - started).total_seconds())
    return call


def _cause(hangup: dict) -> int:
    try:
        return int(json.loads(hangup.get("eventextra") or "{}").get("hangupcause", 0))
    except (ValueError, TypeError, AttributeError):
        return 0


def _leg_outcome(hangup: dict) -> str:
    try:
        cause = int(json.loads(hangup.get("eventextra") or "{}").get("hangupcause", 0))
    except (ValueError, TypeError, AttributeError):
        cause = 0
    return {17: "busy", 21: "rejected", 26: "cancelled", 19: "no_answer"}.get(cause, "no_answer")


def _e164_or_none(text: str) -> str | None:
    from pbx_daemon.crm.phones import is_e164

    return text if is_e164(text) else None
