"""``UtcDateTime``: the column type of every stored time, aware UTC in and out.

Values bound to SQL are converted to UTC; naive values are taken as UTC already (Flask-Admin
forms hand in naive datetimes, and rows written before this type were UTC). Values read back
are aware UTC on every backend: SQLite returns the stored text as naive datetimes, PostgreSQL
returns ``timestamptz`` in the session's time zone. The DDL is that of
``DateTime(timezone=True)``: the schema does not change.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC; a naive ``value`` is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        # Anything but a datetime (None, a string a filter typed) goes on as before.
        return as_utc(value) if isinstance(value, datetime) else value

    def process_result_value(self, value, dialect):
        return as_utc(value) if isinstance(value, datetime) else value


# What the models map ``datetime`` to. Flask-Admin picks form fields and list filters by the
# class name of a column's type ("DateTime"), so the column keeps a DateTime type and the two
# backends we run on use UtcDateTime as their variant: same DDL, UTC conversion on both.
UTC_DATETIME = DateTime(timezone=True).with_variant(UtcDateTime(), "sqlite", "postgresql")
