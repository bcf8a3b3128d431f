"""Rollbook benchmarks, run with ``python -m bench`` (``make bench``).

Every module in this package whose name does not start with ``_`` is a benchmark. It provides
``DESCRIPTION`` (one line) and ``run(options) -> Report``; ``python -m bench --list`` shows them.
Benchmarks run against a scratch database that ``scratch_database`` creates from nothing, so they
never touch the development database (``var/rollbook.sqlite3``) or any other real one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCRATCH_DIR = REPO_ROOT / "var" / "bench"
SCRATCH_SUFFIX = "_bench"


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured or derived number of a benchmark."""

    label: str
    value: float | int | str
    unit: str = ""


@dataclass(slots=True)
class Report:
    """What a benchmark prints: its figures, in order, and free-text notes."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, label: str, value: float | int | str, unit: str = "") -> None:
        """Append a figure."""
        self.figures.append(Figure(label, value, unit))


@dataclass(frozen=True, slots=True)
class Options:
    """Options shared by every benchmark (see ``python -m bench --help``)."""

    rows: int | None = None
    database_url: str | None = None


def _dev_database_path() -> Path:
    data_dir = Path(os.environ.get("ROLLBOOK_DATA_DIR", str(Path.cwd() / "var"))).resolve()
    return data_dir / "rollbook.sqlite3"


def scratch_database_url(explicit_url: str | None = None) -> str:
    """The URL of the scratch database to benchmark against, which may be (re)created from nothing.

    - ``explicit_url`` (``--database-url``) when given; a PostgreSQL one gets ``_bench`` appended to its
      database name unless it already ends so;
    - else a PostgreSQL ``ROLLBOOK_DATABASE_URL``, with ``_bench`` appended to its database name;
    - else the SQLite file ``var/bench/bench.sqlite3``.

    Refuses the development SQLite database, whatever the URL says.
    """
    url = explicit_url
    if url is None:
        environment_url = os.environ.get("ROLLBOOK_DATABASE_URL", "")
        if environment_url.startswith(("postgres://", "postgresql://")):
            url = environment_url
    if url is None:
        return f"sqlite:///{DEFAULT_SCRATCH_DIR / 'bench.sqlite3'}"
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        name = parts.path.lstrip("/") or "rollbook"
        if not name.endswith(SCRATCH_SUFFIX):
            name += SCRATCH_SUFFIX
        return urlunsplit(parts._replace(path="/" + name))
    if parts.scheme == "sqlite":
        path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://")).resolve()
        if path == _dev_database_path():
            raise SystemExit(f"Refusing to benchmark against the development database {path}.")
        return f"sqlite:///{path}"
    raise SystemExit(f"Unsupported database URL for benchmarks: {url!r} (use sqlite:/// or postgres://).")


def redacted(url: str) -> str:
    """``url`` with any password replaced by ``***``, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _recreate_postgres_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def scratch_database(explicit_url: str | None = None) -> str:
    """Create an empty scratch database, point Django at it, set Django up and migrate; return its URL.

    Must run before anything imports Django settings; the process then uses only this database.
    """
    url = scratch_database_url(explicit_url)
    if url.startswith("sqlite:"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
    else:
        _recreate_postgres_database(url)
    os.environ["ROLLBOOK_DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollbook.settings")

    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    configured = settings.DATABASES["default"]["NAME"]
    if str(configured) and Path(str(configured)).resolve() == _dev_database_path():
        raise SystemExit(f"Refusing to benchmark against the development database {configured}.")
    call_command("migrate", verbosity=0, interactive=False)
    return url
