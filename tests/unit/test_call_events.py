"""Call events fan out to the store and to screen-pop: who hears what, and a broken
notifier never breaks the store's story."""

from __future__ import annotations

from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from pbx_daemon.telephony.calls.inbound import InboundCall
from pbx_daemon.telephony.calls.interfaces import CallDetails, ICallRecorder, IOutboundRecorder
from pbx_daemon.telephony.calls.outbound import ClickToCallRequest, OutboundCall
from pbx_daemon.telephony.outputs.call_events import CallEvents
from pbx_daemon.telephony.routing.policy import RingStep, RoutePlan
from pbx_daemon.testing import FakeCallControl, FakeOutboundControl, MemoryRecorder


class Notifier:
    def __init__(self):
        self.sent = []

    def ringing(self, call_id, employee_id, *, direction, phone, name, card):
        self.sent.append(("ringing", employee_id, direction, phone, name, card))

    def answered(self, call_id, employee_id, *, direction, phone, name):
        self.sent.append(("answered", employee_id))

    def ended(self, call_id, outcome, employee_ids, *, phone):
        self.sent.append(("ended", outcome, tuple(employee_ids)))

    def missed(self, call_id, employee_ids, *, phone, name):
        self.sent.append(("missed", tuple(employee_ids), phone))

    def recording_ready(self, call_id, employee_ids):
        self.sent.append(("recording_ready", tuple(employee_ids)))


class Store(MemoryRecorder):
    def recording_finished(self, call_id):
        from twisted.internet.defer import succeed

        self.events.append(("recording_finished", call_id))
        return succeed(48000)


PLAN = RoutePlan(steps=(RingStep("owner", 10, ("101",), (1,)),
                        RingStep("group", 15, ("101", "102"), (1, 2))), caller_name="Ромашка")


def inbound(events, clock):
    events.caller_identified("c1", CallDetails("+79161234567", "+79161234567", "+74951110001",
                                               card=("company", 5)))
    legs = iter(f"c1-leg{n}" for n in range(1, 10))
    call = InboundCall("c1", "c1", PLAN, FakeCallControl(), events, clock, "+79161234567",
                       lambda: next(legs))
    call.start()
    return call


def test_implements_both_recorder_interfaces():
    events = CallEvents(Store(), Notifier())
    assert verifyObject(ICallRecorder, events) and verifyObject(IOutboundRecorder, events)


def test_ringing_goes_to_each_phone_with_the_card_then_answered_and_the_others_dismissed():
    store, notifier, clock = Store(), Notifier(), Clock()
    events = CallEvents(store, notifier)
    call = inbound(events, clock)
    clock.advance(10)  # the group step adds 102
    call.leg_answered("c1-leg2")
    card = {"kind": "company", "id": 5}
    assert notifier.sent == [
        ("ringing", 1, "inbound", "+79161234567", "Ромашка", card),
        ("ringing", 2, "inbound", "+79161234567", "Ромашка", card),
        ("answered", 2), ("ended", "answered_elsewhere", (1,))]
    call.caller_hung_up()
    assert notifier.sent[-1] == ("ended", "answered", (2,))
    events.recording_finished("c1")
    assert notifier.sent[-1] == ("recording_ready", (2,))
    assert events.calls == {}
    assert [e[0] for e in store.events][:3] == ["started", "ringing", "ringing"]


def test_missed_call_tells_everyone_who_rang():
    store, notifier, clock = Store(), Notifier(), Clock()
    events = CallEvents(store, notifier)
    call = inbound(events, clock)
    clock.advance(10)
    call.caller_hung_up()
    assert notifier.sent[-1] == ("missed", (1, 2), "+79161234567")
    assert events.calls == {}


def test_click_to_call_pops_the_card_on_the_employees_screen():
    store, notifier, clock = Store(), Notifier(), Clock()
    events = CallEvents(store, notifier)
    req = ClickToCallRequest(7, "101", "+79035550011", shown_name="Пётр", contact_id=3)
    call = OutboundCall("c2c-1", req, FakeOutboundControl(), events, clock)
    call.start()
    call.employee_answered()
    call.client_answered()
    call.client_gone(16)
    assert notifier.sent == [("ringing", 7, "outbound", "+79035550011", "Пётр",
                              {"kind": "contact", "id": 3}),
                             ("answered", 7), ("ended", "answered", (7,))]


def test_a_failing_notifier_never_stops_the_store():
    class Broken(Notifier):
        def ringing(self, *a, **k):
            raise RuntimeError("redis exploded")

    store, clock = Store(), Clock()
    events = CallEvents(store, Broken())
    call = inbound(events, clock)
    call.leg_answered("c1-leg1")
    assert [e[0] for e in store.events] == ["started", "ringing", "answered"]
