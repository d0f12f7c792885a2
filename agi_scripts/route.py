"""The process AGI fallback: routes a call when the daemon is not there.

The dialplan runs it (``AGI(.../pbx-crm-agi-route)``) when ``Stasis()`` failed. It reads
the same database and computes the same plan as the daemon (same modules), hands it back
as channel variables (:mod:`pbx_daemon.telephony.routing.agi_plan`), and the dialplan rings the steps with
``Dial()`` and records with ``MixMonitor``. Whatever goes wrong (database unreachable,
past the deadline, a bug) it leaves ``PBXCRM_ROUTE`` unset and the dialplan rings the
fallback group. It must never hang a call: a SIGALRM deadline bounds the whole lookup.

Usage: pbx-crm-agi-route [DIALLED]  (config from PBX_CRM_CONFIG, else /etc/pbx-crm/agi.toml)
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime, timezone


class Deadline(Exception):
    pass


def _alarm(_signum, _frame):
    raise Deadline()


def within_deadline(seconds: float, fn, *args):
    """``fn(*args)``, interrupted by :class:`Deadline` after ``seconds``: routing in the AGI
    process (its own process, so SIGALRM is ours). The daemon's counterpart is
    :func:`pbx_daemon.telephony.routing.deadline.plan_within`."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


# Asterisk runs this script as its own user, without our environment: the config it reads
# is PBX_CRM_CONFIG when set, else this file (the database URL and [routing], readable by
# group asterisk; the README's "Install on your Asterisk" shows it).
AGI_CONFIG = "/etc/pbx-crm/agi.toml"


def config_path(environ) -> str | None:
    if environ.get("PBX_CRM_CONFIG"):
        return environ["PBX_CRM_CONFIG"]
    return AGI_CONFIG if os.path.exists(AGI_CONFIG) else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Imported after the argument check on purpose: pyst2 reads the AGI environment from
    # stdin as soon as AGI() is built.
    from asterisk.agi import AGI

    agi = AGI(stderr=open(os.devnull, "w"))
    try:
        from pbx_daemon.config import load_config

        # Import everything before the deadline starts: it bounds the lookup, not Python.
        import pbx_daemon.db  # noqa: F401
        import pbx_daemon.telephony.routing.agi_plan  # noqa: F401
        import pbx_daemon.telephony.routing.lookup  # noqa: F401

        config = load_config(config_path(os.environ), os.environ)
        variables = within_deadline(config.routing.lookup_deadline_ms / 1000.0, route, config,
                                    agi.env.get("agi_callerid", ""),
                                    argv[0] if argv else agi.env.get("agi_extension", ""))
    except Exception as e:  # noqa: BLE001 - every failure means: ring the fallback group
        # One line for the Asterisk log: what failed, with quotes and line breaks removed
        # (AGI's VERBOSE takes a quoted string it does not escape).
        reason = "".join(c for c in str(e)[:120] if c.isprintable() and c not in '"\\')
        agi.verbose(f"pbx-crm route failed ({type(e).__name__}: {reason}); fallback group", 1)
        return 0
    for name, value in variables:
        agi.set_variable(name, value)
    return 0


def route(config, caller_raw: str, dialled: str) -> list[tuple[str, str]]:
    """Look up, then plan (the daemon's sequence, without Twisted), as AGI variables."""
    from pbx_daemon.db import make_engine, make_session_factory
    from pbx_daemon.telephony.routing.agi_plan import plan_variables
    from pbx_daemon.telephony.routing.lookup import look_up
    from pbx_daemon.telephony.routing.policy import StepTimeouts, plan_route

    engine = make_engine(config.database.url, readonly=True)
    try:
        with make_session_factory(engine)() as session:
            now = datetime.now(timezone.utc)
            caller, directory = look_up(session, caller_raw, dialled, now,
                                        config.general.default_region,
                                        tz=config.general.timezone)
    finally:
        engine.dispose()
    return plan_variables(plan_route(caller, directory, StepTimeouts.from_config(config.routing)))


if __name__ == "__main__":
    sys.exit(main())
