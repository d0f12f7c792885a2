"""The world instance's side of the lab: how a lab phone or PSTN number behaves when the
PBX calls it (:class:`PhoneMode`, kept in the world's AstDB), and what rang, rebuilt from
the CEL lines the world writes (:class:`LabEvent` -> :class:`Ring`). No processes here:
parsing only."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pbx_daemon.lab.settings import LabError

_MODE = re.compile(r"^(ring|reject|busy|answer(:[0-9]{1,4}(:[0-9]{1,4})?)?|press1:[0-9]{1,4}"
                   r"|(blind|attended):[0-9]{1,4}:[0-9]{1,4}:[0-9]{1,6})$")


@dataclass(frozen=True)
class LabEvent:
    """One CEL record written by the world instance."""

    type: str
    time: float
    unique_id: str
    linked_id: str
    channel: str
    context: str
    exten: str
    caller_num: str
    caller_name: str
    user_type: str = ""
    extra: str = ""

    @classmethod
    def from_json(cls, record: dict) -> "LabEvent":
        return cls(
            type=record.get("eventtype", ""),
            time=float(record.get("eventtime") or 0.0),
            unique_id=str(record.get("uniqueid", "")),
            linked_id=str(record.get("linkedid", "")),
            channel=record.get("channame", ""),
            context=record.get("context", ""),
            exten=str(record.get("exten", "")),
            caller_num=str(record.get("num", "")),
            caller_name=str(record.get("name", "")),
            user_type=record.get("userdeftype", ""),
            extra=str(record.get("eventextra", "")),
        )


@dataclass(frozen=True)
class Ring:
    """A call the world received from the PBX: a lab phone or a PSTN number ringing."""

    kind: str  # "phone" or "pstn"
    target: str  # phone extension or dialled PSTN number
    caller_num: str
    caller_name: str
    rang_at: float
    answered_at: float | None
    ended_at: float | None
    hangup_cause: int | None
    unique_id: str


@dataclass(frozen=True)
class PhoneMode:
    """How a lab phone (or PSTN number) behaves when the PBX calls it.

    ``blind`` / ``attended`` (phones only): answer after ``after`` s, talk ``hold`` s, then
    transfer the caller to extension ``target`` with SIP REFER: blind, or attended after a
    consultation call to ``target`` (REFER with ``Replaces`` naming that call's dialog).
    ``press1``: answer after ``after`` s, then send DTMF 1 (a mobile taking a follow-me
    call) and stay on the line."""

    action: str  # ring | reject | busy | answer | press1 | blind | attended
    after: int = 0
    hold: int | None = None
    target: str | None = None

    def encode(self) -> str:
        if self.action in ("blind", "attended"):
            return f"{self.action}:{self.after}:{self.hold or 0}:{self.target}"
        if self.action == "press1":
            return f"press1:{self.after}"
        if self.action != "answer":
            return self.action
        return f"answer:{self.after}" + (f":{self.hold}" if self.hold is not None else "")

    @classmethod
    def parse(cls, text: str) -> "PhoneMode":
        if not _MODE.match(text):
            raise LabError(f"phone mode {text!r}: use ring, reject, busy, answer[:SECS[:HOLD]], press1:SECS "
                           "or blind|attended:SECS:HOLD:EXT")
        parts = text.split(":")
        if parts[0] in ("blind", "attended"):
            return cls(parts[0], int(parts[1]), int(parts[2]), parts[3])
        if parts[0] == "press1":
            return cls("press1", int(parts[1]))
        if parts[0] != "answer":
            return cls(parts[0])
        after = int(parts[1]) if len(parts) > 1 else 0
        hold = int(parts[2]) if len(parts) > 2 else None
        return cls("answer", after, hold)


def read_events(path: Path, since: float = 0.0) -> list[LabEvent]:
    """The world's CEL records in ``path`` from ``since`` (epoch seconds) on; a line that
    is not a JSON record is skipped."""
    out = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            event = LabEvent.from_json(json.loads(line))
        except (ValueError, TypeError):
            continue
        if event.time >= since:
            out.append(event)
    return out


def rings_from(events: list[LabEvent]) -> list[Ring]:
    """One :class:`Ring` per world channel that rang (``LAB_RING``), oldest first."""
    by_channel: dict[str, list[LabEvent]] = {}
    for event in events:
        by_channel.setdefault(event.unique_id, []).append(event)
    rings = []
    for unique_id, of_channel in by_channel.items():
        ring = next((e for e in of_channel if e.user_type == "LAB_RING"), None)
        if ring is None:
            continue
        answered = next((e.time for e in of_channel if e.type == "ANSWER"), None)
        hangup = next((e for e in of_channel if e.type == "HANGUP"), None)
        cause = None
        if hangup is not None:
            try:
                cause = int(json.loads(hangup.extra).get("hangupcause"))
            except (ValueError, TypeError, AttributeError):
                cause = None
        rings.append(Ring(
            kind="phone" if ring.context == "world-phone" else "pstn",
            target=ring.exten, caller_num=ring.caller_num, caller_name=ring.caller_name,
            rang_at=ring.time, answered_at=answered,
            ended_at=hangup.time if hangup else None, hangup_cause=cause,
            unique_id=unique_id,
        ))
    return sorted(rings, key=lambda r: r.rang_at)
