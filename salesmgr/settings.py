"""Settings for Salesmgr.

Every deployment choice is read from the environment through the typed readers
in ``salesmgr.env``. With nothing set the defaults give a working local
install: SQLite in the project folder, Celery tasks run eagerly in-process,
a secret generated once for this checkout, and the app's own error pages.
"""

import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from salesmgr.currencies import is_currency
from salesmgr.env import (
    env_bool,
    env_email,
    env_int,
    env_list,
    env_postgres_options,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# DEBUG unset: a local install that shows the app's own error pages (Django's debug
# pages list every URL of the site). DEBUG=true asks for the debug pages too;
# DEBUG=false declares a deployment, which must name its secret and hosts.
LOCAL_INSTALL = env_bool("DEBUG", True)
DEBUG = env_bool("DEBUG", False)
CI = env_bool("CI", False)


def _local_secret_key() -> str:
    """A secret made once per checkout, for development only."""
    path = BASE_DIR / ".local_secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


if LOCAL_INSTALL:
    SECRET_KEY = env_str("SECRET_KEY") or _local_secret_key()
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"])
else:
    SECRET_KEY = env_str("SECRET_KEY", required=True)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS must list the served host names when DEBUG=false."
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "simple_history",
    "salesmgr",
    "quotas",
    "pipeline",
    "reports",
    "coaching",
]

MIDDLEWARE = [
    # First, so that every line logged while a request is served carries its id.
    "salesmgr.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "salesmgr.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages go out compressed (a team's board is 330 kB of HTML, about 30 kB
    # gzipped); static files come compressed from WhiteNoise above. Django
    # pads each compressed page at random against BREACH, and CSRF tokens are
    # masked anew on every response.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "salesmgr.middleware.SessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "salesmgr.middleware.HtmxLoginRedirectMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "salesmgr.middleware.ReplicaReadsMiddleware",
    "salesmgr.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "salesmgr.urls"
WSGI_APPLICATION = "salesmgr.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite in the project folder unless DATABASE_URL says otherwise.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {
            "default": dj_database_url.parse(
                DATABASE_URL,
                conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
                # A kept connection is checked before a request reuses it, so a restarted
                # database costs no failed request once it is back.
                conn_health_checks=True,
            )
        }
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL is not a database URL Salesmgr understands: {exc}"
        ) from exc
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # The session settings of every connection: no JIT, more memory per hash and sort.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} {env_postgres_options()}".strip()
        # A database that does not answer fails a request in seconds (a 503), not after the
        # operating system's minutes-long connect time-out.
        options.setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5, minimum=1))
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            "OPTIONS": {"timeout": 20},
        }
    }
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The covering indexes' INCLUDE columns serve PostgreSQL; SQLite builds the same indexes
    # without them, which is all the embedded default needs: no warning on every migrate.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
