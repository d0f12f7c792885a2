"""Building the lab root: ``debootstrap --variant=minbase`` of Debian unstable with
Asterisk 22 and what the process AGI fallback needs, from the Debian archive this machine's
apt already uses; once, cached (a marker file records the version and the package list)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterable

from pbx_daemon.lab.processes import CHROOT_ENV, need_root, unmount_under
from pbx_daemon.lab.settings import LabError

# Asterisk, plus what the process AGI fallback needs to run inside the root with the
# root's own Python: our code is pure Python and is copied in at `lab up`.
PACKAGES = ("asterisk", "asterisk-core-sounds-en-gsm", "python3", "python3-sqlalchemy",
            "python3-phonenumbers", "python3-six", "python3-psycopg2")

MARKER = ".pbx-crm-lab-root"


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


def is_built(root: Path) -> bool:
    """Built, and with the package list this version of the lab needs."""
    try:
        marker = (root / MARKER).read_text().splitlines()
    except OSError:
        return False
    return (root / "usr/sbin/asterisk").exists() and \
        len(marker) > 1 and marker[1] == ",".join(PACKAGES)


def build_root(root: Path, mirror: str | None, log: Callable[[str], None]) -> None:
    """debootstrap a Debian unstable root with Asterisk into ``root`` (once)."""
    if is_built(root):
        return
    need_root()
    debootstrap = shutil.which("debootstrap")
    if not debootstrap:
        raise LabError("debootstrap is not installed (apt-get install debootstrap)")
    mirror = mirror or debian_mirror()
    partial = root.with_name(root.name + ".partial")
    unmount_under(partial)
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    log(f"building the lab root in {partial} (debootstrap sid, about a minute)")
    cmd = [debootstrap, "--variant=minbase", "--include=" + ",".join(PACKAGES),
           "sid", str(partial), mirror]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not (partial / "usr/sbin/asterisk").exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        unmount_under(partial)
        raise LabError(f"debootstrap failed (exit {proc.returncode}): {' | '.join(tail)}")
    unmount_under(partial)
    version = asterisk_version(partial)
    (partial / MARKER).write_text(version + "\n" + ",".join(PACKAGES) + "\n")
    if root.exists():
        unmount_under(root)
        shutil.rmtree(root)
    partial.rename(root)
    log(f"lab root ready: {version}")


def installed_version(root: Path) -> str:
    """The Asterisk version recorded when ``root`` was built (else asked of it)."""
    if (root / MARKER).exists():
        return (root / MARKER).read_text().splitlines()[0]
    return asterisk_version(root)


def asterisk_version(root: Path) -> str:
    proc = subprocess.run(["chroot", str(root), "/usr/sbin/asterisk", "-V"],
                          capture_output=True, text=True, env=CHROOT_ENV)
    return proc.stdout.strip() or "unknown Asterisk"
