"""A route plan as dialplan variables, for the AGI fallbacks (process script and FastAGI).

The dialplan's ``[pbxcrm-agi-route]`` reads::

    PBXCRM_ROUTE      ok (anything else: ring the fallback group)
    PBXCRM_BLOCKED    1 for a blocklisted caller
    PBXCRM_CALLERNAME the CRM name to show on the phones (sanitised)
    PBXCRM_STEPS      number of steps, then for n = 1..STEPS:
    PBXCRM_DIAL_n     the Dial() device list of step n (PJSIP/101&PJSIP/102)
    PBXCRM_TIMEOUT_n  its timeout in seconds
    PBXCRM_FALLBACK   the department's fallback group as a device list

(names in :mod:`pbx_daemon.telephony.names`). AGI's ``SET VARIABLE name "value"`` has no
escaping for quotes or line breaks, so every value is checked here and a value that could
break out of its quotes is an error.
"""

from __future__ import annotations

import re

from pbx_daemon.telephony import names
from pbx_daemon.telephony.asterisk_render import dial_list
from pbx_daemon.telephony.routing.policy import RoutePlan

_SAFE = re.compile(r'^[^"\\\r\n\x00]*$')


class UnsafeValue(ValueError):
    pass


def plan_variables(plan: RoutePlan) -> list[tuple[str, str]]:
    out = [(names.VAR_BLOCKED, "1" if plan.blocked else "0"),
           (names.VAR_CALLERNAME, plan.caller_name or ""),
           (names.VAR_STEPS, str(len(plan.steps)))]
    for n, step in enumerate(plan.steps, 1):
        out.append((names.var_step_dial(n), dial_list(list(step.endpoints))))
        out.append((names.var_step_timeout(n), str(int(step.timeout))))
    out.append((names.VAR_FALLBACK, dial_list(list(plan.fallback_endpoints))))
    # ROUTE=ok goes last: a script killed half-way leaves the dialplan on the fallback.
    out.append((names.VAR_ROUTE, "ok"))
    for name, value in out:
        if not _SAFE.match(value):
            raise UnsafeValue(f"{name} would carry a quote or a line break")
    return out
