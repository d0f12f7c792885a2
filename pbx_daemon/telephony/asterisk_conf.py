"""Reading Asterisk's own configuration files, as far as ``pbx-crm asterisk install`` needs:
which categories (sections) exist, in which file, with which settings, following
``#include`` / ``#tryinclude``.

Asterisk's format (main/config.c): ``;`` starts a comment unless escaped as ``\\;``;
``;--`` ... ``--;`` is a block comment; ``[name]`` opens a category, ``[name](!)`` a
template, ``[name](+)`` adds to an existing one, ``[name](tpl)`` inherits a template;
``key = value`` and ``key => value`` are settings; ``#include file`` and
``#tryinclude file`` pull another file in at that point, relative to astetcdir unless
absolute; ``#exec`` runs a program (never followed here). Pure: the caller passes the
files' texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

_CATEGORY = re.compile(r"^\[([^\]]*)\]\s*(?:\(([^)]*)\))?")
_INCLUDE = re.compile(r"^#\s*(include|tryinclude)\s+[\"<]?([^\"<>]+?)[\">]?\s*$")


@dataclass
class Category:
    """One ``[name]`` as written in one file."""

    name: str
    file: str
    line: int
    options: str = ""  # "!", "+", a template list
    settings: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        """The last value of ``key`` here (Asterisk's modules take the last one)."""
        value = None
        for k, v in self.settings:
            if k.lower() == key.lower():
                value = v
        return value

    @property
    def is_template(self) -> bool:
        return "!" in self.options.split(",")


def strip_comment(line: str, in_block: bool) -> tuple[str, bool]:
    """The line without comments, and whether a ``;--`` block comment is still open."""
    out = []
    i = 0
    while i < len(line):
        if in_block:
            end = line.find("--;", i)
            if end < 0:
                return "".join(out), True
            i, in_block = end + 3, False
            continue
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if c == ";":
            if line.startswith(";--", i):
                in_block = True
                i += 3
                continue
            break
        out.append(c)
        i += 1
    return "".join(out), in_block


def parse(text: str, file: str) -> tuple[list[Category], list[tuple[int, str]]]:
    """Categories (settings before the first category go to one named "") and the
    ``#include``/``#tryinclude`` targets with their line numbers, in order."""
    categories = [Category("", file, 0)]
    includes: list[tuple[int, str]] = []
    in_block = False
    for number, raw in enumerate(text.splitlines(), 1):
        line, in_block = strip_comment(raw, in_block)
        line = line.strip()
        if not line:
            continue
        include = _INCLUDE.match(line)
        if include:
            includes.append((number, include.group(2).strip()))
            continue
        if line.startswith("#"):
            continue  # #exec and the like: never followed
        category = _CATEGORY.match(line)
        if category:
            categories.append(Category(category.group(1).strip(), file, number,
                                       (category.group(2) or "").strip()))
            continue
        key, sep, value = line.partition("=")
        if sep:
            categories[-1].settings.append((key.strip(), value.lstrip(">").strip()))
    return categories, includes


def load(files: Mapping[str, str], top: str, etc_dir: str = "") -> list[Category]:
    """Every category of ``top`` and what it includes (depth first, as Asterisk reads
    them), from ``files`` (file name relative to astetcdir -> text). An include of a file
    that is not in ``files`` is skipped, as ``#tryinclude`` would; a loop is cut."""
    out: list[Category] = []

    def walk(name: str, seen: tuple[str, ...]) -> None:
        if name in seen or name not in files:
            return
        categories, includes = parse(files[name], name)
        # Interleave: an include's categories come where the include line is.
        pending = list(includes)
        for index, category in enumerate(categories):
            nxt = categories[index + 1].line if index + 1 < len(categories) else 10 ** 9
            out.append(category)
            while pending and pending[0][0] < nxt:
                _, target = pending.pop(0)
                walk(_relative(target, etc_dir), seen + (name,))

    walk(top, ())
    return out


def _relative(target: str, etc_dir: str) -> str:
    """An include target as a key of ``files``: relative to astetcdir (an absolute path
    inside ``etc_dir`` is made relative; one outside stays absolute, and unread)."""
    if etc_dir and target.startswith(etc_dir.rstrip("/") + "/"):
        return target[len(etc_dir.rstrip("/")) + 1:]
    return target.removeprefix("./")


def find(categories: list[Category], name: str) -> list[Category]:
    return [c for c in categories if c.name == name]
