"""Typed readers for settings taken from the environment.

Each reader fails loudly (ImproperlyConfigured) on a value it cannot parse, so a
typo in a deployment never silently falls back to a default.
"""

import os
import re
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"The environment variable {name} must be set.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


CONSOLE_EMAIL = "django.core.mail.backends.console.EmailBackend"
SMTP_EMAIL = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_URL_SCHEMES = {"smtp": (False, False), "smtp+tls": (True, False), "smtps": (False, True)}


def env_email() -> dict:
    """Django's e-mail settings: from ``EMAIL_URL`` (``smtp://``, ``smtp+tls://``, ``smtps://`` or
    ``console://``) or else ``EMAIL_HOST`` and its companions; the console backend when neither is set."""
    url = env_str("EMAIL_URL")
    settings = {
        "EMAIL_BACKEND": CONSOLE_EMAIL,
        "EMAIL_HOST": "localhost",
        "EMAIL_PORT": 25,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
    }
    if url:
        parts = urlsplit(url)
        if parts.scheme == "console":
            return settings
        if parts.scheme not in EMAIL_URL_SCHEMES or not parts.hostname:
            raise ImproperlyConfigured(
                f"EMAIL_URL={url!r} is not an e-mail URL (smtp://user:password@host:port, "
                "smtp+tls://..., smtps://... or console://)."
            )
        use_tls, use_ssl = EMAIL_URL_SCHEMES[parts.scheme]
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(
                f"EMAIL_URL={url!r} has a port that is not a number."
            ) from None
        return {
            **settings,
            "EMAIL_BACKEND": SMTP_EMAIL,
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": port or (465 if use_ssl else 587 if use_tls else 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": use_tls,
            "EMAIL_USE_SSL": use_ssl,
        }
    host = env_str("EMAIL_HOST")
    if not host:
        return settings
    return {
        **settings,
        "EMAIL_BACKEND": SMTP_EMAIL,
        "EMAIL_HOST": host,
        "EMAIL_PORT": env_int("EMAIL_PORT", 25, minimum=1),
        "EMAIL_HOST_USER": env_str("EMAIL_HOST_USER", ""),
        "EMAIL_HOST_PASSWORD": env_str("EMAIL_HOST_PASSWORD", ""),
        "EMAIL_USE_TLS": env_bool("EMAIL_USE_TLS", False),
        "EMAIL_USE_SSL": env_bool("EMAIL_USE_SSL", False),
    }


def env_postgres_options() -> str:
    """The settings every PostgreSQL session starts with (libpq's ``options``).

    - ``jit=off`` (``PG_JIT=on`` gives it back): the figures' queries are short but wide (dozens of
      aggregates, a rate lookup in many), and PostgreSQL compiled them for seconds once their
      estimated cost passed its thresholds, e.g. with deals in other currencies
      (``benchmarks/currencies.py``).
    - ``work_mem`` (``PG_WORK_MEM``, default 16MB): PostgreSQL's 4 MB made a team's year of won deals
      hashed against their line items, and a week-old forecast's deal versions, spill to disk at
      1,000,000 deals. A process holds one connection, and a query takes this much per hash or
      sort, so a small machine stays far from its memory.
    """
    jit = "on" if env_bool("PG_JIT", False) else "off"
    work_mem = env_str("PG_WORK_MEM", "16MB")
    if not re.fullmatch(r"[1-9][0-9]*(kB|MB|GB)", work_mem):
        raise ImproperlyConfigured(
            f"PG_WORK_MEM must be a size in kB, MB or GB, such as 16MB; got {work_mem!r}."
        )
    return f"-c jit={jit} -c work_mem={work_mem}"