# A PostgreSQL streaming replica of DATABASE_URL's database: the reports' heavy reads go there
# (salesmgr.dbrouter), everything else stays on the primary. Only its address and credentials
# differ from the primary's settings; tests treat it as the primary.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL to name PostgreSQL.")
    try:
        _replica = dj_database_url.parse(DATABASE_REPLICA_URL)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"DATABASE_REPLICA_URL is not a database URL Salesmgr understands: {exc}"
        ) from exc
    DATABASES["replica"] = {
        **DATABASES["default"],
        **{key: _replica[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")},
        "OPTIONS": {**DATABASES["default"].get("OPTIONS", {}), **_replica.get("OPTIONS", {})},
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["salesmgr.dbrouter.ReplicaRouter"]
# After a request that may write, its client reads from the primary for this many seconds
# (well above a healthy replica's lag), so nobody misses their own change.
DATABASE_REPLICA_PIN_SECONDS = env_int("DATABASE_REPLICA_PIN_SECONDS", 15, minimum=1)
# The views (URL names) whose GET requests read from the replica: the heavy, read-only ones.
DATABASE_REPLICA_VIEWS = {
    "dashboard",
    "home-panels",
    "gap",
    "report",
    "report-export",
    "metrics-funnel",
    "metrics-series",
    "forecasts",
    "forecasts-accuracy",
    "gap-figures",
    "deal-export",
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "salesmgr.User"
AUTHENTICATION_BACKENDS = ["salesmgr.auth.RoleBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Uploaded files (spreadsheets being imported); the web process and the worker must share it.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or BASE_DIR / "media")
IMPORT_BATCH_ROWS = env_int("IMPORT_BATCH_ROWS", 5000, minimum=1)
# An import task works this long, then queues its rest: under the task time limit below.
IMPORT_SLICE_SECONDS = env_int("IMPORT_SLICE_SECONDS", 240, minimum=1)
# WhiteNoise serves the collected files in every mode (runserver, the test live
# server, gunicorn): compressed, under content-hashed names cached for a year.
# `make run` and the test suite run collectstatic first.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "salesmgr.storage.StaticStorage"},
}

# Redis: the Celery broker, the result backend and the cache. Without it tasks
# run eagerly in the calling process and the cache is per-process memory.
REDIS_URL = env_str("REDIS_URL")
# A Redis host that does not answer must not hold a request for minutes:
# connecting (and, for the cache, any reply) gives up after this many seconds.
REDIS_TIMEOUT_SECONDS = env_int("REDIS_TIMEOUT_SECONDS", 2, minimum=1)
REDIS_CACHE_OPTIONS = {
    "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
    "socket_timeout": REDIS_TIMEOUT_SECONDS,
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Only the connect timeout: a worker's blocking reads wait longer than any read timeout would allow.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, minimum=1)
# A task taken by a worker that died unacknowledged goes back to the queue after this long: above
# the longest task's time limit (so a running task is never handed out twice), and well under
# Redis's default hour (so a killed refresh or snapshot is picked up again within minutes).
CELERY_BROKER_VISIBILITY_TIMEOUT = env_int(
    "CELERY_BROKER_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 300, minimum=1
)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
    "visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT,
}
# The dashboard polls a refresh it queued for this long, then stops and says the worker is late.
REFRESH_POLL_TIMEOUT_SECONDS = env_int("REFRESH_POLL_TIMEOUT_SECONDS", 120, minimum=1)
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_TIMEOUT_SECONDS
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540, minimum=1)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_STORE_EAGER_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Two queues, so that a long import or the nightly pass never holds up what a person waits for:
# "interactive" for a manager's refresh, the recompute after changes, digests, milestones and
# webhooks; "heavy" for the nightly snapshots, backfills, imports, realignments and purges.
# A worker started without -Q consumes both (`make worker`); `-Q interactive` or `-Q heavy`
# gives a queue workers of its own, on this machine or others. A task not listed is interactive.
CELERY_TASK_QUEUES = (Queue("interactive"), Queue("heavy"))
CELERY_TASK_DEFAULT_QUEUE = "interactive"
CELERY_TASK_ROUTES = {
    "reports.snapshot_scope": {"queue": "interactive"},  # a manager's refresh of one scope
    # The grouped pass of the recompute after changes is sent to "interactive" explicitly.
    "reports.snapshot_scopes": {"queue": "heavy"},
    "reports.recompute_dirty_scopes": {"queue": "interactive"},
    "reports.nightly_snapshots": {"queue": "heavy"},
    "reports.mature_forecasts": {"queue": "heavy"},
    "pipeline.run_import": {"queue": "heavy"},
    "pipeline.realign_territories": {"queue": "heavy"},
    "pipeline.requeue_stalled_realignments": {"queue": "interactive"},
    "pipeline.purge_deleted_deals": {"queue": "heavy"},
    "pipeline.webhook_deliver": {"queue": "interactive"},
    "pipeline.webhooks_sweep": {"queue": "interactive"},
    "coaching.daily_reminders": {"queue": "heavy"},
    "coaching.record_milestones": {"queue": "interactive"},
    "coaching.send_due_digests": {"queue": "interactive"},
    "coaching.send_digest": {"queue": "interactive"},
    "salesmgr.purge_signin_throttles": {"queue": "interactive"},
    "salesmgr.purge_audit_events": {"queue": "heavy"},
}
# Standing jobs; the database scheduler copies them into its tables, where
# admins can see and pause them.
CELERY_BEAT_SCHEDULE = {
    "purge-deleted-deals": {
        "task": "pipeline.purge_deleted_deals",
        "schedule": crontab(hour=3, minute=30),
    },
    "nightly-snapshots": {
        "task": "reports.nightly_snapshots",
        "schedule": crontab(hour=1, minute=0),
    },
}
# Failed sign-ins (the sign-in page and the API's token endpoint together): past this many in a
# window per account, or per client address, every attempt waits until the window ends.
SIGNIN_FAILURES_PER_ACCOUNT = env_int("SIGNIN_FAILURES_PER_ACCOUNT", 10, minimum=1)
SIGNIN_FAILURES_PER_ADDRESS = env_int("SIGNIN_FAILURES_PER_ADDRESS", 20, minimum=1)
SIGNIN_WINDOW_SECONDS = env_int("SIGNIN_WINDOW_SECONDS", 900, minimum=1)
CELERY_BEAT_SCHEDULE["purge-signin-throttles"] = {
    "task": "salesmgr.purge_signin_throttles",
    "schedule": crontab(hour=3, minute=45),
}
# A territory realignment applies its moves in short transactions, each holding its deals' row
# locks until it commits: at most this many accounts per transaction,
TERRITORY_REALIGN_BATCH = env_int("TERRITORY_REALIGN_BATCH", 2000, minimum=1)
# starting at this many rows (accounts plus their open deals), then sized so that one
# transaction lasts about this many milliseconds,
TERRITORY_REALIGN_BATCH_ROWS = env_int("TERRITORY_REALIGN_BATCH_ROWS", 1000, minimum=1)
TERRITORY_REALIGN_BATCH_SECONDS = env_int("TERRITORY_REALIGN_BATCH_MS", 300, minimum=10) / 1000
# and giving way (rolled back, retried smaller) when a rep's lock is not released within this.
TERRITORY_REALIGN_LOCK_TIMEOUT_MS = env_int("TERRITORY_REALIGN_LOCK_TIMEOUT_MS", 200, minimum=1)
# A realignment job queued or running with no progress for this many minutes is queued
# again by the sweeper (its task was lost: the broker was down, or the worker died).
TERRITORY_REALIGN_STALLED_MINUTES = env_int("TERRITORY_REALIGN_STALLED_MINUTES", 10, minimum=1)
CELERY_BEAT_SCHEDULE["requeue-stalled-realignments"] = {
    "task": "pipeline.requeue_stalled_realignments",
    "schedule": 60,
    "options": {"expire_seconds": 60},
}
# Each morning every person's reminders (action items due, tomorrow's one-on-ones) are written;
CELERY_BEAT_SCHEDULE["coaching-daily-reminders"] = {
    "task": "coaching.daily_reminders",
    "schedule": crontab(hour=5, minute=0),
}
# quota milestones are recorded as deals change, and swept this often for a change whose ring was lost.
CELERY_BEAT_SCHEDULE["coaching-record-milestones"] = {
    "task": "coaching.record_milestones",
    "schedule": env_int("COACHING_MILESTONES_SWEEP_SECONDS", 900, minimum=60),
    "options": {"expire_seconds": 900},
}
# Every hour the weekly digests whose day and hour have come go out (each at most once a week).
CELERY_BEAT_SCHEDULE["coaching-weekly-digests"] = {
    "task": "coaching.send_due_digests",
    "schedule": crontab(minute=0),
    "options": {"expire_seconds": 3600},
}
# E-mail: printed to the console unless EMAIL_URL or EMAIL_HOST names an SMTP server.
_EMAIL = env_email()
EMAIL_BACKEND = _EMAIL["EMAIL_BACKEND"]
EMAIL_HOST = _EMAIL["EMAIL_HOST"]
EMAIL_PORT = _EMAIL["EMAIL_PORT"]
EMAIL_HOST_USER = _EMAIL["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = _EMAIL["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = _EMAIL["EMAIL_USE_TLS"]
EMAIL_USE_SSL = _EMAIL["EMAIL_USE_SSL"]
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Salesmgr <salesmgr@localhost>")
# The address the site is reached at, for the links in e-mails.
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")

# HTTPS, cookies and the proxy in front. A deployment (DEBUG=false) is served over HTTPS only:
# plain http is redirected, browsers are told to come back over HTTPS for a year (HSTS), and
# the cookies are never sent in clear. A local install (`make run`) keeps plain http on
# 127.0.0.1. Each can be set on its own; see README "Running in production" > "Settings".
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not LOCAL_INSTALL)
# Health checks come from the balancer or the container runtime over plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int(
    "SECURE_HSTS_SECONDS", 0 if LOCAL_INSTALL else 365 * 24 * 3600, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not LOCAL_INSTALL)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not LOCAL_INSTALL)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not LOCAL_INSTALL)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# How many reverse proxies stand in front of gunicorn, each appending to X-Forwarded-For.
