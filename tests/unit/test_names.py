"""The names shared with Asterisk: one home, and they match the dialplan file."""

from __future__ import annotations

import re

from pbx_daemon.telephony import names
from pbx_daemon.telephony.asterisk_render import DIALPLAN_DIR

DIALPLAN = (DIALPLAN_DIR / "extensions_pbxcrm.conf").read_text()


def test_every_context_we_send_calls_to_is_in_the_dialplan():
    contexts = set(re.findall(r"^\[([a-z-]+)\]", DIALPLAN, re.M))
    for context in (names.FROM_TRUNK_CONTEXT, names.AGI_ROUTE_CONTEXT, names.FALLBACK_CONTEXT,
                    names.FALLBACK_DIAL_CONTEXT, names.BLOCKED_CONTEXT, names.INTERNAL_CONTEXT):
        assert context in contexts


def test_every_variable_we_set_is_read_by_the_dialplan():
    for variable in (names.VAR_DIAL, names.VAR_ROUTE, names.VAR_BLOCKED, names.VAR_CALLERNAME,
                     names.VAR_STEPS, names.VAR_FALLBACK):
        assert "${" + variable + "}" in DIALPLAN
    # PBXCRM_DIAL_<n> / PBXCRM_TIMEOUT_<n> are read with the step number spliced in.
    assert "${PBXCRM_DIAL_${PBXCRM_I}}" in DIALPLAN and names.var_step_dial(2) == "PBXCRM_DIAL_2"
    assert "${PBXCRM_TIMEOUT_${PBXCRM_I}}" in DIALPLAN
    assert names.var_step_timeout(3) == "PBXCRM_TIMEOUT_3"


def test_call_ids_are_made_safe_before_they_name_a_bridge_or_a_recording():
    hostile = "1732.5/../../etc;x y"
    assert names.recording_name(hostile) == "1732.5_.._.._etc_x_y"
    assert names.bridge_id(hostile) == "br-1732.5_.._.._etc_x_y"
    assert names.is_call_bridge(names.bridge_id("c1")) and not names.is_call_bridge("other")
    assert names.leg_id("a/b", 2, "9f2a") == "a_b-leg2-9f2a" and names.is_phone_leg("a_b-leg2-9f2a")


def test_click_to_call_ids():
    call_id = names.click_to_call_id("0a1b")
    assert names.is_click_to_call(call_id) and names.client_leg_id(call_id) == "c2c-0a1b-client"
    assert names.is_client_leg(names.client_leg_id(call_id)) and not names.is_client_leg(call_id)
