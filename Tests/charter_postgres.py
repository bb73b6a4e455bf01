"""What the Python test suites need of PostgreSQL: the server the tests use, a new database per
test, and reading it with `psql` (no Python driver: the tests add no dependencies).

The server is $CHARTER_TEST_POSTGRES_URL when set (scripts/test starts a throw-away cluster and
exports it); otherwise `scripts/postgres/cluster start /tmp/charter-test-postgres-$UID` starts
one (installing Debian's postgresql if needed) and leaves it running for the next run (stop it
with `scripts/postgres/cluster stop /tmp/charter-test-postgres-$UID`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from charter_process import REPO_ROOT

PSQL_TIMEOUT = 120.0
# Exit status of `scripts/postgres/cluster start` when PostgreSQL cannot be installed here.
CLUSTER_UNAVAILABLE = 3


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be had here (the cluster script cannot install it)."""


def is_postgres(database) -> bool:
    """Whether a `--database` value names a PostgreSQL database (else it is a SQLite file)."""
    return isinstance(database, str) and database.startswith(("postgres://", "postgresql://"))


def psql_binary() -> str:
    for candidate in ("/usr/lib/postgresql/15/bin/psql", shutil.which("psql")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("psql not found (in /usr/lib/postgresql/15/bin or on PATH)")


def _environment() -> dict:
    # The caller's PG* variables (PGDATABASE, PGOPTIONS, ...) must not steer psql: the URL says it all.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def psql(url: str, *commands: str, timeout: float = PSQL_TIMEOUT) -> list[list[str]]:
    """Runs each command in one session (`-c` each, ON_ERROR_STOP) and returns the rows they
    print, fields split at `|` (NULL is the empty string). Raises RuntimeError with psql's
    message when a command fails."""
    arguments = [psql_binary(), "-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", "-d", url]
    for command in commands:
        arguments += ["-c", command]
    done = subprocess.run(arguments, capture_output=True, text=True, timeout=timeout, env=_environment())
    if done.returncode != 0:
        raise RuntimeError(f"psql failed ({done.returncode}) on {commands!r}: {done.stderr.strip()}")
    return [line.split("|") for line in done.stdout.splitlines() if line != ""]


def psql_snapshot(url: str, *queries: str) -> list[list[str]]:
    """The queries in one read-only REPEATABLE READ transaction, so they see one snapshot."""
    return psql(url, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", *queries, "COMMIT")


def server_url() -> str:
    """The PostgreSQL server of the tests (see the module's docstring)."""
    url = os.environ.get("CHARTER_TEST_POSTGRES_URL", "").strip()
    if url:
        return url
    directory = f"/tmp/charter-test-postgres-{os.getuid()}"
    # Installing postgresql may take minutes; starting an existing cluster takes a second.
    done = subprocess.run([str(REPO_ROOT / "scripts" / "postgres" / "cluster"), "start", directory],
                          capture_output=True, text=True, timeout=1200)
    if done.returncode == CLUSTER_UNAVAILABLE:
        raise PostgresUnavailable(f"scripts/postgres/cluster cannot install PostgreSQL here: {done.stderr.strip()}")
    url = done.stdout.strip()
    if done.returncode != 0 or not url:
        raise RuntimeError(f"scripts/postgres/cluster start {directory} exited {done.returncode}:\n{done.stderr}")
    return url


def with_database(url: str, name: str) -> str:
    """`url` with the database `name` in place of its path (query and credentials kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def create_database(server: str, prefix: str = "charter_test") -> str:
    """A new, empty database with a random name on `server`; returns its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    psql(server, f'CREATE DATABASE "{name}"')
    return with_database(server, name)


def drop_database(server: str, url: str) -> None:
    """Drops the database `url` names; WITH (FORCE) ends connections that a killed client left."""
    name = database_name(url)
    assert name.startswith("charter_test_"), f"refusing to drop {name!r}: not a test database"
    psql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def as_int(field: str) -> int | None:
    return None if field == "" else int(field)


def log_path_name(database) -> str:
    """A file-name stem for the log of a server on `database` (a path or a URL)."""
    return database_name(database) if is_postgres(database) else Path(database).stem
