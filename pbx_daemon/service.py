"""Wiring: ``make_service(config, reactor)`` builds the daemon; ``run(config)`` runs it.

The daemon keeps the Stasis application registered over ARI and routes every inbound
call: look the caller up (SQL, in a thread pool, under a deadline:
:mod:`pbx_daemon.telephony.routing.deadline`), plan the ring steps
(:mod:`pbx_daemon.telephony.routing.policy`), run them (:mod:`pbx_daemon.telephony.calls.inbound`,
fed by :mod:`pbx_daemon.telephony.stasis`), and store the call and its legs
(:mod:`pbx_daemon.telephony.outputs.store`).
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool
from twisted.web.server import Site

from pbx_daemon.db import make_engine, make_session_factory
from pbx_daemon.logs import start_logging
from pbx_daemon.telephony.api import ApiResource
from pbx_daemon.crm.greetings import greetings_dir
from pbx_daemon.telephony.ari.control import AriAfterHoursControl, AriCallControl
from pbx_daemon.telephony.ari.events import make_events_service
from pbx_daemon.telephony.ari.rest import AriRest
from pbx_daemon.telephony.click_to_call import prepare_click_to_call, prepare_phone_call
from pbx_daemon.telephony.fastagi import FastAGIFactory
from pbx_daemon.telephony.metrics import DaemonMetrics
from pbx_daemon.telephony.outputs.call_events import CallEvents
from pbx_daemon.telephony.outputs.screen_pop import RedisPublisher, ScreenPopNotifier
from pbx_daemon.telephony.outputs.store import SqlCallRecorder
from pbx_daemon.telephony.phones_file import PHONES_FILE
from pbx_daemon.telephony.phones_sync import PhonesSync, ari_reload, database_render
from pbx_daemon.telephony.reconcile import Reconciler
from pbx_daemon.telephony.reconcile_service import ReconcileService
from pbx_daemon.telephony.routing.agi_plan import plan_variables
from pbx_daemon.telephony.routing.deadline import plan_within
from pbx_daemon.telephony.routing.lookup import look_up
from pbx_daemon.telephony.feature_codes import sql_set_dnd
from pbx_daemon.telephony.presence import POLL_INTERVAL as PRESENCE_POLL, ari_presence
from pbx_daemon.telephony.routing.policy import StepTimeouts
from pbx_daemon.telephony.stasis import StasisApp
from pbx_daemon.telephony.trunk import TrunkDialing
from pbx_daemon.crm.stats.report_send import parse_send_at
from pbx_daemon.telephony.sweep import INTERVAL as SWEEP_INTERVAL
from pbx_daemon.crm.escalation import CHECK_INTERVAL as ESCALATION_INTERVAL
from pbx_daemon.crm.outbox.store import INTERVAL as OUTBOX_INTERVAL

log = Logger(namespace="pbx_daemon.service")


class ListeningService(Service):
    """Listen on a server endpoint; if that fails, say so in one line and stop the daemon
    (a daemon without its API or FastAGI port would look alive and do half its job)."""

    def __init__(self, reactor, description: str, what: str, factory):
        self.reactor = reactor
        self.description = description
        self.what = what
        self.factory = factory
        self.port = None
        self.failed = False

    def startService(self):
        super().startService()
        d = serverFromString(self.reactor, self.description).listen(self.factory)

        def listening(port):
            self.port = port

        def cannot(failure):
            self.failed = True
            log.critical("cannot listen for {what} on {description}: {reason}; is another pbx-crm "
                         "daemon running? stopping", what=self.what, description=self.description,
                         reason=failure.getErrorMessage())
            if self.reactor.running:
                self.reactor.stop()
            else:
                self.reactor.callWhenRunning(self.reactor.stop)

        d.addCallbacks(listening, cannot)
        return d

    def stopService(self):
        super().stopService()
        if self.port is not None:
            return self.port.stopListening()
        return None


class CallbackService(Service):
    """Runs ``stop()`` when the daemon stops (and ``start()`` when it starts, if given)."""

    def __init__(self, *, stop, start=None):
        self.stop = stop
        self.start = start

    def startService(self):
        super().startService()
        if self.start is not None:
            self.start()

    def stopService(self):
        super().stopService()
        return self.stop()


class ThreadPoolService(Service):
    """Starts a thread pool with the daemon; stopping waits at most ``grace`` seconds.

    SIGTERM must stop the daemon within 3 s whatever it does, but a worker may be inside a
    database call that waits for a lock (SQLite's busy timeout is 15 s). The pool's threads
    are daemon threads and the stop is bounded: a write cut off this way is an uncommitted
    transaction, rolled back by the database, and the call it belonged to is completed from
    CEL at the next start (reconciliation)."""

    def __init__(self, pool: ThreadPool, reactor=None, grace: float = 1.5):
        self.pool = pool
        self.grace = grace
        self.reactor = reactor
        self.stopper: threading.Thread | None = None
        pool.threadFactory = _daemon_thread

    def startService(self):
        super().startService()
        self.pool.start()

    def stopService(self):
        super().stopService()
        if self.reactor is None:
            self.pool.stop()
            return None
        self.stopper = stopper = threading.Thread(target=self.pool.stop, daemon=True,
                                                  name=f"stop-{self.pool.name}")
        stopper.start()
        done = Deferred()
        deadline = self.reactor.seconds() + self.grace

        def check():
            if not stopper.is_alive():
                done.callback(None)
            elif self.reactor.seconds() >= deadline:
                log.warn("thread pool {name} still busy after {grace} s (a database call "
                         "waiting?); stopping without it", name=self.pool.name, grace=self.grace)
                done.callback(None)
            else:
                self.reactor.callLater(0.05, check)

        check()
        return done


def _daemon_thread(*args, **kwargs) -> threading.Thread:
    return threading.Thread(*args, daemon=True, **kwargs)


# How often the daemon checks whether the daily report is due (report.send_at).
REPORT_CHECK_INTERVAL = 30


def _report_sender(config, sessions, reactor, send_at):
    """The daily report by e-mail at ``send_at``, once a day (crm.stats.report_send)."""
    from pbx_daemon.crm.stats.report import build_daily, send_mail
    from pbx_daemon.crm.stats.report_send import ReportSender

    r = config.report
    recipients = [x.strip() for x in r.mail_to.split(",") if x.strip()]

    def send(session, day):
        report = build_daily(session, day, config.general.timezone, r.recovered_within_minutes)
        send_mail(report, host=r.smtp_host, port=r.smtp_port, starttls=r.smtp_starttls,
                  user=r.smtp_user, password=r.smtp_password, sender=r.mail_from,
                  recipients=recipients)

    return ReportSender(sessions, tz=config.general.timezone, send_at=send_at,
                        recipients=r.mail_to, send=send, clock=reactor.seconds)


def _escalator(config, sessions, reactor):
    """Overdue missed-call tasks to the department's head (crm.escalation)."""
    from pbx_daemon.crm.escalation import Escalator

    r = config.report
    return Escalator(sessions, after_minutes=config.inquiries.escalate_after_minutes, clock=reactor.seconds,
                     tz=config.general.timezone, mail=bool(r.smtp_host and r.mail_from))


def _outbox(config, sessions, reactor):
    """The e-mail outbox (crm.outbox) sent through ``report.smtp_*``; None when
    ``report.smtp_host`` or ``mail_from`` is not set (nothing is queued then)."""
    from pbx_daemon.crm.outbox.store import Outbox
    from pbx_daemon.crm.stats.report import smtp_send

    r = config.report
    if not (r.smtp_host and r.mail_from):
        return None

    def send_email(message):
        smtp_send(message, host=r.smtp_host, port=r.smtp_port, starttls=r.smtp_starttls,
                  user=r.smtp_user, password=r.smtp_password)

    return Outbox(sessions, send_email, mail_from=r.mail_from, clock=reactor.seconds)


def _log_mails(attempts, metrics) -> None:
    """One line (and one count) per outbox e-mail tried; on the reactor."""
    for a in attempts:
        metrics.mail_attempted(a.kind, a.status)
        if a.status == "sent":
            log.info("{kind} e-mail {mail_id} to {to} sent (attempt {attempts})", kind=a.kind,
                     mail_id=a.mail_id, to=a.recipient, attempts=a.attempts)
        elif a.status == "pending":
            log.warn("{kind} e-mail {mail_id} to {to} not sent (attempt {attempts}): {error}; "
                     "next try at {next_attempt_at}", kind=a.kind, mail_id=a.mail_id, to=a.recipient,
                     attempts=a.attempts, error=a.error, next_attempt_at=a.next_attempt_at.isoformat())
        else:
            log.warn("{kind} e-mail {mail_id} to {to} given up after {attempts} attempts: {error}",
                     kind=a.kind, mail_id=a.mail_id, to=a.recipient, attempts=a.attempts, error=a.error)


def _webhook_sender(config, sessions, reactor, pool, metrics=None):
    """The webhooks' events POSTed to their URLs (crm.webhooks), its SQL on ``pool``; old
    events deleted after ``webhooks.keep_days`` (counted in ``metrics``)."""
    from datetime import timedelta

    from pbx_daemon.telephony.outputs.webhooks import WebhookSender, treq_post
    from pbx_daemon.crm.webhooks.store import WebhookStore

    w = config.webhooks
    store = WebhookStore(sessions, config.admin.public_url, max_interval=w.retry_max_interval,
                         give_up=timedelta(hours=w.give_up_hours))
    return WebhookSender(store, lambda fn: deferToThreadPool(reactor, pool, fn),
                         treq_post(reactor, w.timeout), reactor, interval=w.poll_interval,
                         keep_days=w.keep_days,
                         pruned=metrics.webhooks_pruned if metrics is not None else None)


def _lookup(sessions, pool: ThreadPool, reactor, region: str, tz: str = "UTC"):
    """``lookup(caller_raw, dialled, busy, now)`` -> Deferred (caller, directory), run in
    ``pool`` (routing.deadline bounds it). ``tz``: check working hours (the daemon only)."""
    def lookup(caller_raw, dialled, busy, now):
        def job():
            with sessions() as session:
                return look_up(session, caller_raw, dialled, now, region, busy, tz, hours=True)
        return deferToThreadPool(reactor, pool, job)
    return lookup


# A number nobody has (+7 000...: no Russian number starts with 0) for the warm-up lookup.
WARM_UP_NUMBER = "+70000000000"


def _every(root: MultiService, reactor, seconds: float, name: str, fn) -> None:
    """``fn()`` every ``seconds`` on ``reactor`` (first at start) while ``root`` runs."""
    timer = TimerService(seconds, fn)
    timer.clock = reactor
    timer.setName(name)
    timer.setServiceParent(root)


def _warm_up(lookup, reactor, dialled: str = "") -> Service:
    """One lookup of :data:`WARM_UP_NUMBER` when the service starts: a process's first
    lookup pays for what is done lazily once (SQLAlchemy compiling its statements, the
    phone-number metadata, the holiday calendar), about 5 times a warm one, and on a loaded
    box that first real call then missed the routing deadline and went to the fallback
    group. A failure (the database away) is only logged: the first call then tries again."""
    def start():
        started = reactor.seconds()
        now = datetime.fromtimestamp(started, timezone.utc)
        d = lookup(WARM_UP_NUMBER, dialled, frozenset(), now)
        d.addCallback(lambda _: log.info("lookup warmed up in {ms} ms",
                                         ms=round((reactor.seconds() - started) * 1000)))
        d.addErrback(lambda f: log.warn("warm-up lookup failed: {error}", error=f.getErrorMessage()))
    return CallbackService(start=start, stop=lambda: None)


def make_standby_agi_service(config, reactor) -> MultiService:
    """``pbx-crm agi-server``: FastAGI on ``agi.standby_listen`` with the daemon's route
    decision (same lookup, deadline and plan; no phone is known busy), in its own process.
    The dialplan asks it when the daemon's own FastAGI is refused (the daemon is stopped or
    restarting): a routed call then costs a TCP round trip and a lookup, not the ~0.6 s
    Python start-up of the process AGI script, which stays the last resort."""
    root = MultiService()
    sessions = make_session_factory(make_engine(config.database.url))
    pool = ThreadPool(minthreads=1, maxthreads=8, name="lookup")
    ThreadPoolService(pool, reactor).setServiceParent(root)
    lookup = _lookup(sessions, pool, reactor, config.general.default_region,
                     config.general.timezone)
    _warm_up(lookup, reactor).setServiceParent(root)
    r = config.routing
    timeouts, deadline = StepTimeouts.from_config(r), r.lookup_deadline_ms / 1000.0

    def route(caller_raw, dialled):
        d = plan_within(lookup, reactor, deadline, timeouts, caller_raw, dialled, frozenset())
        d.addCallback(lambda routed: plan_variables(routed[1]))
        return d

    agi = ListeningService(reactor, config.agi.standby_listen,
                           "the standby FastAGI (agi.standby_listen)", FastAGIFactory(route))
    agi.setName("fastagi-standby")
    agi.setServiceParent(root)
    return root


def make_service(config, reactor) -> MultiService:
    root = MultiService()
    engine = make_engine(config.database.url)
    sessions = make_session_factory(engine)
    # Lookups in parallel; writes on one thread so a call's rows land in order.
    lookup_pool = ThreadPool(minthreads=1, maxthreads=8, name="lookup")
    store_pool = ThreadPool(minthreads=1, maxthreads=1, name="store")
    # SMTP (the daily report, the e-mail outbox) on a thread of its own: a mail server that
    # drops packets holds a send for its whole timeout, and the store thread writes calls.
    mail_pool = ThreadPool(minthreads=0, maxthreads=1, name="mail")
    for pool in (lookup_pool, store_pool, mail_pool):
        ThreadPoolService(pool, reactor).setServiceParent(root)

    region = config.general.default_region
    lookup = _lookup(sessions, lookup_pool, reactor, region, config.general.timezone)
    _warm_up(lookup, reactor).setServiceParent(root)

    metrics = DaemonMetrics(reactor)
    ari = config.ari
    rest = AriRest(ari.url, ari.username, ari.password, reactor=reactor,
                   observe=metrics.ari_request_took)
    CallbackService(stop=rest.close).setServiceParent(root)
    r = config.routing
    timeouts = StepTimeouts.from_config(r)
    deadline = r.lookup_deadline_ms / 1000.0
    recorder = SqlCallRecorder(sessions, lambda fn: deferToThreadPool(reactor, store_pool, fn),
                               config.inquiries.callback_deadline_minutes,
                               spool_dir=config.asterisk.recording_dir,
                               store_dir=config.recordings.dir, clock=reactor,
                               tz=config.general.timezone)
    # Screen-pop: every call event also goes to Redis (fire and forget; calls never wait).
    publisher = RedisPublisher(config.redis.url, reactor)
    publisher.setName("redis")
    publisher.setServiceParent(root)
    notifier = ScreenPopNotifier(publisher, reactor)
    events = CallEvents(recorder, notifier, metrics)
    c2c = config.click_to_call

    def phone_check(endpoint, dialled, now):
        """A desk phone dialled: an extension or a client (click-to-call's rules)."""
        def job():
            with sessions() as session:
                return prepare_phone_call(
                    session, endpoint=endpoint, dialled=dialled, now=now, region=region,
                    default_area_code=config.general.default_area_code,
                    company_caller_id=config.general.company_caller_id,
                    ring_timeout=c2c.client_timeout)
        return deferToThreadPool(reactor, lookup_pool, job)

    trunk = TrunkDialing.from_config(config)
    def set_dnd(endpoint, on):
        """*78 / *79 from a desk phone (on the store thread: a write)."""
        def job():
            with sessions() as session:
                return sql_set_dnd(session, endpoint, on)
        return deferToThreadPool(reactor, store_pool, job)

    app = StasisApp(
        app=ari.app, rest=rest, control=AriCallControl(rest, ari.app, r.blocked_action, trunk),
        recorder=events, clock=reactor, lookup=lookup, timeouts=timeouts, deadline=deadline,
        phone_check=phone_check, observe_routing=metrics.routing_decided,
        trunk=trunk,
        after_hours_control=AriAfterHoursControl(rest, str(greetings_dir(config))),
        list_endpoints=ari_presence(rest), set_dnd=set_dnd,
    )
    # Lost events and failed hang-ups are found within seconds (ghost legs, busy phones).
    _every(root, reactor, SWEEP_INTERVAL, "sweep", app.sweep_once)
    # The phones file follows the employee records: rewritten on every ARI (re)connection
    # (start-up included; an owed reload is paid) and when the admin asks (POST /v1/phones/sync).
    phones = PhonesSync(database_render(sessions), Path(config.asterisk.etc_dir) / PHONES_FILE,
                        ari_reload(rest), lambda fn: deferToThreadPool(reactor, lookup_pool, fn))

    # Which phones are registered and which are on a call (pbx_daemon.telephony.presence).
    _every(root, reactor, PRESENCE_POLL, "presence", app.refresh_presence)

    def on_ari_connect():
        phones.sync().addErrback(lambda f: None)  # logged by PhonesSync
        return app.on_connect()

    ari_events = make_events_service(reactor, ari.url, ari.username, ari.password, ari.app,
                                     app.on_event, on_connect=on_ari_connect,
                                     on_disconnect=app.on_disconnect)
    ari_events.setName("ari-events")
    ari_events.setServiceParent(root)

    def fastagi_route(caller_raw, dialled):
        d = plan_within(lookup, reactor, deadline, timeouts, caller_raw, dialled,
                        app.routing_skips(), metrics.routing_decided)
        d.addCallback(lambda routed: plan_variables(routed[1]))
        return d

    def live_call_ids() -> frozenset[str]:
        """The calls the daemon holds right now, which reconcile leaves to it: inbound,
        click-to-call and desk-phone calls by call id (the linkedid), and the channels of
        connected calls re-adopted after a restart (an inbound call's trunk channel id is
        its linkedid)."""
        # And the calls whose writes still wait in the store's queue (the database was
        # away): reconcile must not complete a row the store is about to.
        return (frozenset(app.calls) | frozenset(app.outbound.calls)
                | frozenset(app.phone.calls) | frozenset(app.adopted)
                | recorder.queue.call_ids())

    # Reconcile from CEL on a thread of its own, not the store's (it can run for minutes on
    # a first start); stopping sets its stop flag first (pbx_daemon.telephony.reconcile_service).
    reconcile_pool = ThreadPool(minthreads=0, maxthreads=1, name="reconcile")
    reconciler = ReconcileService(
        reactor, Reconciler(
            sessions, config.asterisk.cel_log, recordings_dir=config.asterisk.recording_dir,
            store_dir=config.recordings.dir, region=region,
            callback_deadline_minutes=config.inquiries.callback_deadline_minutes,
            horizon_hours=config.asterisk.reconcile_horizon_hours,
            stale_missed_tasks=config.inquiries.stale_missed_tasks, tz=config.general.timezone,
            trunk_endpoint=config.trunk.endpoint),
        interval=config.asterisk.reconcile_interval, live_call_ids=live_call_ids,
        to_thread=lambda fn: deferToThreadPool(reactor, reconcile_pool, fn),
        on_start=reconcile_pool.start, on_stop=reconcile_pool.stop)
    reconciler.setName("reconcile")
    metrics.watch(rest=rest, queue=recorder.queue, app=app, reconcile=reconciler,
                  publisher=publisher, phones=phones)
    reconciler.setServiceParent(root)
    root.reconcile_once = reconciler.run_once

    def refresh_stats():
        from pbx_daemon.crm.stats.rollup import refresh

        def job():
            with sessions() as session:
                return refresh(session, config.general.timezone)

        # On the store thread: with SQLite it is the one writer anyway.
        d = deferToThreadPool(reactor, store_pool, job)
        d.addCallback(lambda days: days and log.debug(
            "analytics rollup rebuilt for {count} days ({days})", count=len(days),
            days=", ".join(map(str, days[:5])) + (" ..." if len(days) > 5 else "")))
        d.addErrback(lambda f: log.failure("rebuilding the analytics rollup", f))
        return d

    if config.report.stats_refresh_interval > 0:
        _every(root, reactor, config.report.stats_refresh_interval, "stats", refresh_stats)
    root.refresh_stats = refresh_stats

    send_at = parse_send_at(config.report.send_at)
    if send_at is not None:
        report_sender = _report_sender(config, sessions, reactor, send_at)

        def send_report():
            d = deferToThreadPool(reactor, mail_pool, report_sender.tick)
            d.addCallback(lambda day: day and log.info(
                "daily report for {day} sent to {to}", day=str(day), to=config.report.mail_to))
            d.addErrback(lambda f: log.failure("sending the daily report", f))
            return d

        _every(root, reactor, REPORT_CHECK_INTERVAL, "daily-report", send_report)

    # The escalation e-mails wait in the outbox (mail_outbox) until the SMTP server takes
    # them; it is sent after each escalation tick and every OUTBOX_INTERVAL, on the mail
    # thread, also when escalation has been switched off since (what is queued is owed).
    outbox = _outbox(config, sessions, reactor)
    if outbox is not None:
        def send_mails():
            d = deferToThreadPool(reactor, mail_pool, outbox.tick)
            d.addCallback(_log_mails, metrics)
            d.addErrback(lambda f: log.failure("sending the e-mail outbox", f))
            return d

        _every(root, reactor, OUTBOX_INTERVAL, "mail-outbox", send_mails)
        root.send_mails = send_mails

    if config.inquiries.escalate_after_minutes > 0:
        escalator = _escalator(config, sessions, reactor)

        def told(escalations):
            for e in escalations:  # on the reactor: the publisher's thread
                log.info("task {task_id} overdue {minutes} min: escalated to employee {head_id}{mail}",
                         task_id=e.task_id, minutes=e.overdue_minutes, head_id=e.head_id,
                         mail=" (e-mail queued)" if e.mail_queued else "")
                metrics.task_escalated()
                notifier.escalated(e.task_id, e.head_id, title=e.title, responsible=e.responsible,
                                   phone=e.phone, overdue_minutes=e.overdue_minutes)

        def escalate():
            d = deferToThreadPool(reactor, store_pool, escalator.tick)
            d.addCallback(told)
            d.addErrback(lambda f: log.failure("escalating overdue missed-call tasks", f))
            if outbox is not None:  # the new escalations' e-mails leave at once
                d.addCallback(lambda _: send_mails())
            return d

        _every(root, reactor, ESCALATION_INTERVAL, "escalation", escalate)
        root.escalate = escalate

    root.webhooks = _webhook_sender(config, sessions, reactor, lookup_pool, metrics)
    root.webhooks.setName("webhooks")
    root.webhooks.setServiceParent(root)

    def prepare(body):
        now = datetime.fromtimestamp(reactor.seconds(), timezone.utc)
        busy = app.busy_endpoints()

        def job():
            with sessions() as session:
                return prepare_click_to_call(
                    session, employee=body.get("employee"), number=body.get("number"),
                    card=body.get("card"), now=now, region=region,
                    default_area_code=config.general.default_area_code, busy_endpoints=busy,
                    company_caller_id=config.general.company_caller_id,
                    employee_timeout=c2c.employee_timeout, client_timeout=c2c.client_timeout)
        return deferToThreadPool(reactor, lookup_pool, job)

    api = ListeningService(reactor, config.api.listen, "the HTTP API (api.listen)",
                           Site(ApiResource(config.api.token, app, prepare, metrics, phones)))
    api.setName("api")
    api.setServiceParent(root)

    agi = ListeningService(reactor, config.agi.listen, "FastAGI (agi.listen)",
                           FastAGIFactory(fastagi_route))
    agi.setName("fastagi")
    agi.setServiceParent(root)
    root.stasis = app
    root.metrics = metrics
    root.phones = phones
    return root


def run(config, standby_agi: bool = False) -> int:
    """Run the daemon (or, ``standby_agi``, the standby FastAGI server) until SIGTERM."""
    from twisted.internet import reactor

    start_logging(config.log.format, config.log.level)
    if standby_agi:
        service = make_standby_agi_service(config, reactor)
        log.info("pbx-crm agi-server starting on {listen}", listen=config.agi.standby_listen)
    else:
        service = make_service(config, reactor)
        log.info("pbx-crm daemon starting: ARI {url} as {user}, app {app}",
                 url=config.ari.url, user=config.ari.username, app=config.ari.app)
    reactor.callWhenRunning(service.startService)
    # Twisted turns SIGTERM/SIGINT into reactor.stop(); stop our services cleanly first.
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    if standby_agi:
        log.info("pbx-crm agi-server stopped")
    else:
        log.info("pbx-crm daemon stopped")
    failed = [s for s in service if isinstance(s, ListeningService) and s.failed]
    return 1 if failed else 0
