import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from salesmgr.env import env_bool, env_int, env_list, env_postgres_options, env_str
from tests.conftest import need_postgres


def test_bool_reads_common_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False


def test_bool_fails_loudly_on_nonsense(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG", False)


def test_int_fails_loudly_on_nonsense_and_range(monkeypatch):
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("N", 1)
    monkeypatch.setenv("N", "-3")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int("N", 1, minimum=0)


def test_required_string_must_be_set(monkeypatch):
    monkeypatch.delenv("SECRET_KEY_FOR_TEST", raising=False)
    with pytest.raises(ImproperlyConfigured, match="must be set"):
        env_str("SECRET_KEY_FOR_TEST", required=True)


def test_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def _settings_in_subprocess(**env):
    import os
    import subprocess
    import sys

    clean = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"}
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        env={**clean, "DJANGO_SETTINGS_MODULE": "salesmgr.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_require_a_secret_and_hosts():
    result = _settings_in_subprocess(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    result = _settings_in_subprocess(DEBUG="false", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr
    result = _settings_in_subprocess(
        DEBUG="false", SECRET_KEY="x" * 50, ALLOWED_HOSTS="crm.example"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_bad_database_url_is_refused():
    result = _settings_in_subprocess(DATABASE_URL="nosuchdb://x/y")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_postgres_sessions_start_without_jit_and_with_more_work_memory(monkeypatch):
    monkeypatch.delenv("PG_JIT", raising=False)
    monkeypatch.delenv("PG_WORK_MEM", raising=False)
    assert env_postgres_options() == "-c jit=off -c work_mem=16MB"
    monkeypatch.setenv("PG_JIT", "on")
    monkeypatch.setenv("PG_WORK_MEM", "64MB")
    assert env_postgres_options() == "-c jit=on -c work_mem=64MB"


@pytest.mark.parametrize("value", ["16", "16 MB", "0MB", "-4MB", "16MB -c fsync=off", "lots"])
def test_a_work_memory_that_is_not_a_size_stops_the_start(monkeypatch, value):
    monkeypatch.setenv("PG_WORK_MEM", value)
    with pytest.raises(ImproperlyConfigured, match="PG_WORK_MEM"):
        env_postgres_options()


@pytest.mark.django_db
def test_the_database_session_has_the_settings():
    need_postgres()
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        assert cursor.fetchone()[0] == "16MB"
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
