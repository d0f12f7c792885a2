"""Logging for the daemon: twisted.logger everywhere, text for a terminal or JSON lines.

Text lines read well under ``tail -f``/journalctl::

    2026-11-22T15:40:01+0300 [pbx_daemon.ari#info] ARI events connected to ...

``--log-format json`` writes one JSON object a line (``log_format`` plus every named
field, so ``call_id`` and friends can be filtered with jq).
"""

from __future__ import annotations

import sys
from typing import IO

from twisted.logger import (
    FilteringLogObserver,
    PredicateResult,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    jsonFileLogObserver,
    textFileLogObserver,
)


def make_observer(fmt: str = "text", level: str = "info", out: IO[str] | None = None):
    out = out or sys.stdout
    base = jsonFileLogObserver(out, recordSeparator="") if fmt == "json" \
        else textFileLogObserver(out)
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    return FilteringLogObserver(base, [predicate, _quiet_factories])


def _quiet_factories(event) -> PredicateResult:
    """Drop Twisted's "Starting factory ..." chatter: one line per HTTP request to ARI."""
    fmt = event.get("log_format") or ""
    if fmt.startswith(("Starting factory", "Stopping factory")):
        return PredicateResult.no
    return PredicateResult.maybe


def start_logging(fmt: str = "text", level: str = "info", out: IO[str] | None = None) -> None:
    globalLogBeginner.beginLoggingTo([make_observer(fmt, level, out)],
                                     redirectStandardIO=False)
