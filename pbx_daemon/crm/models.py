"""The data model, shared by the daemon and the admin (SQLAlchemy 2, no Flask).

Conventions:

* Every phone number is E.164 text (``+79161234567``) in an indexed column, with the
  extension apart (``phone_ext``), so a caller is found by one indexed equality lookup.
* E-mails are stored lower-cased in indexed columns; names are compared after
  :func:`normalize_name` (``name_key`` columns) for duplicate checks.
* Times are timezone-aware UTC. Enumerations are short strings with CHECK constraints
  (portable between SQLite and PostgreSQL, readable in SQL).
* Company-wide settings (the escalation top, the company's caller id) are rows of the
  ``settings`` key/value table; see :data:`SETTING_ESCALATION_TOP`.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from pbx_daemon.crm.phones import E164
from pbx_daemon.crm.types import UTC_DATETIME

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "owner", "head", "manager", "operator", "cold_operator")
TASK_TYPES = ("call", "meeting", "email")
TASK_STATUSES = ("open", "done", "cancelled")
LEAD_STATUSES = ("new", "in_progress", "converted", "lost")
INQUIRY_CHANNELS = ("call", "web_form", "email", "cold_call")
INQUIRY_STATUSES = ("open", "in_progress", "closed")
CALL_DIRECTIONS = ("inbound", "outbound", "internal")
CALL_OUTCOMES = ("answered", "missed", "busy", "failed", "no_answer", "blocked", "abandoned",
                 "in_progress", "after_hours", "voicemail")
# Inbound calls outside working hours: the greeting played (after_hours), and a message was
# left (voicemail). Out of the Lost Call Rate, in their own columns.
AFTER_HOURS_OUTCOMES = ("after_hours", "voicemail")
CALENDAR_DAY_KINDS = ("closed", "working")
CALL_HANDLERS = ("daemon", "agi_fallback", "fallback_group", "reconciled")
# call_legs.step of a phone rung, or handed the caller, by a transfer (routing steps count from 1).
TRANSFER_STEP = -1
LEG_OUTCOMES = ("ringing", "answered", "no_answer", "busy", "rejected", "cancelled", "failed")
ENTRY_STATUSES = ("pending", "in_progress", "done")

SETTING_ESCALATION_TOP = "escalation_top_employee_id"
SETTING_COMPANY_CALLER_ID = "company_caller_id"

# The inquiry classes of seed 003: code, English name, Russian name.
INQUIRY_CLASSES = (
    ("lead", "Lead", "Лид"),
    ("spam", "Spam", "Спам"),
    ("client", "Client", "Клиент"),
    ("partner", "Partner", "Партнёр"),
    ("own", "Own", "Свои"),
    ("non_target", "Non-target", "Нецелевой"),
    ("wrong_number", "Wrong number", "Ошибка номера"),
    ("unclear", "Unclear", "Непонятно"),
)
# The seeded deal stages, in Russian (migration 0005 renames 0001's English ones).
DEAL_STAGES = (
    ("Новая", False, False), ("Квалификация", False, False), ("КП отправлено", False, False),
    ("Переговоры", False, False), ("Успешно закрыта", True, False), ("Проиграна", False, True),
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_session_nonce() -> str:
    """A fresh :attr:`Employee.session_nonce`."""
    return secrets.token_hex(16)


def normalize_name(name: str | None) -> str | None:
    """``"  Иванов   Иван "`` -> ``"иванов иван"``: the key duplicate checks compare."""
    if name is None:
        return None
    key = " ".join(name.split()).casefold().replace("ё", "е")  # split(): what \s+ matches
    return key or None


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # Every ``Mapped[datetime]`` is aware UTC in and out (see pbx_daemon.crm.types).
    type_annotation_map = {datetime: UTC_DATETIME, dict[str, Any]: JSON}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Setting(Base):
    """Company-wide settings: one row a key, the value as text."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Department(Timestamps, Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    head_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", use_alter=True, name="fk_departments_head_id_employees",
                   ondelete="SET NULL"))
    duty_employee_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", use_alter=True, name="fk_departments_duty_employee_id_employees",
                   ondelete="SET NULL"))
    # The next level up the escalation chain; None means the company's escalation top.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    # Ring-step timeouts in seconds; None means the config's [routing] default.
    owner_timeout: Mapped[int | None]
    group_timeout: Mapped[int | None]
    head_timeout: Mapped[int | None]
    top_timeout: Mapped[int | None]
    # SIP endpoint names rung by the dialplan when the daemon and the AGI fallback are both
    # unavailable, comma-separated ("101,102"); validated before it reaches a dial string.
    fallback_ring_group: Mapped[str] = mapped_column(String(400), default="")
    # The after-hours greeting: a file name under <data_dir>/greetings that we chose
    # ("dept-3-<token>.wav"), never the uploader's; None: Asterisk's stock prompt.
    greeting_file: Mapped[str | None] = mapped_column(String(80))
    # Every phone busy: the caller waits this many seconds for one to free up (0: off).
    hold_seconds: Mapped[int] = mapped_column(default=0, server_default="0")

    head: Mapped["Employee | None"] = relationship(foreign_keys=[head_id], post_update=True)
    duty_employee: Mapped["Employee | None"] = relationship(foreign_keys=[duty_employee_id],
                                                            post_update=True)
    parent: Mapped["Department | None"] = relationship(remote_side=[id])
    members: Mapped[list["Employee"]] = relationship(
        back_populates="department", foreign_keys="Employee.department_id")

    __table_args__ = tuple(
        CheckConstraint(f"{c} IS NULL OR ({c} > 0 AND {c} <= 600)", name=f"{c}_range")
        for c in ("owner_timeout", "group_timeout", "head_timeout", "top_timeout"))

    def __str__(self) -> str:
        return self.name


