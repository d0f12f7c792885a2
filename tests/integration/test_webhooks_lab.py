"""Webhooks against the real lab (issue 18): a receiver in this process gets the events of
real calls, in order, signed; with the receiver down for a while, every event arrives after
it comes back (the daemon retries; [webhooks] retry_max_interval = 1 keeps that quick).

Run alone with the lab lock: flock /tmp/pbx-lab-test.lock pytest tests/integration/test_webhooks_lab.py
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from tests.integration.conftest import running_daemon

pytestmark = pytest.mark.lab

SALES_NUMBER = "+74951110001"
SECRET = "lab-webhook-secret-0123456789"


def seed(url: str, port: int) -> None:
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        sales = m.Department(name="Sales", group_timeout=2, head_timeout=1, top_timeout=1)
        s.add(sales)
        s.flush()
        anna = m.Employee(full_name="Anna", login="anna", sip_endpoint="101", department_id=sales.id)
        vera = m.Employee(full_name="Vera", login="vera", role="head", sip_endpoint="103",
                          department_id=sales.id)
        s.add_all([anna, vera])
        s.flush()
        sales.head_id = vera.id
        s.add(m.TrackingNumber(number=SALES_NUMBER, department_id=sales.id))
        s.add(m.Setting(key="default_department_id", value=str(sales.id)))
        s.add(m.Company(name="ООО Ромашка", responsible_id=anna.id,
                        phones=[m.CompanyPhone(phone="+79035550001")]))
        s.add(m.Webhook(name="receiver", url=f"http://127.0.0.1:{port}/hook", secret=SECRET))
        s.commit()
    engine.dispose()


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that keeps every POST (headers, parsed body)."""

    def __init__(self, port: int = 0):
        self.got: list[tuple[dict, bytes]] = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.got]


def _signed(headers: dict, body: bytes) -> bool:
    stamp = headers["x-pbxcrm-timestamp"]
    mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-pbxcrm-signature"], f"sha256={mac}")


def _of_call(events, caller):
    """The call.* events of ``caller``'s call, by kind, in the order they came."""
    return [e["event"] for e in events if e["event"].startswith("call.")
            and e["data"]["call"]["caller"] == caller]


def test_a_receiver_gets_the_calls_events_in_order_signed_and_all_after_an_outage(lab: Lab, tmp_path):
    receiver = Receiver()
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url, receiver.port)
    extra = "[webhooks]\npoll_interval = 1\nretry_max_interval = 1\n"
    try:
        with running_daemon(lab, tmp_path, url, extra=extra):
            lab.wait_idle()
            lab.reset_behaviour()
            # 1. The client's call, answered by Anna (its owner).
            lab.set_phone("101", "answer:1:2")
            lab.call("+79035550001", SALES_NUMBER, ring_timeout=20, hold=2)
            lab.wait_for(lambda: "call.ended" in _of_call(receiver.events(), "+79035550001"), 30,
                         "call.ended of the answered call")
            # 2. An unknown caller nobody answers: missed, an inquiry and a call-back task.
            lab.reset_behaviour()
            lab.call("+79035550002", SALES_NUMBER, ring_timeout=30, hold=1)
            lab.wait_for(lambda: "call.ended" in _of_call(receiver.events(), "+79035550002"), 40,
                         "call.ended of the missed call")
            events = receiver.events()
            assert all(_signed(h, b) for h, b in receiver.got)
            assert [e["id"] for e in events] == sorted({e["id"] for e in events})  # in order, once
            assert _of_call(events, "+79035550001")[:3] == ["call.started", "call.answered", "call.ended"]
            ended = next(e for e in events if e["event"] == "call.ended"
                         and e["data"]["call"]["caller"] == "+79035550001")
            assert ended["data"]["card"]["company"]["name"] == "ООО Ромашка"
            assert ended["data"]["call"]["answered_by"]["name"] == "Anna"
            missed = [e for e in events if e["id"] > ended["id"]]
            kinds = [e["event"] for e in missed]
            assert kinds.index("call.started") < kinds.index("inquiry.created") < \
                kinds.index("task.created") < kinds.index("call.ended")
            assert next(e for e in missed if e["event"] == "inquiry.created")["data"]["inquiry"]["phone"] \
                == "+79035550002"

            # 3. The receiver is down while a call happens; it comes back on the same port.
            port = receiver.port
            receiver.stop()
            before = len(receiver.got)
            lab.wait_idle()
            lab.set_phone("101", "answer:1:1")
            lab.call("+79035550001", SALES_NUMBER, ring_timeout=20, hold=1)
            engine = db.make_engine(url)
            sessions = db.make_session_factory(engine)

            def retried():
                with sessions() as s:
                    return s.scalar(select(func.count(m.WebhookDelivery.id)).where(
                        m.WebhookDelivery.status == "pending", m.WebhookDelivery.attempts >= 2))
            lab.wait_for(retried, 30, "a delivery to fail twice while the receiver is down")
            back = Receiver(port)
            try:
                def emitted():
                    with sessions() as s:
                        return list(s.scalars(select(m.WebhookEvent.id).where(
                            m.WebhookEvent.id > events[-1]["id"]).order_by(m.WebhookEvent.id)))

                def all_came():
                    came = back.events()
                    return "call.ended" in _of_call(came, "+79035550001") and \
                        [e["id"] for e in came] == emitted()  # every one, in order, once
                lab.wait_for(all_came, 30, "every event after the receiver came back")
                came = back.events()
                assert _of_call(came, "+79035550001")[:3] == ["call.started", "call.answered", "call.ended"]
                assert all(_signed(h, b) for h, b in back.got) and before == len(receiver.got)
            finally:
                back.stop()
                engine.dispose()
    finally:
        receiver.stop()  # again after step 3: a no-op
