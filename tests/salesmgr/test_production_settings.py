"""Production settings: `check --deploy` is clean with a deployment's environment, every HTTPS
and proxy choice is read from the environment, and `make run`'s defaults still serve plain http
on 127.0.0.1."""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
# Everything a deployment or a developer's shell might have set that these tests decide for themselves.
DECIDED = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SITE_URL",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_COOKIES",
    "TRUSTED_PROXY_COUNT",
    "PROXY_SSL_HEADER",
    "USE_X_FORWARDED_HOST",
    "CSRF_TRUSTED_ORIGINS",
    "SESSION_IDLE_SECONDS",
    "SESSION_ABSOLUTE_SECONDS",
    "CSP_REPORT_ONLY",
}
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "crm.example.com",
    "SITE_URL": "https://crm.example.com",
}


def _env(**env) -> dict:
    # The browser tests let Django's ORM run beside Playwright's event loop in this process
    # (DJANGO_ALLOW_ASYNC_UNSAFE); a deployment never sets it.
    clean = {
        k: v for k, v in os.environ.items() if k not in DECIDED and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return {**clean, "DJANGO_SETTINGS_MODULE": "salesmgr.settings", **env}


def _run(args: list[str], **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        env=_env(**env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _settings(*names: str, **env) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}, default=str))"
    )
    result = _run(["-c", code], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_production_settings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_when_a_deployment_turns_https_off():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        **PRODUCTION,
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
    )
    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W004" in result.stderr


def test_a_deployment_is_https_only_by_default():
    values = _settings(
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
        "USE_X_FORWARDED_HOST",
        "CSRF_TRUSTED_ORIGINS",
        "ALLOWED_HOSTS",
        "REST_FRAMEWORK",
        **PRODUCTION,
    )
    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    # No proxy is trusted unless one is declared.
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["USE_X_FORWARDED_HOST"] is False
    assert values["REST_FRAMEWORK"]["NUM_PROXIES"] is None
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://crm.example.com"]
    assert values["ALLOWED_HOSTS"] == ["crm.example.com"]


def test_every_https_and_proxy_choice_comes_from_the_environment():
    values = _settings(
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SESSION_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
        "USE_X_FORWARDED_HOST",
        "CSRF_TRUSTED_ORIGINS",
        "REST_FRAMEWORK",
        "SESSION_IDLE_SECONDS",
        "SESSION_ABSOLUTE_SECONDS",
        "SESSION_COOKIE_AGE",
        **PRODUCTION,
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
        SECURE_HSTS_PRELOAD="false",
        SECURE_COOKIES="false",
        TRUSTED_PROXY_COUNT="2",
        PROXY_SSL_HEADER="X-Forwarded-Scheme",
        USE_X_FORWARDED_HOST="true",
        CSRF_TRUSTED_ORIGINS="https://crm.example.com,https://sales.example.org",
        SESSION_IDLE_SECONDS="900",
        SESSION_ABSOLUTE_SECONDS="86400",
    )
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_SCHEME", "https"]
    assert values["USE_X_FORWARDED_HOST"] is True
    assert values["REST_FRAMEWORK"]["NUM_PROXIES"] == 2
    assert values["CSRF_TRUSTED_ORIGINS"] == [
        "https://crm.example.com",
        "https://sales.example.org",
    ]
    assert values["SESSION_IDLE_SECONDS"] == 900
    assert values["SESSION_ABSOLUTE_SECONDS"] == 86400
    assert values["SESSION_COOKIE_AGE"] == 900


def test_forwarded_headers_are_not_trusted_without_a_proxy():
    result = _run(
        ["-c", "import django; django.setup()"], **PRODUCTION, USE_X_FORWARDED_HOST="true"
    )
    assert result.returncode != 0
    assert "TRUSTED_PROXY_COUNT" in result.stderr


@pytest.fixture
def https_only(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


def test_plain_http_is_sent_to_https_and_https_gets_hsts(https_only, db):
    response = Client().get("/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/login/"
    response = Client().get("/login/", headers={"x-forwarded-proto": "https"})
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_health_checks_answer_over_plain_http(https_only, db):
    assert Client().get("/healthz").status_code == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_run_defaults_serve_plain_http_on_localhost():
    """`make run` sets nothing: the server it starts answers http://127.0.0.1 itself, no redirect,
    no HSTS, cookies not Secure-only."""
    values = _settings("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE")
    assert values == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SESSION_COOKIE_SECURE": False,
    }
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runserver",
            f"127.0.0.1:{port}",
            "--noreload",
            "--skip-checks",
        ],
        env=_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/login/", timeout=5
                ) as response:
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        assert response.status == 200
        assert response.url == f"http://127.0.0.1:{port}/login/"  # not redirected to https
        assert response.headers["Strict-Transport-Security"] is None
        assert "Secure" not in (response.headers["Set-Cookie"] or "")
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    finally:
        server.terminate()
        server.wait(timeout=10)
