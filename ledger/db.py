"""Storage plumbing shared by every package: engine, declarative base, migrations.

The database is SQLite by default (a file under ./var) or any SQLAlchemy URL given in
GONGJUE_DATABASE_URL (PostgreSQL in production).  Each package owns its own tables and its own
Alembic branch in ``<package>/migrations/versions/`` (revision ids ``<package>_<nnnn>``), shipped
inside the installed package; the Alembic environment is ``ledger/migrations/env.py``.
``migrate`` brings a database to every head.

Two kinds of transaction (SPEC §2.9):

- ``transaction(engine)``, the write path: on SQLite it starts with ``BEGIN IMMEDIATE``, so
  writers queue on the database lock instead of failing when a read transaction upgrades to a
  write, which is what serialized ledger appends need.
- ``reading(engine)``, the read path (every GET): on SQLite a deferred ``BEGIN`` with
  ``PRAGMA query_only`` (WAL readers never wait for the writer and see the last committed
  state); on PostgreSQL a ``READ ONLY`` ``REPEATABLE READ`` transaction (one snapshot for the
  whole page).  It never takes the write lock, so a long import does not queue public reads.

Foreign keys are on, and the journal is WAL for file databases, ``synchronous=FULL`` unless
GONGJUE_SQLITE_SYNCHRONOUS says NORMAL (``sqlite_synchronous``).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    CompoundSelect,
    Engine,
    Row,
    Select,
    create_engine,
    event,
    text,
    union_all,
)
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

DEFAULT_URL = "sqlite:///var/gongjue.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"  # env.py and the revision template
PACKAGES = ("identity", "ledger", "voting", "web")  # each has <package>/migrations/versions/


def version_locations() -> list[Path]:
    """Every package's revision folder, found through the installed packages (not the work tree)."""
    import importlib.util

    found = []
    for package in PACKAGES:
        spec = importlib.util.find_spec(f"{package}.migrations.versions")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"the migrations of package {package!r} are not installed")
        found.append(Path(list(spec.submodule_search_locations)[0]))
    return found


class Base(DeclarativeBase):
    """Declarative base for every package's tables."""


def database_url() -> str:
    """The configured database URL (GONGJUE_DATABASE_URL, else the SQLite default)."""
    return os.environ.get("GONGJUE_DATABASE_URL", DEFAULT_URL)


POOL_SIZE, POOL_OVERFLOW = 10, 10
"""Connections an engine keeps open, and how many more it opens in a burst (closed again when they
come back). A cast request holds one only briefly, but a worker's threads (40) often hold more than
SQLAlchemy's default 5 at once: with that default a PostgreSQL server at 250 casts/s started a new
backend for one cast in five (docs/PERFORMANCE.md §1). At most 20 per process: keep processes × 20
below the server's ``max_connections`` (docs/DEPLOY.md)."""


def make_engine(url: str | None = None) -> Engine:
    """Create an engine for ``url`` with the project's SQLite settings applied."""
    url = url or database_url()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        sqlite_synchronous()  # a bad GONGJUE_SQLITE_SYNCHRONOUS is refused here, not at the first connect
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)


class SchemaBehind(RuntimeError):
    """The schema needs a migration that the connected role may not run (the app role, DEPLOY §2)."""