# 0 (the default): nothing forwarded is believed, the client is the socket's peer. Above 0,
# the client address (sign-in throttle) is taken that many hops from the right of
# X-Forwarded-For, the proxy's PROXY_SSL_HEADER (default X-Forwarded-Proto: https) says the
# request came over HTTPS, and USE_X_FORWARDED_HOST may be turned on.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
if TRUSTED_PROXY_COUNT:
    _ssl_header = env_str("PROXY_SSL_HEADER", "X-Forwarded-Proto")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _ssl_header.upper().replace("-", "_"), "https")
elif USE_X_FORWARDED_HOST:
    raise ImproperlyConfigured(
        "USE_X_FORWARDED_HOST=true trusts a header any client can send: "
        "set TRUSTED_PROXY_COUNT to the number of proxies in front."
    )
# Origins (scheme://host[:port]) whose forms and API calls may carry our CSRF cookie besides the
# served host itself; a deployment trusts its SITE_URL.
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS",
    [SITE_URL] if not LOCAL_INSTALL and SITE_URL.startswith("https://") else [],
)

# Sessions (salesmgr.middleware.SessionLifetimeMiddleware): a session unused for
# SESSION_IDLE_SECONDS ends (each request moves that clock), and every session ends
# SESSION_ABSOLUTE_SECONDS after its sign-in however busy. The stored session and its cookie
# expire with the idle time-out; signing in always gives a new session key.
SESSION_IDLE_SECONDS = env_int("SESSION_IDLE_SECONDS", 8 * 3600, minimum=60)
SESSION_ABSOLUTE_SECONDS = env_int("SESSION_ABSOLUTE_SECONDS", 7 * 24 * 3600, minimum=60)
SESSION_COOKIE_AGE = min(SESSION_IDLE_SECONDS, SESSION_ABSOLUTE_SECONDS)

