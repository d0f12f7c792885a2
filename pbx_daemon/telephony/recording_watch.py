"""Hands each answered call's recording to the store once Asterisk has closed the file.

A bridge recording ends when the bridge is destroyed; Asterisk then sends
``RecordingFinished`` with the recording's name, and the file is complete in its spool.
It usually comes within milliseconds, but not always when the bridge is destroyed as
the recording stops (seen on the lab, about 1 call in 15). So once an answered call is
over we also ask, every 2 s and at most 5 times, whether the recording is still live,
and attach it once it is not. Whichever comes first attaches it; the other does nothing.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

log = Logger(namespace="pbx_daemon.stasis")

CHECK_DELAY = 2.0  # seconds after an answered call ends, and between checks
CHECKS = 5


class RecordingWatch:
    """``is_live(name)`` -> Deferred[bool] (ARI's live recordings);
    ``attach(name)`` -> Deferred (the recorder's ``recording_finished``)."""

    def __init__(self, clock: IReactorTime, is_live: Callable[[str], Deferred],
                 attach: Callable[[str], Deferred]):
        self.clock = clock
        self.is_live = is_live
        self.attach = attach
        self.pending: set[str] = set()  # answered calls over, recording not attached

    def finished(self, name: str) -> Deferred:
        """Asterisk closed recording ``name`` (RecordingFinished): attach it."""
        self.pending.discard(name)
        return self.attach(name)

    def expect(self, name: str) -> None:
        """The answered call recorded as ``name`` is over: its recording is due."""
        self.pending.add(name)
        self.clock.callLater(CHECK_DELAY, self._check, name, CHECKS)

    def _check(self, name: str, tries: int) -> None:
        if name not in self.pending:
            return  # RecordingFinished came

        def checked(live):
            if live:
                if tries > 1:
                    self.clock.callLater(CHECK_DELAY, self._check, name, tries - 1)
                else:
                    log.warn("recording {name} still live long after its call ended", name=name)
                    self.pending.discard(name)
            elif name in self.pending:
                log.info("recording {name}: no RecordingFinished from Asterisk; attaching it",
                         name=name)
                self.finished(name)

        def failed(failure):
            self.pending.discard(name)
            log.failure("checking recording {name}", failure, name=name)

        self.is_live(name).addCallbacks(checked, failed)
