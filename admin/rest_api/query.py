"""The REST API's query strings, read into frozen values: pure (no Flask, no SQL).

Each list endpoint takes a fixed set of parameters; anything else is refused, so an
integration with a typo learns it at once instead of getting every row:

=================  ===============================================  =====================
parameter          accepted                                         refused (400)
=================  ===============================================  =====================
since, until       RFC 3339 time with an offset:                    no offset, not a time,
                   ``2026-11-23T10:00:00+03:00``, ``...Z``;          out of range
                   since inclusive, until exclusive
limit              1..500 (default 100)                             0, 501, ``1.5``, ``+5``
cursor             the ``next_cursor`` of the previous page         anything else
direction          ``inbound | outbound | internal``                other words
outcome            one of :data:`models.CALL_OUTCOMES`              other words
status             one of :data:`models.INQUIRY_STATUSES`           other words
class              an inquiry class code that exists                unknown codes
phone              any number the CRM can normalise (E.164 match)   letters, too short
employee_id,       1..2147483647                                    ``0``, ``-1``, ``x``
call_id
(any other name)                                                    always
(a name twice)                                                      always
=================  ===============================================  =====================

Pages are keyset pages ordered by (time, id): the cursor carries the last row's pair, so
rows with equal times are neither lost nor repeated between pages, and rows added later
appear on a later page.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pbx_daemon.crm import models as m
from pbx_daemon.crm.phones import InvalidPhoneNumber, normalize

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_ID = 2**31 - 1  # PostgreSQL's integer: ids in paths and filters stay within it

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,20}))?([Zz]|[+-]\d{2}:\d{2})$")
_DIGITS = re.compile(r"^[0-9]{1,10}$")
_CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


class BadParameter(ValueError):
    """``parameter`` cannot be used; ``message`` says why, in words for the integrator."""

    def __init__(self, parameter: str, message: str):
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True)
class ListQuery:
    """One page of a list: the time window, the page size, where the previous page
    ended (time, id), and the endpoint's own filters by name."""

    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    after: tuple[datetime, int] | None = None
    filters: Mapping[str, object] = field(default_factory=dict)


def parse_time(name: str, text: str) -> datetime:
    """An RFC 3339 date-time with an offset, as aware UTC. A leap second (``:60``) reads
    as ``:59``; fractions beyond microseconds are cut."""
    match = _RFC3339.match(text)
    if not match:
        raise BadParameter(name, "not an RFC 3339 date-time with a time zone, "
                                 "e.g. 2026-11-23T10:00:00+03:00 or 2026-11-23T07:00:00Z")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    zone = match.group(8)
    try:
        if zone in ("Z", "z"):
            tz = timezone.utc
        else:
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if minutes > 59:
                raise ValueError("offset minutes out of range")
            sign = -1 if zone[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        local = datetime(year, month, day, hour, minute, min(second, 59), micro, tzinfo=tz)
        return local.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise BadParameter(name, "not a date-time that exists (or out of range)") from None


def parse_id(name: str, text: str) -> int:
    if not _DIGITS.match(text) or not 1 <= int(text) <= MAX_ID:
        raise BadParameter(name, f"not an id (a whole number 1..{MAX_ID})")
    return int(text)


def parse_limit(name: str, text: str) -> int:
    if not _DIGITS.match(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadParameter(name, f"not a page size (a whole number 1..{MAX_LIMIT})")
    return int(text)


def one_of(values: Collection[str]) -> Callable[[str, str], str]:
    def parse(name: str, text: str) -> str:
        if text not in values:
            raise BadParameter(name, f"not one of: {', '.join(sorted(values))}")
        return text
    return parse


def phone_parser(region: str = "RU", default_area_code: str = "") -> Callable[[str, str], str]:
    def parse(name: str, text: str) -> str:
        try:
            return normalize(text, region, default_area_code).e164
        except InvalidPhoneNumber as e:
            raise BadParameter(name, str(e)) from None
    return parse


def encode_cursor(at: datetime, row_id: int) -> str:
    """Where a page ended, opaque to the integrator: base64url of ``<UTC time>|<id>``."""
    raw = f"{at.astimezone(timezone.utc).isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(name: str, text: str) -> tuple[datetime, int]:
    bad = BadParameter(name, "not a cursor this API gave (use next_cursor of the previous page)")
    if not _CURSOR.match(text):
        raise bad
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at, _, row_id = raw.partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not _DIGITS.match(row_id):
            raise bad
        return when.astimezone(timezone.utc), int(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise bad from None


Parser = Callable[[str, str], object]


def parse_list(args: Mapping[str, Sequence[str]], filters: Mapping[str, Parser]) -> ListQuery:
    """``args`` (each name with every value given) -> a :class:`ListQuery`, or
    :class:`BadParameter` naming the first problem. ``filters``: the endpoint's own
    parameters and how each is read."""
    known = {"since", "until", "limit", "cursor", *filters}
    for name in sorted(args):
        if name not in known:
            raise BadParameter(name, f"unknown parameter (this endpoint takes: {', '.join(sorted(known))})")
        if len(args[name]) != 1:
            raise BadParameter(name, "given more than once")
    value = {name: values[0] for name, values in args.items()}
    since = parse_time("since", value["since"]) if "since" in value else None
    until = parse_time("until", value["until"]) if "until" in value else None
    if since is not None and until is not None and until < since:
        raise BadParameter("until", "is before since")
    return ListQuery(
        since=since, until=until,
        limit=parse_limit("limit", value["limit"]) if "limit" in value else DEFAULT_LIMIT,
        after=decode_cursor("cursor", value["cursor"]) if "cursor" in value else None,
        filters={name: parse(name, value[name]) for name, parse in filters.items() if name in value})


def call_filters(region: str = "RU", default_area_code: str = "") -> dict[str, Parser]:
    return {"direction": one_of(m.CALL_DIRECTIONS), "outcome": one_of(m.CALL_OUTCOMES),
            "phone": phone_parser(region, default_area_code), "employee_id": parse_id}


def inquiry_filters(class_codes: Collection[str]) -> dict[str, Parser]:
    return {"status": one_of(m.INQUIRY_STATUSES), "class": one_of(class_codes)}


def recording_filters() -> dict[str, Parser]:
    return {"call_id": parse_id}