# Content-Security-Policy on every response (salesmgr.middleware.ContentSecurityPolicyMiddleware).
# Scripts come only from our static files (HTMX and Plotly included); chart data travels in
# <script type="application/json">, which is never executed. <style> elements too come only from
# static files, but for two whose text is fixed, allowed by their hashes: the empty one Plotly
# fills through the CSSOM, and the API docs page's own. Style attributes stay allowed (meters'
# computed widths, the digest e-mail's styles in its preview frame); they cannot hold selectors.
# `style-src` is for browsers older than CSP 3, which know neither of the two after it.
CSP_STYLE_HASHES = [
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # "" (Plotly)
    "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='",  # drf-spectacular's Swagger UI page
]
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "style-src-elem": " ".join(["'self'", *CSP_STYLE_HASHES]),
    "style-src-attr": "'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}
CSP_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", False)

# A burst of deal changes within this many seconds queues one recompute.
REPORTS_RECOMPUTE_DELAY = env_int("REPORTS_RECOMPUTE_DELAY", 10, minimum=1)
# Every this many seconds beat sweeps the scopes still marked stale (a change
# made while Redis was down queued nothing); a sweep not started by the next expires.
REPORTS_SWEEP_SECONDS = env_int("REPORTS_SWEEP_SECONDS", 60, minimum=1)
CELERY_BEAT_SCHEDULE["sweep-stale-scopes"] = {
    "task": "reports.recompute_dirty_scopes",
    "schedule": REPORTS_SWEEP_SECONDS,
    "options": {"expire_seconds": REPORTS_SWEEP_SECONDS},
}
# Without a worker a queued recompute would run inside the request that changed a deal;
# there it runs instead on a thread of the web process (reports.background), this many
# seconds after the first change of a burst. Readers see the stale snapshots meanwhile.
REPORTS_RECOMPUTE_ON_CHANGE = env_bool("REPORTS_RECOMPUTE_ON_CHANGE", bool(REDIS_URL))
REPORTS_EMBEDDED_RECOMPUTE = env_bool("REPORTS_EMBEDDED_RECOMPUTE", not REPORTS_RECOMPUTE_ON_CHANGE)
REPORTS_EMBEDDED_DELAY = env_int("REPORTS_EMBEDDED_DELAY", 5, minimum=0)
# How far below the web's CPU priority background work runs (Unix niceness, 0-19): a Celery
# worker's processes, and the embedded recompute's thread. On a machine the web shares with
# them, requests get the CPU first and a recompute takes what they leave.
BACKGROUND_NICENESS = env_int("BACKGROUND_NICENESS", 10, minimum=0)
# A change's recompute moves each open deal's figures at once, but reuses the model's learned
# rates (its training: a year of stage entries) for up to this many seconds, in the process
# that learned them; the nightly run and a requested refresh always learn afresh. 0: never reuse.
REPORTS_LEARNED_MAX_AGE = env_int("REPORTS_LEARNED_MAX_AGE", 600, minimum=0)
# How many processes a big grouped pass (the nightly run, a forecast backfill's dates) may use
# for the model's Python: with 2, a second one, forked, builds a share of the trainings while the
# first builds the rest. Never more than the cores the process may run on. At 1,000,000 deals on
# two cores it took the nightly run from 44-55 s to 36-42 s, the two processes holding about
# 445 MB together against 320-335 MB for one. 1 where memory is scarcer than time.
REPORTS_MODEL_PROCESSES = env_int("REPORTS_MODEL_PROCESSES", 2, minimum=1)
# A change's recompute runs one at a time; the running pass's mark lapses this many seconds
# after its worker stops renewing it (killed mid-pass), so the next pass waits no longer.
REPORTS_RECOMPUTE_LEASE = env_int("REPORTS_RECOMPUTE_LEASE", 30, minimum=1)


