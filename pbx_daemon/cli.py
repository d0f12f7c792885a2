"""``pbx-crm``: the one command ops run. Configuration is loaded here, once, and passed on.

This module parses the command line and loads the configuration (defaults, then the file,
then the environment, then ``--log-format``); each command's body lives with its feature:

* ``check-config``, ``init-config``, ``db``: :mod:`pbx_daemon.commands`
* ``user``, ``import-list``, ``import-clients``, ``link-calls``: :mod:`pbx_daemon.crm.commands`
* ``report``, ``stats``: :mod:`pbx_daemon.crm.stats.commands`
* ``reconcile``, ``call``, ``status``: :mod:`pbx_daemon.telephony.commands`
* ``lab``, ``demo``: :mod:`pbx_daemon.lab.commands`
* ``asterisk install|uninstall``: :mod:`pbx_daemon.telephony.install_command`
* ``backup``, ``restore``: :mod:`pbx_daemon.backup`
* ``daemon``, ``admin``: here, handing the configuration to :func:`pbx_daemon.service.run`
  and :func:`admin.serve.run`.

Exit codes: 0 success, 1 a command failed at run time, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from pbx_daemon.backup import cmd_backup, cmd_restore
from pbx_daemon.commands import cmd_check_config, cmd_db, cmd_init_config
from pbx_daemon.config import Config, ConfigError, load_config, validate
from pbx_daemon.console import Console
from pbx_daemon.crm.commands import cmd_import_clients, cmd_import_list, cmd_link_calls, cmd_user
from pbx_daemon.crm.stats.commands import cmd_report, cmd_stats
from pbx_daemon.lab.commands import cmd_demo, cmd_lab
from pbx_daemon.telephony.commands import cmd_call, cmd_reconcile, cmd_status
from pbx_daemon.telephony import install_command


def _require(config: Config, components: set[str]) -> None:
    problems = validate(config, components)
    if problems:
        raise ConfigError("; ".join(str(p) for p in problems))


# ---- daemon / admin ----------------------------------------------------------------------
def cmd_daemon(args: argparse.Namespace, config: Config, console: Console) -> int:
    _require(config, {"daemon"})
    from pbx_daemon.service import run

    return run(config)


def cmd_agi_server(args: argparse.Namespace, config: Config, console: Console) -> int:
    _require(config, {"agi"})
    from pbx_daemon.service import run

    return run(config, standby_agi=True)


def cmd_admin(args: argparse.Namespace, config: Config, console: Console) -> int:
    _require(config, {"admin"})
    from admin.serve import run

    return run(config)


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
    # No default: a forgotten --role must not make an admin.
    ua.add_argument("--role", required=True,
                    choices=("admin", "owner", "head", "manager", "operator", "cold_operator"),
                    help="required (there is no default role): what the employee may see and do")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    up = usub.add_parser("passwd", help="set an employee's password")
    up.add_argument("login")
    up.add_argument("--password-stdin", action="store_true")
    c.set_defaults(func=cmd_user)

    c = sub.add_parser("reconcile", help="store calls Asterisk handled while the daemon was down")
    c.add_argument("--cel-log", help="CEL JSON lines file (default: asterisk.cel_log)")
    c.add_argument("--full", action="store_true",
                   help="read the whole file, ignoring the stored position and the horizon")
    c.set_defaults(func=cmd_reconcile)

    c = sub.add_parser("call", help="click-to-call: ring an employee's phone, then dial a number")
    c.add_argument("employee", help="the employee's login or id")
    c.add_argument("number", help="the number to call (any format; normalised to E.164)")
    c.add_argument("--card", help="the card the call is for, e.g. contact:12, deal:3")
    c.set_defaults(func=cmd_call)

    c = sub.add_parser("status", help="the running daemon's figures (its /metrics), one screen for ops")
    c.set_defaults(func=cmd_status)

    c = sub.add_parser("import-list", help="import a call list from CSV (any delimiter, UTF-8 or cp1251) or XLSX")
    c.add_argument("file")
    c.add_argument("--list", required=True, help="the call list's name (created when new)")
    c.add_argument("--map", action="append", metavar="FIELD=HEADER",
                   help="map a column by hand: phone, company_name, contact_name, email")
    c.add_argument("--report", help="write every row's result to this CSV file")
    c.add_argument("--dry-run", action="store_true", help="check and report, add nothing")
    c.set_defaults(func=cmd_import_list)

    c = sub.add_parser("import-clients", help="import companies and contacts (amoCRM, Bitrix24, 1C or Excel "
                       "export: CSV or XLSX) with phones, e-mails and responsible managers")
    c.add_argument("file")
    c.add_argument("--source", help="amoCRM, Bitrix24, 1C, Excel or any name: start from that source's saved "
                   "columns; a real run saves the columns it used")
    c.add_argument("--match", default="phone,email,inn,name",
                   help="what finds an existing card, in order (default phone,email,inn,name)")
    c.add_argument("--on-match", choices=("update", "skip", "create"), default="update",
                   help="a found card: add the row's data to it (default), leave it, or create a new one anyway")
    c.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                   help="map a column by hand (repeat; phone, email and notes take several): company_name, tax_id, "
                   "contact_name, last_name, first_name, middle_name, position, phone, email, responsible, "
                   "department, notes")
    c.add_argument("--dry-run", action="store_true", help="check and report every row, write nothing")
    c.add_argument("--show", type=int, default=20, help="how many problem rows to print (default 20)")
    c.set_defaults(func=cmd_import_clients)

    c = sub.add_parser("link-calls", help="link calls stored without a card to the card their "
                       "number matches and its open deal (once, after upgrading)")
    c.set_defaults(func=cmd_link_calls)

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

    install_command.add_parser(sub)
    sub.choices["asterisk"].set_defaults(func=install_command.cmd_asterisk)

    c = sub.add_parser("backup", help="the database and the recordings into a new directory")
    c.add_argument("dir", help="a new or empty directory")
    c.set_defaults(func=cmd_backup)

    c = sub.add_parser("restore", help="a backup directory into the database and recordings "
                       "(stop the daemon and the admin first)")
    c.add_argument("dir", help="a directory written by `pbx-crm backup`")
    c.add_argument("--force", action="store_true", help="replace a database that holds data")
    c.set_defaults(func=cmd_restore)

    c = sub.add_parser("daemon", help="run the call-routing daemon (ARI + FastAGI + HTTP API)")
    c.add_argument("--log-format", choices=("text", "json"))
    c.set_defaults(func=cmd_daemon)

    c = sub.add_parser("agi-server", help="the standby FastAGI route server (agi.standby_listen): "
                       "routes calls while the daemon is stopped or restarting")
    c.add_argument("--log-format", choices=("text", "json"))
    c.set_defaults(func=cmd_agi_server)

    c = sub.add_parser("admin", help="serve the admin web app")
    c.add_argument("--log-format", choices=("text", "json"))
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
        actions = ("ring", "answer", "reject", "busy")
        lp = lsub.add_parser(name, help=f"set how {what} behaves" + (
            "; or make it dial: `lab phone 101 dial 89161234567`" if name == "phone" else ""))
        lp.add_argument("target")
        lp.add_argument("action", choices=actions + (("dial", "transfer", "consult")
                                                     if name == "phone" else ()))
        if name == "phone":
            lp.add_argument("number", nargs="?", help=(
                "dial: the number or extension the phone dials; transfer / consult: the "
                "extension the phone hands its next answered call to, blind or after a "
                "consultation call (SIP REFER)"))
        lp.add_argument("--after", type=int, default=0, help="answer after N seconds")
        lp.add_argument("--hold", type=int, help="hang up N seconds after answering (dial: default "
                        "5); transfer / consult: talk N seconds first (default 3)")
    le = lsub.add_parser("events", help="which phones / numbers rang, when, and what happened")
    le.add_argument("--since", type=float, help="only the last N seconds")
    le.add_argument("-f", "--follow", action="store_true")
    le.add_argument("--json", action="store_true")
    lx = lsub.add_parser("cli", help="run an Asterisk CLI command on one lab instance")
    lx.add_argument("instance", choices=("pbx", "world"))
    lx.add_argument("command", nargs=argparse.REMAINDER)
    c.set_defaults(func=cmd_lab)
    return p


def load(args: argparse.Namespace) -> Config:
    """Defaults, then the file (``--config`` or ``$PBX_CRM_CONFIG``), then the environment,
    then the command line's own settings (``daemon``/``agi-server``/``admin --log-format``)."""
    overrides = {"log.format": args.log_format} if getattr(args, "log_format", None) else {}
    return load_config(args.config, os.environ, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console.system()
    try:
        if args.func is cmd_init_config:  # it writes the first configuration: none to load
            return cmd_init_config(args, console)
        return args.func(args, load(args), console)
    except ConfigError as e:
        return console.fail(f"configuration: {e}")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
