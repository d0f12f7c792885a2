"""How soon after the hang-up is a call's recording attached to it? Real lab calls.

Brings up its own lab (name "bench", ports 25060/28088/25070, so it runs beside the demo
and the test suite), starts `pbx-crm daemon` on a fresh SQLite database, then places
--calls answered inbound calls (the client's owner answers after 1 s, talks --hold s)
and --c2c click-to-calls. For each it measures, on one clock (this machine's):

    hang-up  = when the lab phone's (or the client's) leg ended (the world's CEL HANGUP)
    attached = recordings.created_at of the call's row (written by the daemon's store)

and prints p50 / p90 / max of attached - hang-up. The issue's target: within 5 s.

    .venv/bin/python bench/recording_attach.py [--calls 20] [--c2c 5] [--hold 2]

Run as root (the lab needs chroot); the lab is built once (`pbx-crm lab build`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from pbx_daemon import db  # noqa: E402
from pbx_daemon.crm import models as m  # noqa: E402
from pbx_daemon.lab import Lab  # noqa: E402
from pbx_daemon.lab.lab import LabSettings  # noqa: E402

SALES = "+74951110001"
API_PORT, AGI_PORT = 28091, 24573
TOKEN = secrets.token_urlsafe(24)


def seed(url: str) -> None:
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        sales = m.Department(name="Sales", owner_timeout=5, group_timeout=5)
        s.add(sales)
        s.flush()
        anna = m.Employee(full_name="Anna", login="anna", sip_endpoint="101", department_id=sales.id)
        s.add_all([anna, m.TrackingNumber(number=SALES, department_id=sales.id)])
        s.flush()
        for i in range(100):
            s.add(m.Company(name=f"Client {i}", responsible_id=anna.id,
                            phones=[m.CompanyPhone(phone=f"+7916555{i:04d}")]))
        s.commit()
    engine.dispose()


def attached_at(sessions, linkedid: str | None = None, caller: str | None = None):
    with sessions() as s:
        q = select(m.Recording.created_at).join(m.Call)
        q = q.where(m.Call.linkedid == linkedid) if linkedid else q.where(m.Call.caller == caller)
        value = s.scalar(q)
        return value.replace(tzinfo=timezone.utc).timestamp() if value else None


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--c2c", type=int, default=5)
    ap.add_argument("--hold", type=int, default=2)
    args = ap.parse_args()

    settings = LabSettings(root=Path(os.environ.get("PBX_CRM_LAB_ROOT", "/var/cache/pbx-crm/lab-root")),
                           state_dir=Path("/run/pbx-crm-lab-bench"), name="bench",
                           pbx_sip_port=25060, pbx_ari_port=28088, world_sip_port=25070,
                           trunk_ip="127.0.0.3", fastagi_port=AGI_PORT,
                           ari_password=secrets.token_urlsafe(18))
    lab = Lab(settings)
    lab.down()
    lab.up()
    tmp = Path(tempfile.mkdtemp(prefix="pbx-bench-rec-"))
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    spool = lab.instance_dir("pbx") / "spool" / "recording"
    config = tmp / "pbx-crm.toml"
    config.write_text(
        f'[general]\ndata_dir = "{tmp}"\n[database]\nurl = "{url}"\n'
        f'[ari]\nurl = "http://127.0.0.1:{settings.pbx_ari_port}/"\npassword = "{settings.ari_password}"\n'
        f'[api]\ntoken = "{TOKEN}"\nlisten = "tcp:{API_PORT}:interface=127.0.0.1"\n'
        f'[agi]\nlisten = "tcp:{AGI_PORT}:interface=127.0.0.1"\n'
        f'[asterisk]\nrecording_dir = "{spool}"\ncel_log = "{tmp}/none"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")}
    log = open(tmp / "daemon.log", "w")
    daemon = subprocess.Popen([sys.executable, "-m", "pbx_daemon.cli", "--config", str(config), "daemon"],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    sessions = db.make_session_factory(db.make_engine(url))
    inbound, outbound = [], []
    try:
        lab.wait_for(lambda: "ARI events connected" in (tmp / "daemon.log").read_text(), 15, "the daemon")
        lab.set_phone("101", "answer:1")
        for i in range(args.calls):
            caller = f"+7916555{i:04d}"
            lab.wait_idle()
            start = time.time()
            lab.call(caller, SALES, ring_timeout=20, hold=args.hold)
            ring = lab.wait_for(lambda: next((r for r in lab.rings(start)
                                              if r.caller_num == caller and r.ended_at), None),
                                30, "the call to end")
            at = lab.wait_for(lambda: attached_at(sessions, caller=caller), 30, "the recording")
            inbound.append(at - ring.ended_at)
        for i in range(args.c2c):
            number = f"+7903555{i:04d}"
            lab.set_client(number, f"answer:1:{args.hold}")
            lab.wait_idle()
            start = time.time()
            req = urllib.request.Request(f"http://127.0.0.1:{API_PORT}/v1/click-to-call", method="POST",
                                         data=json.dumps({"employee": "anna", "number": number}).encode(),
                                         headers={"Authorization": f"Bearer {TOKEN}"})
            call_id = json.loads(urllib.request.urlopen(req, timeout=10).read())["call_id"]
            ring = lab.wait_for(lambda: next((r for r in lab.rings(start)
                                              if r.kind == "pstn" and r.ended_at), None),
                                40, "the click-to-call to end")
            at = lab.wait_for(lambda: attached_at(sessions, linkedid=call_id), 30, "the recording")
            outbound.append(at - ring.ended_at)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        lab.down()
    for label, values in (("inbound (daemon-routed)", inbound), ("click-to-call", outbound)):
        if values:
            print(f"{label}: {len(values)} calls, hang-up -> recording attached: "
                  f"p50 {statistics.median(values) * 1000:.0f} ms, p90 {pct(values, 90) * 1000:.0f} ms, "
                  f"max {max(values) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
