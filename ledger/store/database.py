"""Engines, sessions and migrations of the store.

Two backends: a SQLite file (the default, ``<data dir>/veritag.sqlite``, in WAL mode with
foreign keys enforced) and PostgreSQL through psycopg 3 (``postgresql+psycopg://``; a plain
``postgresql://`` URL is taken to mean the same). The schema is Alembic's: :func:`migrate`
brings any database to the latest revision, and the tables are never created any other way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session

from ledger.errors import ConfigError, StoreUnavailable

__all__ = [
    "DATABASE_FILE",
    "current_revision",
    "default_url",
    "head_revision",
    "make_engine",
    "migrate",
    "session",
]

DATABASE_FILE = "veritag.sqlite"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for another (the API and the indexer share the file)."""


def default_url(data_dir: Path) -> str:
    """The SQLite file in the data directory."""
    return f"sqlite:///{(data_dir / DATABASE_FILE).resolve()}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL); ConfigError for anything else.

    SQLite files get their directory created, WAL journaling and foreign-key enforcement.
    Extra keyword arguments go to ``sqlalchemy.create_engine``.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{url!r} is not a database URL; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", _SQLITE_BUSY_TIMEOUT)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)
    raise ConfigError(
        f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}; "
        "the store runs on SQLite (sqlite:///PATH) or PostgreSQL (postgresql+psycopg://…)"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints
    finally:
        cursor.close()


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises.

    Objects stay readable after the commit (``expire_on_commit=False``). A database that
    cannot be reached (or used) raises ``StoreUnavailable``.
    """
    try:
        with Session(engine, expire_on_commit=False) as db, db.begin():
            yield db
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise StoreUnavailable(engine.url.render_as_string(hide_password=True), reason) from None


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run Alembic's ``upgrade`` to ``revision`` (default: the latest) on ``engine``."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revision() -> str:
    """The latest migration revision shipped with this version."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None  # there is at least the initial migration
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
