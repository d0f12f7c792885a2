"""Screen-pop events out: one method per business event, published on Redis.

Wire protocol (Redis PUBLISH, one JSON object a message)::

    pbxcrm:screenpop:<employee id>   the events that concern that employee
    pbxcrm:calls                     every event (supervisors' boards, the benchmark)

    {"event": "ringing",  "call_id": "1732.5", "at": 1795400000.12, "employee_id": 7,
     "direction": "inbound", "phone": "+79161234567", "name": "ООО Ромашка",
     "card": {"kind": "company", "id": 5} | null}
    {"event": "answered", ..., "employee_id": 7}
    {"event": "ended",    ..., "outcome": "answered" | "answered_elsewhere" | "missed" | ...,
     "employee_ids": [7, 8]}
    {"event": "missed",   ..., "employee_ids": [7, 8], "phone": ..., "name": ...}
    {"event": "recording_ready", ..., "employee_ids": [7]}
    {"event": "escalation", "task_id": 12, "at": ..., "employee_id": 3 (the head),
     "title": ..., "responsible": "Анна Смирнова", "phone": "+7...", "overdue_minutes": 31}
                                     (employee channel only: not a call event)

Names and numbers are data, never markup: the page inserts them as text.

Redis is optional for calls: :class:`RedisPublisher` never makes a caller wait. A publish
that does not complete within ``timeout``, with no other reply from Redis meanwhile, marks
Redis down; while it is down messages are dropped (one probe a second finds it back) and
one warning is logged per outage. "No other reply": under a burst the reactor itself runs
late, and a timer may fire before the replies already waiting in the socket are read; so
the verdict waits one reactor turn, and a Redis that answered anything since the publish
was sent is up (a slow reply is not an outage).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from twisted.application.service import Service
from twisted.logger import Logger
from zope.interface import Interface, implementer

log = Logger(namespace="pbx_daemon.notify")

CHANNEL_ALL = "pbxcrm:calls"
CHANNEL_EMPLOYEE = "pbxcrm:screenpop:{}"


class IEventPublisher(Interface):
    def publish(channel: str, message: str) -> None:
        """Fire and forget; never raises, never blocks."""


@implementer(IEventPublisher)
class MemoryPublisher:
    """For tests: every (channel, message) published."""

    def __init__(self):
        self.published: list[tuple[str, dict]] = []

    def publish(self, channel, message):
        self.published.append((channel, json.loads(message)))

    def to(self, channel: str) -> list[dict]:
        return [m for c, m in self.published if c == channel]


@implementer(IEventPublisher)
class RedisPublisher(Service):
    """PUBLISH over one lazily (re)connecting txredisapi connection."""

    def __init__(self, url: str, clock, timeout: float = 0.5, probe_interval: float = 1.0,
                 connect=None):
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.password = parts.password
        path = parts.path.strip("/")
        self.dbid = int(path) if path.isdigit() else None
        self.clock = clock
        self.timeout = timeout
        self.probe_interval = probe_interval
        self._connect = connect
        self.redis = None
        self.down_since: float | None = None
        self.next_probe = 0.0
        self.dropped = 0  # since Redis went down (the log line when it is back)
        self.dropped_total = 0  # counters, for metrics: events dropped,
        self.outages = 0  # and times Redis was declared down
        self.replies = 0  # every reply Redis sent, to tell "slow" from "down"
        self.late = 0

    def startService(self):
        super().startService()
        if self._connect is not None:
            self.redis = self._connect()
        else:
            import txredisapi

            self.redis = txredisapi.lazyConnection(self.host, self.port, dbid=self.dbid,
                                                   password=self.password, reconnect=True,
                                                   connectTimeout=2, replyTimeout=2)

    def stopService(self):
        super().stopService()
        if self.redis is not None and hasattr(self.redis, "disconnect"):
            return self.redis.disconnect()
        return None

    def publish(self, channel, message):
        if self.redis is None:
            return
        now = self.clock.seconds()
        if self.down_since is not None:
            if now < self.next_probe:
                self.dropped += 1
                self.dropped_total += 1
                return
            self.next_probe = now + self.probe_interval
        try:
            d = self.redis.publish(channel, message)
        except Exception:  # noqa: BLE001 - a screen-pop must never break a call
            self._failed(None)
            return
        if d.called:
            d.addCallbacks(self._ok, self._failed)
            return
        # Not cancelled on a timeout (its reply, however late, still says Redis is up).
        timer = self.clock.callLater(self.timeout, self._slow, self.replies)

        def answered(result):
            if timer.active():
                timer.cancel()
            return result

        d.addBoth(answered)
        d.addCallbacks(self._ok, self._failed)

    def _slow(self, replies_then: int) -> None:
        # Judge after one more reactor turn, once waiting replies have been read.
        self.clock.callLater(0, self._judge, replies_then)

    def _judge(self, replies_then: int) -> None:
        if self.replies > replies_then:
            self.late += 1  # Redis answers, just not this one yet
            return
        self._failed(None, f"no reply within {self.timeout} s")

    def _ok(self, _):
        self.replies += 1
        if self.down_since is not None:
            log.info("Redis is back after {seconds:.0f} s; {dropped} screen-pop events were dropped",
                     seconds=self.clock.seconds() - self.down_since, dropped=self.dropped)
            self.down_since = None
            self.dropped = 0

    def _failed(self, failure, why: str = "error"):
        if self.down_since is None:
            self.down_since = self.clock.seconds()
            self.next_probe = self.down_since + self.probe_interval
            self.outages += 1
            log.warn("Redis at {host}:{port} is not answering ({error}); screen-pop events are "
                     "dropped until it is back, calls go on", host=self.host, port=self.port,
                     error=failure.getErrorMessage() if failure is not None else why)
        self.dropped += 1
        self.dropped_total += 1


class ScreenPopNotifier:
    """Business events -> messages for the employees concerned (and ``pbxcrm:calls``)."""

    def __init__(self, publisher, clock):
        self.publisher = publisher
        self.clock = clock

    def _send(self, to, event: str, call_id: str, **fields) -> None:
        message = json.dumps({"event": event, "call_id": call_id, "at": self.clock.seconds(),
                              **fields}, ensure_ascii=False)
        for employee_id in dict.fromkeys(e for e in to if e is not None):
            self.publisher.publish(CHANNEL_EMPLOYEE.format(employee_id), message)
        self.publisher.publish(CHANNEL_ALL, message)

    def ringing(self, call_id, employee_id, *, direction, phone, name, card):
        self._send([employee_id], "ringing", call_id, employee_id=employee_id,
                   direction=direction, phone=phone, name=name, card=card)

    def answered(self, call_id, employee_id, *, direction, phone, name):
        self._send([employee_id], "answered", call_id, employee_id=employee_id,
                   direction=direction, phone=phone, name=name)

    def ended(self, call_id, outcome, employee_ids, *, phone):
        self._send(employee_ids, "ended", call_id, outcome=outcome,
                   employee_ids=list(employee_ids), phone=phone)

    def missed(self, call_id, employee_ids, *, phone, name):
        self._send(employee_ids, "missed", call_id, employee_ids=list(employee_ids),
                   phone=phone, name=name)

    def recording_ready(self, call_id, employee_ids):
        self._send(employee_ids, "recording_ready", call_id, employee_ids=list(employee_ids))

    def escalated(self, task_id, head_id, *, title, responsible, phone, overdue_minutes):
        """A missed-call task went up to the head (:mod:`pbx_daemon.crm.escalation`)."""
        message = json.dumps({"event": "escalation", "task_id": task_id, "at": self.clock.seconds(),
                              "employee_id": head_id, "title": title, "responsible": responsible,
                              "phone": phone, "overdue_minutes": overdue_minutes}, ensure_ascii=False)
        self.publisher.publish(CHANNEL_EMPLOYEE.format(head_id), message)