class Employee(Timestamps, Base):
    __tablename__ = "employees"
    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    role: Mapped[str] = mapped_column(String(20), default="manager")
    # The PJSIP endpoint of the employee's phone ("101"); dial strings are built from it.
    sip_endpoint: Mapped[str | None] = mapped_column(String(40), unique=True)
    extension: Mapped[str | None] = mapped_column(String(10))
    mobile: Mapped[str | None] = mapped_column(String(16), index=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True)
    # "Off now": routing skips the employee until then, whatever their schedule says
    # (pbx_daemon.crm.duty); a past value means nothing.
    off_until: Mapped[datetime | None] = mapped_column()
    dnd: Mapped[bool] = mapped_column(Boolean, default=False)
    # Follow-me: the mobile rings too, mobile_delay seconds into the employee's steps.
    mobile_follow: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    mobile_delay: Mapped[int] = mapped_column(default=5, server_default="5")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Goes into the admin's session cookie at login and is checked on every request: a new
    # value (logout, password change) ends every session the employee had.
    session_nonce: Mapped[str | None] = mapped_column(String(32), default=new_session_nonce)
    # The phone's SIP digest credentials (pbx_daemon.telephony.phones_file): the HA1 of
    # "<sip_endpoint>:pbx-crm:<password>", never the password. None: no registering phone.
    sip_md5_cred: Mapped[str | None] = mapped_column(String(32))
    sip_password_set_at: Mapped[datetime | None] = mapped_column()

    department: Mapped[Department | None] = relationship(back_populates="members",
                                                         foreign_keys=[department_id])
    shifts: Mapped[list[EmployeeShift]] = relationship(
        back_populates="employee", cascade="all, delete-orphan", passive_deletes=True)
    absences: Mapped[list[EmployeeAbsence]] = relationship(
        back_populates="employee", cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint("sip_endpoint IS NULL OR sip_endpoint <> ''", name="sip_endpoint_not_empty"),
    )

    def __str__(self) -> str:
        return self.full_name


