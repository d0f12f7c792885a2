"""``pbx-crm asterisk install|uninstall``: read Asterisk's configuration directory, plan
(:mod:`pbx_daemon.telephony.install`), show the diff (``--dry-run``) or back up every file
it is about to change and write.

Backups go to ``<general.data_dir>/asterisk-backups/<time>/`` (``--backup-dir``), outside
Asterisk's directory, so uninstall leaves that directory exactly as it found it. New files
take the owner, group and mode of the file they are hooked into (Debian: root:asterisk or
asterisk:asterisk, 0640); the phones file is given to the ``pbx-crm`` user when it exists,
so the daemon can rewrite it.
"""

from __future__ import annotations

import argparse
import difflib
import os
import pwd
import shutil
import time
from pathlib import Path

from pbx_daemon.config import Config
from pbx_daemon.console import Console
from pbx_daemon.telephony.install import (HOOKS, OUR_FILES, InstallSettings, Plan, plan_install,
                                          plan_uninstall)
from pbx_daemon.telephony.phones_file import PHONES_FILE

# Asterisk's directory is small; a file bigger than this is not a config file we plan for.
MAX_FILE_BYTES = 4 * 1024 * 1024
SERVICE_USER = "pbx-crm"


def read_etc(etc: Path) -> dict[str, str]:
    """Every ``*.conf`` directly in ``etc`` (what ``#include`` lines usually name), as text."""
    files = {}
    for path in sorted(etc.glob("*.conf")):
        if path.is_file() and path.stat().st_size <= MAX_FILE_BYTES:
            files[path.name] = path.read_text(encoding="utf-8", errors="surrogateescape")
    return files


def diff(files: dict[str, str], plan: Plan) -> str:
    out = []
    for name, new in sorted(plan.writes.items()):
        old = files.get(name)
        out.extend(difflib.unified_diff(
            (old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
            fromfile=f"a/{name}" if old is not None else "/dev/null",
            tofile=f"b/{name}" if new is not None else "/dev/null"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def phones_from_database(config: Config, console: Console) -> str | None:
    """The phones file from the employee records, or None (keep the current one) when the
    database cannot be read yet."""
    try:
        from pbx_daemon import db
        from pbx_daemon.telephony.phones_file import render_phones_file

        engine = db.make_engine(config.database.url)
        try:
            with db.make_session_factory(engine)() as session:
                return render_phones_file(session)
        finally:
            engine.dispose()
    except Exception as e:  # noqa: BLE001 - any failure means "not yet" to the operator
        _err(console, f"phones: the database cannot be read ({str(e).splitlines()[0][:120]}); "
                     "the phones file is left as it is: the daemon rewrites it when it starts")
        return None


def apply(etc: Path, files: dict[str, str], plan: Plan, backup_dir: Path) -> list[str]:
    """Back up, then write / delete. Returns what was done, a line per file."""
    done = []
    changed = [name for name in plan.writes if name in files]
    if changed:
        backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in changed:
            shutil.copy2(etc / name, backup_dir / name)
    template = {top: etc / top for top, _ in HOOKS}
    for name, text in plan.writes.items():
        path = etc / name
        if text is None:
            path.unlink(missing_ok=True)
            done.append(f"removed {name}")
            continue
        existed = path.exists()
        like = path if existed else _model_for(name, template, etc)
        tmp = path.with_name(f".{name}.pbx-crm-tmp")
        tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
        _copy_owner_and_mode(like, tmp, secret=name in OUR_FILES)
        if name == PHONES_FILE:
            _give_to_service_user(tmp)
        os.replace(tmp, path)
        done.append(f"{'updated' if existed else 'created'} {name}")
    return done


def _model_for(name: str, hooks: dict[str, Path], etc: Path) -> Path:
    for top, ours in HOOKS:
        if name == ours and hooks[top].exists():
            return hooks[top]
    return etc / "pjsip.conf" if (etc / "pjsip.conf").exists() else etc


def _copy_owner_and_mode(like: Path, path: Path, *, secret: bool) -> None:
    st = like.stat()
    mode = 0o640 if secret or like.is_dir() else st.st_mode & 0o777
    os.chmod(path, mode)
    if os.geteuid() == 0:
        os.chown(path, st.st_uid, st.st_gid)


def _give_to_service_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    try:
        uid = pwd.getpwnam(SERVICE_USER).pw_uid
    except KeyError:
        return
    os.chown(path, uid, path.stat().st_gid)


def _say(console: Console, line: str) -> None:
    print(line, file=console.out)


def _err(console: Console, line: str) -> None:
    print(f"pbx-crm: {line}", file=console.err)


def cmd_asterisk(args: argparse.Namespace, config: Config, console: Console) -> int:
    etc = Path(args.etc or config.asterisk.etc_dir)
    if not (etc / "asterisk.conf").is_file() and not (etc / "pjsip.conf").is_file():
        _err(console, f"{etc} does not look like Asterisk's configuration directory "
                      "(no asterisk.conf or pjsip.conf); use --etc DIR")
        return 2
    files = read_etc(etc)
    if args.asterisk_command == "install":
        if not config.ari.password:
            _err(console, "ari.password is not set (PBX_CRM_ARI_PASSWORD or the config file); "
                          "`pbx-crm init-config` writes a config with fresh secrets")
            return 2
        from pbx_daemon.config import validate

        problems = [p for p in validate(config) if p.key.startswith(("trunk.", "asterisk.", "ari."))]
        if problems:
            for p in problems:
                _err(console, f"{p.key}: {p.message}")
            return 2
        phones = phones_from_database(config, console)
        try:
            plan = plan_install(files, InstallSettings.from_config(config), phones=phones,
                                etc_dir=str(etc))
        except ValueError as e:
            _err(console, str(e))
            return 2
    else:
        plan = plan_uninstall(files)
    for problem in plan.problems:
        _err(console, f"refused: {problem}")
    if plan.problems:
        return 2
    for note in plan.notes:
        _say(console, note)
    if not plan.writes:
        _say(console, f"{args.asterisk_command}: nothing to change in {etc}")
        return 0
    if args.dry_run:
        _say(console, diff(files, plan).rstrip("\n"))
        _say(console, f"dry run: {len(plan.writes)} file(s) would change in {etc}")
        return 0
    backup_dir = Path(args.backup_dir) if args.backup_dir else \
        Path(config.general.data_dir) / "asterisk-backups" / time.strftime("%Y%m%d-%H%M%S")
    try:
        done = apply(etc, files, plan, backup_dir)
    except OSError as e:
        _err(console, f"could not write in {etc}: {e}")
        return 1
    for line in done:
        _say(console, line)
    if any(name in files for name in plan.writes):
        _say(console, f"the files it changed were backed up in {backup_dir}")
    _say(console, "now restart Asterisk (systemctl restart asterisk) or run "
                 "asterisk -rx 'core reload'")
    return 0


def add_parser(sub) -> None:
    c = sub.add_parser("asterisk", help="install pbx-crm into an existing Asterisk configuration")
    asub = c.add_subparsers(dest="asterisk_command", required=True)
    for name, text in (("install", "add pbx-crm's files and #tryinclude lines (again: updates them)"),
                       ("uninstall", "remove exactly what install added")):
        p = asub.add_parser(name, help=text)
        p.add_argument("--etc", help="Asterisk's configuration directory (default: asterisk.etc_dir)")
        p.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
        p.add_argument("--backup-dir", help="where to copy the files it changes "
                                            "(default: <data_dir>/asterisk-backups/<time>)")


__all__ = ["add_parser", "cmd_asterisk"]
