"""The lab's handle: build, start, drive and stop the Asterisk lab (see the package
docstring). The pieces live next door: ``settings`` (what a lab is), ``build`` (the
debootstrap root), ``render`` (the instances' configuration), ``processes`` (Asterisk under
chroot, mounts, pids) and ``world`` (phone behaviour and the rings read back from CEL).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from pbx_daemon.lab.build import build_root, debian_mirror, installed_version
from pbx_daemon.lab.build import is_built as root_is_built
from pbx_daemon.lab.processes import (asterisk_rx, check_ports_free, is_mountpoint,
                                      mount_proc_and_dev, need_root, processes_chrooted_in,
                                      running, start_asterisk, wait_gone)
from pbx_daemon.lab.render import render_files
from pbx_daemon.lab.settings import LabError, LabSettings, instance_path, opt_path
from pbx_daemon.lab.world import LabEvent, PhoneMode, Ring, read_events, rings_from

# Importable from here as before (tests, bench): the lab's public names.
__all__ = ["Lab", "LabError", "LabEvent", "LabSettings", "PhoneMode", "Ring", "debian_mirror"]

ROLES = ("pbx", "world")
_NUMBER = re.compile(r"^\+?[0-9]{1,20}$")
_PHONE_EXT = re.compile(r"^[0-9]{1,6}$")
# What a desk phone may dial besides a number: a feature code (*78 do not disturb).
_FEATURE_CODE = re.compile(r"^\*[0-9]{2}$")


class Lab:
    """The lab's life cycle and the handles tests and ops use to drive it."""

    def __init__(self, settings: LabSettings, *, log: Callable[[str], None] = lambda _m: None):
        self.s = settings
        self.log = log
        # Step timeouts the AGI fallback should use (tests make them short).
        self.routing: dict[str, int] = {}

    # ---- paths ---------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.s.root

    def _in_root(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def instance_dir(self, role: str) -> Path:
        return self._in_root(self._instance_path(role))

    @property
    def _opt(self) -> str:
        return opt_path(self.s.name)

    def _instance_path(self, role: str) -> str:
        return instance_path(self.s.name, role)

    def etc_dir(self, role: str) -> Path:
        return self.instance_dir(role) / "etc"

    def log_dir(self, role: str) -> Path:
        return self.instance_dir(role) / "log"

    def spool_dir(self, role: str) -> Path:
        return self.instance_dir(role) / "spool"

    @property
    def events_file(self) -> Path:
        return self.log_dir("world") / "cel-custom" / "lab-events.jsonl"

    @property
    def state_file(self) -> Path:
        return self.s.state_dir / "state.json"

    def _conf_arg(self, role: str) -> str:
        return f"{self._instance_path(role)}/etc/asterisk.conf"

    # ---- build (build.py) and configuration (render.py) ---------------------------------
    def is_built(self) -> bool:
        """Built, and with the package list this version of the lab needs."""
        return root_is_built(self.root)

    def build(self) -> None:
        """debootstrap a Debian unstable root with Asterisk into ``root`` (once)."""
        build_root(self.root, self.s.mirror, self.log)

    def render(self) -> dict[str, dict[str, str]]:
        """The files of both instances, by role then file name."""
        return render_files(self.s)

    def _install_agi(self) -> None:
        """Copy our code and pyst2 into the root for the process AGI fallback."""
        import asterisk as pyst2

        from pbx_daemon.telephony.asterisk_render import PROJECT_ROOT

        opt = self._in_root(self._opt)
        lib = opt / "lib"
        shutil.rmtree(lib, ignore_errors=True)
        lib.mkdir(parents=True)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "lab")
        for package in ("pbx_daemon", "agi_scripts"):
            shutil.copytree(PROJECT_ROOT / package, lib / package, ignore=ignore)
        shutil.copytree(Path(pyst2.__file__).parent, lib / "asterisk", ignore=ignore)
        wrapper = opt / "agi-route"
        wrapper.write_text(
            "#!/bin/sh\n# pbx-crm lab: the process AGI fallback, run by the lab PBX.\n"
            f"PYTHONPATH={self._opt}/lib PBX_CRM_CONFIG={self._opt}/pbx-crm.toml "
            "exec python3 -m agi_scripts.route \"$@\"\n")
        wrapper.chmod(0o755)
        if not (opt / "pbx-crm.toml").exists():
            self._write_agi_config("sqlite:////nonexistent/no-database-attached.sqlite3")

    def _write_agi_config(self, url: str) -> None:
        text = f'[database]\nurl = "{url}"\n'
        if self.routing:
            text += "[routing]\n" + "".join(f"{k} = {int(v)}\n" for k, v in self.routing.items())
        (self._in_root(self._opt) / "pbx-crm.toml").write_text(text)

    def attach_database(self, url: str) -> None:
        """Let the AGI fallback inside the root read ``url``: a SQLite file's directory is
        bind-mounted at the same path; a PostgreSQL URL works as it is (shared network)."""
        if url.startswith("sqlite:///"):
            directory = Path(url.removeprefix("sqlite:///")).resolve().parent
            target = self._in_root(str(directory))
            # A directory that does not exist stays missing inside too: an unreachable
            # database is exactly what some tests want.
            if directory.is_dir() and not is_mountpoint(target):
                target.mkdir(parents=True, exist_ok=True)
                subprocess.run(["mount", "--bind", str(directory), str(target)], check=True)
                state = self.read_state()
                state.setdefault("binds", []).append(str(target))
                self._write_state(state)
        self._write_agi_config(url)

    def _write_config(self) -> None:
        self._install_agi()
        for role, files in self.render().items():
            etc = self.etc_dir(role)
            shutil.rmtree(etc, ignore_errors=True)
            etc.mkdir(parents=True)
            for name, text in files.items():
                (etc / name).write_text(text)
            # ari.conf carries the ARI password.
            os.chmod(etc, 0o700)
            for sub in ("lib", "spool", "run", "log", "cache"):
                (self.instance_dir(role) / sub).mkdir(parents=True, exist_ok=True)
            (self.spool_dir(role) / "outgoing").mkdir(exist_ok=True)
            # ARI stores bridge recordings in astspooldir/recording; Asterisk does not create it.
            (self.spool_dir(role) / "recording").mkdir(exist_ok=True)
            (self.spool_dir(role) / "lab-tmp").mkdir(exist_ok=True)
            (self.log_dir(role) / "cel-custom").mkdir(exist_ok=True)

    # ---- life cycle ------------------------------------------------------------------
    def read_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}

    def _write_state(self, state: dict) -> None:
        self.s.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.chmod(tmp, 0o600)
        tmp.rename(self.state_file)

    def _alive(self, role: str, state: dict | None = None) -> int | None:
        state = self.read_state() if state is None else state
        pid = state.get("pids", {}).get(role)
        if not pid:
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return None
        # A recycled pid is not ours: check it is our Asterisk (or the chroot about to exec
        # it) with our config.
        if "asterisk" in cmdline and self._conf_arg(role) in cmdline:
            return int(pid)
        return None

    def up(self, timeout: float = 60.0) -> dict:
        """Build if needed, start both instances, return once ARI answers."""
        need_root()
        self.build()
        state = self.read_state()
        if all(self._alive(r, state) for r in ROLES):
            self.log("lab already up")
            return state
        if any(self._alive(r, state) for r in ROLES):
            self.down()
            state = {}
        self._check_ports_free()
        self._write_config()
        self.events_file.write_text("")
        state = {"root": str(self.root), "mounts": [], "pids": {}, "started_at": time.time()}
        state["mounts"] = self._mount()
        self._write_state(state)
        try:
            for role in ("pbx", "world"):
                state["pids"][role] = self._start(role)
                self._write_state(state)
            for role in ("pbx", "world"):
                self._wait_booted(role, timeout)
            self._wait_ari(timeout)
        except Exception:
            self.down()
            raise
        self.log(f"lab up: PBX SIP 127.0.0.1:{self.s.pbx_sip_port}, "
                 f"ARI http://127.0.0.1:{self.s.pbx_ari_port}/ari, "
                 f"trunk {self.s.trunk_ip}, phones {', '.join(self.s.phones)}")
        return state

    def _check_ports_free(self) -> None:
        check_ports_free(self.s)

    def _mount(self) -> list[str]:
        return mount_proc_and_dev(self.root)

    def _start(self, role: str) -> int:
        pid = start_asterisk(self.root, self._conf_arg(role), self.instance_dir(role) / "run",
                             self.log_dir(role) / "process.log")
        self.log(f"started {role} Asterisk, pid {pid}")
        return pid

    def _wait_booted(self, role: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pid = self.read_state()["pids"][role]
        while time.monotonic() < deadline:
            if not running(pid):
                raise LabError(f"{role} Asterisk exited during start-up; see "
                               f"{self.log_dir(role) / 'messages.log'}")
            proc = self._rx(role, "core waitfullybooted", timeout=timeout, check=False)
            if proc.returncode == 0 and "fully booted" in proc.stdout.lower():
                return
            time.sleep(0.2)
        raise LabError(f"{role} Asterisk did not finish booting in {timeout:.0f} s")

    def _wait_ari(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                info = self.ari_get("/asterisk/info")
                if "system" in info:
                    return
            except (OSError, urllib.error.URLError, ValueError) as e:
                last = str(e)
            time.sleep(0.2)
        raise LabError(f"ARI did not answer on 127.0.0.1:{self.s.pbx_ari_port} ({last})")

    def down(self, timeout: float = 15.0) -> list[str]:
        """Stop exactly what :meth:`up` started and undo its mounts."""
        state = self.read_state()
        stopped = []
        for role in ("world", "pbx"):
            pid = self._alive(role, state)
            if not pid:
                continue
            # "core stop now" hangs up channels and exits cleanly; signals are the backstop.
            self._rx(role, "core stop now", timeout=5, check=False)
            if not wait_gone(pid, 5.0):
                os.killpg(pid, signal.SIGTERM)
                if not wait_gone(pid, timeout):
                    os.killpg(pid, signal.SIGKILL)
                    wait_gone(pid, 5.0)
            stopped.append(f"{role} (pid {pid})")
        for target in reversed(state.get("binds", [])):
            subprocess.run(["umount", "-l", target], check=False)
        # Labs sharing this root (the demo's and the test suite's) share its /proc and /dev
        # mounts: the last one down takes them away.
        if state and not processes_chrooted_in(self.root):
            for target in ("dev", "proc"):
                if is_mountpoint(self.root / target):
                    subprocess.run(["umount", "-l", str(self.root / target)], check=False)
        if self.state_file.exists():
            self.state_file.unlink()
        return stopped

    def status(self) -> dict:
        state = self.read_state()
        result = {"built": self.is_built(), "root": str(self.root),
                  "version": installed_version(self.root) if self.is_built() else None}
        for role in ROLES:
            result[role] = {"pid": self._alive(role, state)}
        if result["pbx"]["pid"]:
            try:
                result["ari"] = self.ari_get("/asterisk/info")["system"]["version"]
            except Exception as e:  # noqa: BLE001 - status reports, it does not fail
                result["ari"] = f"not answering: {e}"
        return result

    # ---- driving it ------------------------------------------------------------------
    def _rx(self, role: str, command: str, *, timeout: float = 15.0,
            check: bool = True) -> subprocess.CompletedProcess:
        return asterisk_rx(self.root, self._conf_arg(role), role, command, timeout=timeout,
                           check=check)

    def cli(self, role: str, command: str) -> str:
        """Run an Asterisk CLI command on one instance and return its output."""
        if role not in ROLES:
            raise LabError(f"unknown lab instance {role!r}: use pbx or world")
        if "\n" in command:
            raise LabError("one CLI command at a time")
        return self._rx(role, command).stdout

    def ari_get(self, path: str) -> dict:
        return self.ari_request("GET", path)

    def ari_request(self, method: str, path: str) -> dict:
        url = f"http://127.0.0.1:{self.s.pbx_ari_port}/ari{path}"
        token = base64.b64encode(f"{self.s.ari_username}:{self.s.ari_password}".encode()).decode()
        req = urllib.request.Request(url, method=method, headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read()
        return json.loads(body) if body else {}

    def set_phone(self, ext: str, mode: PhoneMode | str) -> None:
        """Make lab phone ``ext`` ring, reject, be busy, answer after N s, or answer and
        transfer the call (``blind`` / ``attended``, see :class:`PhoneMode`)."""
        if not _PHONE_EXT.match(ext):
            raise LabError(f"lab phone {ext!r}: an extension of up to 6 digits")
        mode = PhoneMode.parse(mode if isinstance(mode, str) else mode.encode())
        self._rx("world", f"database put labphone {ext} {mode.encode()}")

    def set_client(self, number: str, mode: PhoneMode | str) -> None:
        """Make PSTN number ``number`` (as the PBX dials it) behave like ``mode``."""
        if not _NUMBER.match(number):
            raise LabError(f"PSTN number {number!r}: digits with an optional leading +")
        mode = PhoneMode.parse(mode) if isinstance(mode, str) else mode
        self._rx("world", f"database put labclient {number.lstrip('+')} {mode.encode()}")

    def restart_pbx(self, timeout: float = 30.0) -> None:
        """Restart the PBX the way ops would (``core restart now``: Asterisk re-executes
        itself in place, same pid) and wait until ARI answers again."""
        self._rx("pbx", "core restart now", timeout=10, check=False)
        time.sleep(1.0)
        self._wait_booted("pbx", timeout)
        self._wait_ari(timeout)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until the PBX has no channel up (the last test's calls are over)."""
        self.wait_for(lambda: self.ari_get("/channels") == [], timeout, "the PBX to have no calls")

    def reset_behaviour(self) -> None:
        self._rx("world", "database deltree labphone", check=False)
        self._rx("world", "database deltree labclient", check=False)

    def call(self, caller: str, dialled: str, *, name: str = "", ring_timeout: int = 60,
             hold: int = 5) -> str:
        """Place an inbound call from the PSTN: ``caller`` dials ``dialled`` at the PBX.

        The caller gives up after ``ring_timeout`` seconds of ringing and, once answered,
        stays ``hold`` seconds on the line. ``caller`` and ``name`` go into the SIP From
        header as given (only line breaks are refused): tests use that to send hostile
        caller ids. Returns a tag identifying the call file.
        """
        if not _NUMBER.match(dialled):
            raise LabError(f"dialled number {dialled!r}: digits with an optional leading +")
        for label, value in (("caller", caller), ("name", name)):
            if any(c in value for c in "\r\n\0") or len(value) > 200:
                raise LabError(f"{label} must be one line of at most 200 characters")
        if not (1 <= ring_timeout <= 3600 and 0 <= hold <= 3600):
            raise LabError("ring_timeout must be 1..3600 s and hold 0..3600 s")
        tag = f"labcall-{int(time.time() * 1000)}-{secrets.token_hex(3)}"
        # A call file's "name" <number> cannot escape a double quote inside the name:
        # those become single quotes (the only change made to what tests send).
        quoted = name.replace('"', "'")
        body = (
            f"Channel: PJSIP/{dialled}@pbx\n"
            f"CallerID: \"{quoted}\" <{caller}>\n"
            f"WaitTime: {ring_timeout}\n"
            "MaxRetries: 0\n"
            "Context: world-caller\nExtension: s\nPriority: 1\n"
            f"Setvar: LAB_HOLD={hold}\n"
            f"Setvar: LAB_CALL={tag}\n"
        )
        # Asterisk picks up call files on rename into outgoing/; writing in place could
        # let it read a half-written file.
        tmp = self.spool_dir("world") / "lab-tmp" / f"{tag}.call"
        tmp.write_text(body)
        tmp.rename(self.spool_dir("world") / "outgoing" / f"{tag}.call")
        return tag

    def phone_dial(self, ext: str, number: str, *, hold: int = 5, ring_timeout: int = 60) -> str:
        """Lab phone ``ext`` dials ``number`` (a PBX extension, an outside number as a
        person would key it: spaces, dashes and brackets are dropped, or a feature code
        such as ``*78``). The phone gives up
        after ``ring_timeout`` seconds unanswered and, once answered, stays ``hold`` seconds
        on the line sending a tone. Returns a tag identifying the call file.

        The world places the call from its phones' transport with the phone's extension as
        caller id (the SIP From user), so the PBX sees an INVITE from its endpoint ``ext``
        into the phones' context, like a desk phone's own."""
        if not _PHONE_EXT.match(ext):
            raise LabError(f"lab phone {ext!r}: an extension of up to 6 digits")
        keyed = "".join(c for c in number if c not in " -()")
        if not (_NUMBER.match(keyed) or _FEATURE_CODE.match(keyed)):
            raise LabError(f"dialled number {number!r}: digits with an optional leading +, "
                           "or a feature code (*78)")
        if not (1 <= ring_timeout <= 3600 and 0 <= hold <= 3600):
            raise LabError("ring_timeout must be 1..3600 s and hold 0..3600 s")
        tag = f"labdial-{ext}-{int(time.time() * 1000)}-{secrets.token_hex(3)}"
        body = (
            f"Channel: PJSIP/{keyed}@desk\n"
            f"CallerID: \"Lab phone {ext}\" <{ext}>\n"
            f"WaitTime: {ring_timeout}\n"
            "MaxRetries: 0\n"
            "Context: world-caller\nExtension: s\nPriority: 1\n"
            f"Setvar: LAB_HOLD={hold}\n"
            f"Setvar: LAB_CALL={tag}\n"
        )
        tmp = self.spool_dir("world") / "lab-tmp" / f"{tag}.call"
        tmp.write_text(body)
        tmp.rename(self.spool_dir("world") / "outgoing" / f"{tag}.call")
        return tag

    # ---- observing it ----------------------------------------------------------------
    def events(self, since: float = 0.0) -> list[LabEvent]:
        return read_events(self.events_file, since)

    def rings(self, since: float = 0.0) -> list[Ring]:
        """Every phone / PSTN number the PBX rang since ``since`` (epoch seconds)."""
        return rings_from(self.events(since))

    def wait_for(self, predicate: Callable[[], object], timeout: float,
                 what: str = "condition") -> object:
        """Poll ``predicate`` until it returns something truthy (integration tests only)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise LabError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.1)