WEEKDAYS = ("0", "1", "2", "3", "4", "5", "6")  # Monday .. Sunday
ABSENCE_KINDS = ("vacation", "sick", "other")


class EmployeeShift(Base):
    """One weekly shift: on ``weekday`` from ``starts`` to ``ends`` in company time
    (``ends`` at or before ``starts``: past midnight). An employee with none is always on."""

    __tablename__ = "employee_shifts"
    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)

    employee: Mapped[Employee] = relationship(back_populates="shifts")

    __table_args__ = (CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),)

    def __str__(self) -> str:
        return f"{self.weekday} {self.starts:%H:%M}-{self.ends:%H:%M}"


class EmployeeAbsence(Base):
    """A vacation, sick leave or other absence: off from ``first_day`` to ``last_day``
    (both included, company dates), whatever the schedule says."""

    __tablename__ = "employee_absences"
    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="vacation")
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(200))

    employee: Mapped[Employee] = relationship(back_populates="absences")

    __table_args__ = (CheckConstraint(_in("kind", ABSENCE_KINDS), name="kind"),
                      CheckConstraint("last_day >= first_day", name="days_in_order"))

    def __str__(self) -> str:
        return f"{self.kind} {self.first_day}..{self.last_day}"


class Source(Base):
    """Where inquiries come from: an ad campaign, a site, a directory listing."""

    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)

    def __str__(self) -> str:
        return self.name


class TrackingNumber(Timestamps, Base):
    """A dialled number (DID) -> the source it advertises and the department it rings."""

    __tablename__ = "tracking_numbers"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    source: Mapped[Source | None] = relationship()
    department: Mapped[Department | None] = relationship()

    def __str__(self) -> str:
        return self.number


class WorkingHours(Base):
    """One weekday's opening hours of a department, or of a tracking number whose hours
    differ (they then replace the department's). A department (number) without rows has
    no schedule: always open. ``ranges`` as people write them: ``09:00-13:00, 14:00-18:00``;
    empty: closed that weekday (pbx_daemon.crm.hours)."""

    __tablename__ = "working_hours"
    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), index=True)
    tracking_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracking_numbers.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]  # 0 Monday .. 6 Sunday
    ranges: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday"),
        CheckConstraint("(department_id IS NULL) <> (tracking_number_id IS NULL)", name="one_owner"),
    )


class CalendarDay(Base):
    """A date that does not follow the weekly hours, entered by an admin: ``closed`` (a
    company day off) or ``working`` (with ``ranges``, or the usual weekday's hours when
    empty). ``department_id`` None: every department. Added to the Russian production
    calendar, and wins over it."""

    __tablename__ = "calendar_days"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(10), default="closed")
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), index=True)
    ranges: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(String(200), default="")

    department: Mapped[Department | None] = relationship()

    __table_args__ = (CheckConstraint(_in("kind", CALENDAR_DAY_KINDS), name="kind"),)

    def __str__(self) -> str:
        return f"{self.day:%d.%m.%Y}"


class BlockedNumber(Base):
    __tablename__ = "blocklist"
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return self.phone


Blocklist = BlockedNumber


# ---- CRM records ----------------------------------------------------------------------
class Company(Timestamps, Base):
    """A client: the company (or a private person) the sales department works with."""

    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str | None] = mapped_column(String(300), index=True)
    tax_id: Mapped[str | None] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    website: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text)
    responsible_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))

    responsible: Mapped[Employee | None] = relationship()
    phones: Mapped[list["CompanyPhone"]] = relationship(back_populates="company",
                                                        cascade="all, delete-orphan")
    contacts: Mapped[list["Contact"]] = relationship(back_populates="company")

    def __str__(self) -> str:
        return self.name


