"""Feature codes a desk phone dials: *78 do not disturb on, *79 off (issue 17).

The dialplan (``[pbxcrm-internal]``) sends the phone's channel to
``Stasis(<app>,dnd,on|off,<the phone's endpoint>)``; the endpoint comes from Asterisk's
``CHANNEL(endpoint)``, not from anything the phone sent. We store the flag on the
employee whose phone it is (``set_dnd``, off the reactor) and continue the channel in
``[pbxcrm-feature-done]`` at ``on``, ``off`` or ``failed``: the dialplan answers, plays a
short confirmation and hangs up. Routing reads ``employees.dnd`` on the next call.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from pbx_daemon.telephony import names
from pbx_daemon.telephony.ari.messages import Channel

log = Logger(namespace="pbx_daemon.feature_codes")

# set_dnd(endpoint, on) -> Deferred[bool]: False when no employee has that phone.
SetDnd = Callable[[str, bool], Deferred]
# continue_to(channel_id, extension): leave Stasis for [pbxcrm-feature-done],<extension>,1.
ContinueTo = Callable[[str, str], None]


def toggle_dnd(set_dnd: SetDnd | None, continue_to: ContinueTo, channel: Channel,
               endpoint: str | None, on: bool) -> Deferred:
    """Store DND ``on`` for ``endpoint``'s employee, then confirm (or say it failed)."""
    if set_dnd is None or not endpoint or not names.ENDPOINT_NAME.match(endpoint):
        log.warn("DND from {channel}: no phone or no database; refused", channel=channel.name)
        continue_to(channel.id, "failed")
        return Deferred()

    def stored(found):
        if not found:
            log.warn("DND from {endpoint}: no employee has this phone", endpoint=endpoint)
            continue_to(channel.id, "failed")
            return
        log.info("DND {state} for {endpoint} (feature code)", state="on" if on else "off",
                 endpoint=endpoint)
        continue_to(channel.id, "on" if on else "off")

    def failed(failure):
        log.failure("storing DND for {endpoint}", failure, endpoint=endpoint)
        continue_to(channel.id, "failed")

    return maybeDeferred(set_dnd, endpoint, on).addCallbacks(stored, failed)


def sql_set_dnd(session, endpoint: str, on: bool) -> bool:
    """Blocking: ``employees.dnd = on`` for the active employee with phone ``endpoint``."""
    from sqlalchemy import select

    from pbx_daemon.crm import models as m

    employee = session.scalar(select(m.Employee).where(m.Employee.sip_endpoint == endpoint,
                                                       m.Employee.active.is_(True)))
    if employee is None:
        return False
    employee.dnd = on
    session.commit()
    return True
