"""The lab's commands: ``lab build|up|down|status|env|call|phone|client|events|cli`` (``lab
phone EXT dial NUMBER [--hold S]`` makes a lab phone place a call) and
``demo seed|calls``.

Arguments, configuration and a :class:`~pbx_daemon.console.Console` in, exit code out.
The lab's own progress goes to stderr prefixed with ``lab:``; what the user asked for
(a status, an event line, a call tag) goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from datetime import datetime

from pbx_daemon.config import Config
from pbx_daemon.console import Console, read_password, safe_url
from pbx_daemon.lab import Lab, LabError, PhoneMode, Ring
from pbx_daemon.lab.lab import LabSettings


def make_lab(config: Config, console: Console) -> Lab:
    return Lab(LabSettings.from_config(config), log=lambda m: print(f"lab: {m}", file=console.err))


def cmd_lab(args: argparse.Namespace, config: Config, console: Console) -> int:
    out = console.out
    try:
        lab = make_lab(config, console)
        sub = args.lab_command
        if sub == "build":
            lab.build()
            print(lab.status()["version"], file=out)
        elif sub == "up":
            lab.up()
            print(json.dumps(lab.status(), indent=2), file=out)
        elif sub == "down":
            stopped = lab.down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"), file=out)
        elif sub == "status":
            status = lab.status()
            print(json.dumps(status, indent=2), file=out)
            return 0 if status["pbx"]["pid"] and status["world"]["pid"] else 3
        elif sub == "call":
            tag = lab.call(args.caller, args.dialled, name=args.name or "",
                           ring_timeout=args.ring_timeout, hold=args.hold)
            print(tag, file=out)
        elif sub == "phone" and args.action == "dial":
            if not args.number:
                return console.fail("lab phone EXT dial NUMBER: which number?", 2)
            tag = lab.phone_dial(args.target, args.number,
                                 hold=5 if args.hold is None else args.hold)
            print(tag, file=out)
        elif sub == "phone" and args.action in ("transfer", "consult"):
            if not (args.number and args.number.isdigit() and len(args.number) <= 6):
                return console.fail(f"lab phone EXT {args.action} EXT: which extension?", 2)
            mode = PhoneMode("blind" if args.action == "transfer" else "attended", args.after,
                             3 if args.hold is None else args.hold, args.number)
            lab.set_phone(args.target, mode)
            print(f"phone {args.target}: {mode.encode()}", file=out)
        elif sub in ("phone", "client"):
            if getattr(args, "number", None):
                return console.fail(f"lab {sub}: a number goes only with `dial`", 2)
            mode = PhoneMode(args.action, args.after, args.hold) if args.action == "answer" \
                else PhoneMode(args.action)
            if sub == "phone":
                lab.set_phone(args.target, mode)
            else:
                lab.set_client(args.target, mode)
            print(f"{sub} {args.target}: {mode.encode()}", file=out)
        elif sub == "events":
            return print_rings(lab, console, since=args.since, follow=args.follow, as_json=args.json)
        elif sub == "cli":
            print(lab.cli(args.instance, " ".join(args.command)), end="", file=out)
        elif sub == "env":
            # Where the lab's PBX leaves recordings and its CEL log, as the daemon's
            # [asterisk] settings (eval "$(pbx-crm lab env)").
            spool = lab.instance_dir("pbx") / "spool" / "recording"
            cel = lab.log_dir("pbx") / "cel-custom" / "pbx-crm.jsonl"
            print(f"export PBX_CRM_ASTERISK_RECORDING_DIR={shlex.quote(str(spool))}", file=out)
            print(f"export PBX_CRM_ASTERISK_CEL_LOG={shlex.quote(str(cel))}", file=out)
    except LabError as e:
        return console.fail(str(e), 1)
    return 0


def print_rings(lab: Lab, console: Console, *, since: float | None, follow: bool,
                as_json: bool) -> int:
    """``lab events``: each ring once (again when it is answered or ends); ``since`` is
    the last N seconds; ``follow`` polls the world's CEL every 0.3 s until interrupted."""
    start = time.time() - since if since else 0.0
    seen: set[tuple[str, float | None, float | None]] = set()
    while True:
        for ring in lab.rings(start):
            key = (ring.unique_id, ring.answered_at, ring.ended_at)
            if key in seen:
                continue
            seen.add(key)
            line = json.dumps(ring.__dict__) if as_json else ring_line(ring)
            print(line, file=console.out, flush=True)
        if not follow:
            return 0
        time.sleep(0.3)


def ring_line(ring: Ring) -> str:
    def t(x):
        return datetime.fromtimestamp(x).strftime("%H:%M:%S.%f")[:-3] if x else "-"

    outcome = "answered" if ring.answered_at else ("ringing" if not ring.ended_at else "not answered")
    return (f"{t(ring.rang_at)} {ring.kind} {ring.target:<14} from {ring.caller_num!r} "
            f"name {ring.caller_name!r}: {outcome}, answered {t(ring.answered_at)}, "
            f"ended {t(ring.ended_at)}, cause {ring.hangup_cause}")


def cmd_demo(args: argparse.Namespace, config: Config, console: Console) -> int:
    """``demo seed``: the demo department in an empty database (a second seed says so and
    exits 0); ``demo calls``: the scripted burst through the lab, once the daemon answers."""
    if args.demo_action == "seed":
        from pbx_daemon import db
        from pbx_daemon.lab.demo import DemoError, seed

        password = read_password(console, args.password_stdin)
        try:
            with db.session_for(config.database.url) as session:
                people = seed(session, password)
        except DemoError as e:
            print(f"demo: {e}", file=console.err)
            return 0
        print(f"demo data in {safe_url(config.database.url)}: logins {', '.join(people)} "
              "(the password you gave)", file=console.out)
        return 0
    from pbx_daemon.config import api_base_url
    from pbx_daemon.lab.demo import burst
    from pbx_daemon.telephony.api_client import wait_connected
    from pbx_daemon.telephony.api_client import ClickToCallError

    try:
        wait_connected(api_base_url(config), config.api.token)
    except ClickToCallError as e:
        return console.fail(f"demo: {e.message}; start it with `pbx-crm daemon`", 1)
    lab = make_lab(config, console)
    burst(lab, api_url=api_base_url(config), api_token=config.api.token,
          log=lambda line: print(line, file=console.out, flush=True), ring_giveup=args.giveup)
    return 0
