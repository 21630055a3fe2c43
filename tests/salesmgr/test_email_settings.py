"""E-mail settings from the environment: the console by default, SMTP from EMAIL_URL or EMAIL_HOST."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from salesmgr.env import CONSOLE_EMAIL, SMTP_EMAIL, env_email

NAMES = ("EMAIL_URL", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
         "EMAIL_USE_TLS", "EMAIL_USE_SSL")  # fmt: skip


@pytest.fixture
def env(monkeypatch):
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_nothing_set_prints_emails_on_the_console(env):
    assert env_email()["EMAIL_BACKEND"] == CONSOLE_EMAIL


def test_an_email_url_names_the_smtp_server(env):
    env.setenv("EMAIL_URL", "smtp+tls://mailer%40example.com:p%40ss@smtp.example.com")
    settings = env_email()
    assert settings["EMAIL_BACKEND"] == SMTP_EMAIL
    assert (settings["EMAIL_HOST"], settings["EMAIL_PORT"]) == ("smtp.example.com", 587)
    assert (settings["EMAIL_HOST_USER"], settings["EMAIL_HOST_PASSWORD"]) == (
        "mailer@example.com",
        "p@ss",
    )
    assert (settings["EMAIL_USE_TLS"], settings["EMAIL_USE_SSL"]) == (True, False)
    env.setenv("EMAIL_URL", "smtps://smtp.example.com:2465")
    assert (env_email()["EMAIL_PORT"], env_email()["EMAIL_USE_SSL"]) == (2465, True)


def test_the_separate_settings_name_the_smtp_server_when_there_is_no_url(env):
    env.setenv("EMAIL_HOST", "mail.internal")
    env.setenv("EMAIL_PORT", "2525")
    env.setenv("EMAIL_USE_TLS", "true")
    settings = env_email()
    assert (settings["EMAIL_BACKEND"], settings["EMAIL_HOST"], settings["EMAIL_PORT"]) == (
        SMTP_EMAIL, "mail.internal", 2525,
    )  # fmt: skip
    assert settings["EMAIL_USE_TLS"] is True


@pytest.mark.parametrize("url", ["http://smtp.example.com", "smtp://", "smtp://host:port"])
def test_a_bad_email_url_stops_the_start(env, url):
    env.setenv("EMAIL_URL", url)
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        env_email()


def test_a_bad_port_stops_the_start(env):
    env.setenv("EMAIL_HOST", "mail.internal")
    env.setenv("EMAIL_PORT", "twenty-five")
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT"):
        env_email()
