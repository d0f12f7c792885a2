"""Screen-pop latency: from the daemon publishing "ringing" to the browser receiving it.

What runs, all real and on this machine:

* the publisher is the daemon's own code path (``ScreenPopNotifier`` over
  ``RedisPublisher``, txredisapi, in a Twisted reactor in its own process), publishing
  ``--calls`` ringing events (default 200), one every ``--interval`` ms;
* Redis (127.0.0.1:6379 unless ``--redis``);
* the admin server (``pbx-crm admin``: the SSE stream on the reactor, one shared
  PSUBSCRIBE);
* headless Chromium (Debian's, via Selenium) on ``/screen-pop``, logged in; the page
  records ``Date.now()`` when each event arrives.

Latency = browser receipt - the event's ``at`` (the reactor's clock when the notifier
built it). Both are this machine's wall clock, in milliseconds.

    .venv/bin/python bench/screen_pop.py [--calls 200] [--interval 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PUBLISHER = r"""
import sys
from twisted.internet import task
from pbx_daemon.telephony.outputs.screen_pop import RedisPublisher, ScreenPopNotifier

def main(reactor, url, employee_id, calls, interval):
    publisher = RedisPublisher(url, reactor)
    publisher.startService()
    notifier = ScreenPopNotifier(publisher, reactor)
    state = {"n": 0}

    def one():
        n = state["n"]
        notifier.ringing(f"bench-{n}", employee_id, direction="inbound", phone="+79161234567",
                         name="ООО Ромашка", card={"kind": "company", "id": 1})
        state["n"] += 1
        if state["n"] >= calls:
            loop.stop()

    loop = task.LoopingCall(one)
    loop.clock = reactor
    # Let the Redis connection come up first: a publish before that would be dropped.
    d = task.deferLater(reactor, 1.0, lambda: None)
    d.addCallback(lambda _: loop.start(interval / 1000.0))
    d.addCallback(lambda _: task.deferLater(reactor, 0.5, lambda: None))
    return d

task.react(main, [sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])])
"""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--interval", type=float, default=20.0, help="ms between events")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()

    from selenium.webdriver.common.by import By
    from werkzeug.security import generate_password_hash

    from pbx_daemon import db
    from pbx_daemon.crm import models as m
    from tests.integration.browser import chromium, login, redis_answers, running_admin, wait

    redis_answers(args.redis)
    tmp = Path(tempfile.mkdtemp(prefix="pbx-bench-pop-"))
    url = f"sqlite:///{tmp}/pbx.sqlite3"
    db.upgrade(url)
    with db.make_session_factory(db.make_engine(url))() as s:
        anna = m.Employee(full_name="Anna", login="anna", role="manager", sip_endpoint="101",
                          password_hash=generate_password_hash("anna-Password-1"))
        s.add(anna)
        s.flush()
        s.add(m.Company(name="ООО Ромашка", responsible_id=anna.id, phones=[m.CompanyPhone(phone="+79161234567")]))
        s.commit()
        anna_id = anna.id

    with running_admin(tmp, url, redis_url=args.redis) as base, chromium() as driver:
        login(driver, base, "anna", "anna-Password-1")
        driver.get(f"{base}/screen-pop")
        wait(driver, lambda d: d.find_element(By.ID, "status").get_attribute("class") == "ok", 15, "the stream")
        proc = subprocess.run([sys.executable, "-c", PUBLISHER, args.redis, str(anna_id), str(args.calls),
                               str(args.interval)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            return 1
        deadline = time.monotonic() + 10
        while True:
            pops = driver.execute_script("return window.__pops.filter(function (p) { return p.event === 'ringing'; })")
            if len(pops) >= args.calls or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    latencies = [p["received"] - p["at"] * 1000.0 for p in pops]
    if not latencies:
        print("no event reached the browser")
        return 1
    print(f"screen-pop, daemon notifier -> Redis -> admin SSE -> headless Chromium: "
          f"{len(latencies)}/{args.calls} events received, one every {args.interval:g} ms")
    print(f"  p50 {statistics.median(latencies):.1f} ms   p99 {pct(latencies, 99):.1f} ms   "
          f"max {max(latencies):.1f} ms   min {min(latencies):.1f} ms")
    return 0 if len(latencies) == args.calls else 1


if __name__ == "__main__":
    sys.exit(main())
