"""Wiring: ``make_service(config, reactor)`` builds the daemon; ``run(config)`` runs it.

What the daemon does today: it keeps the Stasis application registered over ARI and
hands every inbound call straight back to the dialplan's fallback ring group, so a call
rings somebody whether or not the daemon is up. Smart routing (owner first, then the
department, then the escalation chain) replaces that hand-off in the routing issue.
"""

from __future__ import annotations

from twisted.application.service import MultiService
from twisted.logger import Logger

from pbx_daemon.ari import AriError, AriRest, make_events_service
from pbx_daemon.logs import start_logging

log = Logger(namespace="pbx_daemon.service")

FALLBACK_CONTEXT = "pbxcrm-fallback"


class StasisHandoff:
    """ARI events in; every inbound call continues in the fallback context."""

    def __init__(self, rest: AriRest):
        self.rest = rest

    def on_event(self, event: dict) -> None:
        kind = event.get("type")
        channel = event.get("channel") or {}
        if kind != "StasisStart":
            log.debug("ARI {type} for {channel_id}", type=kind, channel_id=channel.get("id"))
            return
        args = event.get("args") or []
        call_id = channel.get("linkedid") or channel.get("id")
        log.info("inbound call {call_id} on {channel} to {dialled}: handing to the fallback group",
                 call_id=call_id, channel=channel.get("name"),
                 dialled=args[1] if len(args) > 1 else None)
        d = self.rest.continue_in_dialplan(channel["id"], FALLBACK_CONTEXT, "s")
        d.addErrback(self._failed, call_id)

    @staticmethod
    def _failed(failure, call_id):
        if failure.check(AriError) and failure.value.status == 404:
            log.info("call {call_id} hung up before it could be handed on", call_id=call_id)
            return None
        log.failure("handing call {call_id} back to the dialplan", failure, call_id=call_id)
        return None


def make_service(config, reactor) -> MultiService:
    ari = config.ari
    rest = AriRest(ari.url, ari.username, ari.password)
    handoff = StasisHandoff(rest)
    root = MultiService()
    events = make_events_service(reactor, ari.url, ari.username, ari.password, ari.app,
                                 handoff.on_event)
    events.setName("ari-events")
    events.setServiceParent(root)
    return root


def run(config) -> int:
    from twisted.internet import reactor

    start_logging(config.log.format, config.log.level)
    service = make_service(config, reactor)
    log.info("pbx-crm daemon starting: ARI {url} as {user}, app {app}",
             url=config.ari.url, user=config.ari.username, app=config.ari.app)
    reactor.callWhenRunning(service.startService)
    # Twisted turns SIGTERM/SIGINT into reactor.stop(); stop our services cleanly first.
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    log.info("pbx-crm daemon stopped")
    return 0