class CompanyPhone(Base):
    __tablename__ = "company_phones"
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)
    phone_ext: Mapped[str | None] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(30), default="work")
    company: Mapped[Company] = relationship(back_populates="phones")

    def __str__(self) -> str:
        return self.phone + (f" ext. {self.phone_ext}" if self.phone_ext else "")


class Contact(Timestamps, Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str | None] = mapped_column(String(200), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"), index=True)
    position: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    responsible_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL"), index=True)

    company: Mapped[Company | None] = relationship(back_populates="contacts")
    responsible: Mapped[Employee | None] = relationship()
    phones: Mapped[list["ContactPhone"]] = relationship(back_populates="contact",
                                                        cascade="all, delete-orphan")
    emails: Mapped[list["ContactEmail"]] = relationship(back_populates="contact",
                                                        cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.full_name


class ContactPhone(Base):
    __tablename__ = "contact_phones"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)
    phone_ext: Mapped[str | None] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(30), default="mobile")
    contact: Mapped[Contact] = relationship(back_populates="phones")

    def __str__(self) -> str:
        return self.phone + (f" ext. {self.phone_ext}" if self.phone_ext else "")


class ContactEmail(Base):
    __tablename__ = "contact_emails"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    contact: Mapped[Contact] = relationship(back_populates="emails")

    def __str__(self) -> str:
        return self.email


