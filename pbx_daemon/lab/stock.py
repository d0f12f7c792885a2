"""A customer's box in the lab root: a third Asterisk that runs Debian's own
``/etc/asterisk`` (as the asterisk-config package ships it), for trying
``pbx-crm asterisk install`` on a configuration nobody at pbx-crm wrote.

The only change to the stock files is ``asterisk.conf``'s ``[directories]`` (made a plain
category, as Debian ships it as a template that Asterisk skips): the instance
keeps its configuration, logs, spool, run and database files under its own directory, so
it runs beside the lab's PBX and world in the same root. Modules autoload as shipped (the
stock manager, IAX2 and the like bind their usual ports; nothing else in the lab uses
them).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

from pbx_daemon.lab.processes import asterisk_rx, running, start_asterisk, wait_gone
from pbx_daemon.lab.settings import LabError

# asterisk.conf [directories] entries moved into the instance.
_MOVED = ("astetcdir", "astcachedir", "astvarlibdir", "astdbdir", "astkeydir", "astspooldir",
          "astrundir", "astlogdir")


class StockPbx:
    """Debian's stock Asterisk as a customer runs it, at ``/srv/pbx-crm-lab/<name>``."""

    def __init__(self, root: Path, name: str = "stock"):
        if not re.match(r"^[a-z0-9-]{1,20}$", name):
            raise LabError(f"stock instance name {name!r}: lowercase letters, digits and '-'")
        self.root = root
        self.inside = f"/srv/pbx-crm-lab/{name}"
        self.dir = root / self.inside.lstrip("/")
        self.pid: int | None = None

    @property
    def etc(self) -> Path:
        return self.dir / "etc"

    @property
    def log_dir(self) -> Path:
        return self.dir / "log"

    @property
    def spool_dir(self) -> Path:
        return self.dir / "spool"

    @property
    def conf_arg(self) -> str:
        return f"{self.inside}/etc/asterisk.conf"

    def path_inside(self, path: Path) -> str:
        """``path`` (under the root) as Asterisk inside the root sees it."""
        return "/" + str(path.relative_to(self.root))

    def prepare(self) -> None:
        """A fresh copy of the root's stock ``/etc/asterisk``."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.copytree(self.root / "etc/asterisk", self.etc, symlinks=True)
        conf = self.etc / "asterisk.conf"
        # Debian ships [directories](!): a template, which Asterisk's own reader skips (the
        # compiled-in paths apply). A plain category makes the paths below count.
        text = re.sub(r"^\[directories\]\(!\)", "[directories]", conf.read_text(), count=1, flags=re.M)
        for key in _MOVED:
            sub = {"astetcdir": "etc", "astspooldir": "spool", "astrundir": "run",
                   "astlogdir": "log", "astcachedir": "cache"}.get(key, "lib")
            text, n = re.subn(rf"^{key}\s*=>.*$", f"{key} => {self.inside}/{sub}", text, flags=re.M)
            if n != 1:
                raise LabError(f"stock asterisk.conf: no single {key} line")
        conf.write_text(text)
        for sub in ("lib", "spool/recording", "run", "log/cel-custom", "log/cdr-csv", "cache"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 60.0) -> None:
        self.pid = start_asterisk(self.root, self.conf_arg, self.dir / "run",
                                  self.log_dir / "process.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not running(self.pid):
                raise LabError(f"stock Asterisk exited during start-up; see {self.log_dir}")
            proc = self.rx("core waitfullybooted", check=False)
            if proc.returncode == 0 and "fully booted" in proc.stdout.lower():
                return
            time.sleep(0.2)
        raise LabError(f"stock Asterisk did not finish booting in {timeout:.0f} s")

    def rx(self, command: str, check: bool = True):
        return asterisk_rx(self.root, self.conf_arg, "stock", command, check=check)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.pid and running(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            if not wait_gone(self.pid, 10):
                os.kill(self.pid, signal.SIGKILL)
                wait_gone(self.pid, 5)
        self.pid = None