def env_currency(name: str, default: str) -> str:
    """An ISO 4217 code from the environment, upper-cased; anything else stops the start."""
    code = env_str(name, default).upper()
    if not is_currency(code):
        raise ImproperlyConfigured(f"{name}={code!r} is not an ISO 4217 code.")
    return code


# The business.
DEFAULT_CURRENCY = env_currency("DEFAULT_CURRENCY", "USD")
# Every figure (funnel, forecasts, quotas, snapshots, charts, exports) is in this currency:
# a deal in another one is converted at the dated exchange rates admins keep (pipeline.ExchangeRate).
REPORTING_CURRENCY = env_currency("REPORTING_CURRENCY", DEFAULT_CURRENCY)

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes anonymous requests a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "salesmgr.api.search.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "EXCEPTION_HANDLER": "salesmgr.api.base.exception_handler",
    # The sign-in throttle's client address; None: the socket's peer, X-Forwarded-For ignored.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT or None,
    # Bodies are JSON: the schema declares one media type per body, as generated clients expect.
    "DEFAULT_PARSER_CLASSES": ["salesmgr.api.parsers.JSONBodyParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Salesmgr API",
    "DESCRIPTION": "Deals, pipelines, territories, quotas, metrics and forecasts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI is served from our own static files: the app works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "StageKindEnum": "pipeline.models.StageKind",
        "ActivityKindEnum": "pipeline.models.ActivityKind",
        "RoleEnum": "salesmgr.models.Role",
        "AuditKindEnum": "salesmgr.audit.models.AuditKind",
        "WebhookDeliveryStatusEnum": "pipeline.webhooks.models.DeliveryStatus",
        "WebhookEventEnum": "pipeline.webhooks.models.WebhookEvent",
        "SessionStatusEnum": "coaching.models.sessions.SessionStatus",
        "TeamMeetingStatusEnum": "coaching.models.team_meetings.TeamMeetingStatus",
        "CourseKindEnum": "coaching.models.training.CourseKind",
        "MeetingStatusEnum": "coaching.models.one_on_ones.MeetingStatus",
        "ActionItemStatusEnum": "coaching.models.one_on_ones.ActionItemStatus",
        "RealignmentStatusEnum": "pipeline.models.RealignmentStatus",
        "ImportKindEnum": "pipeline.models.ImportKind",
        "ImportStatusEnum": "pipeline.models.ImportStatus",
        "ScopeKindEnum": "reports.models.ScopeKind",
        "StatementStatusEnum": "reports.compensation.models.StatementStatus",
        "SpendCategoryEnum": "reports.budget.models.SpendCategory",
        "AmountKindEnum": "reports.budget.models.AmountKind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "salesmgr.api.base.add_standard_error_responses",
    ],
}

