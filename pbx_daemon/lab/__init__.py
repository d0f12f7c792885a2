"""The Asterisk lab: a real Asterisk 22 PBX plus a second Asterisk playing the world.

Asterisk is not packaged for Debian 12, Debian unstable ships Asterisk 22, so the lab
builds a minimal unstable root with debootstrap (once, cached) and runs two Asterisk
processes in it with chroot. They share the host's network namespace, so everything
listens on loopback:

* **pbx**: the project's own ``asterisk_conf/`` and ``dialplan/``, rendered with the
  project config. SIP on 127.0.0.1:<pbx_sip_port>, ARI on 127.0.0.1:<pbx_ari_port>.
* **world**: the PSTN trunk and the operators' SIP phones. It sends trunk calls from
  <trunk_ip>:<pbx_sip_port> (the PBX's trunk is identified by that address) and answers
  the PBX's calls to phones on 127.0.0.1:<world_sip_port>. How each phone or PSTN number
  behaves (ring, answer after N s, reject, busy) lives in the world's AstDB; what rang and
  when is written by CEL as JSON lines, which :meth:`Lab.rings` reads back.

This is ops and test tooling, run as root from the shell; it is not used by the daemon.

:mod:`~pbx_daemon.lab.lab` holds :class:`Lab`, the handle tests and ops drive; next to it
``settings`` (what a lab is), ``build`` (the debootstrap root), ``render`` (the two
instances' configuration), ``processes`` (Asterisk under chroot, mounts, pids), ``world``
(phone behaviour, rings read back from CEL), ``commands`` (``pbx-crm lab|demo``),
``demo`` (the demo data and calls), and ``sipp`` + ``burst`` (sipp playing the trunk for a
burst of calls, and what a burst must leave behind: bench/load.py and the burst test).
"""

from __future__ import annotations

from pbx_daemon.lab.lab import Lab, LabError, LabEvent, Ring, PhoneMode

__all__ = ["Lab", "LabError", "LabEvent", "Ring", "PhoneMode"]
