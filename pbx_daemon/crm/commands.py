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


def cmd_import_clients(args: argparse.Namespace, config: Config, console: Console) -> int:
    """``import-clients FILE``: companies and contacts with their phones, e-mails and
    responsible managers (:mod:`pbx_daemon.crm.client_import`). The columns found on
    stderr; on stdout the counts and the first problems. A real run writes everything in
    one transaction, or nothing when any row is an error (exit 1). ``--source``: the
    preset of that source's columns is the start, and a real run saves what it used."""
    from pbx_daemon import db
    from pbx_daemon.crm.client_import import (FIELDS, MULTI, Policy, describe_mapping, header_key,
                                              mapping_from_names, mapping_to_names)
    from pbx_daemon.crm.client_import_sql import import_clients, load_preset, save_preset
    from pbx_daemon.crm.importer import ImportError_, read_table

    try:
        policy = Policy(match=tuple(k.strip() for k in args.match.split(",") if k.strip()),
                        on_match=args.on_match)
    except ValueError as e:
        return console.fail(str(e))
    try:
        headers, rows = read_table(args.file)
    except ImportError_ as e:
        return console.fail(str(e), 1)
    keys = [header_key(h) for h in headers]
    with db.session_for(config.database.url) as session:
        preset = load_preset(session, args.source) if args.source else None
        mapping = mapping_from_names(headers, preset or {})
        hand: dict[str, list[int]] = {}
        for item in args.map or []:
            name, sep, header = item.partition("=")
            name = name.strip()
            if not sep or name not in FIELDS:
                return console.fail(f"--map {item!r}: use field=Column, fields: {', '.join(FIELDS)}")
            if header_key(header) not in keys:
                return console.fail(f"--map {item!r}: no column {header.strip()!r} in the file "
                                    f"(columns: {', '.join(headers)[:300]})")
            hand.setdefault(name, []).append(keys.index(header_key(header)))
        for name, cols in hand.items():
            mapping[name] = cols if name in MULTI else cols[-1:]
        print(f"{args.file}: {len(rows)} rows; columns: {describe_mapping(headers, mapping)}"
              + (f" (preset {args.source!r})" if preset else ""), file=console.err)
        try:
            result = import_clients(session, rows, mapping, policy=policy,
                                    region=config.general.default_region,
                                    default_area_code=config.general.default_area_code, dry_run=args.dry_run)
        except ValueError as e:
            return console.fail(str(e))
        if result.applied and args.source:
            save_preset(session, args.source, mapping_to_names(headers, mapping), None)
            session.commit()
    plan = result.plan
    print(plan.summary(), file=console.out)
    for row in plan.problems(args.show):
        print(f"  строка {row.line}: {row.reason}", file=console.out)
    if plan.count("error") > args.show:
        print(f"  ... и ещё {plan.count('error') - args.show}", file=console.out)
    if result.applied:
        w = result.written
        print(f"записано: компаний {w['companies_created']} новых, {w['companies_updated']} обновлено; "
              f"контактов {w['contacts_created']} новых, {w['contacts_updated']} обновлено; "
              f"телефонов {w['phones']}, e-mail {w['emails']}", file=console.out)
    elif not plan.ok and not args.dry_run:
        print("ничего не записано: исправьте ошибки в файле и запустите снова", file=console.out)
    elif args.dry_run:
        print("пробный запуск: ничего не записано", file=console.out)
    return 1 if not plan.ok else 0
