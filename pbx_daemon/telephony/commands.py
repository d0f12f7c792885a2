"""The telephony side's commands: ``reconcile`` (calls Asterisk handled while the daemon
was down, from its CEL log), ``call`` (click-to-call through the running daemon's API) and
``status`` (the running daemon's metrics, one screen).

Arguments, configuration and a :class:`~pbx_daemon.console.Console` in, exit code out.
``daemon`` itself is started by ``cli.py`` (``pbx_daemon.service.run``). The database,
reconcile and API client modules are imported inside the commands, so that parsing the
command line does not load them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pbx_daemon.config import Config
from pbx_daemon.console import Console


def cmd_reconcile(args: argparse.Namespace, config: Config, console: Console) -> int:
    """What the daemon's periodic reconcile does, once: from the stored CEL position (or,
    on a database that never reconciled, within ``asterisk.reconcile_horizon_hours``).
    ``--full``: the whole file, no horizon, the stored position left alone. Either way it
    cannot know which calls a running daemon holds: a row in progress whose CEL ended is
    completed."""
    import time

    from pbx_daemon import db
    from pbx_daemon.telephony.reconcile import Reconciler, reconcile

    path = Path(args.cel_log or config.asterisk.cel_log)
    if not path.is_file():
        return console.fail(f"no CEL log at {path} (asterisk.cel_log)", 1)
    now = time.time()
    if args.full:
        with db.session_for(config.database.url) as session, open(path, errors="replace") as f:
            summary = reconcile(session, f, recordings_dir=config.asterisk.recording_dir,
                                store_dir=config.recordings.dir,
                                region=config.general.default_region, settled_before=now - 5,
                                callback_deadline_minutes=config.inquiries.callback_deadline_minutes,
                                tz=config.general.timezone, trunk_endpoint=config.trunk.endpoint)
    else:
        engine = db.make_engine(config.database.url)
        try:
            reconciler = Reconciler(
                db.make_session_factory(engine), path,
                recordings_dir=config.asterisk.recording_dir, store_dir=config.recordings.dir,
                region=config.general.default_region,
                callback_deadline_minutes=config.inquiries.callback_deadline_minutes,
                horizon_hours=config.asterisk.reconcile_horizon_hours,
                stale_missed_tasks=config.inquiries.stale_missed_tasks, tz=config.general.timezone,
                trunk_endpoint=config.trunk.endpoint)
            summary = reconciler.run(now=now)
            reconciler.reset()
        finally:
            engine.dispose()
    print(f"reconciled {path}: {summary.seen} complete calls, {summary.stored} stored "
          f"({summary.answered} answered, {summary.missed} missed)", file=console.out)
    return 0


def cmd_call(args: argparse.Namespace, config: Config, console: Console) -> int:
    """``call EMPLOYEE NUMBER [--card kind:id]``: the employee is a login or an id."""
    from pbx_daemon.config import api_base_url
    from pbx_daemon.telephony import api_client
    from pbx_daemon.telephony.api_client import ClickToCallError

    if not config.api.token:
        return console.fail("api.token is not set: the daemon's API needs it")
    card = None
    if args.card:
        kind, _, card_id = args.card.partition(":")
        if not card_id.isdigit():
            return console.fail("--card must look like contact:12")
        card = {"kind": kind, "id": int(card_id)}
    employee = int(args.employee) if args.employee.isdigit() else args.employee
    try:
        result = api_client.click_to_call(api_base_url(config), config.api.token, employee=employee,
                                          number=args.number, card=card)
    except ClickToCallError as e:
        return console.fail(f"click-to-call refused: {e.message}", 1)
    print(f"{result['call_id']}: ringing {args.employee}'s phone; then {result['number']}",
          file=console.out)
    return 0


def cmd_status(args: argparse.Namespace, config: Config, console: Console, fetch=None) -> int:
    """``status``: the running daemon's ``/metrics`` summarised; ``fetch(url, token)`` is
    :func:`~pbx_daemon.telephony.api_client.fetch_metrics` unless a test gives another."""
    from pbx_daemon.config import api_base_url
    from pbx_daemon.telephony import api_client
    from pbx_daemon.telephony.status import summarise

    if not config.api.token:
        return console.fail("api.token is not set: the daemon's API needs it")
    url = api_base_url(config)
    try:
        text = (fetch or api_client.fetch_metrics)(url, config.api.token)
    except api_client.ClickToCallError as e:
        return console.fail(f"daemon not reachable: {e.message}", 1)
    print(f"pbx-crm daemon at {url}", file=console.out)
    for line in summarise(text):
        print(line, file=console.out)
    return 0
