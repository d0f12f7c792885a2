"""The lab's processes and mounts: Asterisk run with chroot inside the root, ``/proc`` and
``/dev`` mounted into it, the ports checked free before a start, and the pid checks that
make ``lab down`` stop exactly what ``lab up`` started."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from pbx_daemon.lab.settings import LabError, LabSettings

# The environment of every command run inside the root.
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


def asterisk_rx(root: Path, conf_arg: str, role: str, command: str, *, timeout: float = 15.0,
                check: bool = True) -> subprocess.CompletedProcess:
    """One Asterisk CLI command (``asterisk -rx``) on the instance whose ``asterisk.conf``
    is ``conf_arg`` (a path inside the root)."""
    proc = subprocess.run(
        ["chroot", str(root), "/usr/sbin/asterisk", "-C", conf_arg, "-rx", command],
        capture_output=True, text=True, env=CHROOT_ENV, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise LabError(f"{role}: {command!r} failed: {(proc.stdout + proc.stderr).strip()}")
    return proc


def start_asterisk(root: Path, conf_arg: str, run_dir: Path, process_log: Path) -> int:
    """Start one Asterisk in the foreground of its own session (``-f``, so its pid is the
    one ``lab down`` signals), its output appended to ``process_log``; return its pid."""
    for stale in run_dir.glob("asterisk.*"):
        stale.unlink()
    logfile = open(process_log, "ab")
    proc = subprocess.Popen(
        ["chroot", str(root), "/usr/sbin/asterisk", "-C", conf_arg, "-f"],
        stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
        env=CHROOT_ENV, start_new_session=True,
    )
    logfile.close()
    return proc.pid


def check_ports_free(s: LabSettings) -> None:
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


def mount_proc_and_dev(root: Path) -> list[str]:
    """Mount ``/proc`` and bind ``/dev`` into the root unless there already; return what
    was mounted now."""
    mounted = []
    for target, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
        path = root / target
        if is_mountpoint(path):
            continue
        subprocess.run(["mount", *args, str(path)], check=True)
        mounted.append(str(path))
    return mounted


def need_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (debootstrap, mount and chroot)")


def is_mountpoint(path: Path) -> bool:
    return str(path) in mounts()


def mounts() -> list[str]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    return [line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 1]


def unmount_under(path: Path) -> None:
    """Lazily unmount anything mounted inside ``path`` (deepest first) before deleting it."""
    prefix = str(path).rstrip("/") + "/"
    for mount in sorted((m for m in mounts() if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def running(pid: int) -> bool:
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


def processes_chrooted_in(root: Path) -> list[int]:
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


def wait_gone(pid: int, timeout: float) -> bool:
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
