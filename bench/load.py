"""Bursts of trunk calls through the real lab, sipp playing the PSTN trunk: pbx-crm's
routed DID against the lab PBX's native ring group (a plain Dial() of the same two
phones), side by side.

    .venv/bin/python bench/load.py [--rates 5,10,20] [--count 100] [--scenario giveup|answer]
                                   [--giveup 6] [--settle 10] [--warmup 5] [--soak SECONDS] [--keep]
                                   [--daemon-down standby|process]

Brings up its own lab (name "bench": SIP 35060, ARI 38088, phones 35070, trunk 127.0.0.3,
FastAGI 34573, so it runs beside the demo's and the test suite's) and `pbx-crm daemon` on
a fresh SQLite database (burst.seed: Sales on +74951110001 rings Anna 101 and Boris 102;
the native DID +74951110090 dials 101 and 102). For each rate it runs the same burst
against both DIDs, alternating which goes first, each burst from new unknown callers
(+7903...):

* giveup: the phones ring, every caller gives up (CANCEL) after --giveup seconds;
* answer: the phones answer after 1 s, the caller talks 3 s and hangs up (recorded).

and prints per burst: calls completed / attempted (sipp's successful calls), INVITE -> 180
p50 / p99, INVITE -> 200 p99 (answer), the PBX's channels --settle seconds after the
burst (ARI), and for pbx-crm the database invariants (burst.check_database); then what
each process used of a core while sipp ran, sipp's failures and the warnings Asterisk
and the daemon logged, to tell what limited a rate. Leftover channels are hung up before
the next burst; --warmup calls to each DID go first, unreported. --soak SECONDS: then 1
call a second for that long against pbx-crm, with the daemon's RSS and open files before
and after, by kind (sockets, pipes, files).

--daemon-down standby|process: after the warm-up the daemon is stopped (SIGTERM) and the
bursts go to the dialplan's fallbacks: "standby" with `pbx-crm agi-server` running (the
standby FastAGI), "process" with nothing but the process AGI (agi_scripts/route.py started
by Asterisk for every call). The database invariants are not checked then: with no daemon
and no reconcile, answered and missed calls stay as the fallback stored them.

sipp's clock is CLOCK_MONOTONIC_COARSE: times come in 4 ms steps. Run as root (the lab
needs chroot); sipp is Debian's sip-tester (scripts/setup.sh). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pbx_daemon import db  # noqa: E402
from pbx_daemon.lab import Lab  # noqa: E402
from pbx_daemon.lab.burst import ROUTED_DID, BurstReport, process_usage, run_burst, seed  # noqa: E402
from pbx_daemon.lab.lab import LabSettings  # noqa: E402
from pbx_daemon.lab.sipp import SippBurst, caller_numbers  # noqa: E402

API_PORT, AGI_PORT, SIPP_PORT, REDIS_PORT = 38091, 34573, 35062, 36379
PHONES = ("101", "102", "103", "104")


def bench_settings() -> LabSettings:
    return LabSettings(root=Path(os.environ.get("PBX_CRM_LAB_ROOT", "/var/cache/pbx-crm/lab-root")),
                       state_dir=Path("/run/pbx-crm-lab-bench"), name="bench",
                       pbx_sip_port=35060, pbx_ari_port=38088, world_sip_port=35070,
                       trunk_ip="127.0.0.3", fastagi_port=AGI_PORT, fastagi_standby_port=AGI_PORT + 1,
                       ari_password=secrets.token_urlsafe(18))


def start_daemon(lab: Lab, tmp: Path, url: str) -> subprocess.Popen:
    """`pbx-crm daemon` against the bench lab (as tests/integration/conftest.py's
    running_daemon): recordings from the lab PBX's spool into tmp/recordings; no CEL
    reconciliation, not even periodic (the lab's CEL log has the native ring group's calls
    too). Screen-pop goes to a Redis of its own (REDIS_PORT): Redis channels are global, and
    the bench's employee ids are the test suite's, so a shared Redis would pop the bench's
    calls on the suite's pages."""
    s = lab.s
    redis = subprocess.Popen(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = tmp / "pbx-crm.toml"
    spool = lab.instance_dir("pbx") / "spool" / "recording"
    config.write_text(
        f'[general]\ndata_dir = "{tmp}"\n[database]\nurl = "{url}"\n'
        f'[ari]\nurl = "http://127.0.0.1:{s.pbx_ari_port}/"\npassword = "{s.ari_password}"\n'
        f'[api]\ntoken = "{secrets.token_urlsafe(24)}"\n'
        f'listen = "tcp:{API_PORT}:interface=127.0.0.1"\n'
        f'[agi]\nlisten = "tcp:{AGI_PORT}:interface=127.0.0.1"\n'
        f'standby_listen = "tcp:{AGI_PORT + 1}:interface=127.0.0.1"\n'
        f'[asterisk]\nrecording_dir = "{spool}"\ncel_log = "{tmp}/no-cel-log"\n'
        "reconcile_interval = 0\n"
        f'[redis]\nurl = "redis://127.0.0.1:{REDIS_PORT}/0"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")}
    with open(tmp / "daemon.log", "w") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "pbx_daemon.cli", "--config", str(config),
                                   "daemon", "--log-format", "json"],
                                  stdout=out, stderr=subprocess.STDOUT, env=env)
    lab.wait_for(lambda: "ARI events connected" in (tmp / "daemon.log").read_text()
                 or daemon.poll() is not None, 20, "the daemon to connect")
    daemon.redis = redis  # stopped with the daemon
    if daemon.poll() is not None:
        redis.terminate()
        raise SystemExit(f"the daemon exited with {daemon.returncode}; see {tmp / 'daemon.log'}")
    return daemon


