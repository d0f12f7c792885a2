"""A call outside working hours against the real lab Asterisk (issue 17, first item).

Sales (tracking number +74951110001) is open only on one weekday two days from now, so
"now" is after hours: the PBX answers the caller itself, plays the stock greeting
(``vm-intro``), beeps and records what the caller sends (the lab caller's 1004 Hz tone)
until the caller hangs up. Nobody's phone rings. The call is stored as a voicemail with
its recording, becomes one inquiry with a call-back task due at the next opening plus the
deadline minutes, plays from the inquiry's card, and is counted in the after-hours
column, not in the Lost Call Rate.
"""

from __future__ import annotations

import math
import struct
import time
import urllib.error
import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from pbx_daemon import db
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m
from pbx_daemon.crm.stats.analytics import lost_call_rate
from pbx_daemon.lab import Lab
from pbx_daemon.telephony import names
from pbx_daemon.crm.hours import Hours, build_calendar, next_opening, parse_ranges
from tests.integration.conftest import running_daemon
from tests.integration.test_routing_lab import SALES_NUMBER, seed
from tests.unit.helpers import admin_login

pytestmark = pytest.mark.lab

CALLER = "+79031238001"
TZ = "Europe/Moscow"
HOLD = 14  # the caller stays this long once answered: greeting (~5 s), beep, message


def _session(url):
    return db.make_session_factory(db.make_engine(url))()


def _open_day() -> int:
    return (datetime.now(ZoneInfo(TZ)) + timedelta(days=2)).weekday()


@pytest.fixture(scope="module")
def closed(lab: Lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("after-hours")
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    with _session(url) as s:
        sales = s.scalar(select(m.Department).where(m.Department.name == "Sales"))
        for d in range(7):
            s.add(m.WorkingHours(department_id=sales.id, weekday=d,
                                 ranges="10:00-18:00" if d == _open_day() else ""))
        s.scalar(select(m.Employee).where(m.Employee.login == "vera")).password_hash = \
            generate_password_hash("vera-Password-1")
        s.commit()
    from admin.app import create_app

    app = create_app(load_config(None, {
        "PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40,
        "PBX_CRM_RECORDINGS_DIR": str(tmp / "recordings")}))
    with running_daemon(lab, tmp, url) as _daemon:
        yield lab, url, app, tmp


def _stored(url):
    with _session(url) as s:
        call = s.scalar(select(m.Call).where(m.Call.caller == CALLER))
        if call is None or call.ended_at is None or call.recording is None:
            return None
        return call.id, call.outcome, call.recording.path, call.inquiry_id, call.started_at


def _linkedid(url):
    with _session(url) as s:
        return s.scalar(select(m.Call.linkedid).where(m.Call.caller == CALLER))


def _playback(lab, playback_id):
    try:
        return lab.ari_get(f"/playbacks/{playback_id}")
    except urllib.error.HTTPError:
        return None


def _rms(path: Path) -> float:
    with wave.open(str(path)) as w:
        frames = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames[:len(frames) // 2 * 2])
    return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))


def test_after_hours_caller_hears_the_greeting_leaves_a_voicemail_and_becomes_one_inquiry(closed):
    lab, url, app, tmp = closed
    lab.wait_idle()
    lab.reset_behaviour()
    for ext in ("101", "102", "103", "104"):
        lab.set_phone(ext, "answer:1:5")  # would answer at once, were they rung
    start = time.time()
    lab.call(CALLER, SALES_NUMBER, ring_timeout=20, hold=HOLD)
    # While the greeting plays, Asterisk lists its playback on the caller's channel.
    linkedid = lab.wait_for(lambda: _linkedid(url), 10, "the call to start")
    playback = lab.wait_for(lambda: _playback(lab, names.greeting_playback_id(linkedid)), 5,
                            "the greeting to play")
    assert playback["media_uri"] == "sound:vm-intro" and playback["state"] == "playing"
    assert playback["target_uri"] == f"channel:{linkedid}"

    call_id, outcome, path, inquiry_id, started_at = lab.wait_for(
        lambda: _stored(url), HOLD + 20, "the after-hours call and its voicemail")
    # Nobody rang; the PBX itself answered the caller and kept them on the line through
    # the greeting and the message (the caller hung up after HOLD seconds).
    assert [r for r in lab.rings(start) if r.caller_num == CALLER] == []
    caller_events = [e for e in lab.events(start) if e.caller_num == CALLER or CALLER in e.extra]
    answered = min(e.time for e in caller_events if e.type == "ANSWER")
    hung_up = max(e.time for e in caller_events if e.type == "HANGUP")
    assert hung_up - answered >= HOLD - 1
    log = (tmp / "daemon.log").read_text()
    assert "after hours: greeting and voicemail" in log

    # Stored as a voicemail: the recording holds the caller's tone (audible, not silence).
    assert outcome == "voicemail"
    stored = tmp / "recordings" / path
    with wave.open(str(stored)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert HOLD - 10 <= seconds <= HOLD
    assert _rms(stored) > 500

    # One inquiry, its call-back task due at the next opening plus the deadline minutes.
    with _session(url) as s:
        assert s.scalar(select(func.count(m.Inquiry.id)).where(m.Inquiry.phone == CALLER)) == 1
        task = s.scalar(select(m.Task).where(m.Task.inquiry_id == inquiry_id))
        hours = Hours(tuple(parse_ranges("10:00-18:00") if d == _open_day() else () for d in range(7)), TZ)
        opens = next_opening(hours, build_calendar(range(started_at.year - 1, started_at.year + 2)),
                             started_at)
        assert task.deadline == opens + timedelta(minutes=15)
        assert task.responsible.login == "vera"  # Sales has no duty person: its head

        # The after-hours column, not the Lost Call Rate.
        today = started_at.astimezone(ZoneInfo(TZ)).date()
        (day,) = lost_call_rate(s, today, today, TZ)
        assert (day.after_hours, day.voicemail) >= (1, 1)
        assert s.scalar(select(func.count(m.Call.id)).where(
            m.Call.outcome == "missed", m.Call.caller == CALLER)) == 0

    # Playable from the inquiry's card.
    vera = admin_login(app, "vera")
    card = vera.get(f"/admin/card/inquiry/{inquiry_id}").get_data(as_text=True)
    assert f"/calls/{call_id}/recording" in card
    audio = vera.get(f"/calls/{call_id}/recording")
    assert audio.status_code == 200 and audio.data[:4] == b"RIFF"
    assert time.time() - started_at.replace(tzinfo=timezone.utc).timestamp() < 120
