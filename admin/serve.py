"""Serve the admin with Twisted's WSGI container: a thread pool runs Flask, the reactor
serves HTTP on the configured endpoint (loopback by default)."""

from __future__ import annotations

from twisted.logger import Logger

from pbx_daemon.logs import start_logging

log = Logger(namespace="admin.serve")


def run(config) -> int:
    from twisted.internet import reactor
    from twisted.internet.endpoints import serverFromString
    from twisted.python.threadpool import ThreadPool
    from twisted.web.server import Site
    from twisted.web.wsgi import WSGIResource

    from admin.app import create_app

    start_logging(config.log.format, config.log.level)
    app = create_app(config)
    pool = ThreadPool(minthreads=2, maxthreads=16, name="admin-wsgi")
    reactor.callWhenRunning(pool.start)
    reactor.addSystemEventTrigger("after", "shutdown", pool.stop)
    site = Site(WSGIResource(reactor, pool, app))
    d = serverFromString(reactor, config.admin.listen).listen(site)
    d.addCallback(lambda port: log.info("admin listening on {addr}; open {url}",
                                        addr=port.getHost(), url=config.admin.public_url))

    def cannot_listen(failure):
        log.failure("admin cannot listen on {listen}", failure, listen=config.admin.listen)
        reactor.stop()

    d.addErrback(cannot_listen)
    reactor.run()
    return 0
