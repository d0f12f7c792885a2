"""Serve the admin: Twisted's HTTP server, Flask in a thread pool behind Twisted's WSGI
container, and the screen-pop stream (:mod:`admin.stream`) natively on the reactor, so an
open screen-pop page costs a socket, not a thread. Loopback by default."""

from __future__ import annotations

from twisted.logger import Logger
from twisted.web.resource import Resource

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

    app = create_app(config)
    sessions = db.make_session_factory(db.make_engine(config.database.url))

    def lookup_active(employee_id):
        def job():
            with sessions() as s:
                e = s.get(models.Employee, employee_id)
                return e.id if e is not None and e.active else None
        return deferToThreadPool(reactor, pool, job)

    def still_active(employee_ids):
        def job():
            from sqlalchemy import select

            with sessions() as s:
                return list(s.scalars(select(models.Employee.id).where(
                    models.Employee.id.in_(employee_ids), models.Employee.active.is_(True))))
        return deferToThreadPool(reactor, pool, job)

    hub = ScreenPopHub()
    stream = StreamResource(hub, flask_session_authenticator(app, lookup_active))
    site = Site(Root(WSGIResource(reactor, pool, app), stream))
    site.noisy = False
    subscription = start_redis_subscription(hub, config.redis.url, reactor, still_active)
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
