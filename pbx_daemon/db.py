"""Engines, sessions and the schema: SQLite file by default, PostgreSQL by URL.

Blocking database work never runs on the reactor thread: the daemon calls these through
a thread pool. The admin's engine is Flask-SQLAlchemy-Lite's, built with the same
:func:`engine_options` and :func:`install_connect_hook`.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from pbx_daemon.crm import models
from pbx_daemon.crm.stats.rollup import install_dirty_marker
from pbx_daemon.crm.webhooks import install_emitter

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def engine_options(url: str) -> dict:
    """The ``create_engine`` keyword arguments every engine on ``url`` gets (the daemon's,
    the CLI's, the admin's): SQLite waits up to 15 s for a lock (sqlite3's ``timeout``, its
    busy timeout), PostgreSQL checks a pooled connection before use."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15}}
    return {"pool_pre_ping": True}


def install_connect_hook(engine: Engine, *, readonly: bool = False) -> None:
    """SQLite's per-connection settings, on every new connection of ``engine`` (nothing
    on other backends). ``readonly``: for the AGI fallback, which only reads and may run
    many at once: it must not try to change the journal mode (that needs a write lock)."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_readonly if readonly else _sqlite_on_connect)


def make_engine(url: str, *, readonly: bool = False, **kwargs) -> Engine:
    """An engine with :func:`engine_options` (``kwargs`` override them) and the connect hook."""
    engine = create_engine(url, **(engine_options(url) | kwargs))
    install_connect_hook(engine, readonly=readonly)
    return engine


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite leaves foreign keys off unless asked, per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the admin read while the daemon writes; in-memory databases ignore it.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_readonly(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """The daemon's and the CLI's sessions: objects stay loaded after commit, and flushes
    mark the rollup's dirty slots (:func:`~pbx_daemon.crm.stats.rollup.install_dirty_marker`)
    and write the webhooks' inquiry and task events (:func:`~pbx_daemon.crm.webhooks.install_emitter`)."""
    factory = sessionmaker(engine, expire_on_commit=False)
    install_dirty_marker(factory)
    install_emitter(factory)
    return factory


# Alembic is imported where it is used: the AGI fallback imports this module inside the
# lab root, which has SQLAlchemy but not Alembic.
def alembic_config(url: str):
    """Alembic's config built in code: no alembic.ini needs to be on disk."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would choke on "%" in URL-encoded passwords.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def seed_reference_data(session: Session) -> None:
    """Inquiry classes and deal stages, idempotently (the first migration inserts them too)."""
    have = set(session.scalars(select(models.InquiryClass.code)))
    for position, (code, name, name_ru) in enumerate(models.INQUIRY_CLASSES):
        if code not in have:
            session.add(models.InquiryClass(code=code, name=name, name_ru=name_ru,
                                            is_system=True, position=position))
    stages = set(session.scalars(select(models.DealStage.name)))
    for position, (name, won, lost) in enumerate(models.DEAL_STAGES):
        if name not in stages:
            session.add(models.DealStage(name=name, position=position, is_won=won, is_lost=lost))
    session.flush()


@contextmanager
def session_for(url: str) -> Iterator[Session]:
    """One session on an engine of its own, for work that runs once (a CLI command):
    the session is closed and the engine disposed when the block ends, however it ends."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()
