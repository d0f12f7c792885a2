"""What every ``pbx-crm`` command shares: the streams it talks to the user on, and the
few helpers more than one feature's commands use.

A command's output is its answer to the person who typed it (or to the cron job that runs
it), so it goes to the streams given here, not to the log. Each command body takes the
parsed arguments, the loaded configuration and a :class:`Console`, and returns the exit
code: 0 done, 1 failed at run time, 2 bad usage or configuration.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from pbx_daemon.config import ConfigError


@dataclass(frozen=True)
class Console:
    out: TextIO
    err: TextIO
    stdin: TextIO

    @classmethod
    def system(cls) -> Console:
        """The process's own streams, looked up when the command runs."""
        return cls(out=sys.stdout, err=sys.stderr, stdin=sys.stdin)

    def fail(self, message: str, code: int = 2) -> int:
        """Say why on stderr, prefixed with the program's name; return the exit code."""
        print(f"pbx-crm: {message}", file=self.err)
        return code


def read_password(console: Console, from_stdin: bool) -> str:
    """One line of ``stdin`` (``--password-stdin``), else asked twice on the terminal.
    A refused password is a :class:`ConfigError` (exit 2, like any bad input)."""
    import getpass

    if from_stdin:
        password = console.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ConfigError("the passwords differ")
    if len(password) < 10:
        raise ConfigError("a password needs at least 10 characters")
    return password


def safe_url(url: str) -> str:
    """A database URL fit to print: the password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
