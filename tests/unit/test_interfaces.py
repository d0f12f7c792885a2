"""Every control and recorder, real or fake, provides the whole interface the daemon uses
(zope.interface.verify): nothing is called that is not declared."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from twisted.internet.defer import succeed
from zope.interface.verify import verifyObject

from pbx_daemon.telephony.ari.control import (AriAfterHoursControl, AriCallControl, AriInventory, AriOutboundControl,
                                              AriPhoneControl)
from pbx_daemon.telephony.calls.interfaces import (IAfterHoursControl, IAsteriskInventory, ICallControl,
                                                   ICallRecorder, IOutboundControl,
                                                   IOutboundRecorder, IPhoneControl,
                                                   IPhoneRecorder)
from pbx_daemon.telephony.outputs.call_events import CallEvents
from pbx_daemon.telephony.outputs.store import SqlCallRecorder
from pbx_daemon.testing import (FakeAfterHoursControl, FakeCallControl, FakeInventory, FakeOutboundControl,
                                FakePhoneControl, MemoryRecorder)

REST = object()  # the adapters only keep it until a method is called


def store():
    return SqlCallRecorder(session_factory=None, run=lambda fn: succeed(None))


@pytest.mark.parametrize("interface, make", [
    (ICallControl, lambda: AriCallControl(REST, "pbx-crm")),
    (ICallControl, FakeCallControl),
    (IOutboundControl, lambda: AriOutboundControl(REST, "pbx-crm")),
    (IOutboundControl, FakeOutboundControl),
    (IPhoneControl, lambda: AriPhoneControl(REST, "pbx-crm")),
    (IPhoneControl, FakePhoneControl),
    (IAsteriskInventory, lambda: AriInventory(REST, "pbx-crm")),
    (IAsteriskInventory, FakeInventory),
    (IAfterHoursControl, lambda: AriAfterHoursControl(REST, "/var/lib/pbx-crm/greetings")),
    (IAfterHoursControl, FakeAfterHoursControl),
    (ICallRecorder, store),
    (IOutboundRecorder, store),
    (ICallRecorder, lambda: CallEvents(store(), notifier=None)),
    (IOutboundRecorder, lambda: CallEvents(store(), notifier=None)),
    (IPhoneRecorder, store),
    (IPhoneRecorder, lambda: CallEvents(store(), notifier=None)),
    (ICallRecorder, MemoryRecorder),
    (IOutboundRecorder, MemoryRecorder),
    (IPhoneRecorder, MemoryRecorder),
], ids=lambda v: getattr(v, "__name__", "adapter"))
def test_adapter_provides_the_interface(interface, make):
    assert verifyObject(interface, make())


CALLS = Path(__file__).resolve().parents[2] / "pbx_daemon" / "telephony"


def _called(path: Path, attribute: str) -> set[str]:
    """Method names called as ``self.<attribute>.<name>(...)`` in ``path``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr == attribute \
                    and isinstance(owner.value, ast.Name) and owner.value.id == "self":
                found.add(node.func.attr)
    return found


@pytest.mark.parametrize("module, attribute, interfaces", [
    ("calls/inbound.py", "control", [ICallControl]),
    ("calls/inbound.py", "recorder", [ICallRecorder]),
    ("calls/inbound_calls.py", "control", [ICallControl]),
    ("calls/inbound_calls.py", "recorder", [ICallRecorder]),
    ("calls/outbound.py", "control", [IOutboundControl]),
    ("calls/outbound.py", "recorder", [IOutboundRecorder]),
    ("calls/phone.py", "control", [IPhoneControl]),
    ("calls/phone.py", "recorder", [IPhoneRecorder]),
    ("calls/phone_calls.py", "control", [IPhoneControl]),
    ("stasis.py", "control", [ICallControl]),
    ("outputs/call_events.py", "store", [ICallRecorder, IOutboundRecorder, IPhoneRecorder]),
])
def test_the_daemon_calls_only_declared_methods(module, attribute, interfaces):
    declared = set().union(*(set(i.names(all=True)) for i in interfaces))
    called = _called(CALLS / module, attribute)
    assert called and called <= declared, called - declared