def migrated_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: the configured database), brought to every head first:
    what each ``gongjue`` command that touches the database starts with.  SchemaBehind when the
    schema is behind and the role may not change it (PostgreSQL's app role after an upgrade)."""
    engine = make_engine(url)
    try:
        migrate(engine)
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        user = engine.url.username or "?"
        raise SchemaBehind(f"数据库结构需要升级，但角色 {user} 无权修改：请先用所有者角色的数据库地址运行 gongjue migrate"
                           f"（docs/DEPLOY.md 第 2 节）/ the database schema is behind and the role {user} may not "
                           f"change it: run `gongjue migrate` with the owner's database URL first (docs/DEPLOY.md "
                           f"section 2); the server said: {str(exc.orig).strip().splitlines()[0]}") from None
    return engine


def sqlite_synchronous() -> str:
    """``PRAGMA synchronous`` for SQLite files: GONGJUE_SQLITE_SYNCHRONOUS, ``FULL`` (default) or ``NORMAL``.

    FULL syncs the WAL at every commit: an acknowledged cast (and every checkpoint handed out)
    survives a process kill and a power loss.  NORMAL (WAL mode) syncs only at WAL checkpoints: a
    commit survives a process kill (the WAL is in the OS's cache) but the last commits may be lost
    in a power loss or OS crash — and with them entries that checkpoints already handed out cover,
    which then look like a rewritten log.  It saves an fsync per write; choose it only with a
    battery-backed disk, or use PostgreSQL (docs/DEPLOY.md).
    """
    value = os.environ.get("GONGJUE_SQLITE_SYNCHRONOUS", "FULL").upper()
    if value not in ("FULL", "NORMAL"):
        raise ValueError(f"GONGJUE_SQLITE_SYNCHRONOUS must be FULL or NORMAL, not {value!r}")
    return value


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={sqlite_synchronous()}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get(_ONE_SELECT):
            return  # read_row: SQLite runs the one SELECT in its own implicit read transaction
        if conn.get_execution_options().get(_READING):
            conn.exec_driver_sql("PRAGMA query_only=ON")
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One all-or-nothing unit of work: commit on success, roll back on any exception.

    On a SQLite file, writers first queue on ``write_turn`` (a lock per database: a thread lock,
    then ``flock`` on ``<database>.writelock`` across processes) instead of polling SQLite's busy
    handler, whose sleeps of up to 100 ms made casts under load wait seconds (issue #11).
    """
    with write_turn(engine), session_factory(engine)() as session, session.begin():
        yield session


class _Turn:
    """Writers' queue for one SQLite file: a thread lock, and flock on a lock file across processes."""

    def __init__(self, path: str) -> None:
        self.path = path + ".writelock"
        self.lock = threading.RLock()
        self.local = threading.local()
        self.fd: int | None = None
        self.pid = 0

    def _file(self) -> int:
        if self.fd is None or self.pid != os.getpid():  # a forked child opens its own (flock is per open file)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self.pid = os.getpid()
        return self.fd

    @contextmanager
    def __call__(self) -> Iterator[None]:
        depth = getattr(self.local, "depth", 0)
        if depth:  # nested in this thread: SQLite itself decides (as before)
            self.local.depth = depth + 1
            try:
                yield
            finally:
                self.local.depth = depth
            return
        got = self.lock.acquire(timeout=30)  # then SQLite's own busy timeout applies, as without the queue
        fd = None
        try:
            if got:
                try:
                    fd = self._file()
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except OSError:
                    fd = None
            self.local.depth = 1
            yield
        finally:
            self.local.depth = 0
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            if got:
                self.lock.release()


_turns: dict[str, _Turn] = {}
_turns_lock = threading.Lock()


@contextmanager
def write_turn(engine: Engine) -> Iterator[None]:
    """Wait for this process's and then every process's turn to write a SQLite file (no-op otherwise)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    path = os.path.abspath(path)
    with _turns_lock:
        turn = _turns.get(path)
        if turn is None:
            turn = _turns[path] = _Turn(path)
    with turn():
        yield


_READING = "gongjue_reading"


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A read-only transaction that never takes SQLite's write lock; it ends with a rollback.

    SQLite: deferred ``BEGIN`` under ``PRAGMA query_only`` (a write inside is refused, it never
    upgrades to the write lock).  PostgreSQL: ``READ ONLY``, ``REPEATABLE READ``.  Use it for
    every GET; ``transaction`` stays the write path.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        else:
            conn.execution_options(**{_READING: True})
        try:
            with Session(bind=conn, expire_on_commit=False, autoflush=False) as session:
                yield session  # closing rolls the transaction back; loaded objects stay readable
        finally:
            if conn.dialect.name == "sqlite" and not conn.invalidated:
                try:  # the pooled connection goes back writable
                    conn.connection.driver_connection.execute("PRAGMA query_only=OFF")
                except Exception:  # noqa: BLE001 — then it must not go back at all
                    conn.invalidate()


_ONE_SELECT = "gongjue_one_select"


@contextmanager
def claim(engine: Engine, advisory_key: int, lock_suffix: str) -> Iterator[bool]:
    """True in the one process (or thread) of all that share the database which holds the claim now,
    False in the others while it is held: for background work that one of several app processes
    must do (``gongjue serve --workers N``). Released at the end of the block, or by the operating
    system or the database server when the process dies.

    PostgreSQL: a session advisory lock (``pg_try_advisory_lock(advisory_key)``) on an autocommit
    connection, so no transaction stays open while the block runs. SQLite: ``flock`` on
    ``<database file><lock_suffix>``, never the database file itself (SQLite's own locks). An
    in-memory or URI database has no file to share: always True."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            mine = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key}).scalar())
            try:
                yield mine
            finally:
                if mine:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key})
        return
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        yield True
        return
    with open(f"{path}{lock_suffix}", "a+b") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def lookups(n: int, lookup: Callable[[int], Select]) -> Select | CompoundSelect:
    """``lookup(0)`` … ``lookup(n-1)`` as one statement (``UNION ALL``), for lookups of many keys that
    must each stay an equality on the whole key of an index. PostgreSQL keeps a plan per connection,
    and an ``IN`` list planned while a table had no statistics (every new installation's first
    round) walks the table; an equality per key is one index search under any plan. Cache the
    result per ``n`` (``functools.lru_cache``): SQLAlchemy then compiles each shape once."""
    rows = [lookup(k) for k in range(n)]
    return rows[0] if n == 1 else union_all(*rows)


def read_row(engine: Engine, statement: Select, params: dict) -> Row | None:
    """The first row of one SELECT, run outside any transaction block: on SQLite in the statement's
    own implicit read transaction (no ``BEGIN``, no ``query_only`` switching), on PostgreSQL in
    autocommit. One statement is one snapshot, so this reads as ``reading`` does, for a quarter of
    the statements: for a single-row read on a hot path (the owner session of every cast)."""
    if not isinstance(statement, Select):
        raise TypeError("read_row runs a SELECT only")
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            conn.execution_options(**{_ONE_SELECT: True})
        return conn.execute(statement, params).first()


def alembic_config():
    """The Alembic configuration: the environment in ledger/migrations, every package's revisions."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in version_locations()))
    return cfg


def migrate(engine: Engine, target: str = "heads") -> None:
    """Upgrade the database to ``target`` (default: every package's head revision)."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)