class Lead(Timestamps, Base):
    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    full_name: Mapped[str | None] = mapped_column(String(200))
    name_key: Mapped[str | None] = mapped_column(String(200), index=True)
    company_name: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(16), index=True)
    phone_ext: Mapped[str | None] = mapped_column(String(10))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    status: Mapped[str] = mapped_column(String(20), default="new")
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    responsible_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    inquiry_id: Mapped[int | None] = mapped_column(
        ForeignKey("inquiries.id", use_alter=True, name="fk_leads_inquiry_id_inquiries",
                   ondelete="SET NULL"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    notes: Mapped[str | None] = mapped_column(Text)

    source: Mapped[Source | None] = relationship()
    responsible: Mapped[Employee | None] = relationship()

    __table_args__ = (CheckConstraint(_in("status", LEAD_STATUSES), name="status"),)

    def __str__(self) -> str:
        return self.title


class DealStage(Base):
    __tablename__ = "deal_stages"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    is_lost: Mapped[bool] = mapped_column(Boolean, default=False)

    def __str__(self) -> str:
        return self.name


class Deal(Timestamps, Base):
    __tablename__ = "deals"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("deal_stages.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    probability: Mapped[int] = mapped_column(default=0)
    responsible_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None]

    company: Mapped[Company | None] = relationship()
    contact: Mapped["Contact | None"] = relationship()
    stage: Mapped[DealStage] = relationship()
    responsible: Mapped[Employee | None] = relationship()

    __table_args__ = (
        CheckConstraint("probability >= 0 AND probability <= 100", name="probability"),
        CheckConstraint("amount >= 0", name="amount"),
    )

    def __str__(self) -> str:
        return self.title


class DealStageTaskRule(Base):
    """When a deal enters ``stage``, create a task (seed 004: "proposal sent" -> call)."""

    __tablename__ = "deal_stage_task_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("deal_stages.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    comment: Mapped[str] = mapped_column(Text)
    offset_minutes: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    stage: Mapped[DealStage] = relationship()

    __table_args__ = (CheckConstraint(_in("type", TASK_TYPES), name="type"),)


# ---- inquiries ------------------------------------------------------------------------------
class InquiryClass(Base):
    __tablename__ = "inquiry_classes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    name_ru: Mapped[str] = mapped_column(String(120))
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(default=0)

    def __str__(self) -> str:
        return self.name


class InquirySubclass(Base):
    __tablename__ = "inquiry_subclasses"
    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("inquiry_classes.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    inquiry_class: Mapped[InquiryClass] = relationship()
    __table_args__ = (UniqueConstraint("class_id", "name", name="uq_inquiry_subclasses_class_name"),)

    def __str__(self) -> str:
        return self.name


class Inquiry(Timestamps, Base):
    """Every inbound contact is an inquiry first (seed 000/003), not a deal."""

    __tablename__ = "inquiries"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(16))
    phone_ext: Mapped[str | None] = mapped_column(String(10))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    name_key: Mapped[str | None] = mapped_column(String(200), index=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    tracking_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracking_numbers.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    responsible_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL"), index=True)
    # active_history: the webhooks' "classified" compares with the old value even when
    # the row was expired (pbx_daemon.crm.webhooks.flushed_events); the same for a task's status.
    class_id: Mapped[int | None] = mapped_column(ForeignKey("inquiry_classes.id", ondelete="SET NULL"),
                                                 active_history=True)
    subclass_id: Mapped[int | None] = mapped_column(
        ForeignKey("inquiry_subclasses.id", ondelete="SET NULL"), active_history=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    missed_count: Mapped[int] = mapped_column(default=0)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    source: Mapped[Source | None] = relationship()
    tracking_number: Mapped[TrackingNumber | None] = relationship()
    inquiry_class: Mapped[InquiryClass | None] = relationship()
    subclass: Mapped[InquirySubclass | None] = relationship()
    responsible: Mapped[Employee | None] = relationship()

    __table_args__ = (
        CheckConstraint(_in("channel", INQUIRY_CHANNELS), name="channel"),
        CheckConstraint(_in("status", INQUIRY_STATUSES), name="status"),
        # "The open inquiry for this number" is the missed-call merge lookup.
        Index("ix_inquiries_phone_status", "phone", "status"),
    )

    def __str__(self) -> str:
        return f"#{self.id} {self.phone or self.email or self.name or ''}".strip()


# ---- calls ----------------------------------------------------------------------------------
class Call(Base):
    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Asterisk's linkedid: one per call across all its channels; reconciliation keys on it.
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(10))
    caller: Mapped[str | None] = mapped_column(String(16), index=True)
    # The caller id exactly as the trunk sent it, for numbers that are not E.164 (anonymous).
    caller_raw: Mapped[str | None] = mapped_column(String(80))
    caller_name: Mapped[str | None] = mapped_column(String(120))
    callee: Mapped[str | None] = mapped_column(String(16), index=True)
    dialled_number: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(20), default="in_progress")
    disposition: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[int | None]
    talk_seconds: Mapped[int | None]
    handled_by: Mapped[str] = mapped_column(String(20), default="daemon")
    # A missed call is "recovered" when a later answered call with the number closes its
    # call-back task.
    recovered_at: Mapped[datetime | None]
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"), index=True)
    inquiry_id: Mapped[int | None] = mapped_column(ForeignKey("inquiries.id", ondelete="SET NULL"), index=True)
    call_list_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_list_entries.id", ondelete="SET NULL"), index=True)

    answered_by: Mapped[Employee | None] = relationship(foreign_keys=[answered_by_id])
    employee: Mapped[Employee | None] = relationship(foreign_keys=[employee_id])
    legs: Mapped[list["CallLeg"]] = relationship(back_populates="call", cascade="all, delete-orphan",
                                                 order_by="CallLeg.ringing_at")
    recording: Mapped["Recording | None"] = relationship(back_populates="call", uselist=False)

    __table_args__ = (
        CheckConstraint(_in("direction", CALL_DIRECTIONS), name="direction"),
        CheckConstraint(_in("outcome", CALL_OUTCOMES), name="outcome"),
        CheckConstraint(_in("handled_by", CALL_HANDLERS), name="handled_by"),
        Index("ix_calls_answered_by_started", "answered_by_id", "started_at"),
        Index("ix_calls_employee_started", "employee_id", "started_at"),
    )

    def __str__(self) -> str:
        return f"{self.direction} {self.caller or self.caller_raw or '?'} -> {self.callee or '?'}"


class CallLeg(Base):
    """One phone rung for a call: which, in which step, from when until when, how it ended."""

    __tablename__ = "call_legs"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    endpoint: Mapped[str] = mapped_column(String(80))
    step: Mapped[int] = mapped_column(default=0)
    channel_id: Mapped[str | None] = mapped_column(String(64), index=True)
    ringing_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(20), default="ringing")

    call: Mapped[Call] = relationship(back_populates="legs")
    employee: Mapped[Employee | None] = relationship()

    __table_args__ = (CheckConstraint(_in("outcome", LEG_OUTCOMES), name="outcome"),)


class Recording(Base):
    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), unique=True)
    # Relative to [recordings] dir, named by call id: never by anything a caller controls.
    path: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(10), default="wav")
    size_bytes: Mapped[int | None]
    duration_seconds: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    call: Mapped[Call] = relationship(back_populates="recording")


