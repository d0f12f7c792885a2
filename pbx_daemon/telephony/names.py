"""The names pbx-crm and Asterisk share: dialplan contexts, ``PBXCRM_*`` channel
variables, Stasis arguments, our channel / bridge / recording ids, and the guards that
keep caller-controlled text out of them.

Everything here must match ``dialplan/extensions_pbxcrm.conf``. No I/O and no Twisted:
the process AGI script (run by Asterisk, without Twisted) imports it too.
"""

from __future__ import annotations

import re

# ---- dialplan contexts (dialplan/extensions_pbxcrm.conf) -----------------------------------
FROM_TRUNK_CONTEXT = "pbxcrm-from-trunk"  # the trunk's calls enter here, then Stasis()
AGI_ROUTE_CONTEXT = "pbxcrm-agi-route"  # Stasis() failed: FastAGI, then the process script
FALLBACK_CONTEXT = "pbxcrm-fallback"  # the dialplan's own fallback ring group
FALLBACK_DIAL_CONTEXT = "pbxcrm-fallback-dial"  # rings PBXCRM_DIAL (a department's group)
BLOCKED_CONTEXT = "pbxcrm-blocked"  # "busy" or "message" for a blocklisted caller
INTERNAL_CONTEXT = "pbxcrm-internal"  # calls placed by the phones, then Stasis()
PHONE_FALLBACK_CONTEXT = "pbxcrm-phone-fallback"  # a phone's call when the daemon is not there

# ---- channel variables --------------------------------------------------------------------
# Set by the daemon before it continues a caller into FALLBACK_DIAL_CONTEXT.
VAR_DIAL = "PBXCRM_DIAL"
# Set by the AGI route (process script or FastAGI) for [pbxcrm-agi-route]; see agi_plan.
VAR_ROUTE = "PBXCRM_ROUTE"
VAR_BLOCKED = "PBXCRM_BLOCKED"
VAR_CALLERNAME = "PBXCRM_CALLERNAME"
VAR_STEPS = "PBXCRM_STEPS"
VAR_FALLBACK = "PBXCRM_FALLBACK"


def var_step_dial(n: int) -> str:
    """``PBXCRM_DIAL_<n>``: the Dial() device list of step ``n`` (from 1)."""
    return f"PBXCRM_DIAL_{n}"


def var_step_timeout(n: int) -> str:
    """``PBXCRM_TIMEOUT_<n>``: how long step ``n`` rings, in seconds."""
    return f"PBXCRM_TIMEOUT_{n}"


# ---- Stasis application arguments (the first of ``appArgs``) ---------------------------------
ARG_INBOUND = "inbound"  # Stasis(<app>,inbound,<dialled>) from the dialplan: a caller
ARG_LEG = "leg"  # leg,<call id>: a phone we rang for an inbound call
ARG_MOBILE = "mobile"  # leg,<call id>,mobile: an employee's mobile, through the trunk
ARG_C2C_EMPLOYEE = "c2c-employee"  # c2c-employee,<call id>: the employee's phone
ARG_C2C_CLIENT = "c2c-client"  # c2c-client,<call id>: the client, through the trunk
ARG_PHONE = "phone"  # Stasis(<app>,phone,<dialled>) from the dialplan: a desk phone dials
ARG_PHONE_PEER = "phone-peer"  # phone-peer,<call id>: who the desk phone called
ARG_DND = "dnd"  # Stasis(<app>,dnd,on|off,<endpoint>): a desk phone dialled *78 / *79
FEATURE_DONE_CONTEXT = "pbxcrm-feature-done"  # where a feature code's channel continues

# ---- CEL user events the dialplan writes ---------------------------------------------------
# A desk phone's call the dialplan placed itself (no daemon); extra = the dialled target.
CEL_PHONE_FALLBACK = "PBXCRM_PHONE_FALLBACK"

# ---- guards -------------------------------------------------------------------------------
# A PJSIP endpoint / AOR name as pbx-crm accepts it: what phones are provisioned with.
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
# Anything else is replaced before an id reaches a bridge, a recording or a channel name:
# the trunk channel's id (our inbound call id) comes from Asterisk, but we never trust it
# to be a safe file name.
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


def safe_id(call_id: str) -> str:
    return _SAFE_ID.sub("_", call_id)


# ---- our ids ------------------------------------------------------------------------------
BRIDGE_PREFIX = "br-"
CLICK_TO_CALL_PREFIX = "c2c-"


def bridge_id(call_id: str) -> str:
    """The call's mixing bridge: ``br-<safe call id>``. After a restart a bridge named so
    is one of ours."""
    return f"{BRIDGE_PREFIX}{safe_id(call_id)}"


def is_call_bridge(bridge: str) -> bool:
    return bridge.startswith(BRIDGE_PREFIX)


def call_of_bridge(bridge: str) -> str:
    """``br-<call id>`` -> the call id (Asterisk's ids need no escaping: safe_id keeps them)."""
    return bridge.removeprefix(BRIDGE_PREFIX)


def recording_name(call_id: str) -> str:
    """The bridge recording's name (file ``<name>.wav`` in Asterisk's spool): the call id
    only, so nothing a caller controls reaches a file name."""
    return safe_id(call_id)


def greeting_playback_id(call_id: str) -> str:
    """The after-hours greeting's playback: ``greet-<safe call id>``."""
    return f"greet-{safe_id(call_id)}"


def leg_id(call_id: str, n: int, token: str) -> str:
    """A phone leg of an inbound call: ``<safe call id>-leg<n>-<random>``."""
    return f"{safe_id(call_id)}-leg{n}-{token}"


def is_phone_leg(channel_id: str) -> bool:
    return "-leg" in channel_id


def click_to_call_id(token: str) -> str:
    """A click-to-call's id, which is also its employee channel's id."""
    return f"{CLICK_TO_CALL_PREFIX}{token}"


def is_click_to_call(channel_id: str) -> bool:
    return channel_id.startswith(CLICK_TO_CALL_PREFIX)


def client_leg_id(call_id: str) -> str:
    """The client's channel of click-to-call ``call_id``."""
    return f"{call_id}-client"


def is_client_leg(channel_id: str) -> bool:
    return channel_id.endswith("-client")


def peer_leg_id(call_id: str) -> str:
    """The far side of desk-phone call ``call_id`` (an extension, or the trunk)."""
    return f"{safe_id(call_id)}-peer"


def is_peer_leg(channel_id: str) -> bool:
    return channel_id.endswith("-peer")


def transfer_ringback_id(call_id: str) -> str:
    """The ringback playback in an inbound call's bridge while a transfer target rings."""
    return f"{safe_id(call_id)}-xfer"


def confirm_prompt_id(leg_id: str) -> str:
    """The playback id of the "press 1" prompt on a mobile leg."""
    return f"confirm-{safe_id(leg_id)}"


POSITION_PREFIX = "position-"


def position_playback_id(call_id: str) -> str:
    """The playback id of a waiting caller's position announcement."""
    return f"{POSITION_PREFIX}{safe_id(call_id)}"


def ringback_id(call_id: str) -> str:
    """The ringback playback on the employee's channel while the client's phone rings."""
    return f"{call_id}-rb"
