"""What a reconcile costs on a large CEL log: reading it whole (what the daemon did every
minute before) against reading only what is new (pbx_daemon.telephony.cel_tail).

Writes a synthetic CEL log of --lines lines in the lab's Asterisk 22 format (calls the
daemon routed: trunk channel in Stasis, two phone legs, hang-ups, LINKEDID_END; ~12 lines
a call, all ended within the last 20 hours), a SQLite database in which every one of
those calls is already stored (the steady state: each run finds nothing to do), then
measures, each in a process of its own (so peak RSS is that run's alone):

    full         reconcile() over the whole file, as the old periodic job did
    first        Reconciler.run() with no stored position: the whole file once (a first
                 start, or catching up), then --new calls appended and run again in the
                 same process: the periodic run's cost
    restart      a new process with the stored position: reads from there on

and prints wall time, the peak RSS above the process's RSS before the run (VmHWM,
reset just before it),
and for the periodic run the RSS it added.

    .venv/bin/python bench/reconcile.py [--lines 200000] [--new 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from pbx_daemon.crm import models as m  # noqa: E402
from pbx_daemon.db import make_engine, make_session_factory, seed_reference_data  # noqa: E402

LINES_PER_CALL = 12


def _ev(kind, t, uniqueid, channame, linkedid, num="", exten="s", context="pbxcrm-internal",
        extra=""):
    return json.dumps({
        "eventtype": kind, "userdeftype": "", "eventtime": round(t, 6), "name": "", "num": num,
        "dnid": "", "exten": exten, "context": context, "channame": channame, "appname": "",
        "appdata": "", "uniqueid": uniqueid, "linkedid": linkedid, "peer": "",
        "userfield": "", "eventextra": extra}, separators=(",", ":"))


def call_lines(linkedid: str, caller: str, t0: float) -> list[str]:
    trunk, cause = "PJSIP/trunk-00000001", json.dumps({"hangupcause": 16})
    legs = [(f"{linkedid}-leg{i}-7056", f"PJSIP/10{i}-0000000{i}") for i in (1, 2)]
    lines = [_ev("CHAN_START", t0, linkedid, trunk, linkedid, caller, "+74951110001",
                 "pbxcrm-from-trunk"),
             _ev("APP_START", t0, linkedid, trunk, linkedid, caller, "+74951110001",
                 "pbxcrm-from-trunk")]
    lines += [_ev("CHAN_START", t0 + 0.1, leg, chan, linkedid) for leg, chan in legs]
    lines += [_ev("HANGUP", t0 + 6, linkedid, trunk, linkedid, caller, extra=cause),
              _ev("CHAN_END", t0 + 6, linkedid, trunk, linkedid, caller)]
    for leg, chan in legs:
        lines += [_ev("HANGUP", t0 + 6.01, leg, chan, linkedid, extra=cause),
                  _ev("CHAN_END", t0 + 6.01, leg, chan, linkedid)]
    lines += [_ev("BRIDGE_EXIT", t0 + 6.02, legs[1][0], legs[1][1], linkedid),
              _ev("LINKEDID_END", t0 + 6.02, legs[1][0], legs[1][1], linkedid)]
    assert len(lines) == LINES_PER_CALL
    return lines


def prepare(workdir: Path, total_lines: int) -> tuple[Path, str]:
    cel = workdir / "pbx-crm.jsonl"
    url = f"sqlite:///{workdir}/pbx.sqlite3"
    calls = total_lines // LINES_PER_CALL
    now = time.time()
    rows = []
    with open(cel, "w") as f:
        for i in range(calls):
            t0 = now - 20 * 3600 + i * (19 * 3600 / calls)
            linkedid = f"pbx-{int(t0)}.{i}"
            f.write("".join(line + "\n" for line in call_lines(linkedid, f"+7916{i:07d}", t0)))
            rows.append({"linkedid": linkedid, "direction": "inbound", "outcome": "missed",
                         "handled_by": "daemon", "caller": f"+7916{i:07d}",
                         "started_at": m.utcnow()})
    engine = make_engine(url)
    m.Base.metadata.create_all(engine)
    with make_session_factory(engine)() as s:
        seed_reference_data(s)
        s.execute(insert(m.Call), rows)
        s.commit()
    engine.dispose()
    return cel, url


def _status_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _rss_kib() -> int:
    return _status_kib("VmRSS")


def _reset_peak() -> None:
    """VmHWM := VmRSS (Linux 4.0+), so the peak read later is this run's."""
    Path("/proc/self/clear_refs").write_text("5")


def measure(mode: str, cel: Path, url: str, new: int) -> dict:
    from pbx_daemon.telephony.reconcile import Reconciler, reconcile

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    spool = cel.parent / "spool"
    spool.mkdir(exist_ok=True)
    with sessions() as s:  # warm up: imports, the connection, the ORM's mappers
        s.get(m.Setting, "none")
    base = _rss_kib()
    _reset_peak()
    out = {}
    start = time.perf_counter()
    if mode == "full":
        with sessions() as s, open(cel, errors="replace") as f:
            summary = reconcile(s, f, recordings_dir=spool, settled_before=time.time() - 5)
        out["full"] = (time.perf_counter() - start, summary.seen)
    else:
        r = Reconciler(sessions, cel, recordings_dir=spool)
        summary = r.run(now=time.time())
        out[mode] = (time.perf_counter() - start, summary.seen)
        if mode == "first":
            before = _rss_kib()
            t = time.time() - 60
            with open(cel, "a") as f:
                for i in range(new):
                    f.write("".join(line + "\n" for line in call_lines(
                        f"pbx-new-{int(t)}.{i}", f"+7903{i:07d}", t + i)))
            start = time.perf_counter()
            summary = r.run(now=time.time())
            out["periodic"] = (time.perf_counter() - start, summary.seen, summary.stored,
                               _rss_kib() - before)
    out["peak_delta_kib"] = _status_kib("VmHWM") - base
    engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--new", type=int, default=10, help="calls appended for the periodic run")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--cel", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, Path(args.cel), args.url, args.new)))
        return 0
    with tempfile.TemporaryDirectory(prefix="pbx-reconcile-bench-") as tmp:
        cel, url = prepare(Path(tmp), args.lines)
        size = cel.stat().st_size / 2**20
        print(f"CEL log: {sum(1 for _ in open(cel))} lines, {size:.1f} MiB; every call "
              "already stored")
        for mode in ("full", "first", "restart"):
            result = subprocess.run(
                [sys.executable, __file__, "--measure", mode, "--cel", str(cel), "--url", url,
                 "--new", str(args.new)], capture_output=True, text=True, check=True)
            r = json.loads(result.stdout.strip().splitlines()[-1])
            peak = r["peak_delta_kib"] / 1024
            if mode == "full":
                t, seen = r["full"]
                print(f"full read (the old periodic job): {t:.2f} s, {seen} calls, "
                      f"peak RSS +{peak:.0f} MiB")
            elif mode == "first":
                t, seen = r["first"]
                print(f"incremental, first run over the whole file: {t:.2f} s, {seen} calls, "
                      f"peak RSS +{peak:.0f} MiB")
                t, seen, stored, grown = r["periodic"]
                print(f"incremental, next run ({args.new} new calls, {stored} stored): "
                      f"{t * 1000:.0f} ms, RSS +{grown / 1024:.1f} MiB")
            else:
                t, seen = r["restart"]
                print(f"incremental, after a restart (stored position): {t * 1000:.0f} ms, "
                      f"{seen} calls read, peak RSS +{peak:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
