"""Recordings: from Asterisk's spool to the store, one file per call, named by call id.

Asterisk writes a bridge recording (ARI ``POST /bridges/{id}/record``) or a MixMonitor
file into its spool (``asterisk.recording_dir``) as ``<linkedid>.<format>``; the name is
our call id, never anything a caller controls. When the call is over (ARI sends
``RecordingFinished`` once the bridge is gone; reconciliation finds MixMonitor's files)
the file is moved into ``recordings.dir`` and a ``recordings`` row points at it by the
file name alone, so the store can move without rewriting rows.

Blocking file and SQL work: runs on the store's thread, never on the reactor.
"""

from __future__ import annotations

import os
import re
import shutil
import wave
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pbx_daemon.crm import models as m

# What a call id may look like in a file name: Asterisk uniqueids ("1732345678.12") and
# our own click-to-call ids ("c2c-9f2a...").
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RecordingNameError(ValueError):
    pass


def file_name(linkedid: str, fmt: str = "wav") -> str:
    if not SAFE_NAME.match(linkedid) or ".." in linkedid or not fmt.isalnum():
        raise RecordingNameError(f"not a safe recording name: {linkedid!r}")
    return f"{linkedid}.{fmt}"


def _duration(path: Path) -> float | None:
    try:
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            return round(w.getnframes() / rate, 2) if rate else None
    except (wave.Error, EOFError, OSError):
        return None


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError:
        # Another file system (the spool and the store on different disks): copy, then
        # remove, so a crash in between leaves the spool copy for the next attempt.
        tmp = dst.with_suffix(dst.suffix + ".part")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        src.unlink(missing_ok=True)


def attach_recording(session: Session, call: m.Call, *, spool_dir: str | Path,
                     store_dir: str | Path, fmt: str = "wav") -> m.Recording | None:
    """Move ``<spool>/<linkedid>.<fmt>`` into the store and link it to ``call``.

    Idempotent: a call that has its recording keeps it; a file already moved (an earlier
    attempt that failed after the move) is picked up from the store. Returns the row, or
    None when there is no file (the call was never bridged)."""
    existing = session.scalar(select(m.Recording).where(m.Recording.call_id == call.id))
    if existing is not None:
        return existing
    name = file_name(call.linkedid, fmt)
    src, dst = Path(spool_dir) / name, Path(store_dir) / name
    if src.is_file() and src.resolve() != dst.resolve():
        _move(src, dst)
    elif not dst.is_file():
        return None
    recording = m.Recording(call_id=call.id, path=name, format=fmt,
                            size_bytes=dst.stat().st_size,
                            duration_seconds=_duration(dst) if fmt == "wav" else None)
    session.add(recording)
    session.flush()
    return recording


def stored_path(store_dir: str | Path, recording: m.Recording) -> Path:
    """The file of ``recording`` inside ``store_dir``; refuses anything that would leave it."""
    base = Path(store_dir).resolve()
    path = (base / recording.path).resolve()
    if path.parent != base or not SAFE_NAME.match(path.name):
        raise RecordingNameError(f"recording path {recording.path!r} is outside the store")
    return path
