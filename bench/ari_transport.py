"""ARI's two transports for REST requests, measured on the bench lab's PBX: the HTTP
pool the daemon uses (:class:`pbx_daemon.telephony.ari.rest.AriRest`: persistent
keep-alive connections, at most N in flight) against Asterisk 22's REST over the events
WebSocket (``RESTRequest`` frames on ``/ari/events``, answered by ``RESTResponse``
events carrying ``status_code`` and ``message_body``).

    .venv/bin/python bench/ari_transport.py [--pairs 1000] [--concurrency 1,8,24] [--rounds 2]

The work is the daemon's per-leg command traffic in miniature: ``POST /bridges`` (a
mixing bridge with an id of ours), then ``DELETE /bridges/<id>``, ``--pairs`` times, at
most ``--concurrency`` requests on the wire. Each round runs both transports, alternating
which goes first. Prints, per transport and concurrency: requests a second, latency p50 and
p99, and CPU per request of this process (the client's cost: what the daemon would pay on
its one reactor thread) and of the PBX's Asterisk.

Brings up the lab "bench" (as bench/load.py; not both at once). Run as root. Asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol  # noqa: E402
from twisted.internet import defer, task  # noqa: E402
from twisted.internet.endpoints import TCP4ClientEndpoint  # noqa: E402

from load import bench_settings  # noqa: E402
from pbx_daemon.lab import Lab  # noqa: E402
from pbx_daemon.lab.burst import _cpu_seconds  # noqa: E402
from pbx_daemon.lab.sipp import percentile  # noqa: E402
from pbx_daemon.telephony.ari.events import events_url  # noqa: E402
from pbx_daemon.telephony.ari.rest import AriError, AriRest, auth_header  # noqa: E402

APP = "bench-transport"


class RestOverWebSocket(WebSocketClientProtocol):
    """REST requests as ``RESTRequest`` frames; replies matched by ``request_id``."""

    def onConnect(self, response):
        self.pending: dict[str, defer.Deferred] = {}
        self.next_id = 0

    def onOpen(self):
        self.factory.opened.callback(self)

    def onMessage(self, payload, isBinary):
        event = json.loads(payload)
        if event.get("type") != "RESTResponse":
            return
        d = self.pending.pop(event.get("request_id"), None)
        if d is None:
            return
        status = event.get("status_code", 0)
        body = event.get("message_body")
        if isinstance(body, str) and body:
            body = json.loads(body)
        if status >= 400:
            d.errback(AriError(status, str(body)))
        else:
            d.callback(body or None)

    def request(self, method: str, uri: str, body=None) -> defer.Deferred:
        self.next_id += 1
        request_id = str(self.next_id)
        frame = {"type": "RESTRequest", "request_id": request_id, "method": method,
                 "uri": uri.lstrip("/")}
        if body is not None:
            frame["content_type"] = "application/json"
            frame["message_body"] = json.dumps(body)
        d = self.pending[request_id] = defer.Deferred()
        self.sendMessage(json.dumps(frame).encode())
        return d


@defer.inlineCallbacks
def connect_websocket(reactor, base: str, user: str, password: str):
    factory = WebSocketClientFactory(events_url(base, APP),
                                     headers={"Authorization": auth_header(user, password)})
    factory.protocol = RestOverWebSocket
    factory.opened = defer.Deferred()
    host, port = base.split("//")[1].rstrip("/").split(":")
    yield TCP4ClientEndpoint(reactor, host, int(port)).connect(factory)
    protocol = yield factory.opened
    return protocol


@defer.inlineCallbacks
def run_pairs(send, pairs: int, concurrency: int, tag: str):
    """``pairs`` create/delete bridge pairs through ``send(method, path, body)``, at most
    ``concurrency`` requests at once; per-request latencies in ms."""
    slots = defer.DeferredSemaphore(concurrency)
    latencies: list[float] = []

    def timed(method, path, params=None):
        started = time.perf_counter()

        def done(result):
            latencies.append(1000 * (time.perf_counter() - started))
            return result
        return send(method, path, params).addCallback(done)

    @defer.inlineCallbacks
    def pair(n):
        bridge = f"{tag}-{n}"
        yield slots.run(timed, "POST", "/bridges", {"type": "mixing", "bridgeId": bridge})
        yield slots.run(timed, "DELETE", f"/bridges/{bridge}")

    yield defer.gatherResults([pair(n) for n in range(pairs)], consumeErrors=True)
    return latencies


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@defer.inlineCallbacks
def measure(reactor, lab: Lab, args):
    s = lab.s
    base = f"http://127.0.0.1:{s.pbx_ari_port}/"
    pbx_pid = lab.read_state().get("pids", {}).get("pbx")
    ws = yield connect_websocket(reactor, base, s.ari_username, s.ari_password)
    rows = []
    for rnd in range(args.rounds):
        for concurrency in args.concurrency:
            order = ["http", "websocket"] if rnd % 2 == 0 else ["websocket", "http"]
            for transport in order:
                if transport == "http":
                    rest = AriRest(base, s.ari_username, s.ari_password, reactor=reactor,
                                   max_in_flight=concurrency)

                    def send(method, path, params, rest=rest):
                        return rest.request(method, path, params)
                else:
                    rest = None

                    def send(method, path, params):
                        uri = path.lstrip("/")
                        if params:
                            uri += "?" + "&".join(f"{k}={v}" for k, v in params.items())
                        return ws.request(method, uri)
                cpu0, pbx0, t0 = _self_cpu(), _cpu_seconds(pbx_pid), time.perf_counter()
                latencies = yield run_pairs(send, args.pairs, concurrency,
                                            f"bt{rnd}{transport[0]}{concurrency}")
                seconds = time.perf_counter() - t0
                cpu, pbx = _self_cpu() - cpu0, _cpu_seconds(pbx_pid) - pbx0
                n = len(latencies)
                rows.append((transport, concurrency, rnd, n / seconds, statistics.median(latencies),
                             percentile(latencies, 99), 1e6 * cpu / n, 1e6 * pbx / n))
                print(fmt(rows[-1]), flush=True)
                if rest is not None:
                    yield rest.close()
    ws.sendClose()
    return rows


def fmt(r) -> str:
    transport, concurrency, rnd, rate, p50, p99, cpu_us, pbx_us = r
    name = "HTTP pool" if transport == "http" else "REST over WebSocket"
    return (f"| {name} | {concurrency} | {rnd + 1} | {rate:.0f} | {p50:.2f} ms | {p99:.2f} ms | "
            f"{cpu_us:.0f} µs | {pbx_us:.0f} µs |")


HEADER = ("| transport | in flight | round | requests/s | p50 | p99 | client CPU/request | "
          "Asterisk CPU/request |\n|---|---|---|---|---|---|---|---|")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=1000, help="create/delete bridge pairs per run")
    ap.add_argument("--concurrency", default="1,8,24", help="requests in flight, comma-separated")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    settings = bench_settings()
    lab = Lab(settings)
    lab.down()
    lab.up()
    print(f"lab 'bench' up; Asterisk: {lab.cli('pbx', 'core show version').strip()}")
    print(HEADER, flush=True)
    try:
        task.react(lambda reactor: measure(reactor, lab, args).addCallback(lambda _: None))
    except SystemExit as e:
        code = e.code
    finally:
        lab.down()
    return code or 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