# Logs go to the console (stderr), one line per record, with the request id of the request (or the
# task it queued) on each: JSON objects for a deployment's log collector, text for a developer.
LOG_FORMAT = env_str("LOG_FORMAT", "text" if LOCAL_INSTALL else "json").lower()
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "salesmgr.log.LogContextFilter"}},
    "formatters": {
        "json": {"()": "salesmgr.log.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    # Django's own loggers write through the same handler, not through their defaults as well.
    "loggers": {"django": {"handlers": [], "propagate": True}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# The audit log (salesmgr.audit) keeps security events this many days; beat purges older ones daily.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365, minimum=1)
CELERY_BEAT_SCHEDULE["purge-audit-events"] = {
    "task": "salesmgr.purge_audit_events",
    "schedule": crontab(hour=3, minute=50),
}

# Outbound webhooks (pipeline.webhooks): each request gives up after this many seconds,
WEBHOOKS_TIMEOUT_SECONDS = env_int("WEBHOOKS_TIMEOUT_SECONDS", 10, minimum=1)
# a delivery is tried at most this many times, waiting base * 2^(n-1) ms (plus up to a quarter
# more, at random) after the n-th failure, never more than the cap,
WEBHOOKS_MAX_ATTEMPTS = env_int("WEBHOOKS_MAX_ATTEMPTS", 8, minimum=1)
WEBHOOKS_BACKOFF_BASE_MS = env_int("WEBHOOKS_BACKOFF_BASE_MS", 10_000, minimum=1)
WEBHOOKS_BACKOFF_MAX_SECONDS = env_int("WEBHOOKS_BACKOFF_MAX_SECONDS", 3600, minimum=1)
# and a subscription is disabled once this many deliveries in a row were given up on.
WEBHOOKS_DISABLE_AFTER_FAILURES = env_int("WEBHOOKS_DISABLE_AFTER_FAILURES", 5, minimum=1)
# Targets on loopback, private or link-local addresses are refused unless this allows them.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", False)
# The delivery log keeps finished deliveries this many days.
WEBHOOKS_LOG_KEEP_DAYS = env_int("WEBHOOKS_LOG_KEEP_DAYS", 30, minimum=1)
# Beat sends what is due and was not queued (the broker was down, a worker died) this often.
WEBHOOKS_SWEEP_SECONDS = env_int("WEBHOOKS_SWEEP_SECONDS", 30, minimum=1)
CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {
    "task": "pipeline.webhooks_sweep",
    "schedule": WEBHOOKS_SWEEP_SECONDS,
    "options": {"expire_seconds": WEBHOOKS_SWEEP_SECONDS},
}
