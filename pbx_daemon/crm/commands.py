"""The CRM's commands: ``user`` (admin logins), ``import-list`` (cold-call lists) and
``link-calls`` (cards and deals for calls stored before calls were linked).

Arguments, configuration and a :class:`~pbx_daemon.console.Console` in, exit code out.
The database and importer modules are imported inside the commands, so that parsing the
command line (``pbx-crm lab ...``, ``pbx-crm check-config``) does not load them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pbx_daemon.config import Config
from pbx_daemon.console import Console, read_password


def cmd_user(args: argparse.Namespace, config: Config, console: Console) -> int:
    """``user add LOGIN --role ROLE`` / ``user passwd LOGIN``: the password the admin's
    login checks (a Werkzeug hash, the library the admin checks it with). A new password
    ends every admin session the employee had (a new session nonce)."""
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from pbx_daemon import db
    from pbx_daemon.crm import models

    with db.session_for(config.database.url) as session:
        user = session.scalar(select(models.Employee).where(models.Employee.login == args.login))
        if args.user_command == "add":
            if user is not None:
                return console.fail(f"an employee with login {args.login!r} exists; "
                                    "use `pbx-crm user passwd`", 1)
            user = models.Employee(full_name=args.name or args.login, login=args.login,
                                   role=args.role)
            session.add(user)
        elif user is None:
            return console.fail(f"no employee with login {args.login!r}", 1)
        user.password_hash = generate_password_hash(read_password(console, args.password_stdin))
        user.session_nonce = models.new_session_nonce()
        session.commit()
        print(f"{args.user_command}: {user.login} ({user.role})", file=console.out)
    return 0


def cmd_import_list(args: argparse.Namespace, config: Config, console: Console) -> int:
    """``import-list FILE --list NAME``: the columns found on stderr, then a progress bar
    (one line per step when stderr is not a terminal), then the result on stdout. The file
    is read once, in a limited child process, as in the admin (:func:`read_table`)."""
    from pbx_daemon import db
    from pbx_daemon.crm.importer import (ImportError_, describe_mapping, guess_mapping,
                                         import_call_list, read_table)

    overrides = {}
    for item in args.map or []:
        field_name, sep, header = item.partition("=")
        if not sep:
            return console.fail(f"--map {item!r}: use field=Header, e.g. phone=Телефон")
        overrides[field_name.strip()] = header.strip()
    try:
        headers, rows = read_table(args.file)
    except ImportError_ as e:
        return console.fail(str(e), 1)
    print(f"{args.file}: {len(rows)} rows; columns: {describe_mapping(headers, guess_mapping(headers))}"
          + (f"; overridden: {overrides}" if overrides else ""), file=console.err)
    total = max(len(rows), 1)
    interactive = console.err.isatty()

    def progress(done: int) -> None:
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "." * (width - filled)
        end = "\r" if interactive else "\n"
        print(f"checking [{bar}] {done}/{total}", end=end, file=console.err, flush=True)

    try:
        with db.session_for(config.database.url) as session:
            report = import_call_list(
                session, args.file, table=(headers, rows), list_name=args.list, overrides=overrides,
                region=config.general.default_region,
                default_area_code=config.general.default_area_code, dry_run=args.dry_run,
                progress=progress)
    except ImportError_ as e:
        return console.fail(str(e), 1)
    progress(total)
    if interactive:
        print(file=console.err)
    if args.report:
        Path(args.report).write_text(report.csv(), encoding="utf-8", newline="")
    verb = "would add" if args.dry_run else "added"
    print(f"{args.list}: {verb} {report.count('ok')}; {report.summary()}"
          + (f"; report in {args.report}" if args.report else ""), file=console.out)
    return 0


def cmd_link_calls(args: argparse.Namespace, config: Config, console: Console) -> int:
    """``link-calls``: link the stored calls that name no card to the card their number
    matches and its open deal (:func:`pbx_daemon.crm.call_links.link_unlinked_calls`)."""
    from pbx_daemon import db
    from pbx_daemon.crm.call_links import link_unlinked_calls

    with db.session_for(config.database.url) as session:
        seen, linked = link_unlinked_calls(session)
    print(f"link-calls: {seen} calls without a card, {linked} linked", file=console.out)
    return 0