def start_standby(lab: Lab, tmp: Path) -> subprocess.Popen:
    """`pbx-crm agi-server` on the daemon's config (its standby_listen, AGI_PORT + 1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")}
    log = tmp / "agi-server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pbx_daemon.cli", "--config",
                                 str(tmp / "pbx-crm.toml"), "agi-server", "--log-format", "json"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    lab.wait_for(lambda: "FastAGIFactory starting on" in log.read_text() or proc.poll() is not None,
                 20, "the agi-server to listen")
    if proc.poll() is not None:
        raise SystemExit(f"the agi-server exited with {proc.returncode}; see {log}")
    return proc


def stop_daemon(daemon: subprocess.Popen | None) -> None:
    if daemon is not None and daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    redis = getattr(daemon, "redis", None)
    if redis is not None and redis.poll() is None:
        redis.terminate()
        redis.wait(10)


def set_phones(lab: Lab, scenario: str) -> None:
    # giveup: nobody answers. answer: pick up after 1 s and stay on far longer than the
    # caller's 3 s, so the caller's BYE ends the call.
    for phone in PHONES:
        lab.set_phone(phone, "ring" if scenario == "giveup" else "answer:1:30")


def hang_up_leftovers(lab: Lab) -> None:
    """So that the next burst starts on an idle PBX."""
    for channel in lab.ari_get("/channels"):
        try:
            lab.ari_request("DELETE", f"/channels/{channel['id']}")
        except OSError:
            pass  # gone meanwhile
    lab.wait_idle(60)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def row(r: BurstReport) -> str:
    """One markdown table row."""
    b = r.burst
    left = len(r.channels_left)
    legs = sum(1 for name in r.channels_left if not name.startswith("PJSIP/trunk-"))
    left_text = f"{left}" + (f" ({legs} phone legs)" if legs else "")
    if r.database is None:
        invariants = "-"
    else:
        problems = r.database.problems()
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(r.database.outcomes.items()))
        invariants = ("ok: " if not problems else "; ".join(problems) + "; ") + \
            f"{r.database.stored} rows ({outcomes})"
    did = r.target if r.target.startswith("pbx-crm") else "native ring group"
    return (f"| {did} | {b.scenario} | {b.rate:g} cps x {b.count} | "
            f"{r.sipp.completed}/{r.sipp.attempted} | {_ms(r.ring_ms(50))} | {_ms(r.ring_ms(99))} | "
            f"{_ms(r.answer_ms(99)) if b.scenario == 'answer' else '-'} | {left_text} | {invariants} |")


HEADER = ("| DID | scenario | rate x count | completed | INVITE -> 180 p50 | p99 | "
          "INVITE -> 200 p99 | channels left | database invariants |\n"
          "|---|---|---|---|---|---|---|---|---|")


def limits(r: BurstReport) -> str:
    """What each process used and what went wrong, to tell what limited the burst."""
    cpu = ", ".join(f"{name} {pct:.0f} %" for name, pct in r.cpu.items())
    lines = [f"  {r.target} {r.burst.rate:g} cps: sipp ran {r.seconds:.0f} s; CPU of one core: {cpu}"]
    failures = r.sipp.failures()
    if failures:
        lines.append("    sipp failures: " + ", ".join(f"{k} {v}" for k, v in failures.items()))
    for name, counts in r.log_lines.items():
        for text, n in counts.most_common(3):
            lines.append(f"    {name} logged {n}x: {text}")
    if r.channels_left:
        lines.append(f"    left on the PBX: {', '.join(sorted(r.channels_left)[:4])}"
                     + (" ..." if len(r.channels_left) > 4 else ""))
    return "\n".join(lines)


def sample_usage(pid: int, every: float) -> threading.Thread:
    """A thread taking :func:`process_usage` of ``pid`` every ``every`` seconds into
    ``.taken`` until ``.stop`` is set: a pool filling up levels off, a leak keeps growing."""
    def run():
        while not thread.stop.wait(every):
            try:
                thread.taken.append(process_usage(pid))
            except OSError:
                return
    thread = threading.Thread(target=run, daemon=True)
    thread.stop, thread.taken = threading.Event(), []
    thread.start()
    return thread


def ari_requests(log: Path, calls: int) -> str:
    """The daemon's ARI client counters from its stop line (JSON log), per call it had."""
    try:
        lines = log.read_text().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if "ARI client stopped" in line:
            event = json.loads(line)
            per_call = f" ({event['requests'] / calls:.1f} a call)" if calls else ""
            return (f"daemon's ARI client over {calls} calls: {event['requests']} requests"
                    f"{per_call}, {event['retries']} retries, {event['failures']} failed")
    return ""


