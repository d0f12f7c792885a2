"""CEL lines as the lab's Asterisk 22 writes them (``cel_custom.conf``'s fields), for a
call the daemon routed: the trunk channel in Stasis, one leg per phone we rang (ids as
the daemon gives them), then hang-ups and ``LINKEDID_END``."""

from __future__ import annotations

import json

SALES_NUMBER = "+74951110001"


def ev(kind, t, uniqueid, channame, linkedid, *, num="", exten="s", context="pbxcrm-internal",
       appname="", appdata="", eventextra=""):
    return json.dumps({
        "eventtype": kind, "userdeftype": "", "eventtime": round(t, 6), "name": "", "num": num,
        "dnid": "", "exten": exten, "context": context, "channame": channame,
        "appname": appname, "appdata": appdata, "uniqueid": uniqueid, "linkedid": linkedid,
        "peer": "", "userfield": "", "eventextra": eventextra}, separators=(",", ":"))


def leg_id(linkedid: str, endpoint: str) -> str:
    return f"{linkedid}-leg-{endpoint}"


def inbound(linkedid: str, caller: str, t0: float, *, phones=("101",), answered_by=None,
            ring: float = 6.0, talk: float = 30.0, dialled: str = SALES_NUMBER
            ) -> tuple[list[str], list[str]]:
    """(the lines written while it rings, the rest): missed (the caller gives up after
    ``ring`` s) or answered by ``answered_by`` after ``ring`` s, talking ``talk`` s."""
    trunk = "PJSIP/pbxcrm-trunk-0000000a"
    start = [
        ev("CHAN_START", t0, linkedid, trunk, linkedid, num=caller, exten=dialled,
           context="pbxcrm-from-trunk"),
        ev("APP_START", t0 + 0.001, linkedid, trunk, linkedid, num=caller, exten=dialled,
           context="pbxcrm-from-trunk", appname="Stasis", appdata=f"pbx-crm,inbound,{dialled}"),
    ]
    for i, phone in enumerate(phones):
        start.append(ev("CHAN_START", t0 + 0.1 + i / 100, leg_id(linkedid, phone),
                        f"PJSIP/{phone}-0000001{i}", linkedid))
    end_at = t0 + ring + (talk if answered_by else 0)
    rest = []
    if answered_by:
        rest.append(ev("ANSWER", t0 + ring, leg_id(linkedid, answered_by),
                       f"PJSIP/{answered_by}-0000001{phones.index(answered_by)}", linkedid,
                       appname="AppDial2", appdata="(Outgoing Line)"))
    cause = json.dumps({"hangupcause": 16})
    rest.append(ev("HANGUP", end_at, linkedid, trunk, linkedid, num=caller, exten=dialled,
                   context="pbxcrm-from-trunk", eventextra=cause))
    for i, phone in enumerate(phones):
        rest.append(ev("HANGUP", end_at + 0.01, leg_id(linkedid, phone),
                       f"PJSIP/{phone}-0000001{i}", linkedid, eventextra=cause))
    rest.append(ev("LINKEDID_END", end_at + 0.02, leg_id(linkedid, phones[-1]),
                   f"PJSIP/{phones[-1]}-0000001{len(phones) - 1}", linkedid))
    return start, rest


def write(path, lines) -> None:
    with open(path, "a") as f:
        f.write("".join(line + "\n" for line in lines))
