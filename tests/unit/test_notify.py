"""Screen-pop events: who gets which message; a dead Redis never blocks or raises and
is probed about once a second (Clock, fake connection, no sockets)."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from pbx_daemon.telephony.outputs.screen_pop import CHANNEL_ALL, IEventPublisher, MemoryPublisher, RedisPublisher, ScreenPopNotifier


def test_publishers_implement_the_interface():
    assert verifyObject(IEventPublisher, MemoryPublisher())
    assert verifyObject(IEventPublisher, RedisPublisher("redis://127.0.0.1:6379/0", Clock()))


def test_each_event_goes_to_the_employees_concerned_and_to_the_all_channel():
    pub, clock = MemoryPublisher(), Clock()
    clock.advance(100)
    n = ScreenPopNotifier(pub, clock)
    n.ringing("c1", 7, direction="inbound", phone="+79161234567", name='<b>"Ромашка"</b>',
              card={"kind": "company", "id": 5})
    n.missed("c1", [7, 8, 7], phone="+79161234567", name="x")
    n.recording_ready("c2", [None])
    assert pub.to("pbxcrm:screenpop:7") == [
        {"event": "ringing", "call_id": "c1", "at": 100, "employee_id": 7, "direction": "inbound",
         "phone": "+79161234567", "name": '<b>"Ромашка"</b>', "card": {"kind": "company", "id": 5}},
        {"event": "missed", "call_id": "c1", "at": 100, "employee_ids": [7, 8, 7],
         "phone": "+79161234567", "name": "x"}]
    assert len(pub.to("pbxcrm:screenpop:8")) == 1
    assert [m["event"] for m in pub.to(CHANNEL_ALL)] == ["ringing", "missed", "recording_ready"]


class FakeRedis:
    def __init__(self):
        self.sent = []
        self.answer = "ok"

    def publish(self, channel, message):
        self.sent.append(channel)
        if self.answer == "ok":
            return succeed(1)
        return Deferred()  # Redis down: the command never completes


def test_dead_redis_is_timed_out_then_probed_once_a_second_and_found_back():
    clock, redis = Clock(), FakeRedis()
    pub = RedisPublisher("redis://127.0.0.1:6379/0", clock, timeout=0.5, connect=lambda: redis)
    pub.startService()
    pub.publish("a", "{}")
    assert pub.down_since is None and len(redis.sent) == 1
    redis.answer = "hang"
    pub.publish("a", "{}")
    clock.advance(0.5)  # the publish timed out: Redis is down
    assert pub.down_since == 0.5
    for _ in range(50):  # a burst while down reaches Redis not at all
        pub.publish("a", "{}")
    assert len(redis.sent) == 2 and pub.dropped == 51
    clock.advance(1.0)
    redis.answer = "ok"
    pub.publish("a", "{}")  # the probe
    assert pub.down_since is None and len(redis.sent) == 3
    assert not clock.getDelayedCalls()


def test_a_raising_connection_is_treated_as_down():
    class Broken:
        def publish(self, channel, message):
            raise ConnectionError("no")

    pub = RedisPublisher("redis://127.0.0.1:6379/0", Clock(), connect=Broken)
    pub.startService()
    pub.publish("a", "{}")
    assert pub.down_since is not None


def test_a_slow_reply_while_redis_answers_others_is_no_outage():
    """Under a burst one reply may come after the timeout while Redis answers the rest:
    nothing is declared down, nothing dropped; the late reply still counts."""
    clock = Clock()
    pending: list[Deferred] = []

    class Slow:
        def publish(self, channel, message):
            pending.append(Deferred())
            return pending[-1]

    pub = RedisPublisher("redis://127.0.0.1:6379/0", clock, timeout=0.5, connect=Slow)
    pub.startService()
    pub.publish("a", "1")
    pub.publish("a", "2")
    clock.advance(0.4)
    pending[1].callback(1)  # Redis answered the second one
    clock.advance(0.2)  # the first one's timer fires: Redis did answer meanwhile
    assert pub.down_since is None and pub.dropped == 0 and pub.late == 1
    pending[0].callback(1)
    assert pub.replies == 2 and not clock.getDelayedCalls()
