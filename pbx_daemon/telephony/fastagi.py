"""FastAGI server: the same route lookup as the process AGI script, served by the daemon.

Wire protocol (Asterisk's AGI over TCP, one connection per AGI() call):

    Asterisk -> us   "agi_<name>: <value>\\n" lines (agi_network_script, agi_callerid,
                     agi_arg_1, ...), then an empty line
    us -> Asterisk   one command a line, e.g. 'SET VARIABLE PBXCRM_STEPS "3"\\n'
    Asterisk -> us   "200 result=1\\n" for each command (or "5xx ..." on error)
    us               close the connection: AGI() returns and the dialplan goes on

The dialplan calls ``AGI(agi://127.0.0.1:4573/route,<dialled>)`` when Stasis() failed but
the daemon may still be up (its ARI connection is reconnecting): it is much faster than
starting a Python process. When the daemon is down the connection is refused at once and
the dialplan moves on to the process script. Loopback only, like everything
Asterisk-facing.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver

log = Logger(namespace="pbx_daemon.fastagi")


class FastAGIProtocol(LineOnlyReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 8192

    def connectionMade(self) -> None:
        self.env: dict[str, str] = {}
        self.reading_env = True
        self.waiting: Deferred | None = None
        self.commands: list[str] = []

    def lineReceived(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r")
        if self.reading_env:
            if text == "":
                self.reading_env = False
                self._start()
                return
            key, _, value = text.partition(":")
            self.env[key.strip()] = value.strip()
            return
        if self.waiting is not None:
            waiting, self.waiting = self.waiting, None
            waiting.callback(text)
        elif text.startswith("HANGUP"):
            # Asterisk tells us the channel hung up; nothing to wait for.
            self.transport.loseConnection()

    def lineLengthExceeded(self, line: bytes) -> None:
        log.warn("FastAGI line too long; closing")
        self.transport.loseConnection()

    def _start(self) -> None:
        script = self.env.get("agi_network_script", "")
        if script != "route":
            log.warn("FastAGI: unknown script {script!r}", script=script[:40])
            self.transport.loseConnection()
            return
        caller = self.env.get("agi_callerid", "")
        dialled = self.env.get("agi_arg_1") or self.env.get("agi_extension", "")
        d = self.factory.route(caller, dialled)
        d.addCallback(self._send_all)
        d.addErrback(self._failed, caller)
        d.addBoth(lambda _: self.transport.loseConnection())

    @staticmethod
    def _failed(failure, caller: str) -> None:
        # Either way no PBXCRM_ROUTE is set and the dialplan goes on to its next way.
        if failure.check(TimeoutError):
            log.warn("FastAGI route for {caller!r}: no plan within the routing deadline; "
                     "the dialplan goes on without one", caller=caller[:40])
        else:
            log.failure("FastAGI route for {caller!r}", failure, caller=caller[:40])

    def _send_all(self, variables: list[tuple[str, str]]):
        self.commands = [f'SET VARIABLE {name} "{value}"' for name, value in variables]
        return self._send_next(None)

    def _send_next(self, response: str | None):
        if response is not None and not response.startswith("200"):
            raise RuntimeError(f"Asterisk refused an AGI command: {response[:80]!r}")
        if not self.commands:
            return None
        command = self.commands.pop(0)
        self.waiting = Deferred()
        self.waiting.addCallback(self._send_next)
        self.sendLine(command.encode())
        return self.waiting


class FastAGIFactory(Factory):
    protocol = FastAGIProtocol
    noisy = False

    def __init__(self, route: Callable[[str, str], Deferred]):
        """``route(caller, dialled)`` -> Deferred list of (variable, value)."""
        self.route = route