# ---- tasks ----------------------------------------------------------------------------------
class Task(Timestamps, Base):
    """Responsible, deadline, type and comment are all required (seed 004)."""

    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(10))
    responsible_id: Mapped[int] = mapped_column(ForeignKey("employees.id"), index=True)
    deadline: Mapped[datetime] = mapped_column(index=True)
    comment: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open", active_history=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    done_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    # A missed-call task overdue by inquiries.escalate_after_minutes went to the department's
    # head then (pbx_daemon.crm.escalation); set once, before the head is told.
    escalated_at: Mapped[datetime | None]
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"))
    inquiry_id: Mapped[int | None] = mapped_column(ForeignKey("inquiries.id", ondelete="SET NULL"), index=True)
    call_list_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_list_entries.id", ondelete="SET NULL"))

    responsible: Mapped[Employee] = relationship(foreign_keys=[responsible_id])

    __table_args__ = (
        CheckConstraint(_in("type", TASK_TYPES), name="type"),
        CheckConstraint(_in("status", TASK_STATUSES), name="status"),
        CheckConstraint("comment <> ''", name="comment_required"),
        CheckConstraint("title <> ''", name="title_required"),
        Index("ix_tasks_responsible_status_deadline", "responsible_id", "status", "deadline"),
    )

    def __str__(self) -> str:
        return self.title


# ---- cold calling ---------------------------------------------------------------------------
call_list_operators = Table(
    "call_list_operators",
    Base.metadata,
    Column("call_list_id", ForeignKey("call_lists.id", ondelete="CASCADE"), primary_key=True),
    Column("employee_id", ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True),
)


class CallScript(Timestamps, Base):
    """A branching call script: ``body`` is a tree of questions and answers (JSON)."""

    __tablename__ = "call_scripts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)

    def __str__(self) -> str:
        return self.name


