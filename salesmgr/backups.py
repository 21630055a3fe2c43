"""Backing up and restoring the PostgreSQL database with PostgreSQL's own tools.

``pg_dump -Fc`` writes a compressed archive of the whole database (schema,
data, the migrations table) while the app keeps running: it reads one
consistent snapshot. ``pg_restore`` reads it back. Both are given the
connection parameters of ``DATABASES["default"]`` (that is ``DATABASE_URL``)
through the ``PG*`` environment variables, so the password never appears in a
process list.

SQLite is not handled here: its backup is a copy of the file.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg2 import sql

# The database to connect to when the target one must be created.
MAINTENANCE_DB = "postgres"
SQLITE_REFUSAL = (
    "This installation uses SQLite ({name}): back it up by copying that file while "
    "Salesmgr is stopped, and restore by copying it back. pg_dump and pg_restore are for "
    "PostgreSQL (set DATABASE_URL=postgres://...)."
)


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why."""


@dataclass(frozen=True)
class Target:
    """Where the default database lives, as PostgreSQL's tools want it."""

    name: str
    env: dict[str, str]

    def connect(self, dbname: str):
        """A connection to another database of the same server, with the same parameters."""
        names = {
            "PGHOST": "host",
            "PGPORT": "port",
            "PGUSER": "user",
            "PGPASSWORD": "password",
            "PGSSLMODE": "sslmode",
            "PGSSLROOTCERT": "sslrootcert",
            "PGSSLCERT": "sslcert",
            "PGSSLKEY": "sslkey",
        }
        return psycopg2.connect(dbname=dbname, **{names[k]: v for k, v in self.env.items()})


def target(alias: str = DEFAULT_DB_ALIAS) -> Target:
    """The PostgreSQL database behind ``alias``; BackupError for any other engine."""
    params = connections[alias].settings_dict
    if connections[alias].vendor != "postgresql":
        raise BackupError(SQLITE_REFUSAL.format(name=params["NAME"]))
    env = {
        "PGHOST": str(params.get("HOST") or ""),
        "PGPORT": str(params.get("PORT") or ""),
        "PGUSER": str(params.get("USER") or ""),
        "PGPASSWORD": str(params.get("PASSWORD") or ""),
    }
    options = params.get("OPTIONS") or {}
    for option, variable in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
    ):
        if options.get(option):
            env[variable] = str(options[option])
    return Target(name=str(params["NAME"]), env={k: v for k, v in env.items() if v})


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not installed: install PostgreSQL's client tools "
            f"(e.g. apt-get install postgresql-client), the same major version as the server or newer."
        )
    return path


def _run(args: list[str], where: Target) -> subprocess.CompletedProcess:
    # The parent's PG* variables are dropped so that only DATABASE_URL decides.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(where.env)
    return subprocess.run(args, env=env, capture_output=True, text=True)


def backup(*, output: Path) -> int:
    """Dump the database to ``output`` (custom format, compressed); its size in bytes.

    The dump goes to a file beside ``output`` first and is renamed once
    complete, so a failed run never leaves a truncated file under the name.
    """
    where = target()
    if output.exists():
        raise BackupError(f"{output} exists already: choose a new file name.")
    partial = output.with_name(output.name + ".partial")
    done = _run([_tool("pg_dump"), "-Fc", "--file", str(partial), where.name], where)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    partial.rename(output)
    return output.stat().st_size


def _database_exists(where: Target) -> bool:
    with _maintenance(where) as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [where.name])
        return cursor.fetchone() is not None


class _maintenance:
    """A cursor on the server's maintenance database, in autocommit (CREATE/DROP DATABASE)."""

    def __init__(self, where: Target):
        self.where = where

    def __enter__(self):
        try:
            self.conn = self.where.connect(MAINTENANCE_DB)
        except psycopg2.Error as exc:
            raise BackupError(f"cannot reach the PostgreSQL server: {exc}".strip()) from exc
        self.conn.autocommit = True
        self.cursor = self.conn.cursor()
        return self.cursor

    def __exit__(self, *exc):
        self.conn.close()
        return False


def restore(*, source: Path, recreate: bool = False) -> str:
    """Restore the dump ``source`` into the default database; says what was done.

    - The database does not exist (it was lost, or this is a new server): it is
      created, then the dump restored into it.
    - It exists: ``pg_restore --clean --if-exists`` replaces every object the
      dump holds, in one transaction, so a failed restore leaves the database as
      it was. Tables the dump does not know (made by a newer version's
      migrations) are left; ``recreate`` drops and creates the database first
      instead, which needs every other connection to it closed.
    """
    where = target()
    if not source.is_file():
        raise BackupError(f"{source} is not a file.")
    restore_tool = _tool("pg_restore")
    listed = _run([restore_tool, "--list", str(source)], where)
    if listed.returncode != 0:
        raise BackupError(f"{source} is not a pg_dump archive (-Fc): {listed.stderr.strip()}")
    # This process must hold no connection to the database it replaces.
    connections.close_all()
    exists = _database_exists(where)
    if exists and recreate:
        with _maintenance(where) as cursor:
            try:
                cursor.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(where.name)))
            except psycopg2.errors.ObjectInUse as exc:
                detail = " ".join(str(exc).split())
                raise BackupError(
                    f"{where.name} is in use: stop the web processes, workers and beat first ({detail})."
                ) from exc
        exists = False
    if not exists:
        with _maintenance(where) as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(where.name)))
    args = [restore_tool, "--no-owner", "--exit-on-error", "--single-transaction"]
    if exists:
        args += ["--clean", "--if-exists"]
    done = _run([*args, "--dbname", where.name, str(source)], where)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()}")
    how = (
        "replaced its contents"
        if exists
        else "dropped and created it"
        if recreate
        else "created it"
    )
    return f"Restored {source} into {where.name} ({how})."
