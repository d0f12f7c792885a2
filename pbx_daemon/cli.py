"""``pbx-crm``: the one command ops run. Configuration is loaded here, once, and passed on.

Exit codes: 0 success, 1 a command failed at run time, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Sequence

from pbx_daemon.config import ConfigError, config_summary, load_config, validate


def _config(args: argparse.Namespace, overrides: dict | None = None):
    return load_config(args.config, os.environ, overrides or {})


def _fail(message: str, code: int = 2) -> int:
    print(f"pbx-crm: {message}", file=sys.stderr)
    return code


def _require(config, components: set[str]) -> None:
    problems = validate(config, components)
    if problems:
        raise ConfigError("; ".join(str(p) for p in problems))


# ---- check-config / init-config ---------------------------------------------------------
def cmd_check_config(args: argparse.Namespace) -> int:
    config = _config(args)
    components = set(args.for_.split(",")) if args.for_ else {"daemon", "admin", "agi"}
    problems = validate(config, components)
    if not args.quiet:
        for line in config_summary(config):
            print(line)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(f"config OK for {', '.join(sorted(components))}")
    return 0


INIT_TEMPLATE = """\
# pbx-crm configuration, written by `pbx-crm init-config` on {date}.
# Every key, its default and its environment variable: pbx-crm.example.toml.
# Secrets below were generated for this installation; keep this file mode 0600.

[general]
data_dir = "{data_dir}"
default_region = "RU"

[ari]
password = "{ari_password}"

[api]
token = "{api_token}"