class CallList(Timestamps, Base):
    __tablename__ = "call_lists"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    script_id: Mapped[int | None] = mapped_column(ForeignKey("call_scripts.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    source_file: Mapped[str | None] = mapped_column(String(300))

    script: Mapped[CallScript | None] = relationship()
    operators: Mapped[list[Employee]] = relationship(secondary=call_list_operators)
    entries: Mapped[list["CallListEntry"]] = relationship(back_populates="call_list",
                                                          cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.name


class CallListEntry(Timestamps, Base):
    __tablename__ = "call_list_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_list_id: Mapped[int] = mapped_column(ForeignKey("call_lists.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    company_name: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(16), index=True)
    phone_ext: Mapped[str] = mapped_column(String(10), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    disposition: Mapped[str | None] = mapped_column(String(60))
    comment: Mapped[str | None] = mapped_column(Text)
    callback_at: Mapped[datetime | None]
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assigned_operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"))

    call_list: Mapped[CallList] = relationship(back_populates="entries")

    __table_args__ = (
        CheckConstraint(_in("status", ENTRY_STATUSES), name="status"),
        # Importing the same file twice adds nothing: one entry per number (and extension).
        UniqueConstraint("call_list_id", "phone", "phone_ext", name="uq_call_list_entries_list_phone"),
    )

    def __str__(self) -> str:
        return f"{self.company_name or self.contact_name or ''} {self.phone}".strip()


class KbArticle(Timestamps, Base):
    __tablename__ = "kb_articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[str] = mapped_column(String(300), default="")

    def __str__(self) -> str:
        return self.title


# ---- the daily call rollup (pbx_daemon.crm.stats.rollup) -------------------------------------------
class CallStat(Base):
    """The calls of one company day that share department, employee, kind, outcome and flags.

    ``employee_id`` is who answered (inbound) or placed (outbound) the call; rows of kind
    ``rang_missed`` count, per employee, the counted missed calls that rang them; rows of
    kind ``transfer`` the inbound calls handed to an employee by a transfer, with their part
    of the talk time (the first answerer's row keeps the call and the rest of the time).
    ``recovered_minutes``: for missed calls, whole minutes (rounded up) until recovered.
    No foreign keys: the rollup is rebuilt from ``calls``, never the other way round.
    """

    __tablename__ = "call_stats"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    department_id: Mapped[int | None]
    employee_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(12))
    outcome: Mapped[str] = mapped_column(String(20))
    counted: Mapped[bool] = mapped_column(default=False)
    cold: Mapped[bool] = mapped_column(default=False)
    recovered_minutes: Mapped[int | None]
    calls: Mapped[int] = mapped_column(default=0)
    talk_seconds: Mapped[int] = mapped_column(default=0)


class CallStatDay(Base):
    """A company day whose rollup rows are built, for which time zone, and when."""

    __tablename__ = "call_stat_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tz: Mapped[str] = mapped_column(String(64))
    refreshed_at: Mapped[datetime]


class CallStatDirty(Base):
    """A 15-minute UTC slot with calls changed since their day's rollup was built.

    Slots, not days, because the company's day depends on the configured time zone, which
    the writers do not know; every real UTC offset is a multiple of 15 minutes, so each
    slot lies inside exactly one company day. Written on flush by the listener
    :func:`pbx_daemon.crm.stats.rollup.install_dirty_marker` puts on each session factory.
    """

    __tablename__ = "call_stat_dirty"
    slot: Mapped[datetime] = mapped_column(primary_key=True)


# ---- keeping derived columns honest ---------------------------------------------------------
def _check_e164(target, value, _old, _initiator):
    """Phone columns take E.164 only: normalise with pbx_daemon.crm.phones before storing."""
    if value is not None and not E164.match(value):
        raise ValueError(f"{type(target).__name__}: {value[:40]!r} is not an E.164 number "
                         "(normalise it with pbx_daemon.crm.phones.normalize first)")
    return value


def _lower_email(_target, value, _old, _initiator):
    return value.strip().lower() if isinstance(value, str) else value


def _name_key_from(key_attr: str):
    def set_key(target, value, _old, _initiator):
        setattr(target, key_attr, normalize_name(value))
        return value
    return set_key


for _attr in (CompanyPhone.phone, ContactPhone.phone, Lead.phone, Inquiry.phone,
              TrackingNumber.number, BlockedNumber.phone, CallListEntry.phone, Employee.mobile):
    event.listen(_attr, "set", _check_e164, retval=True)
for _attr in (Company.email, ContactEmail.email, Lead.email, Inquiry.email, Employee.email):
    event.listen(_attr, "set", _lower_email, retval=True)
for _attr in (Company.name, Contact.full_name, Lead.full_name, Inquiry.name):
    event.listen(_attr, "set", _name_key_from("name_key"), retval=True)


class ReportSend(Base):
    """The daily report the daemon sent by itself (``report.send_at``): one row per day,
    claimed before the e-mail leaves, so a restart the same day does not send it again.
    The owner reads them in the admin (Analytics -> Sent reports)."""

    __tablename__ = "report_sends"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)  # the company day the report covers
    status: Mapped[str] = mapped_column(String(10))  # sending | sent | failed
    recipients: Mapped[str] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (CheckConstraint(_in("status", ("sending", "sent", "failed")), name="status"),)


class MailOutbox(Base):
    """An e-mail the daemon owes someone (``kind``: ``escalation``), queued in the same
    transaction as what it tells, sent by the daemon's outbox (pbx_daemon.crm.outbox) and
    retried until sent or given up. ``next_attempt_at`` is empty once it is done: sent
    (``sent_at``) or given up (``failed_at``)."""

    __tablename__ = "mail_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    # Indexed: each tick asks for the rows due (next_attempt_at <= now).
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))