def _interrupt(_signum, _frame):
    """SIGTERM tears down like Ctrl-C."""
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="5,10,20", help="calls per second, comma-separated")
    ap.add_argument("--count", type=int, default=100, help="calls per burst")
    ap.add_argument("--scenario", choices=("giveup", "answer"), default="giveup")
    ap.add_argument("--giveup", type=float, default=6.0, help="seconds of ringing (giveup)")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds before counting channels")
    ap.add_argument("--soak", type=int, default=0, metavar="SECONDS",
                    help="then 1 cps for this long against pbx-crm")
    ap.add_argument("--only", choices=("pbx-crm", "native"), help="one DID only")
    ap.add_argument("--warmup", type=int, default=5,
                    help="calls to each DID at 1 cps first, not reported")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (sipp's files)")
    ap.add_argument("--daemon-down", choices=("standby", "process"),
                    help="stop the daemon after the warm-up: the dialplan's fallbacks route")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r.strip()]

    signal.signal(signal.SIGTERM, _interrupt)
    lab = Lab(bench_settings())
    tmp = Path(tempfile.mkdtemp(prefix="pbx-bench-load-"))
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    daemon = standby = None
    reports: list[BurstReport] = []
    soak = ""
    burst_no = 0
    try:
        lab.down()
        lab.up()
        db.upgrade(url)
        lab.attach_database(url)  # the process AGI fallback reads the same database
        engine = db.make_engine(url)
        sessions = db.make_session_factory(engine)
        with sessions() as session:
            seed(session, ROUTED_DID)
        daemon = start_daemon(lab, tmp, url)
        targets = [("pbx-crm", ROUTED_DID), ("native", lab.s.native_did)]
        if args.only:
            targets = [t for t in targets if t[0] == args.only]
        print(f"lab 'bench' up, daemon pid {daemon.pid}, work directory {tmp}", flush=True)
        if args.warmup:
            # The daemon's first calls pay for lazy imports and SQLAlchemy's statement
            # cache; the first burst would carry them.
            for target, did in targets:
                lab.reset_behaviour()
                set_phones(lab, args.scenario)
                run_burst(lab, SippBurst(args.scenario, did, 1, args.warmup, args.giveup),
                          caller_numbers(burst_no, args.warmup), target=target,
                          workdir=tmp / f"warmup-{target}", sipp_port=SIPP_PORT, settle=2)
                burst_no += 1
                hang_up_leftovers(lab)
        ours = "pbx-crm"
        if args.daemon_down:
            stop_daemon(daemon)
            daemon = None
            ours = f"pbx-crm, daemon down, {args.daemon_down} AGI"
            if args.daemon_down == "standby":
                standby = start_standby(lab, tmp)
            targets = [(ours if t == "pbx-crm" else t, did) for t, did in targets]
        print(HEADER, flush=True)
        for i, rate in enumerate(rates):
            for target, did in (targets if i % 2 == 0 else targets[::-1]):
                lab.reset_behaviour()
                set_phones(lab, args.scenario)
                burst = SippBurst(args.scenario, did, rate, args.count, args.giveup)
                report = run_burst(
                    lab, burst, caller_numbers(burst_no, args.count), target=target,
                    workdir=tmp / f"burst-{burst_no:02d}-{target}-{rate:g}", sipp_port=SIPP_PORT,
                    settle=args.settle, sessions=sessions if target == "pbx-crm" else None,
                    recordings_dir=tmp / "recordings",
                    daemon_pid=(daemon or standby).pid if (daemon or standby) else None,
                    daemon_log=tmp / ("daemon.log" if daemon else "agi-server.log"))
                burst_no += 1
                reports.append(report)
                print(row(report), flush=True)
                hang_up_leftovers(lab)
        if args.soak and daemon is not None:
            lab.reset_behaviour()
            set_phones(lab, args.scenario)
            before = process_usage(daemon.pid)
            samples = sample_usage(daemon.pid, every=60)
            burst = SippBurst(args.scenario, ROUTED_DID, 1, args.soak, args.giveup)
            report = run_burst(lab, burst, caller_numbers(burst_no, args.soak), target="pbx-crm",
                               workdir=tmp / "soak", sipp_port=SIPP_PORT, settle=args.settle,
                               sessions=sessions, recordings_dir=tmp / "recordings",
                               daemon_pid=daemon.pid, daemon_log=tmp / "daemon.log")
            after = process_usage(daemon.pid)
            samples.stop.set()
            reports.append(report)
            print(row(report), flush=True)
            growth = 100 * (after["rss_kb"] - before["rss_kb"]) / before["rss_kb"]
            soak = (f"soak {args.soak} s at 1 cps: daemon RSS {before['rss_kb'] / 1024:.1f} MiB -> "
                    f"{after['rss_kb'] / 1024:.1f} MiB ({growth:+.1f} %), open files "
                    f"{before['open_files']} {before['fd_kinds']} -> {after['open_files']} "
                    f"{after['fd_kinds']}\n  each minute: RSS MiB "
                    + ", ".join(f"{u['rss_kb'] / 1024:.1f}" for u in samples.taken)
                    + "; open files " + ", ".join(str(u["open_files"]) for u in samples.taken))
            print("\n" + soak, flush=True)
    except KeyboardInterrupt:
        print("interrupted; tearing down", file=sys.stderr)
    finally:
        stop_daemon(daemon)
        ari_line = "" if args.daemon_down else ari_requests(
            tmp / "daemon.log", args.warmup + sum(r.sipp.attempted for r in reports
                                                  if r.target == "pbx-crm"))
        if standby is not None and standby.poll() is None:
            standby.terminate()
            standby.wait(10)
        lab.down()
        if reports:
            print("\n" + HEADER)
            print("\n".join(row(r) for r in reports))
            print("\nWhat each burst used and ran into:")
            print("\n".join(limits(r) for r in reports))
        if soak:
            print("\n" + soak)
        if ari_line:
            print("\n" + ari_line)
        if args.keep:
            print(f"\nsipp's files, the daemon's log and database: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
