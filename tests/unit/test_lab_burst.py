"""The load bench's pure parts: sipp's command line and files, percentiles, the burst's
seed and the database invariants it checks, the lab's native ring group DID."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from pbx_daemon.crm import models as m
from pbx_daemon.lab.burst import ROUTED_DID, _problems_logged, check_database, seed
from pbx_daemon.lab.lab import LabError, LabSettings
from pbx_daemon.lab.render import render_files
from pbx_daemon.lab.sipp import (SCENARIO_DIR, SippBurst, SippResult, caller_numbers,
                                 injection_file, parse_rtt, parse_stat, percentile)
from tests.unit.helpers import memory_session

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)

# As sipp 3.6 writes them (-trace_rtt and the last rows of -trace_stat, abridged).
RTT = """Date_ms;response_time_ms;rtd_no
508.001;4;ring
1012;8;ring
1512;1008;answer
1512;12;ring
"""
STAT = """StartTime;CurrentTime;OutgoingCall(C);SuccessfulCall(C);FailedCall(C);FailedUnexpectedMessage(C);FailedTimeoutOnRecv(C);Cancelled(C);Answered(C);
2026-12-01 03:08:09;2026-12-01 03:08:10;2;0;0;0;0;0;0;
2026-12-01 03:08:09;2026-12-01 03:08:20;10;7;3;2;1;6;1;
"""


def test_rtt_rows_are_grouped_by_timer():
    assert parse_rtt(RTT) == {"ring": [4.0, 8.0, 12.0], "answer": [1008.0]}
    assert parse_rtt("Date_ms;response_time_ms;rtd_no\n") == {}
    assert parse_rtt("Date_ms;response_time_ms;rtd_no\nbad;x;ring\n1;2\n") == {}


def test_the_last_stat_row_gives_the_cumulative_counts():
    result = SippResult(stat=parse_stat(STAT), rtt={}, returncode=1, workdir=Path("/x"))
    assert (result.attempted, result.completed, result.counter("Cancelled")) == (10, 7, 6)
    assert result.counter("Missing") == 0
    assert result.failures() == {"UnexpectedMessage": 2, "TimeoutOnRecv": 1}
    assert parse_stat("") == {} and parse_stat("OnlyAHeader;\n") == {}


@pytest.mark.parametrize("values,p,expected", [
    ([], 50, None),
    ([7.0], 99, 7.0),
    ([4, 4, 8, 12], 50, 4),
    ([4, 4, 8, 12], 99, 12),
    (list(range(1, 101)), 99, 99),
    (list(range(1, 101)), 50, 50),
    (list(range(100, 0, -1)), 100, 100),
])
def test_percentiles_are_nearest_rank(values, p, expected):
    assert percentile(values, p) == expected


def test_every_call_of_every_burst_has_its_own_caller():
    first, second = caller_numbers(0, 100), caller_numbers(1, 100)
    assert first[0] == "+79030000001" and first[-1] == "+79030000100"
    assert len(set(first) | set(second)) == 200
    assert all(len(n) == 12 for n in first + second)
    assert injection_file(first[:2]) == "SEQUENTIAL\n+79030000001\n+79030000002\n"
    with pytest.raises(LabError):
        caller_numbers(100, 1)


def test_the_sipp_command_binds_the_trunk_address_and_sets_the_give_up_time(tmp_path):
    argv = SippBurst("giveup", "+74951110001", 10, 100, 6).command(
        "127.0.0.1:15060", "127.0.0.2", 15062, tmp_path)
    assert argv[:2] == ["sipp", "127.0.0.1:15060"]
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["-sf"] == str(SCENARIO_DIR / "giveup.xml")
    assert (pairs["-i"], pairs["-p"], pairs["-s"]) == ("127.0.0.2", "15062", "+74951110001")
    assert (pairs["-r"], pairs["-m"], pairs["-recv_timeout"]) == ("10", "100", "6000")
    assert pairs["-inf"] == str(tmp_path / "callers.csv")
    answer = SippBurst("answer", "+74951110001", 2.5, 50).command(
        "127.0.0.1:15060", "127.0.0.2", 15062, tmp_path)
    assert "-recv_timeout" not in answer and dict(zip(answer, answer[1:]))["-r"] == "2.5"
    with pytest.raises(LabError):
        SippBurst("hangup", "+74951110001", 1, 1).command("h:1", "127.0.0.2", 1, tmp_path)


def test_the_scenario_files_are_in_the_repository():
    for name in ("giveup", "answer"):
        text = (SCENARIO_DIR / f"{name}.xml").read_text()
        assert 'start_rtd="ring"' in text and 'rtd="answer"' in text and "[field0]" in text
    assert "CANCEL sip:[service]" in (SCENARIO_DIR / "giveup.xml").read_text()


def test_the_lab_pbx_has_a_native_ring_group_did_outside_stasis(tmp_path):
    s = LabSettings(root=tmp_path, state_dir=tmp_path, ari_password="x" * 12)
    files = render_files(s)
    pbx = files["pbx"]
    assert pbx["extensions.conf"].rstrip().endswith("#include extensions_lab.conf")
    lab_plan = pbx["extensions_lab.conf"]
    # The product's trunk context, reopened: an exact extension, no Stasis().
    assert "[pbxcrm-from-trunk]" in lab_plan
    assert "exten => +74951110090,1," in lab_plan
    dialplan = [line for line in lab_plan.splitlines() if not line.startswith(";")]
    assert any("Dial(PJSIP/101&PJSIP/102,30)" in line for line in dialplan)
    assert not any("Stasis" in line for line in dialplan)
    assert "extensions_lab.conf" not in (Path(__file__).parents[2] / "dialplan" /
                                         "extensions_pbxcrm.conf").read_text()
    for role in ("pbx", "world"):
        assert "maxcalls = 2000" in files[role]["asterisk.conf"]


@pytest.mark.parametrize("did", ["_X.", "+7495;Stasis", "", "12"])
def test_the_native_did_must_be_a_literal_number(tmp_path, did):
    with pytest.raises(LabError):
        LabSettings(root=tmp_path, state_dir=tmp_path, native_did=did)


# ---- the database after a burst -----------------------------------------------------------
_LINKEDIDS = itertools.count(1)


def _call(session, caller, outcome, *, handled_by="daemon"):
    call = m.Call(linkedid=f"pbx-{next(_LINKEDIDS)}", direction="inbound", caller=caller,
                  started_at=T0, outcome=outcome, handled_by=handled_by,
                  ended_at=None if outcome == "in_progress" else T0 + timedelta(seconds=6))
    session.add(call)
    session.flush()
    return call


def _missed(session, caller, *, tasks=1, inquiry=True):
    call = _call(session, caller, "missed")
    if inquiry:
        anna = session.scalar(select(m.Employee).where(m.Employee.login == "anna"))
        found = m.Inquiry(channel="call", phone=caller, missed_count=1, status="open")
        session.add(found)
        session.flush()
        call.inquiry_id = found.id
        for _ in range(tasks):
            session.add(m.Task(title="Call back", type="call", responsible_id=anna.id,
                               deadline=T0 + timedelta(minutes=15), comment="missed call",
                               inquiry_id=found.id))
    return call


def _answered(session, caller, *, recording="x.wav"):
    call = _call(session, caller, "answered")
    if recording:
        session.add(m.Recording(call_id=call.id, path=recording, size_bytes=100))
    return call


def test_a_clean_burst_breaks_no_invariant():
    with memory_session() as session:
        seed(session)
        _missed(session, "+79030000001")
        _missed(session, "+79030000002")
        _answered(session, "+79030000003")
        session.commit()
        check = check_database(session, ["+79030000001", "+79030000002", "+79030000003"])
    assert check.problems() == []
    assert check.stored == 3 and dict(check.outcomes) == {"missed": 2, "answered": 1}


def test_each_broken_invariant_is_reported_with_the_numbers():
    with memory_session() as session:
        seed(session)
        _call(session, "+79030000002", "missed")  # no inquiry
        _missed(session, "+79030000003", tasks=0)
        _missed(session, "+79030000004", tasks=2)
        _call(session, "+79030000005", "in_progress")
        _call(session, "+79030000006", "in_progress", handled_by="fallback_group")
        _answered(session, "+79030000007", recording=None)
        _answered(session, "+79030000008")
        _answered(session, "+79030000008")
        # Another burst's caller and an outbound call to ours do not count.
        _call(session, "+79169999999", "in_progress")
        session.add(m.Call(linkedid="out-1", direction="outbound", callee="+79030000002",
                           caller="+79030000002", started_at=T0, outcome="in_progress"))
        session.commit()
        check = check_database(session, [f"+7903000000{i}" for i in range(1, 9)])
    assert check.not_stored == ["+79030000001"]
    assert check.duplicated == ["+79030000008"]
    assert check.in_progress == ["+79030000005"]
    assert check.handed_to_dialplan == ["+79030000006"]
    assert check.missed_without_one_inquiry == ["+79030000002"]
    assert check.missed_without_one_task == ["+79030000003", "+79030000004"]
    assert check.answered_without_recording == ["+79030000007"]
    problems = check.problems()
    assert len(problems) == 7
    assert problems[0] == "1 calls with no row: +79030000001"
    assert check.stored == 7


def test_a_recording_row_without_its_file_is_not_attached(tmp_path):
    (tmp_path / "here.wav").write_bytes(b"RIFF" + b"\0" * 100)
    (tmp_path / "empty.wav").write_bytes(b"")
    with memory_session() as session:
        seed(session)
        _answered(session, "+79030000001", recording="here.wav")
        _answered(session, "+79030000002", recording="empty.wav")
        _answered(session, "+79030000003", recording="gone.wav")
        session.commit()
        check = check_database(session, ["+79030000001", "+79030000002", "+79030000003"],
                               recordings_dir=tmp_path)
    assert check.answered_without_recording == ["+79030000002", "+79030000003"]


def test_the_burst_seed_rings_the_native_groups_two_phones_first():
    with memory_session() as session:
        seed(session, ROUTED_DID)
        number = session.scalar(select(m.TrackingNumber).where(m.TrackingNumber.number == ROUTED_DID))
        members = sorted(e.sip_endpoint for e in session.scalars(select(m.Employee).where(
            m.Employee.department_id == number.department_id, m.Employee.role == "manager")))
        assert members == ["101", "102"]
        assert number.department.group_timeout == 15


def test_warnings_are_counted_by_kind_past_the_offset(tmp_path):
    log = tmp_path / "messages.log"
    old = "[2026-12-01 03:00:00.000] WARNING[10] res_http.c: old\n"
    log.write_text(
        old
        + "[2026-12-01 03:06:39.960] WARNING[1234][C-00000001] res_http.c: HTTP session count exceeded 100 sessions.\n"
        + "[2026-12-01 03:06:40.100] WARNING[1240] res_http.c: HTTP session count exceeded 100 sessions.\n"
        + "[2026-12-01 03:06:40.200] NOTICE[1] pbx.c: nothing\n"
        + "[2026-12-01 03:06:40.300] ERROR[7] pbx.c: Maximum call limit of 2000 calls exceeded by 'PJSIP/x'!\n")
    found = _problems_logged(log, len(old), json_lines=False)
    assert found == {"WARNING res_http.c: HTTP session count exceeded N sessions.": 2,
                     "ERROR pbx.c: Maximum call limit of N calls exceeded by 'PJSIP/x'!": 1}
    daemon = tmp_path / "daemon.log"
    daemon.write_text(
        '{"log_format": "ARI {what} failed: {error}", "what": "stop pbx-17.28-leg2-d600", '
        '"error": "ConnectionDone", "log_level": {"name": "warn"}}\n'
        '{"log_format": "ARI {what} failed: {error}", "what": "stop pbx-17.29-leg1-0129", '
        '"error": "ConnectionDone", "log_level": {"name": "warn"}}\n'
        '{"log_format": "odd {missing}", "log_level": {"name": "error"}}\n'
        '{"log_format": "ringing", "log_level": {"name": "info"}}\nnot json\n')
    assert _problems_logged(daemon, 0, json_lines=True) == {
        "ARI stop # failed: ConnectionDone": 2, "odd {missing}": 1}
    assert _problems_logged(tmp_path / "missing.log", 0, json_lines=False) == {}