class AuditLog(Base):
    """Who did what to which card, for the changes that cannot be undone by editing (a merge
    deletes a card): the merged card's fields are kept in ``details`` so nothing is lost.
    Admins and owners read it in the admin (Reports -> Audit log)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(30))  # merge
    object_kind: Mapped[str] = mapped_column(String(20))  # company | contact | lead
    kept_id: Mapped[int | None]
    merged_id: Mapped[int | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    employee: Mapped[Employee | None] = relationship()


# Webhooks (pbx_daemon.crm.webhooks): what happened, written in the transaction of the
# change itself (the outbox), and fanned out by the daemon to each matching webhook.
WEBHOOK_EVENT_KINDS = ("call.started", "call.answered", "call.ended", "call.recording_ready",
                       "inquiry.created", "inquiry.classified", "task.created", "task.done")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class Webhook(Base):
    """A URL that receives signed JSON for the chosen event kinds (admins configure it)."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    url: Mapped[str] = mapped_column(String(500))
    # HMAC-SHA256 key of the X-PbxCrm-Signature header; generated by the admin, never logged.
    secret: Mapped[str] = mapped_column(String(100), default=lambda: secrets.token_hex(32))
    # Space-separated event kinds; empty: every kind.
    events: Mapped[str] = mapped_column(String(500), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __str__(self) -> str:
        return self.name

    def wants(self, kind: str) -> bool:
        return kind == "ping" or not self.events.split() or kind in self.events.split()


class WebhookEvent(Base):
    """One business event for the webhooks (the outbox), in the order it happened.
    ``webhook_id``: only that webhook (the admin's test ``ping``); None: every match."""

    __tablename__ = "webhook_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event to one webhook: tried in event order, retried with backoff."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    # Indexed: pruning old events (and PostgreSQL's cascade) finds an event's deliveries.
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"),
                                          index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    webhook: Mapped[Webhook] = relationship()
    event: Mapped[WebhookEvent] = relationship()

    __table_args__ = (
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_deliveries_webhook_status", "webhook_id", "status", "event_id"),
    )


API_SCOPES = ("calls", "inquiries", "recordings")


class ApiToken(Base):
    """A token of the read-only REST API (``/api/v1``), one per integration (amoCRM, 1C,
    BI...). Only the SHA-256 of the token is kept; the token itself is shown once, when an
    admin creates it. ``prefix`` (its first 8 characters) names it in the admin and finds
    the row; ``scopes`` is a comma-separated subset of :data:`API_SCOPES`."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8), index=True)
    scopes: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None]

    created_by: Mapped[Employee | None] = relationship()

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ImportPreset(Base):
    """A column mapping saved per source of import files ("amoCRM", "Bitrix24", "1C",
    "Excel" or any name): ``mapping`` is field -> list of header names
    (pbx_daemon.crm.client_import); the next file from that source starts from it.
    ``kind``: what the import makes ("clients"), so other imports can keep theirs.
    Shown only on the import page (admin.labels.NOT_SHOWN)."""

    __tablename__ = "import_presets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20), default="clients")
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("kind", "name", name="uq_import_presets_kind_name"),)

    def __str__(self) -> str:
        return self.name
