"""The installation's own commands: ``check-config``, ``init-config`` and ``db``.

The features' commands live with their features (``crm/commands.py``,
``crm/stats/commands.py``, ``telephony/commands.py``, ``lab/commands.py``); ``cli.py``
only parses the command line and calls them.
"""

from __future__ import annotations

import argparse
import os
import secrets
from datetime import datetime
from pathlib import Path

from pbx_daemon.config import Config, config_summary, validate
from pbx_daemon.console import Console, safe_url


def cmd_check_config(args: argparse.Namespace, config: Config, console: Console) -> int:
    components = set(args.for_.split(",")) if args.for_ else {"daemon", "admin", "agi"}
    problems = validate(config, components)
    if not args.quiet:
        for line in config_summary(config):
            print(line, file=console.out)
    for problem in problems:
        print(f"problem: {problem}", file=console.err)
    if problems:
        return 2
    print(f"config OK for {', '.join(sorted(components))}", file=console.out)
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


def cmd_init_config(args: argparse.Namespace, console: Console) -> int:
    """Loads no configuration: it writes the first one."""
    path = Path(args.path)
    if path.exists() and not args.force:
        return console.fail(f"{path} exists; pass --force to overwrite it (its secrets would change)")
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
    print(f"wrote {path} with fresh secrets; use it with --config {path} or PBX_CRM_CONFIG",
          file=console.out)
    return 0


def cmd_db(args: argparse.Namespace, config: Config, console: Console) -> int:
    from pbx_daemon import db

    url = config.database.url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if args.db_command == "upgrade":
        db.upgrade(url, args.revision)
        print(f"database at {safe_url(url)} is at revision {db.current_revision(url)}", file=console.out)
    elif args.db_command == "current":
        print(db.current_revision(url) or "empty (run: pbx-crm db upgrade)", file=console.out)
    elif args.db_command == "downgrade":
        db.downgrade(url, args.revision)
        print(f"database at {safe_url(url)} is at revision {db.current_revision(url)}", file=console.out)
    return 0
