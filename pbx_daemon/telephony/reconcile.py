"""Reconciliation: calls Asterisk handled while the daemon was not watching.

Asterisk writes every channel event to CEL (``asterisk_conf/cel_custom.conf``: JSON lines
in ``astlogdir/cel-custom/pbx-crm.jsonl``) whether or not the daemon runs. A call is
complete when its ``LINKEDID_END`` is written. For each complete inbound call whose
linkedid is not in the calls table we store the call and its phone legs, attach its
recording if the dialplan's MixMonitor or ARI wrote one (``<linkedid>.wav``), and run the
missed-call rules. The linkedid is unique in the table, so running it twice stores nothing
twice.

CEL facts relied on (Asterisk 22): the trunk channel is ``PJSIP/trunk-...`` and its
``CHAN_START`` carries the caller's number as the trunk sent it and the dialled number as
``exten``; a phone leg is a ``PJSIP/<endpoint>-...`` channel whose ``ANSWER`` means the
phone picked up; ``HANGUP`` carries ``{"hangupcause": N}`` in ``eventextra``. Asterisk
does not escape a backslash in a caller name, so a line may not be valid JSON: such lines
are skipped (a call is still rebuilt from its other events).

Desk-phone calls the dialplan placed itself (``[pbxcrm-phone-fallback]``, daemon down)
carry a ``PBXCRM_PHONE_FALLBACK`` user event on the phone's channel, whose ``exten`` is
what the phone dialled: up to 6 digits an internal call to that extension, else an
outbound call (normalised with the same rules as click-to-call, linked to the number's
card). The other channel of the call is the far side: its ``ANSWER`` is the answer, its
``HANGUP`` cause the outcome when nobody answered.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m
from pbx_daemon.crm.call_links import link_call
from pbx_daemon.crm.inquiries.apply import apply_answered, apply_missed, missed_call_facts
from pbx_daemon.crm.recordings import RecordingNameError, attach_recording
from pbx_daemon.telephony import names

_CHANNEL = re.compile(r"^PJSIP/(?P<endpoint>[A-Za-z0-9_.-]+)-[0-9a-f]+$")
TRUNK_ENDPOINT = "trunk"


@dataclass
class CelCall:
    linkedid: str
    events: list[dict] = field(default_factory=list)
    complete: bool = False


def read_cel(lines: Iterable[str]) -> dict[str, CelCall]:
    calls: dict[str, CelCall] = {}
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        linkedid = str(event.get("linkedid", ""))
        if not linkedid:
            continue
        call = calls.setdefault(linkedid, CelCall(linkedid))
        call.events.append(event)
        if event.get("eventtype") == "LINKEDID_END":
            call.complete = True
    return calls


def _at(event: dict) -> datetime:
    return datetime.fromtimestamp(float(event.get("eventtime") or 0), timezone.utc)


def _endpoint(event: dict) -> str | None:
    match = _CHANNEL.match(event.get("channame", ""))
    return match.group("endpoint") if match else None


@dataclass(frozen=True)
class Summary:
    seen: int
    stored: int
    missed: int
    answered: int


def reconcile(session: Session, cel_lines: Iterable[str], *, recordings_dir: str | Path,
              store_dir: str | Path | None = None, region: str = "RU",
              callback_deadline_minutes: int = 15,
              settled_before: float | None = None) -> Summary:
    """Store every complete inbound call in ``cel_lines`` that the calls table lacks, and
    every desk-phone call the dialplan placed without the daemon.

    ``recordings_dir`` is Asterisk's spool, ``store_dir`` where recordings are kept
    (:mod:`pbx_daemon.crm.recordings`; default: left in the spool).
    ``settled_before`` (epoch seconds): leave calls that ended after it to the daemon,
    which may still be writing them."""
    from pbx_daemon.telephony.routing.directory import lookup_caller

    calls = read_cel(cel_lines)
    complete = [c for c in calls.values() if c.complete and (
        settled_before is None or max(float(e.get("eventtime") or 0) for e in c.events)
        < settled_before)]
    known: set[str] = set()
    # Calls the daemon began and handed to the dialplan's fallback group: how they ended
    # (answered, by whom, or missed) is only in CEL.
    handed_over: dict[str, m.Call] = {}
    for row in (session.scalars(select(m.Call).where(
            m.Call.linkedid.in_([c.linkedid for c in complete]))) if complete else ()):
        if row.outcome == "in_progress" and row.handled_by == "fallback_group":
            handed_over[row.linkedid] = row
        else:
            known.add(row.linkedid)
    endpoints = {e.sip_endpoint: e.id for e in session.scalars(select(m.Employee))
                 if e.sip_endpoint}
    stored = missed = answered = 0
    for cel in complete:
        if cel.linkedid in known:
            continue
        marker = next((e for e in cel.events
                       if e.get("userdeftype") == names.CEL_PHONE_FALLBACK), None)
        if marker is not None:
            call = _phone_call(session, cel, marker, endpoints, region)
            if call is None:
                continue
            session.add(call)
            session.flush()
            if call.answered_at is not None:
                try:
                    attach_recording(session, call, spool_dir=recordings_dir,
                                     store_dir=store_dir or recordings_dir)
                except RecordingNameError:
                    pass
                if call.direction == "outbound":
                    apply_answered(session, call, call.answered_at)
                answered += 1
            stored += 1
            continue
        # An inbound call is one the trunk channel started (its uniqueid is the linkedid);
        # a click-to-call also has a trunk channel, but the employee's phone started it.
        trunk = next((e for e in cel.events if e.get("eventtype") == "CHAN_START"
                      and _endpoint(e) == TRUNK_ENDPOINT
                      and e.get("uniqueid") == cel.linkedid), None)
        if trunk is None:
            continue
        caller_raw = str(trunk.get("num", ""))
        dialled = str(trunk.get("exten", ""))
        now = _at(trunk)
        facts = lookup_caller(session, caller_raw, dialled, now, region)
        call = handed_over.get(cel.linkedid)
        if call is None:
            call = m.Call(linkedid=cel.linkedid, direction="inbound", caller=facts.number,
                          caller_raw=caller_raw[:80], dialled_number=_e164_or_none(dialled),
                          started_at=now, handled_by="reconciled", outcome="missed",
                          department_id=facts.department_id)
        else:
            call.outcome = "missed"
        link_call(session, call)  # a handed-over call keeps its links; a missing deal is filled
        # The daemon's own legs (ours, originated over ARI) are kept; CEL adds the
        # dialplan's.
        known_legs = {leg.channel_id for leg in call.legs}
        legs: dict[str, m.CallLeg] = {}
        for event in cel.events:
            endpoint = _endpoint(event)
            if endpoint is None or endpoint == TRUNK_ENDPOINT:
                continue
            channel = event.get("uniqueid", "")
            kind = event.get("eventtype")
            if channel in known_legs:
                continue
            if kind == "CHAN_START":
                legs[channel] = m.CallLeg(employee_id=endpoints.get(endpoint),
                                          endpoint=f"PJSIP/{endpoint}", channel_id=channel,
                                          ringing_at=_at(event), outcome="no_answer")
            elif kind == "ANSWER" and channel in legs:
                legs[channel].answered_at = _at(event)
                legs[channel].outcome = "answered"
                if call.answered_at is None:
                    call.answered_at = _at(event)
                    call.answered_by_id = legs[channel].employee_id
            elif kind == "HANGUP" and channel in legs:
                legs[channel].ended_at = _at(event)
                if legs[channel].outcome != "answered":
                    legs[channel].outcome = _leg_outcome(event)
        end = next(e for e in cel.events if e.get("eventtype") == "LINKEDID_END")
        call.ended_at = _at(end)
        call.duration_seconds = int((call.ended_at - call.started_at).total_seconds())
        if call.answered_at is not None:
            call.outcome = "answered"
            call.talk_seconds = int((call.ended_at - call.answered_at).total_seconds())
        elif facts.blocked:
            call.outcome = "blocked"
        first_step = max((leg.step for leg in call.legs), default=0) + 1
        for step, leg in enumerate(sorted(legs.values(), key=lambda leg: leg.ringing_at),
                                   first_step):
            leg.step = step
            call.legs.append(leg)
        session.add(call)
        session.flush()
        if call.answered_at is not None:
            try:
                attach_recording(session, call, spool_dir=recordings_dir,
                                 store_dir=store_dir or recordings_dir)
            except RecordingNameError:
                pass  # a linkedid we would not use as a file name: no recording
        if call.outcome == "missed":
            apply_missed(session, call, missed_call_facts(
                session, call, blocked=facts.blocked, is_staff=facts.is_staff,
                owner_id=facts.owner_id, source_id=facts.source_id,
                tracking_number_id=facts.tracking_number_id, at=call.started_at),
                callback_deadline_minutes)
            missed += 1
        elif call.outcome == "answered":
            apply_answered(session, call, call.answered_at)
            answered += 1
        stored += 1
    session.commit()
    return Summary(seen=len(complete), stored=stored, missed=missed, answered=answered)


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
