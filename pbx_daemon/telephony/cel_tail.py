"""Reading Asterisk's CEL log from where the last read stopped.

Asterisk's ``cel_custom`` opens the file, appends one line and closes it again for every
event (``cel/cel_custom.c``: "we open write and close the log file each time"), so the
file can be rotated under it without telling Asterisk anything: the next event creates
the file again. What this reader survives:

* **rename** (logrotate's default, ``create`` or ``nocreate``; the recommended way): the
  handle we hold still reads the renamed file; its remaining lines are read to the end,
  then the new file at the path is read from 0. After a restart (no handle any more) the
  stored position's file is looked for next to the path (``pbx-crm.jsonl.1``,
  ``pbx-crm.jsonl-20261120``; compressed ones are not read) by its inode.
* **truncation** (``copytruncate``): the file at the path is shorter than our offset, or
  begins with another first line; its remaining lines are read from the copy next to it
  when one begins with the same first line, then the path from 0. Lines Asterisk wrote
  between logrotate's copy and its truncate are lost (logrotate's own caveat), so prefer
  renaming.

A file is known by its inode and a hash of its first line (an inode number can be reused
by the next file). Only complete lines are returned: a line still being written stays for
the next read. Each line comes with where it starts (:class:`Position`), so a caller can
store "read again from here" and hand it back after a restart. Blocking file work: run it
off the reactor.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

HEAD_BYTES = 4096  # a CEL line is well under this; the hash covers the first line
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z")


@dataclass(frozen=True)
class Position:
    """A byte offset in one CEL file: ``inode`` and ``head`` (sha1 of its first line,
    "" while the file has no complete line) say which file."""

    inode: int
    head: str
    offset: int

    def to_json(self) -> dict:
        return {"inode": self.inode, "head": self.head, "offset": self.offset}

    @classmethod
    def from_json(cls, data: dict) -> "Position":
        return cls(int(data["inode"]), str(data["head"]), int(data["offset"]))


class CelLine(NamedTuple):
    """One complete line: ``generation`` counts the files read since the reader began
    (0, then +1 at each rotation), so (generation, offset) orders lines across files."""

    generation: int
    offset: int
    text: str


def _head(fd: int) -> str:
    first = os.pread(fd, HEAD_BYTES, 0)
    end = first.find(b"\n")
    if end < 0:
        return ""
    return hashlib.sha1(first[:end]).hexdigest()


class CelTail:
    """``read()`` returns the complete lines written since the last call (or since
    ``start``, a :class:`Position` an earlier reader handed out); ``position(line)`` and
    ``end()`` say where to start again. ``log(message)`` hears about rotations."""

    def __init__(self, path: str | Path, start: Position | None = None,
                 log: Callable[[str], None] = lambda _m: None):
        self.path = Path(path)
        self.log = log
        self._fd: int | None = None
        self._inode = 0
        self._head = ""
        self._offset = 0
        self._generation = -1
        self._files: dict[int, tuple[int, str]] = {}  # generation -> (inode, head)
        self._pending_open: Position | None = start
        self._stale_tail = False  # a renamed file ended in half a line at the last read

    # ---- where we are ---------------------------------------------------------------------
    def position(self, generation: int, offset: int) -> Position:
        inode, head = self._files[generation]
        return Position(inode, head, offset)

    def end(self) -> Position | None:
        """Just after the last line returned (None before the file was ever found)."""
        if self._generation < 0:
            return self._pending_open
        return Position(self._inode, self._head, self._offset)

    @property
    def generation(self) -> int:
        return self._generation

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ---- reading ------------------------------------------------------------------------
    def read(self, max_bytes: int = 1 << 20) -> list[CelLine]:
        """The next complete lines, about ``max_bytes`` of them at most (at least one
        line however long). Empty when there is nothing new (or no file yet)."""
        if self._fd is None and not self._open_first():
            return []
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None  # rotated away and not created again yet: finish what we hold
        mine = os.fstat(self._fd)
        if st is not None and st.st_ino != self._inode:
            lines = self._read_lines(max_bytes)
            if lines:
                return lines
            if mine.st_size > self._offset and not self._stale_tail:
                self._stale_tail = True  # Asterisk may be finishing that line: next time
                return []
            if mine.st_size > self._offset:
                self.log(f"CEL log {self.path}: the rotated file ended in an incomplete "
                         f"line ({mine.st_size - self._offset} bytes), skipped")
            self.log(f"CEL log {self.path} was rotated (renamed): reading the new file")
            self._switch_to(self.path, 0)
            return self.read(max_bytes)
        if self._truncated(mine):
            self.log(f"CEL log {self.path} was truncated (copytruncate?)")
            copy = self._find(Position(self._inode, self._head, self._offset), by_inode=False)
            if copy is not None:
                self.log(f"CEL log: reading the rest of the old file from {copy}")
                self._switch_to(copy, self._offset)
                lines = self._read_lines(max_bytes)
                if lines:
                    return lines
            self._switch_to(self.path, 0)
            return self.read(max_bytes)
        if not self._head:
            self._head = _head(self._fd)
            self._files[self._generation] = (self._inode, self._head)
        return self._read_lines(max_bytes)

    def _truncated(self, st: os.stat_result) -> bool:
        if st.st_size < self._offset:
            return True
        return bool(self._head) and _head(self._fd) != self._head

    def _read_lines(self, max_bytes: int) -> list[CelLine]:
        chunk = os.pread(self._fd, max_bytes, self._offset)
        end = chunk.rfind(b"\n")
        while end < 0 and len(chunk) >= max_bytes:  # one line longer than max_bytes
            more = os.pread(self._fd, max_bytes, self._offset + len(chunk))
            if not more:
                break
            chunk += more
            end = chunk.rfind(b"\n")
        if end < 0:
            return []
        lines = []
        start = 0
        generation, base = self._generation, self._offset
        for raw in chunk[:end + 1].split(b"\n")[:-1]:
            lines.append(CelLine(generation, base + start, raw.decode("utf-8", "replace")))
            start += len(raw) + 1
        self._offset = base + end + 1
        self._stale_tail = False
        return lines

    # ---- which file ---------------------------------------------------------------------
    def _open_first(self) -> bool:
        start, self._pending_open = self._pending_open, None
        if start is None:
            return self._switch_to(self.path, 0)
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            fd = None
        if fd is not None:
            st = os.fstat(fd)
            if st.st_ino == start.inode and st.st_size >= start.offset and (
                    not start.head or _head(fd) == start.head):
                self._adopt(fd, start.offset)
                return True
            os.close(fd)
        old = self._find(start, by_inode=True) or self._find(start, by_inode=False)
        if old is not None:
            self.log(f"CEL log {self.path} was rotated while we were away: reading the rest "
                     f"of {old} first")
            return self._switch_to(old, start.offset)
        if start.offset:
            self.log(f"CEL log {self.path}: the file of the stored position is gone "
                     f"(rotated and compressed or removed?): reading {self.path} from the start")
        if not self.path.exists():
            self._pending_open = start
            return False
        return self._switch_to(self.path, 0)

    def _find(self, position: Position, *, by_inode: bool) -> Path | None:
        """A file next to the path that is ``position``'s file: the same inode (renamed),
        or the same first line and at least as long (copied)."""
        if not position.head:
            return None
        try:
            names = sorted(os.listdir(self.path.parent))
        except OSError:
            return None
        for name in names:
            if name == self.path.name or not name.startswith(self.path.name) \
                    or name.endswith(COMPRESSED):
                continue
            candidate = self.path.parent / name
            try:
                fd = os.open(candidate, os.O_RDONLY)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if by_inode and st.st_ino != position.inode:
                    continue
                if st.st_size >= position.offset and _head(fd) == position.head:
                    return candidate
            finally:
                os.close(fd)
        return None

    def _switch_to(self, path: Path, offset: int) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        self._adopt(fd, offset)
        return True

    def _adopt(self, fd: int, offset: int) -> None:
        self.close()
        self._fd = fd
        self._inode = os.fstat(fd).st_ino
        self._head = _head(fd)
        self._offset = offset
        self._generation += 1
        self._files[self._generation] = (self._inode, self._head)
        self._stale_tail = False
