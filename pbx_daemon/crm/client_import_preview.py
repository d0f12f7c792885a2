"""The client-import preview's dry run, kept (issue 18). Deciding a 100,000-row file takes
~8 s, so the admin's preview decides once per (kept upload, mapping, match options,
importer's scope) and its pages and status filters read what was kept. Files only: no
Flask, no database; the time comes in as an argument (epoch seconds, the admin's clock).

Next to the kept upload ``<token>.<name>.upload``, in the same directory:

=========================================  ==============================================
``<token>.preview.<key>.json``             the entry: key, owner, when computed, rows per
                                           status, the names of its two data files;
                                           written last (tmp + rename), so an entry
                                           always names complete files
``<token>.preview.<key>.<nonce>.rows``     one JSON array a row, in file order:
                                           ``[line, status, reason, company, contact]``
``<token>.preview.<key>.<nonce>.index``    the rows' byte offsets, 8 bytes each
                                           (little-endian): every row, then the create,
                                           update, skip and error ones
=========================================  ==============================================

A page reads ``size`` offsets and ``size`` lines, whatever the file's size. An entry is
valid for ``max_age`` seconds; older, dated in the future (the clock went back), of
another owner or key, or unreadable: there is none, and the caller decides again. At most
:data:`KEEP` entries per upload (the oldest go). :func:`drop_previews` removes them all
with the upload.

The entry is only for showing: the import decides every row again, in its transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pbx_daemon.crm.client_import import STATUSES, Policy, RowResult, Scope, summarize

KEEP = 3  # entries per upload: a few mappings tried back and forth
MAX_AGE = 600.0  # seconds an entry is shown for
SECTIONS = ("",) + tuple(STATUSES)  # "": every row


def preview_key(token: str, mapping: dict[str, list[int]], policy: Policy, scope: Scope, *,
                region: str, default_area_code: str) -> str:
    """What the dry run depends on besides the database, hashed: the same key, the same
    decisions (as of when they were made)."""
    what = {"v": 1, "token": token, "mapping": {f: list(cols) for f, cols in sorted(mapping.items())},
            "match": list(policy.match), "on_match": policy.on_match,
            "employees": sorted(scope.employee_ids) if scope.employee_ids is not None else None,
            "department": scope.department_id, "region": region, "area": default_area_code}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class StoredPreview:
    """One kept dry run. ``sections``: filter ("" or a status) -> (first offset's place in
    the index, how many)."""

    key: str
    owner: int | None
    computed_at: float
    counts: dict[str, int]
    rows_path: Path
    index_path: Path
    sections: dict[str, tuple[int, int]]

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        return summarize(self.counts)

    def shown(self, status: str = "") -> int:
        """How many rows the filter shows."""
        return self.sections[status][1]

    def page(self, status: str = "", page: int = 0, size: int = 100) -> list[RowResult]:
        """The rows of ``status`` ("" every row) on page ``page`` (from 0), in file order.
        OSError / ValueError if the files went away or were damaged."""
        first, count = self.sections[status]
        start = page * size
        if page < 0 or start >= count:
            return []
        n = min(size, count - start)
        offsets = array("Q")
        with open(self.index_path, "rb") as f:
            f.seek((first + start) * offsets.itemsize)
            offsets.frombytes(f.read(n * offsets.itemsize))
        if sys.byteorder != "little":
            offsets.byteswap()
        rows = []
        with open(self.rows_path, "rb") as f:
            for offset in offsets:
                f.seek(offset)
                line, status_, reason, company, contact = json.loads(f.readline())
                rows.append(RowResult(int(line), str(status_), str(reason), str(company), str(contact)))
        return rows


def _entry_path(directory: Path, token: str, key: str) -> Path:
    return directory / f"{token}.preview.{key}.json"


def _read_entry(path: Path) -> StoredPreview | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StoredPreview(
            key=str(data["key"]), owner=data["owner"], computed_at=float(data["computed_at"]),
            counts={s: int(data["counts"].get(s, 0)) for s in STATUSES},
            rows_path=path.with_name(data["rows"]), index_path=path.with_name(data["index"]),
            sections={s: (int(a), int(b)) for s, (a, b) in data["sections"].items() if s in SECTIONS})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def load_preview(directory: Path, token: str, key: str, *, owner: int | None, now: float,
                 max_age: float = MAX_AGE) -> StoredPreview | None:
    """The kept dry run for ``key``, if ``owner``'s and computed at most ``max_age``
    seconds before ``now``; else None."""
    entry = _read_entry(_entry_path(directory, token, key))
    if entry is None or entry.key != key or entry.owner != owner or set(entry.sections) != set(SECTIONS):
        return None
    if not entry.computed_at <= now <= entry.computed_at + max_age:
        return None
    return entry


def _replace_bytes(path: Path, data: bytes, nonce: str) -> None:
    """Write ``data`` to ``path`` whole or not at all: a temporary file of this writer's
    own (``nonce``), then a rename."""
    tmp = path.with_name(f"{path.name}.{nonce}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _remove(entry: StoredPreview | None, *paths: Path) -> None:
    for p in ((entry.rows_path, entry.index_path) if entry else ()) + paths:
        p.unlink(missing_ok=True)


def save_preview(directory: Path, token: str, key: str, rows: Iterable[RowResult], *,
                 owner: int | None, now: float) -> StoredPreview:
    """Keep ``rows`` (a dry run's, in file order) as the entry for ``key``, replacing the
    one there was, and drop this upload's oldest entries beyond :data:`KEEP`."""
    nonce = secrets.token_hex(4)
    stem = f"{token}.preview.{key}.{nonce}"
    rows_path, index_path = directory / f"{stem}.rows", directory / f"{stem}.index"
    offsets: dict[str, array] = {s: array("Q") for s in SECTIONS}
    counts = dict.fromkeys(STATUSES, 0)
    tmp = rows_path.with_name(f"{rows_path.name}.tmp")
    with open(tmp, "wb") as f:
        position = 0
        for r in rows:
            line = json.dumps([r.line, r.status, r.reason, r.company, r.contact],
                              ensure_ascii=False).encode("utf-8") + b"\n"
            offsets[""].append(position)
            offsets[r.status].append(position)
            counts[r.status] += 1
            f.write(line)
            position += len(line)
    os.replace(tmp, rows_path)
    index = array("Q")
    sections = {}
    for s in SECTIONS:
        sections[s] = (len(index), len(offsets[s]))
        index.extend(offsets[s])
    if sys.byteorder != "little":
        index.byteswap()
    _replace_bytes(index_path, index.tobytes(), nonce)
    path = _entry_path(directory, token, key)
    before = _read_entry(path)
    _replace_bytes(path, json.dumps({
        "key": key, "owner": owner, "computed_at": now, "counts": counts, "rows": rows_path.name,
        "index": index_path.name, "sections": sections}).encode("utf-8"), nonce)
    if before is not None and before.rows_path != rows_path:
        _remove(before)  # the replaced entry's data files
    entries = []
    for other in directory.glob(f"{token}.preview.*.json"):
        if other != path:
            entries.append((_read_entry(other), other))
    entries.sort(key=lambda e: e[0].computed_at if e[0] else float("-inf"), reverse=True)
    for entry, other in entries[KEEP - 1:]:
        _remove(entry, other)  # a reader of it finds no files: it decides again
    return StoredPreview(key=key, owner=owner, computed_at=now, counts=counts, rows_path=rows_path,
                         index_path=index_path, sections=sections)


def drop_previews(directory: Path, token: str) -> None:
    """Every kept dry run of the upload ``token`` (and any half-written file), gone."""
    for path in directory.glob(f"{token}.preview.*"):
        path.unlink(missing_ok=True)
