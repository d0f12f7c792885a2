"""The daily call rollup the analytics read (``call_stats``), and how it stays right.

Ten million calls are too many to scan per page view, so each company day is summed once
into a few hundred rows: per department, employee, kind, outcome and flags. A day's rows
are always rebuilt whole from ``calls``, never patched, so a rebuild is the fix for
anything; what can change is *which* days need one:

* writers never touch the rollup: a flush that changes a call, a leg, an inquiry's class
  or an employee's mobile marks the affected 15-minute UTC slots dirty, in the same
  transaction (:func:`install_dirty_marker`: every session factory installs it; a
  session made some other way marks nothing);
* :func:`ensure_fresh` (pages, reports) rebuilds the days of a period that are dirty,
  never built, or built for another time zone, then the readers sum rollup rows;
* the daemon calls :func:`refresh` every ``report.stats_refresh_interval`` seconds: the
  dirty days, so a page usually finds only the last minute's changes to rebuild, and a
  slice of days never built (an upgraded or restored history);
* ``pbx-crm stats rebuild`` builds a whole history (after an upgrade, or a restore).

A rebuild first upserts the day's ``call_stat_days`` row: on PostgreSQL that row lock
makes two rebuilders of one day take turns instead of both inserting; SQLite allows one
writer anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import (Date, Integer, and_, case, cast, delete, distinct, event, exists, func, insert, inspect,
                        literal, null, or_, select, text)
from sqlalchemy.orm import Session, sessionmaker

from pbx_daemon.crm import models as m
from pbx_daemon.crm.types import as_utc

# Inquiry classes (or call dispositions) that take a call out of the Lost Call Rate.
EXCLUDED_CLASSES = ("spam", "own")


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """A company day as a UTC ``[start, end)``."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def local_day(at: datetime, tz: str) -> date:
    """The company day (in ``tz``) of the aware time ``at``."""
    return at.astimezone(ZoneInfo(tz)).date()


def counted_inbound():
    """The calls the Lost Call Rate counts: inbound, finished, within working hours (not
    ``after_hours`` / ``voicemail``), not from a blocklisted number
    (outcome ``blocked``), not from our own staff (the caller is an employee's mobile), not
    classed Spam or Own (by the call's inquiry or the call's own disposition)."""
    spam_or_own = select(m.InquiryClass.id).where(m.InquiryClass.code.in_(EXCLUDED_CLASSES))
    classified_out = exists().where(m.Inquiry.id == m.Call.inquiry_id, m.Inquiry.class_id.in_(spam_or_own))
    staff = exists().where(m.Employee.mobile == m.Call.caller)
    # After hours (greeting, voicemail) nobody could answer: not lost, their own columns.
    return and_(m.Call.direction == "inbound",
                m.Call.outcome.notin_(("blocked", "in_progress") + m.AFTER_HOURS_OUTCOMES),
                ~classified_out, ~staff,
                or_(m.Call.disposition.is_(None), m.Call.disposition.notin_(EXCLUDED_CLASSES)))


def _upsert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert


def _seconds(column, dialect: str):
    """A timestamp as whole Unix seconds, in SQL (each backend has its own spelling)."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), Integer)
    return cast(func.strftime("%s", column), Integer)


def refresh_day(session: Session, day: date, tz: str, now: datetime) -> int:
    """Rebuild one company day's rollup rows from ``calls``, summed by the database; returns
    the number of rows. The caller commits."""
    start, end = day_bounds(day, tz)
    dialect = session.get_bind().dialect.name
    upsert = _upsert(session)
    stmt = upsert(m.CallStatDay).values(day=day, tz=tz, refreshed_at=now)
    session.execute(stmt.on_conflict_do_update(index_elements=["day"],
                                               set_={"tz": tz, "refreshed_at": now}))
    if dialect == "postgresql":
        # PostgreSQL's planner prices a day's scan high enough to JIT-compile it, which
        # alone takes ~0.5 s of a ~0.1 s query; for this transaction only.
        session.execute(text("SET LOCAL jit = off"))
    session.execute(delete(m.CallStat).where(m.CallStat.day == day))
    session.execute(delete(m.CallStatDirty).where(m.CallStatDirty.slot >= start, m.CallStatDirty.slot < end))
    in_day = and_(m.Call.started_at >= start, m.Call.started_at < end)
    delay = _seconds(m.Call.recovered_at, dialect) - _seconds(m.Call.started_at, dialect)
    # A transfer target's part of an inbound call: from their answer to their leg's end.
    Leg = m.CallLeg
    part = _seconds(Leg.ended_at, dialect) - _seconds(Leg.answered_at, dialect)
    is_part = and_(Leg.step == m.TRANSFER_STEP, Leg.answered_at.isnot(None), Leg.ended_at.isnot(None))
    parts = select(func.coalesce(func.sum(part), 0)).where(Leg.call_id == m.Call.id, is_part) \
        .correlate(m.Call).scalar_subquery()
    calls = select(
        m.Call.department_id.label("department_id"),
        case((m.Call.direction == "outbound", m.Call.employee_id), else_=m.Call.answered_by_id).label("employee_id"),
        m.Call.direction.label("kind"),
        m.Call.outcome.label("outcome"),
        case((counted_inbound(), True), else_=False).label("counted"),
        case((m.Call.call_list_entry_id.isnot(None), True), else_=False).label("cold"),
        # Whole minutes, rounded up, from the missed call to its recovery.
        case((and_(m.Call.outcome == "missed", m.Call.recovered_at.isnot(None)),
              case((delay > 0, (delay + 59) // 60), else_=0))).label("recovered_minutes"),
        # The first answerer keeps the talk time the transfer targets did not take.
        case((m.Call.direction == "inbound",
              case((func.coalesce(m.Call.talk_seconds, 0) > parts,
                    func.coalesce(m.Call.talk_seconds, 0) - parts), else_=0)),
             else_=func.coalesce(m.Call.talk_seconds, 0)).label("talk_seconds"),
    # Internal calls (one desk phone calling another) are no client's call: no figure
    # counts them, not even talk time.
    ).where(in_day, m.Call.direction != "internal").subquery()
    keys = [calls.c.department_id, calls.c.employee_id, calls.c.kind, calls.c.outcome, calls.c.counted,
            calls.c.cold, calls.c.recovered_minutes]
    columns = ["day", "department_id", "employee_id", "kind", "outcome", "counted", "cold",
               "recovered_minutes", "calls", "talk_seconds"]
    inserted = session.execute(insert(m.CallStat).from_select(columns, select(
        literal(day, Date), *keys, func.count(), func.sum(calls.c.talk_seconds)).group_by(*keys))).rowcount
    # Who a counted missed call rang: once per call and employee, whatever the steps.
    rang = select(literal(day, Date), m.Call.department_id, m.CallLeg.employee_id, literal("rang_missed"),
                  literal("missed"), literal(True), literal(False), null(),
                  func.count(distinct(m.CallLeg.call_id)), literal(0)) \
        .join(m.Call, m.Call.id == m.CallLeg.call_id) \
        .where(in_day, m.Call.outcome == "missed", counted_inbound(), m.CallLeg.employee_id.isnot(None)) \
        .group_by(m.Call.department_id, m.CallLeg.employee_id)
    inserted += session.execute(insert(m.CallStat).from_select(columns, rang)).rowcount
    # Who took an inbound call over by a transfer, and their part of its talk time.
    transferred = select(literal(day, Date), m.Call.department_id, Leg.employee_id, literal("transfer"),
                         literal("answered"), literal(False), literal(False), null(),
                         func.count(distinct(Leg.call_id)), func.sum(part)) \
        .join(m.Call, m.Call.id == Leg.call_id) \
        .where(in_day, m.Call.direction == "inbound", is_part, Leg.employee_id.isnot(None)) \
        .group_by(m.Call.department_id, Leg.employee_id)
    inserted += session.execute(insert(m.CallStat).from_select(columns, transferred)).rowcount
    return inserted


def stale_days(session: Session, first: date, last: date, tz: str) -> list[date]:
    """The days of ``[first, last]`` whose rollup is missing, dirty or for another zone."""
    start, end = day_bounds(first, tz)[0], day_bounds(last, tz)[1]
    built = set(session.scalars(select(m.CallStatDay.day).where(
        m.CallStatDay.day >= first, m.CallStatDay.day <= last, m.CallStatDay.tz == tz)))
    dirty = {local_day(slot, tz) for slot in session.scalars(select(m.CallStatDirty.slot).where(
        m.CallStatDirty.slot >= start, m.CallStatDirty.slot < end))}
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return sorted(d for d in days if d not in built or d in dirty)


def _refresh(session: Session, days: Iterable[date], tz: str, now: Callable[[], datetime],
             progress: Callable[[date], None] | None = None) -> list[date]:
    done = []
    for day in days:
        refresh_day(session, day, tz, now())
        session.commit()  # a day at a time: short write locks, and a crash loses one day's work
        done.append(day)
        if progress:
            progress(day)
    return done


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def ensure_fresh(session: Session, first: date, last: date, tz: str,
                 now: Callable[[], datetime] = _utcnow) -> list[date]:
    """Rebuild what the period needs before reading it; returns the days rebuilt."""
    return _refresh(session, stale_days(session, first, last, tz), tz, now)


def refresh_dirty(session: Session, tz: str, now: Callable[[], datetime] = _utcnow) -> list[date]:
    """Rebuild every day with a dirty slot (the daemon's periodic job)."""
    slots = session.scalars(select(m.CallStatDirty.slot)).all()
    return _refresh(session, sorted({local_day(s, tz) for s in slots}), tz, now)


def unbuilt_days(session: Session, tz: str, today: date) -> list[date]:
    """Days from the first call's to ``today`` never built for ``tz``, newest first."""
    oldest = session.scalar(select(func.min(m.Call.started_at)))
    if oldest is None:
        return []
    first = local_day(oldest, tz)
    built = set(session.scalars(select(m.CallStatDay.day).where(
        m.CallStatDay.day >= first, m.CallStatDay.tz == tz)))
    return [d for d in (today - timedelta(days=i) for i in range((today - first).days + 1)) if d not in built]


def refresh(session: Session, tz: str, now: Callable[[], datetime] = _utcnow,
            backfill_days: int = 30) -> list[date]:
    """The daemon's periodic job: every dirty day, then up to ``backfill_days`` days never
    built (newest first), so an upgraded or restored history gets built a slice a minute
    without anyone running ``pbx-crm stats rebuild``."""
    done = refresh_dirty(session, tz, now)
    todo = unbuilt_days(session, tz, local_day(now(), tz))[:backfill_days]
    return done + _refresh(session, todo, tz, now)


def rebuild(session: Session, tz: str, first: date | None = None, last: date | None = None,
            now: Callable[[], datetime] = _utcnow,
            progress: Callable[[date], None] | None = None) -> list[date]:
    """Build every day from ``first`` (default: the first call's day) to ``last`` (default:
    today), whether stale or not."""
    if first is None:
        oldest = session.scalar(select(m.Call.started_at).order_by(m.Call.started_at).limit(1))
        first = local_day(oldest, tz) if oldest else local_day(now(), tz)
    last = last or local_day(now(), tz)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return _refresh(session, days, tz, now, progress)


# ---- marking slots dirty -------------------------------------------------------------------
# The Call columns the rollup reads: changing any of them makes the call's slot dirty.
STAT_CALL_FIELDS = ("started_at", "direction", "outcome", "answered_by_id", "employee_id",
                    "department_id", "talk_seconds", "disposition", "recovered_at", "inquiry_id",
                    "call_list_entry_id", "caller")


def stat_slot(at: datetime) -> datetime:
    """The UTC 15-minute slot of ``at``. ``at`` may be an attribute value not yet written,
    so it gets the column's rule: naive means UTC."""
    at = as_utc(at)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def install_dirty_marker(session_factory: sessionmaker) -> None:
    """Make every session of ``session_factory`` mark dirty slots on flush; once per factory.

    The daemon and the CLI get it from :func:`pbx_daemon.db.make_session_factory`, the admin
    in ``create_app``; a ``Session`` made without one of those factories marks nothing.
    (Not guarded with ``event.contains``: for a new sessionmaker it can answer True when an
    earlier, garbage sessionmaker's class had the same ``id``.)
    """
    event.listen(session_factory, "after_flush", mark_dirty_slots)


def mark_dirty_slots(session: Session, _context=None) -> None:
    """Mark the slots of what this flush changed that the rollup counts, in the same
    transaction: a rollup can be stale for a moment, never silently wrong."""
    slots: set[datetime] = set()
    call_ids: set[int] = set()
    inquiry_ids: set[int] = set()
    numbers: set[str] = set()
    # Session.new / .deleted build a new set on each access: take them once.
    fresh_or_gone_objects = [*session.new, *session.deleted]
    for fresh_or_gone, objects in ((True, fresh_or_gone_objects), (False, session.dirty)):
        for obj in objects:
            _collect(obj, fresh_or_gone, slots, call_ids, inquiry_ids, numbers)
    conn = session.connection()
    for column, values in ((m.Call.id, call_ids), (m.Call.inquiry_id, inquiry_ids), (m.Call.caller, numbers)):
        if values:
            slots.update(stat_slot(t) for t in conn.scalars(
                select(m.Call.started_at).where(column.in_(values)).distinct()) if t is not None)
    if slots:
        # DO UPDATE, not DO NOTHING: the no-op update locks a slot row that already exists,
        # so a rebuild deleting it waits for this transaction and then reads its changes.
        # With DO NOTHING a rebuild could delete the slot, read the calls without this
        # transaction's change, and leave the day silently stale (PostgreSQL).
        stmt = _upsert(session)(m.CallStatDirty)
        conn.execute(stmt.on_conflict_do_update(index_elements=["slot"], set_={"slot": stmt.excluded.slot}),
                     [{"slot": slot} for slot in sorted(slots)])


def _changed(obj, fields) -> bool:
    attrs = inspect(obj).attrs
    return any(attrs[f].history.has_changes() for f in fields)


def _collect(obj, fresh_or_gone: bool, slots: set, call_ids: set, inquiry_ids: set, numbers: set) -> None:
    """What one new, changed or deleted object makes dirty (see :func:`mark_dirty_slots`)."""
    if isinstance(obj, m.Call):
        if fresh_or_gone or _changed(obj, STAT_CALL_FIELDS):
            slots.update(stat_slot(t) for t in (obj.started_at,
                         *inspect(obj).attrs.started_at.history.deleted) if t is not None)
    elif isinstance(obj, m.CallLeg):
        if fresh_or_gone or _changed(obj, ("employee_id", "call_id")):
            call_ids.add(obj.call_id)
    elif isinstance(obj, m.Inquiry):
        if not fresh_or_gone and _changed(obj, ("class_id",)):
            inquiry_ids.add(obj.id)
    elif isinstance(obj, m.Employee):
        history = inspect(obj).attrs.mobile.history
        if fresh_or_gone or history.has_changes():
            numbers.update(n for n in (obj.mobile, *history.deleted) if n)