[admin]
secret_key = "{secret_key}"
"""


def cmd_init_config(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        return _fail(f"{path} exists; pass --force to overwrite it (its secrets would change)")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = INIT_TEMPLATE.format(
        date=datetime.now().strftime("%Y-%m-%d"),
        data_dir=args.data_dir,
        ari_password=secrets.token_urlsafe(24),
        api_token=secrets.token_urlsafe(32),
        secret_key=secrets.token_urlsafe(48),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    print(f"wrote {path} with fresh secrets; use it with --config {path} or PBX_CRM_CONFIG")
    return 0


# ---- db ------------------------------------------------------------------------------
def cmd_db(args: argparse.Namespace) -> int:
    from pbx_daemon import db

    config = _config(args)
    url = config.database.url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if args.db_command == "upgrade":
        db.upgrade(url, args.revision)
        print(f"database at {_safe_url(url)} is at revision {db.current_revision(url)}")
    elif args.db_command == "current":
        print(db.current_revision(url) or "empty (run: pbx-crm db upgrade)")
    elif args.db_command == "downgrade":
        db.downgrade(url, args.revision)
        print(f"database at {_safe_url(url)} is at revision {db.current_revision(url)}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# ---- users ------------------------------------------------------------------------------
def _read_password(args: argparse.Namespace) -> str:
    import getpass

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ConfigError("the passwords differ")
    if len(password) < 10:
        raise ConfigError("a password needs at least 10 characters")
    return password


def cmd_user(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from pbx_daemon import db
    from pbx_daemon.crm import models

    config = _config(args)
    engine = db.make_engine(config.database.url)
    try:
        with db.make_session_factory(engine)() as session:
            user = session.scalar(select(models.Employee).where(models.Employee.login == args.login))
            if args.user_command == "add":
                if user is not None:
                    return _fail(f"an employee with login {args.login!r} exists; "
                                 "use `pbx-crm user passwd`", 1)
                user = models.Employee(full_name=args.name or args.login, login=args.login,
                                       role=args.role)
                session.add(user)
            elif user is None:
                return _fail(f"no employee with login {args.login!r}", 1)
            user.password_hash = generate_password_hash(_read_password(args))
            session.commit()
            print(f"{args.user_command}: {user.login} ({user.role})")
    finally:
        engine.dispose()
    return 0


# ---- reconcile ---------------------------------------------------------------------------
def cmd_reconcile(args: argparse.Namespace) -> int:
    from pbx_daemon import db
    from pbx_daemon.telephony.reconcile import reconcile

    config = _config(args)
    path = Path(args.cel_log or config.asterisk.cel_log)
    if not path.is_file():
        return _fail(f"no CEL log at {path} (asterisk.cel_log)", 1)
    engine = db.make_engine(config.database.url)
    try:
        with db.make_session_factory(engine)() as session, open(path, errors="replace") as f:
            summary = reconcile(session, f, recordings_dir=config.asterisk.recording_dir,
                                store_dir=config.recordings.dir,
                                region=config.general.default_region,
                                callback_deadline_minutes=config.inquiries.callback_deadline_minutes)
    finally:
        engine.dispose()
    print(f"reconciled {path}: {summary.seen} complete calls, {summary.stored} stored "
          f"({summary.answered} answered, {summary.missed} missed)")
    return 0


# ---- click-to-call ------------------------------------------------------------------------
def cmd_call(args: argparse.Namespace) -> int:
    from pbx_daemon.telephony.api_client import click_to_call
    from pbx_daemon.telephony.click_to_call import ClickToCallError
    from pbx_daemon.config import api_base_url

    config = _config(args)
    if not config.api.token:
        return _fail("api.token is not set: the daemon's API needs it")
    card = None
    if args.card:
        kind, _, card_id = args.card.partition(":")
        if not card_id.isdigit():
            return _fail("--card must look like contact:12")
        card = {"kind": kind, "id": int(card_id)}
    employee = int(args.employee) if args.employee.isdigit() else args.employee
    try:
        result = click_to_call(api_base_url(config), config.api.token, employee=employee,
                               number=args.number, card=card)
    except ClickToCallError as e:
        return _fail(f"click-to-call refused: {e.message}", 1)
    print(f"{result['call_id']}: ringing {args.employee}'s phone; then {result['number']}")
    return 0


# ---- call lists ---------------------------------------------------------------------------
def cmd_import_list(args: argparse.Namespace) -> int:
    from pbx_daemon import db
    from pbx_daemon.crm.importer import ImportError_, describe_mapping, guess_mapping, import_call_list, read_table

    config = _config(args)
    overrides = {}
    for item in args.map or []:
        field_name, sep, header = item.partition("=")
        if not sep:
            return _fail(f"--map {item!r}: use field=Header, e.g. phone=Телефон")
        overrides[field_name.strip()] = header.strip()
    try:
        headers, rows = read_table(args.file)
    except ImportError_ as e:
        return _fail(str(e), 1)
    print(f"{args.file}: {len(rows)} rows; columns: {describe_mapping(headers, guess_mapping(headers))}"
          + (f"; overridden: {overrides}" if overrides else ""), file=sys.stderr)
    total = max(len(rows), 1)
    interactive = sys.stderr.isatty()

    def progress(done: int) -> None:
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "." * (width - filled)
        end = "\r" if interactive else "\n"
        print(f"checking [{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)

    engine = db.make_engine(config.database.url)
    try:
        with db.make_session_factory(engine)() as session:
            report = import_call_list(
                session, args.file, list_name=args.list, overrides=overrides,
                region=config.general.default_region,
                default_area_code=config.general.default_area_code, dry_run=args.dry_run,
                progress=progress)
    except ImportError_ as e:
        return _fail(str(e), 1)
    finally:
        engine.dispose()
    progress(total)
    if interactive:
        print(file=sys.stderr)
    if args.report:
        Path(args.report).write_text(report.csv(), encoding="utf-8")
    verb = "would add" if args.dry_run else "added"
    print(f"{args.list}: {verb} {report.count('ok')}; {report.summary()}"
          + (f"; report in {args.report}" if args.report else ""))
    return 0


# ---- reports ------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from datetime import date, timedelta
    from zoneinfo import ZoneInfo

    from pbx_daemon import db
    from pbx_daemon.crm.stats.report import build_daily, render_html, render_text, send_mail

    config = _config(args)
    tz = config.general.timezone
    if args.date:
        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            return _fail(f"--date {args.date!r}: use YYYY-MM-DD")
    else:
        day = datetime.now(ZoneInfo(tz)).date() - timedelta(days=1)
    r = config.report
    if args.email and not (r.smtp_host and r.mail_from and r.mail_to):
        return _fail("--email needs report.smtp_host, report.mail_from and report.mail_to in the config")
    engine = db.make_engine(config.database.url)
    try:
        with db.make_session_factory(engine)() as session:
            report = build_daily(session, day, tz, r.recovered_within_minutes)
    finally:
        engine.dispose()
    body = render_html(report) if args.format == "html" else render_text(report)
    if args.output:
        Path(args.output).write_text(body, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    elif not args.email:
        sys.stdout.write(body)
    if args.email:
        try:
            send_mail(report, host=r.smtp_host, port=r.smtp_port, starttls=r.smtp_starttls,
                      user=r.smtp_user, password=r.smtp_password, sender=r.mail_from,
                      recipients=[x.strip() for x in r.mail_to.split(",") if x.strip()])
        except OSError as e:
            return _fail(f"sending the report via {r.smtp_host}:{r.smtp_port} failed: {e}", 1)
        print(f"sent the {day} report to {r.mail_to}", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """``stats rebuild``: build the analytics rollup for a whole history (after an upgrade
    or a restore); ``stats status``: how many days are built and how many are waiting."""
    import time
    from datetime import date

    from sqlalchemy import func, select

    from pbx_daemon.crm.stats import rollup as call_stats
    from pbx_daemon import db
    from pbx_daemon.crm import models as m

    config = _config(args)
    tz = config.general.timezone
    bounds = []
    for flag, value in (("--from", getattr(args, "first", None)), ("--to", getattr(args, "last", None))):
        try:
            bounds.append(date.fromisoformat(value) if value else None)
        except ValueError:
            return _fail(f"{flag} {value!r}: use YYYY-MM-DD")
    if bounds[0] and bounds[1] and bounds[0] > bounds[1]:
        return _fail("--from is after --to")
    engine = db.make_engine(config.database.url)
    try:
        with db.make_session_factory(engine)() as session:
            if args.stats_action == "status":
                built = session.scalar(select(func.count()).select_from(m.CallStatDay)
                                       .where(m.CallStatDay.tz == tz))
                dirty = session.scalar(select(func.count()).select_from(m.CallStatDirty))
                print(f"{built} days built for {tz}; {dirty} changed 15-minute slots waiting")
                return 0
            t0 = time.monotonic()
            tick = max(1, int(args.progress_every))

            def progress(day):
                done.append(day)
                if len(done) % tick == 0:
                    print(f"  {day}: {len(done)} days, {time.monotonic() - t0:.0f} s", flush=True)

            done: list = []
            call_stats.rebuild(session, tz, bounds[0], bounds[1], progress=progress)
    finally:
        engine.dispose()
    span = f"{done[0]} .. {done[-1]}" if done else "nothing"
    print(f"analytics rollup rebuilt: {len(done)} days ({span}) in {time.monotonic() - t0:.1f} s")
    return 0


# ---- demo ---------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from pbx_daemon import db
    from pbx_daemon.lab.demo import DemoError, burst, seed

    config = _config(args)
    if args.demo_action == "seed":
        password = _read_password(args)
        engine = db.make_engine(config.database.url)
        try:
            with db.make_session_factory(engine)() as session:
                people = seed(session, password)
        except DemoError as e:
            print(f"demo: {e}", file=sys.stderr)
            return 0
        finally:
            engine.dispose()
        print(f"demo data in {_safe_url(config.database.url)}: logins {', '.join(people)} "
              "(the password you gave)")
        return 0
    from pbx_daemon.telephony.api_client import wait_connected
    from pbx_daemon.telephony.click_to_call import ClickToCallError
    from pbx_daemon.config import api_base_url

    try:
        wait_connected(api_base_url(config), config.api.token)
    except ClickToCallError as e:
        return _fail(f"demo: {e.message}; start it with `pbx-crm daemon`", 1)
    lab = _lab(args)
    burst(lab, api_url=api_base_url(config), api_token=config.api.token,
          log=lambda line: print(line, flush=True), ring_giveup=args.giveup)
    return 0


# ---- daemon / admin ----------------------------------------------------------------------
def cmd_daemon(args: argparse.Namespace) -> int:
    overrides = {"log.format": args.log_format} if args.log_format else {}
    config = _config(args, overrides)
    _require(config, {"daemon"})
    from pbx_daemon.service import run

    return run(config)


def cmd_admin(args: argparse.Namespace) -> int:
    config = _config(args)
    _require(config, {"admin"})
    from admin.serve import run

    return run(config)


# ---- lab -----------------------------------------------------------------------------
def _lab(args: argparse.Namespace):
    from pbx_daemon.lab import Lab
    from pbx_daemon.lab.lab import LabSettings

    config = _config(args)
    return Lab(LabSettings.from_config(config), log=lambda m: print(f"lab: {m}", file=sys.stderr))


def cmd_lab(args: argparse.Namespace) -> int:
    from pbx_daemon.lab import LabError, PhoneMode

    try:
        lab = _lab(args)
        sub = args.lab_command
        if sub == "build":
            lab.build()
            print(lab.status()["version"])
        elif sub == "up":
            lab.up()
            print(json.dumps(lab.status(), indent=2))
        elif sub == "down":
            stopped = lab.down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        elif sub == "status":
            status = lab.status()
            print(json.dumps(status, indent=2))
            return 0 if status["pbx"]["pid"] and status["world"]["pid"] else 3
        elif sub == "call":
            tag = lab.call(args.caller, args.dialled, name=args.name or "",
                           ring_timeout=args.ring_timeout, hold=args.hold)
            print(tag)
        elif sub in ("phone", "client"):
            mode = PhoneMode(args.action, args.after, args.hold) if args.action == "answer" \
                else PhoneMode(args.action)
            if sub == "phone":
                lab.set_phone(args.target, mode)
            else:
                lab.set_client(args.target, mode)
            print(f"{sub} {args.target}: {mode.encode()}")
        elif sub == "events":
            return _lab_events(lab, args)
        elif sub == "cli":
            print(lab.cli(args.instance, " ".join(args.command)), end="")
        elif sub == "env":
            # Where the lab's PBX leaves recordings and its CEL log, as the daemon's
            # [asterisk] settings (eval "$(pbx-crm lab env)").
            import shlex

            spool = lab.instance_dir("pbx") / "spool" / "recording"
            cel = lab.log_dir("pbx") / "cel-custom" / "pbx-crm.jsonl"
            print(f"export PBX_CRM_ASTERISK_RECORDING_DIR={shlex.quote(str(spool))}")
            print(f"export PBX_CRM_ASTERISK_CEL_LOG={shlex.quote(str(cel))}")
    except LabError as e:
        return _fail(str(e), 1)
    return 0


def _lab_events(lab, args: argparse.Namespace) -> int:
    since = time.time() - args.since if args.since else 0.0
    seen: set[tuple[str, float | None, float | None]] = set()
    while True:
        for ring in lab.rings(since):
            key = (ring.unique_id, ring.answered_at, ring.ended_at)
            if key in seen:
                continue
            seen.add(key)
            if args.json:
                print(json.dumps(ring.__dict__), flush=True)
            else:
                print(_ring_line(ring), flush=True)
        if not args.follow:
            return 0
        time.sleep(0.3)


def _ring_line(ring) -> str:
    def t(x):
        return datetime.fromtimestamp(x).strftime("%H:%M:%S.%f")[:-3] if x else "-"

    outcome = "answered" if ring.answered_at else ("ringing" if not ring.ended_at else "not answered")
    return (f"{t(ring.rang_at)} {ring.kind} {ring.target:<14} from {ring.caller_num!r} "
            f"name {ring.caller_name!r}: {outcome}, answered {t(ring.answered_at)}, "
            f"ended {t(ring.ended_at)}, cause {ring.hangup_cause}")


# ---- parser ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pbx-crm", description=__doc__.splitlines()[0])
    p.add_argument("--config", metavar="FILE",
                   help="TOML config file (default: $PBX_CRM_CONFIG, else built-in defaults)")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check-config", help="validate the configuration and print it, secrets masked")
    c.add_argument("--for", dest="for_", metavar="PARTS",
                   help="comma-separated: daemon,admin,agi,lab (default daemon,admin,agi)")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_check_config)

    c = sub.add_parser("init-config", help="write a config file with freshly generated secrets")
    c.add_argument("path")
    c.add_argument("--data-dir", default="/var/lib/pbx-crm")
    c.add_argument("--force", action="store_true")
    c.set_defaults(func=cmd_init_config)

    c = sub.add_parser("db", help="database schema")
    dsub = c.add_subparsers(dest="db_command", required=True)
    u = dsub.add_parser("upgrade", help="migrate the schema to the newest revision")
    u.add_argument("revision", nargs="?", default="head")
    dsub.add_parser("current", help="print the schema revision")
    d = dsub.add_parser("downgrade", help="migrate the schema down to a revision")
    d.add_argument("revision")
    c.set_defaults(func=cmd_db)

    c = sub.add_parser("user", help="admin logins: add an employee who can log in, set a password")
    usub = c.add_subparsers(dest="user_command", required=True)
    ua = usub.add_parser("add", help="add an employee with a password")
    ua.add_argument("login")
    ua.add_argument("--name", help="full name (default: the login)")
    ua.add_argument("--role", default="admin",
                    choices=("admin", "owner", "head", "manager", "operator", "cold_operator"))
    ua.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    up = usub.add_parser("passwd", help="set an employee's password")
    up.add_argument("login")
    up.add_argument("--password-stdin", action="store_true")
    c.set_defaults(func=cmd_user)

    c = sub.add_parser("reconcile", help="store calls Asterisk handled while the daemon was down")
    c.add_argument("--cel-log", help="CEL JSON lines file (default: asterisk.cel_log)")
    c.set_defaults(func=cmd_reconcile)

    c = sub.add_parser("call", help="click-to-call: ring an employee's phone, then dial a number")
    c.add_argument("employee", help="the employee's login or id")
    c.add_argument("number", help="the number to call (any format; normalised to E.164)")
    c.add_argument("--card", help="the card the call is for, e.g. contact:12, deal:3")
    c.set_defaults(func=cmd_call)

    c = sub.add_parser("import-list", help="import a call list from CSV (any delimiter, UTF-8 or cp1251) or XLSX")
    c.add_argument("file")
    c.add_argument("--list", required=True, help="the call list's name (created when new)")
    c.add_argument("--map", action="append", metavar="FIELD=HEADER",
                   help="map a column by hand: phone, company_name, contact_name, email")
    c.add_argument("--report", help="write every row's result to this CSV file")
    c.add_argument("--dry-run", action="store_true", help="check and report, add nothing")
    c.set_defaults(func=cmd_import_list)

    c = sub.add_parser("report", help="the owner's reports")
    rsub = c.add_subparsers(dest="report_kind", required=True)
    rd = rsub.add_parser("daily", help="yesterday's figures, Lost Call Rate first")
    rd.add_argument("--date", help="the day (YYYY-MM-DD, company time zone); default: yesterday")
    rd.add_argument("--format", choices=("text", "html"), default="text")
    rd.add_argument("--output", help="write to this file (for a cron job) instead of stdout")
    rd.add_argument("--email", action="store_true", help="send text + HTML by e-mail ([report] smtp_*)")
    c.set_defaults(func=cmd_report)

    c = sub.add_parser("stats", help="the analytics rollup (built and kept by itself; this is for history)")
    ssub = c.add_subparsers(dest="stats_action", required=True)
    sr = ssub.add_parser("rebuild", help="rebuild every day from the first call (or --from) to today (or --to)")
    sr.add_argument("--from", dest="first", help="YYYY-MM-DD, company time zone")
    sr.add_argument("--to", dest="last", help="YYYY-MM-DD, company time zone")
    sr.add_argument("--progress-every", type=int, default=30, help="print a line every N days")
    ssub.add_parser("status", help="days built, changes waiting")
    c.set_defaults(func=cmd_stats)

    c = sub.add_parser("demo", help="demo data and a scripted burst of demo calls on the lab")
    dsub2 = c.add_subparsers(dest="demo_action", required=True)
    ds = dsub2.add_parser("seed", help="fill an empty database with a demo sales department")
    ds.add_argument("--password-stdin", action="store_true", help="the demo logins' password, from stdin")
    dsub2.add_parser("calls", help="place the demo calls through the lab (the daemon must run)") \
        .add_argument("--giveup", type=int, default=4, help="seconds a missed caller rings before giving up")
    c.set_defaults(func=cmd_demo)

    c = sub.add_parser("daemon", help="run the call-routing daemon (ARI + FastAGI + HTTP API)")
    c.add_argument("--log-format", choices=("text", "json"))
    c.set_defaults(func=cmd_daemon)

    c = sub.add_parser("admin", help="serve the admin web app")
    c.set_defaults(func=cmd_admin)

    c = sub.add_parser("lab", help="the real-Asterisk lab: a PBX, a trunk and SIP phones")
    lsub = c.add_subparsers(dest="lab_command", required=True)
    lsub.add_parser("build", help="debootstrap the lab root with Asterisk 22 (cached)")
    lsub.add_parser("up", help="build if needed and start the PBX and the world")
    lsub.add_parser("down", help="stop exactly what `lab up` started")
    lsub.add_parser("status", help="what runs; exit 3 when the lab is not up")
    lsub.add_parser("env", help="the lab PBX's recording and CEL paths, as PBX_CRM_ASTERISK_* exports")
    lc = lsub.add_parser("call", help="place an inbound PSTN call to the PBX")
    lc.add_argument("--from", dest="caller", required=True, help="caller number as the trunk sends it")
    lc.add_argument("--to", dest="dialled", required=True, help="the dialled (tracking) number")
    lc.add_argument("--name", help="caller name in From")
    lc.add_argument("--ring-timeout", type=int, default=60,
                    help="the caller hangs up after this many seconds of ringing")
    lc.add_argument("--hold", type=int, default=5, help="seconds the caller stays after answer")
    for name, what in (("phone", "a lab phone extension"), ("client", "a PSTN number the PBX dials")):
        lp = lsub.add_parser(name, help=f"set how {what} behaves")
        lp.add_argument("target")
        lp.add_argument("action", choices=("ring", "answer", "reject", "busy"))
        lp.add_argument("--after", type=int, default=0, help="answer after N seconds")
        lp.add_argument("--hold", type=int, help="hang up N seconds after answering")
    le = lsub.add_parser("events", help="which phones / numbers rang, when, and what happened")
    le.add_argument("--since", type=float, help="only the last N seconds")
    le.add_argument("-f", "--follow", action="store_true")
    le.add_argument("--json", action="store_true")
    lx = lsub.add_parser("cli", help="run an Asterisk CLI command on one lab instance")
    lx.add_argument("instance", choices=("pbx", "world"))
    lx.add_argument("command", nargs=argparse.REMAINDER)
    c.set_defaults(func=cmd_lab)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        return _fail(f"configuration: {e}")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
