"""Serve the admin: Twisted's HTTP server, Flask in a thread pool behind Twisted's WSGI
container, and the screen-pop stream (:mod:`admin.stream`) natively on the reactor, so an
open screen-pop page costs a socket, not a thread. Loopback by default.

Request bodies are capped (``admin.max_request_bytes``) here, before anything reads them:
Twisted would otherwise spool any body to a temporary file before the request reaches
Flask's login check.
"""

from __future__ import annotations

import io

from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request

from pbx_daemon.logs import start_logging

log = Logger(namespace="admin.serve")
STREAM_PATH = b"/screen-pop/stream"


class Root(Resource):
    """``/screen-pop/stream`` to the stream, every other path to Flask (with the path
    segment Twisted consumed put back, so Flask sees the whole path)."""

    def __init__(self, wsgi, stream):
        super().__init__()
        self.wsgi = wsgi
        self.stream = stream

    def getChildWithDefault(self, name, request):
        if request.path == STREAM_PATH:
            return self.stream
        request.postpath.insert(0, request.prepath.pop())
        return self.wsgi


class LimitedRequest(Request):
    """A :class:`~twisted.web.server.Request` that refuses a body over ``max_body`` bytes
    with 413 and closes the connection: a declared ``Content-Length`` before a byte of it
    is read, a chunked body as soon as it passes the cap. Nothing is spooled to disk."""

    max_body = 24 * 1024 * 1024
    _refused = False

    def gotLength(self, length):
        self._received = 0
        if length is not None and length > self.max_body:
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self._refused:
            return
        self._received += len(data)
        if self._received > self.max_body:
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        if self._refused:
            return  # answered already; the connection is closing
        super().requestReceived(command, path, version)

    def _refuse(self):
        self._refused = True
        self.content = io.BytesIO()
        body = f"request body over {self.max_body} bytes\n".encode()
        self.channel.transport.write(
            b"HTTP/1.1 413 Content Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.channel.loseConnection()


def limited_request(max_body: int) -> type[LimitedRequest]:
    """A :class:`LimitedRequest` class with its cap, for ``Site.requestFactory``."""
    return type("LimitedRequest", (LimitedRequest,), {"max_body": max_body})


def make_site(config, reactor, pool):
    """The admin's Site, for ``run`` and for tests that serve it in-process."""
    from twisted.internet.threads import deferToThreadPool
    from twisted.web.server import Site
    from twisted.web.wsgi import WSGIResource

    from admin.app import create_app
    from admin.stream import ScreenPopHub, StreamResource, flask_session_authenticator, \
        start_redis_subscription
    from pbx_daemon import db
    from pbx_daemon.crm import models

    app = create_app(config, clock=reactor)
    sessions = db.make_session_factory(db.make_engine(config.database.url))

    def session_nonces(employee_ids):
        """{employee id: session nonce} of those still active."""
        def job():
            from sqlalchemy import select

            with sessions() as s:
                return dict(s.execute(select(models.Employee.id, models.Employee.session_nonce).where(
                    models.Employee.id.in_(employee_ids), models.Employee.active.is_(True))).all())
        return deferToThreadPool(reactor, pool, job)

    hub = ScreenPopHub(max_per_employee=config.admin.max_streams_per_user)
    stream = StreamResource(hub, flask_session_authenticator(app, session_nonces))
    site = Site(Root(WSGIResource(reactor, pool, app), stream))
    site.requestFactory = limited_request(config.admin.max_request_bytes)
    site.noisy = False
    subscription = start_redis_subscription(hub, config.redis.url, reactor, session_nonces)
    return site, hub, subscription


def run(config) -> int:
    from twisted.internet import reactor
    from twisted.internet.endpoints import serverFromString
    from twisted.python.threadpool import ThreadPool

    start_logging(config.log.format, config.log.level)
    pool = ThreadPool(minthreads=2, maxthreads=16, name="admin-wsgi")
    reactor.callWhenRunning(pool.start)
    reactor.addSystemEventTrigger("after", "shutdown", pool.stop)
    site, _hub, _subscription = make_site(config, reactor, pool)
    d = serverFromString(reactor, config.admin.listen).listen(site)
    d.addCallback(lambda port: log.info("admin listening on {addr}; open {url}",
                                        addr=port.getHost(), url=config.admin.public_url))

    def cannot_listen(failure):
        log.failure("admin cannot listen on {listen}", failure, listen=config.admin.listen)
        reactor.stop()

    d.addErrback(cannot_listen)
    reactor.run()
    return 0
