"""After-hours greetings an admin uploads: checked, rewritten, stored under our own name.

Asterisk plays ``<data_dir>/greetings/<name>`` (ARI ``sound:<path without extension>``)
and picks the format by the extension, so only what it plays without transcoding
surprises is accepted:

* WAV: PCM, 16-bit, mono, 8000 Hz (Asterisk's ``wav``, i.e. ``slin``). The frames are
  read with :mod:`wave` and written into a fresh file, so nothing but audio from the
  upload reaches the disk (no extra chunks, no trailing bytes).
* GSM: raw GSM 06.10 frames (Asterisk's ``gsm``): 33-byte frames, each starting with the
  0xD signature nibble.

Never the uploader's file name: the file is ``dept-<id>-<random>.<wav|gsm>``, checked
again by :data:`GREETING_FILE` before it reaches ARI. At most
:data:`MAX_BYTES`. Blocking file work: the admin app's request thread.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import wave
from pathlib import Path

# An uploaded greeting as we name it under <data_dir>/greetings: "dept-3-9f2a1c0b....wav".
# The ARI adapter checks it again before a file name reaches Asterisk.
GREETING_FILE = re.compile(r"^dept-[0-9]{1,9}-[0-9a-f]{8,32}\.(wav|gsm)$")
MAX_BYTES = 5 * 1024 * 1024  # ~5 minutes of 8 kHz WAV
GSM_FRAME = 33


class GreetingError(ValueError):
    """The upload is not a greeting we can play (the message says why, in Russian)."""


def greetings_dir(config) -> Path:
    return Path(config.general.data_dir) / "greetings"


def _wav(data: bytes) -> bytes:
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, 8000):
                raise GreetingError("Нужен WAV: PCM 16 бит, моно, 8000 Гц "
                                    f"(загружен: {w.getnchannels()} кан., {w.getsampwidth() * 8} бит, "
                                    f"{w.getframerate()} Гц).")
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as error:
        raise GreetingError("Файл не читается как WAV (PCM).") from error
    if not frames:
        raise GreetingError("В файле нет звука.")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)
    return out.getvalue()


def _gsm(data: bytes) -> bytes:
    if not data or len(data) % GSM_FRAME or any(data[i] >> 4 != 0xD for i in range(0, len(data), GSM_FRAME)):
        raise GreetingError("Файл не похож на GSM 06.10 (кадры по 33 байта).")
    return data


def check_greeting(data: bytes) -> tuple[bytes, str]:
    """The audio to store and its extension; :class:`GreetingError` otherwise."""
    if len(data) > MAX_BYTES:
        raise GreetingError(f"Файл больше {MAX_BYTES // (1024 * 1024)} МБ.")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav(data), "wav"
    return _gsm(data), "gsm"


def store_greeting(directory: Path, department_id: int, data: bytes) -> str:
    """Check ``data``, write it as a new file in ``directory``; returns its name."""
    audio, ext = check_greeting(data)
    name = f"dept-{int(department_id)}-{secrets.token_hex(8)}.{ext}"
    assert GREETING_FILE.match(name)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{name}.part"
    tmp.write_bytes(audio)
    os.chmod(tmp, 0o644)  # Asterisk, another user, reads it
    os.replace(tmp, directory / name)
    return name


def remove_greeting(directory: Path, name: str | None) -> None:
    """Delete an old greeting file (ours only: the name must be one we make)."""
    if name and GREETING_FILE.match(name):
        (directory / name).unlink(missing_ok=True)
