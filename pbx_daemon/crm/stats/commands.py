"""The figures' commands: ``report daily`` (the owner's report, for a cron job) and
``stats rebuild|status`` (the analytics rollup over a whole history).

Arguments, configuration and a :class:`~pbx_daemon.console.Console` in, exit code out.
The database and report modules are imported inside the commands, so that parsing the
command line does not load them.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pbx_daemon.config import Config
from pbx_daemon.console import Console


def cmd_report(args: argparse.Namespace, config: Config, console: Console) -> int:
    """``report daily``: to stdout, to ``--output``, or by e-mail (``--email``)."""
    from pbx_daemon import db
    from pbx_daemon.crm.stats.report import build_daily, render_html, render_text, send_mail

    tz = config.general.timezone
    if args.date:
        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            return console.fail(f"--date {args.date!r}: use YYYY-MM-DD")
    else:
        day = datetime.now(ZoneInfo(tz)).date() - timedelta(days=1)
    r = config.report
    if args.email and not (r.smtp_host and r.mail_from and r.mail_to):
        return console.fail("--email needs report.smtp_host, report.mail_from and report.mail_to in the config")
    with db.session_for(config.database.url) as session:
        report = build_daily(session, day, tz, r.recovered_within_minutes)
    body = render_html(report) if args.format == "html" else render_text(report)
    if args.output:
        Path(args.output).write_text(body, encoding="utf-8")
        print(f"wrote {args.output}", file=console.err)
    elif not args.email:
        console.out.write(body)
    if args.email:
        try:
            send_mail(report, host=r.smtp_host, port=r.smtp_port, starttls=r.smtp_starttls,
                      user=r.smtp_user, password=r.smtp_password, sender=r.mail_from,
                      recipients=[x.strip() for x in r.mail_to.split(",") if x.strip()])
        except OSError as e:
            return console.fail(f"sending the report via {r.smtp_host}:{r.smtp_port} failed: {e}", 1)
        print(f"sent the {day} report to {r.mail_to}", file=console.err)
    return 0


def cmd_stats(args: argparse.Namespace, config: Config, console: Console) -> int:
    """``stats rebuild``: build the analytics rollup for a whole history (after an upgrade
    or a restore); ``stats status``: how many days are built and how many are waiting."""
    from sqlalchemy import func, select

    from pbx_daemon import db
    from pbx_daemon.crm import models as m
    from pbx_daemon.crm.stats import rollup

    tz = config.general.timezone
    bounds = []
    for flag, value in (("--from", getattr(args, "first", None)), ("--to", getattr(args, "last", None))):
        try:
            bounds.append(date.fromisoformat(value) if value else None)
        except ValueError:
            return console.fail(f"{flag} {value!r}: use YYYY-MM-DD")
    if bounds[0] and bounds[1] and bounds[0] > bounds[1]:
        return console.fail("--from is after --to")
    with db.session_for(config.database.url) as session:
        if args.stats_action == "status":
            built = session.scalar(select(func.count()).select_from(m.CallStatDay)
                                   .where(m.CallStatDay.tz == tz))
            dirty = session.scalar(select(func.count()).select_from(m.CallStatDirty))
            print(f"{built} days built for {tz}; {dirty} changed 15-minute slots waiting",
                  file=console.out)
            return 0
        t0 = time.monotonic()
        tick = max(1, int(args.progress_every))
        done: list[date] = []

        def progress(day: date) -> None:
            done.append(day)
            if len(done) % tick == 0:
                print(f"  {day}: {len(done)} days, {time.monotonic() - t0:.0f} s",
                      file=console.out, flush=True)

        rollup.rebuild(session, tz, bounds[0], bounds[1], progress=progress)
    span = f"{done[0]} .. {done[-1]}" if done else "nothing"
    print(f"analytics rollup rebuilt: {len(done)} days ({span}) in {time.monotonic() - t0:.1f} s",
          file=console.out)
    return 0
