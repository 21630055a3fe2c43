"""``manage.py backup`` and ``restore`` on a real PostgreSQL database of their own.

The commands run in subprocesses against a scratch database (not the test
database, which this process holds open): an organisation is seeded, every
table counted and a manager's funnel and forecasts read through the API; the
database is dumped, dropped, restored, and the same counts and figures must
come back. A second restore onto the living database (``--clean``) must
change nothing either.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from django.db import connection
from psycopg2 import sql

from tests.conftest import need_postgres

ROOT = Path(__file__).resolve().parents[2]

# Every table's row count, and a manager's figures as the API serves them (a figure computed
# live says when: that moment is left out, the figures themselves must match).
PROBE = """
import json
from django.apps import apps
from django.test import Client
from salesmgr.models import User

counts = {
    model._meta.db_table: model._base_manager.count()
    for model in apps.get_models(include_auto_created=True)
    # Each probe signs a manager in, which writes a session: the probe's own row. The audit
    # log gains the restore's own event (checked below).
    if model._meta.db_table not in {"django_session", "salesmgr_auditevent"}
}
client = Client()
client.force_login(User.objects.get(username="manager1"))
figures = {}
for url in ("/api/v1/metrics/funnel/", "/api/v1/forecasts/"):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    figures[url] = response.json()

def timeless(value):
    if isinstance(value, dict):
        live = value.get("source") == "live"
        return {k: timeless(v) for k, v in value.items() if not (live and k == "computed_at")}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value

figures = timeless(figures)
print(json.dumps({"counts": counts, "figures": figures}, sort_keys=True, default=str))
"""


def _server_params() -> dict:
    settings = connection.settings_dict
    return {
        "host": settings["HOST"] or "localhost",
        "port": str(settings["PORT"] or 5432),
        "user": settings["USER"] or "postgres",
        "password": settings["PASSWORD"] or "",
    }


def _admin(statement: sql.Composable) -> None:
    conn = psycopg2.connect(dbname="postgres", **_server_params())
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def _drop(name: str) -> None:
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def scratch_db():
    """A database of its own, dropped at the end whatever happened."""
    need_postgres()
    name = f"salesmgr_backup_test_{os.getpid()}"
    _drop(name)
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = _server_params()
    auth = params["user"] + (f":{params['password']}" if params["password"] else "")
    yield name, f"postgres://{auth}@{params['host']}:{params['port']}/{name}"
    _drop(name)


def _manage(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        # No Redis: tasks run in-process and the cache is the process's own, so every
        # figure read below comes from the database and nothing from a shared cache.
        if key not in {"REDIS_URL", "DEBUG"} and not key.startswith("PG")
    }
    env.update(DATABASE_URL=url, REPORTS_EMBEDDED_RECOMPUTE="false")
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def _probe(url: str) -> dict:
    done = _manage(url, "shell", "-c", PROBE)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _restores_recorded(url: str) -> int:
    done = _manage(
        url,
        "shell",
        "-c",
        "from salesmgr.audit.models import AuditEvent; "
        "print(AuditEvent.objects.filter(kind='restore').count())",
    )
    return int(done.stdout.strip().splitlines()[-1])


def _same(after: dict, before: dict) -> None:
    changed = {
        table: (before["counts"].get(table), after["counts"].get(table))
        for table in before["counts"].keys() | after["counts"].keys()
        if before["counts"].get(table) != after["counts"].get(table)
    }
    assert not changed, f"row counts (before, after) differ: {changed}"
    assert after["figures"] == before["figures"]


def test_a_dump_dropped_and_restored_gives_back_every_row_and_the_same_dashboard(
    scratch_db, tmp_path
):
    name, url = scratch_db
    _manage(url, "migrate", "--noinput")
    _manage(url, "seed_demo", "--deals", "150", "--no-forecasts", "--no-progress")
    _manage(url, "shell", "-c", "from reports.tasks import nightly_snapshots; nightly_snapshots()")
    before = _probe(url)
    assert before["counts"]["pipeline_deal"] >= 150
    assert before["counts"]["pipeline_stagetransition"] > before["counts"]["pipeline_deal"]
    assert before["counts"]["reports_metricsnapshot"] > 0
    assert before["figures"]["/api/v1/metrics/funnel/"]["won_deals"] > 0

    dump = tmp_path / "salesmgr.dump"
    said = _manage(url, "backup", "--output", str(dump)).stdout
    assert "Backed up to" in said and dump.stat().st_size > 0
    refused = _manage(url, "backup", "--output", str(dump), check=False)
    assert refused.returncode != 0 and "exists already" in refused.stderr

    _drop(name)
    refused = _manage(url, "restore", str(dump), check=False)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    said = _manage(url, "restore", str(dump), "--yes").stdout
    assert "created it" in said
    _same(_probe(url), before)
    assert _restores_recorded(url) == 1

    # Onto the database as it stands: every object replaced, nothing doubled.
    said = _manage(url, "restore", str(dump), "--yes").stdout
    assert "replaced its contents" in said
    _same(_probe(url), before)
    # The audit log came back as dumped (no restore in it), then recorded this restore.
    assert _restores_recorded(url) == 1


def test_restore_refuses_a_file_that_is_not_an_archive(scratch_db, tmp_path):
    _, url = scratch_db
    junk = tmp_path / "junk.dump"
    junk.write_text("not a dump")
    refused = _manage(url, "restore", str(junk), "--yes", check=False)
    assert refused.returncode != 0 and "is not a pg_dump archive" in refused.stderr


def test_sqlite_is_refused_with_the_advice_to_copy_the_file(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    for args in (["backup", "--output", str(tmp_path / "x.dump")], ["restore", "x.dump", "--yes"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode != 0
        assert "SQLite" in done.stderr and "copying that file" in done.stderr
