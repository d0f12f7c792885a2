"""Build, start, drive and stop the Asterisk lab (see the package docstring)."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from pbx_daemon.telephony.asterisk_render import Phone, dial_list, render_pbx_files, render_text

TEMPLATES = Path(__file__).resolve().parent / "templates"
ROLES = ("pbx", "world")
# Asterisk, plus what the process AGI fallback needs to run inside the root with the
# root's own Python: our code is pure Python and is copied in at `lab up`.
PACKAGES = ("asterisk", "asterisk-core-sounds-en-gsm", "python3", "python3-sqlalchemy",
            "python3-phonenumbers", "python3-six", "python3-psycopg2")

MARKER = ".pbx-crm-lab-root"
# Where Debian's asterisk package puts its modules (inside the root).
MODDIR = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
_CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
_NUMBER = re.compile(r"^\+?[0-9]{1,20}$")
_PHONE_EXT = re.compile(r"^[0-9]{1,6}$")
_MODE = re.compile(r"^(ring|reject|busy|answer(:[0-9]{1,4}(:[0-9]{1,4})?)?)$")


class LabError(Exception):
    """Something the operator must fix; ``str()`` is one line saying what."""


@dataclass(frozen=True)
class LabSettings:
    root: Path
    state_dir: Path
    # Several labs can share one root (the demo's and the test suite's) when their names,
    # state dirs and ports differ.
    name: str = "lab"
    pbx_sip_port: int = 5060
    pbx_ari_port: int = 8088
    world_sip_port: int = 5070
    trunk_ip: str = "127.0.0.2"
    ari_username: str = "pbx-crm"
    ari_password: str = ""
    ari_app: str = "pbx-crm"
    phones: tuple[str, ...] = ("101", "102", "103", "104", "105", "106", "107", "108")
    # Rung by the dialplan when neither the daemon nor the AGI fallback can route a call.
    fallback_phones: tuple[str, ...] = ("101", "102")
    fallback_timeout: int = 30
    # Where the daemon serves FastAGI (agi.listen), as the lab PBX's dialplan calls it.
    fastagi_port: int = 4573
    blocked_action: str = "busy"
    mirror: str | None = None

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z0-9-]{1,20}$", self.name):
            raise LabError(f"lab name {self.name!r}: lowercase letters, digits and '-'")

    @classmethod
    def from_config(cls, config) -> "LabSettings":
        lab = config.lab
        return cls(
            name=lab.name,
            root=Path(lab.root),
            state_dir=Path(lab.state_dir),
            pbx_sip_port=lab.pbx_sip_port,
            pbx_ari_port=lab.pbx_ari_port,
            world_sip_port=lab.world_sip_port,
            trunk_ip=lab.trunk_ip,
            ari_username=config.ari.username,
            ari_password=config.ari.password,
            ari_app=config.ari.app,
            fastagi_port=_endpoint_port(config.agi.listen, 4573),
            blocked_action=config.routing.blocked_action,
            mirror=os.environ.get("PBX_CRM_LAB_MIRROR") or None,
        )


@dataclass(frozen=True)
class LabEvent:
    """One CEL record written by the world instance."""

    type: str
    time: float
    unique_id: str
    linked_id: str
    channel: str
    context: str
    exten: str
    caller_num: str
    caller_name: str
    user_type: str = ""
    extra: str = ""

    @classmethod
    def from_json(cls, record: dict) -> "LabEvent":
        return cls(
            type=record.get("eventtype", ""),
            time=float(record.get("eventtime") or 0.0),
            unique_id=str(record.get("uniqueid", "")),
            linked_id=str(record.get("linkedid", "")),
            channel=record.get("channame", ""),
            context=record.get("context", ""),
            exten=str(record.get("exten", "")),
            caller_num=str(record.get("num", "")),
            caller_name=str(record.get("name", "")),
            user_type=record.get("userdeftype", ""),
            extra=str(record.get("eventextra", "")),
        )


@dataclass(frozen=True)
class Ring:
    """A call the world received from the PBX: a lab phone or a PSTN number ringing."""

    kind: str  # "phone" or "pstn"
    target: str  # phone extension or dialled PSTN number
    caller_num: str
    caller_name: str
    rang_at: float
    answered_at: float | None
    ended_at: float | None
    hangup_cause: int | None
    unique_id: str


@dataclass(frozen=True)
class PhoneMode:
    """How a lab phone (or PSTN number) behaves when the PBX calls it."""

    action: str  # ring | reject | busy | answer
    after: int = 0
    hold: int | None = None

    def encode(self) -> str:
        if self.action != "answer":
            return self.action
        return f"answer:{self.after}" + (f":{self.hold}" if self.hold is not None else "")

    @classmethod
    def parse(cls, text: str) -> "PhoneMode":
        if not _MODE.match(text):
            raise LabError(f"phone mode {text!r}: use ring, reject, busy or answer[:SECS[:HOLD]]")
        parts = text.split(":")
        if parts[0] != "answer":
            return cls(parts[0])
        after = int(parts[1]) if len(parts) > 1 else 0
        hold = int(parts[2]) if len(parts) > 2 else None
        return cls("answer", after, hold)


def debian_mirror(sources: Iterable[Path] | None = None) -> str:
    """The Debian archive this machine's apt already uses (the lab asks no other host)."""
    if sources is None:
        apt = Path("/etc/apt")
        sources = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"(?:^deb\s+(?:\[[^\]]*\]\s+)?|^URIs:\s*)(\S+)", text, re.M):
            uri = match.group(1).rstrip("/")
            if uri.endswith("/debian") and uri.startswith(("http://", "https://")):
                return uri
    raise LabError(
        "no Debian archive found in /etc/apt sources; set PBX_CRM_LAB_MIRROR to one"
    )


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
        """Inside the root: our code, the AGI wrapper and the AGI's config, per lab."""
        return f"/opt/pbx-crm/{self.s.name}"

    def _instance_path(self, role: str) -> str:
        return f"/srv/pbx-crm-lab/{self.s.name}/{role}"

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

    # ---- build ---------------------------------------------------------------------
    def is_built(self) -> bool:
        """Built, and with the package list this version of the lab needs."""
        try:
            marker = (self.root / MARKER).read_text().splitlines()
        except OSError:
            return False
        return (self.root / "usr/sbin/asterisk").exists() and \
            len(marker) > 1 and marker[1] == ",".join(PACKAGES)

    def build(self) -> None:
        """debootstrap a Debian unstable root with Asterisk into ``root`` (once)."""
        if self.is_built():
            return
        _need_root()
        debootstrap = shutil.which("debootstrap")
        if not debootstrap:
            raise LabError("debootstrap is not installed (apt-get install debootstrap)")
        mirror = self.s.mirror or debian_mirror()
        partial = self.root.with_name(self.root.name + ".partial")
        _unmount_under(partial)
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        self.log(f"building the lab root in {partial} (debootstrap sid, about a minute)")
        cmd = [debootstrap, "--variant=minbase", "--include=" + ",".join(PACKAGES),
               "sid", str(partial), mirror]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not (partial / "usr/sbin/asterisk").exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            _unmount_under(partial)
            raise LabError(f"debootstrap failed (exit {proc.returncode}): {' | '.join(tail)}")
        _unmount_under(partial)
        version = self._asterisk_version(partial)
        (partial / MARKER).write_text(version + "\n" + ",".join(PACKAGES) + "\n")
        if self.root.exists():
            _unmount_under(self.root)
            shutil.rmtree(self.root)
        partial.rename(self.root)
        self.log(f"lab root ready: {version}")

    def _asterisk_version(self, root: Path | None = None) -> str:
        if root is None and (self.root / MARKER).exists():
            return (self.root / MARKER).read_text().splitlines()[0]
        proc = subprocess.run(["chroot", str(root or self.root), "/usr/sbin/asterisk", "-V"],
                              capture_output=True, text=True, env=_CHROOT_ENV)
        return proc.stdout.strip() or "unknown Asterisk"

    # ---- configuration ---------------------------------------------------------------
    def render(self) -> dict[str, dict[str, str]]:
        """The files of both instances, by role then file name."""
        s = self.s
        if not s.ari_password:
            raise LabError("ari.password is not set (set it in the config or PBX_CRM_ARI_PASSWORD)")
        common = {"MODDIR": MODDIR}
        pbx_values = {
            **common,
            "ROLE": "pbx",
            "INSTANCE_DIR": self._instance_path("pbx"),
            "ARI_BIND": "127.0.0.1",
            "ARI_PORT": str(s.pbx_ari_port),
            "ARI_USERNAME": s.ari_username,
            "ARI_PASSWORD": s.ari_password,
            "ARI_APP": s.ari_app,
            "SIP_BIND": "127.0.0.1",
            "SIP_PORT": str(s.pbx_sip_port),
            "TRUNK_HOST": f"{s.trunk_ip}:{s.pbx_sip_port}",
            "TRUNK_MATCH": s.trunk_ip,
            "TRUNK_FROM_USER": "pbx-crm",
            "FALLBACK_DIAL": dial_list(s.fallback_phones),
            "FALLBACK_TIMEOUT": str(s.fallback_timeout),
            "AGI_COMMAND": f"{self._opt}/agi-route",
            "FASTAGI_HOST": "127.0.0.1",
            "BLOCKED_ACTION": s.blocked_action,
            "FASTAGI_PORT": str(s.fastagi_port),
            "RECORDING_DIR": f"{self._instance_path('pbx')}/spool/recording",
        }
        phones = [Phone(endpoint=p, contact=f"sip:{p}@127.0.0.1:{s.world_sip_port}")
                  for p in s.phones]
        pbx = render_pbx_files(pbx_values, phones)
        world_values = {
            **common,
            "ROLE": "world",
            "INSTANCE_DIR": self._instance_path("world"),
            "TRUNK_IP": s.trunk_ip,
            "PBX_SIP_PORT": str(s.pbx_sip_port),
            "WORLD_SIP_PORT": str(s.world_sip_port),
        }
        world: dict[str, str] = {}
        for role, files in (("pbx", pbx), ("world", world)):
            values = pbx_values if role == "pbx" else world_values
            for name in ("asterisk.conf", "modules.conf", "logger.conf"):
                files[name] = render_text((TEMPLATES / name).read_text(), values, name=name)
        for path in TEMPLATES.glob("world_*.conf"):
            name = path.name.removeprefix("world_")
            world[name] = render_text(path.read_text(), world_values, name=path.name)
        return {"pbx": pbx, "world": world}

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
            if directory.is_dir() and not _is_mountpoint(target):
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
        _need_root()
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
        s = self.s
        checks = [
            (socket.SOCK_DGRAM, "127.0.0.1", s.pbx_sip_port, "PBX SIP"),
            (socket.SOCK_STREAM, "127.0.0.1", s.pbx_ari_port, "PBX ARI"),
            (socket.SOCK_DGRAM, "127.0.0.1", s.world_sip_port, "lab phones SIP"),
            (socket.SOCK_DGRAM, s.trunk_ip, s.pbx_sip_port, "lab trunk SIP"),
        ]
        for kind, host, port, what in checks:
            sock = socket.socket(socket.AF_INET, kind)
            # As Asterisk does: a port left in TIME_WAIT by the last run is free to use.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as e:
                raise LabError(f"{what} port {host}:{port} is taken ({e.strerror}); "
                               "is another Asterisk running? (pbx-crm lab status)") from None
            finally:
                sock.close()

    def _mount(self) -> list[str]:
        mounted = []
        for target, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
            path = self.root / target
            if _is_mountpoint(path):
                continue
            subprocess.run(["mount", *args, str(path)], check=True)
            mounted.append(str(path))
        return mounted

    def _start(self, role: str) -> int:
        run_dir = self.instance_dir(role) / "run"
        for stale in run_dir.glob("asterisk.*"):
            stale.unlink()
        logfile = open(self.log_dir(role) / "process.log", "ab")
        proc = subprocess.Popen(
            ["chroot", str(self.root), "/usr/sbin/asterisk", "-C", self._conf_arg(role), "-f"],
            stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
            env=_CHROOT_ENV, start_new_session=True,
        )
        logfile.close()
        self.log(f"started {role} Asterisk, pid {proc.pid}")
        return proc.pid

    def _wait_booted(self, role: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pid = self.read_state()["pids"][role]
        while time.monotonic() < deadline:
            if not _running(pid):
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
            if not _wait_gone(pid, 5.0):
                os.killpg(pid, signal.SIGTERM)
                if not _wait_gone(pid, timeout):
                    os.killpg(pid, signal.SIGKILL)
                    _wait_gone(pid, 5.0)
            stopped.append(f"{role} (pid {pid})")
        for target in reversed(state.get("binds", [])):
            subprocess.run(["umount", "-l", target], check=False)
        # Labs sharing this root (the demo's and the test suite's) share its /proc and /dev
        # mounts: the last one down takes them away.
        if state and not _processes_chrooted_in(self.root):
            for target in ("dev", "proc"):
                if _is_mountpoint(self.root / target):
                    subprocess.run(["umount", "-l", str(self.root / target)], check=False)
        if self.state_file.exists():
            self.state_file.unlink()
        return stopped

    def status(self) -> dict:
        state = self.read_state()
        result = {"built": self.is_built(), "root": str(self.root),
                  "version": self._asterisk_version() if self.is_built() else None}
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
        proc = subprocess.run(
            ["chroot", str(self.root), "/usr/sbin/asterisk", "-C", self._conf_arg(role),
             "-rx", command],
            capture_output=True, text=True, env=_CHROOT_ENV, timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise LabError(f"{role}: {command!r} failed: {(proc.stdout + proc.stderr).strip()}")
        return proc

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
        """Make lab phone ``ext`` ring, reject, be busy or answer after N s."""
        if not _PHONE_EXT.match(ext):
            raise LabError(f"lab phone {ext!r}: an extension of up to 6 digits")
        mode = PhoneMode.parse(mode) if isinstance(mode, str) else mode
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

    # ---- observing it ----------------------------------------------------------------
    def events(self, since: float = 0.0) -> list[LabEvent]:
        out = []
        try:
            lines = self.events_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                event = LabEvent.from_json(json.loads(line))
            except (ValueError, TypeError):
                continue
            if event.time >= since:
                out.append(event)
        return out

    def rings(self, since: float = 0.0) -> list[Ring]:
        """Every phone / PSTN number the PBX rang since ``since`` (epoch seconds)."""
        by_channel: dict[str, list[LabEvent]] = {}
        for event in self.events(since):
            by_channel.setdefault(event.unique_id, []).append(event)
        rings = []
        for unique_id, events in by_channel.items():
            ring = next((e for e in events if e.user_type == "LAB_RING"), None)
            if ring is None:
                continue
            answered = next((e.time for e in events if e.type == "ANSWER"), None)
            hangup = next((e for e in events if e.type == "HANGUP"), None)
            cause = None
            if hangup is not None:
                try:
                    cause = int(json.loads(hangup.extra).get("hangupcause"))
                except (ValueError, TypeError, AttributeError):
                    cause = None
            rings.append(Ring(
                kind="phone" if ring.context == "world-phone" else "pstn",
                target=ring.exten, caller_num=ring.caller_num, caller_name=ring.caller_name,
                rang_at=ring.time, answered_at=answered,
                ended_at=hangup.time if hangup else None, hangup_cause=cause,
                unique_id=unique_id,
            ))
        return sorted(rings, key=lambda r: r.rang_at)

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


def _endpoint_port(spec: str, default: int) -> int:
    """The port of a Twisted endpoint string such as ``tcp:4573:interface=127.0.0.1``."""
    match = re.match(r"^tcp6?:(?:port=)?(\d+)", spec)
    return int(match.group(1)) if match else default


def _need_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (debootstrap, mount and chroot)")


def _is_mountpoint(path: Path) -> bool:
    return str(path) in _mounts()


def _mounts() -> list[str]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    return [line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 1]


def _unmount_under(path: Path) -> None:
    """Lazily unmount anything mounted inside ``path`` (deepest first) before deleting it."""
    prefix = str(path).rstrip("/") + "/"
    for mount in sorted((m for m in _mounts() if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (our child that exited but is unreaped)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _processes_chrooted_in(root: Path) -> list[int]:
    """Pids whose root directory is ``root`` (processes of any lab using this root)."""
    target = str(root.resolve())
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") == target:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # Our own child becomes a zombie until reaped.
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.1)
    return False
