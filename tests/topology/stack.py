"""The production topology on one machine, private to one test run or benchmark.

Its own PostgreSQL server (``initdb`` into a temporary directory, on a free
port) and its own ``redis-server``, so stopping or restarting them touches
nobody else's; then ``manage.py migrate``, a small organisation
(``tests.topology.seed``), gunicorn with two workers, a Celery worker and
beat, as in production, each in its own process group with its log in the
work directory. ``stop()`` ends everything it started.

Only the standard library and psycopg2: ``benchmarks/load.py`` uses it
without Django or pytest.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Short clocks so that faults recover within a test's patience; production keeps the defaults.
SHORT_CLOCKS = {
    "REPORTS_RECOMPUTE_DELAY": "2",  # a burst of changes queues one recompute after 2 s
    "REPORTS_SWEEP_SECONDS": "5",  # beat sweeps the scopes still stale every 5 s
    # A task whose worker died goes back to the queue after this long: above the time limit.
    "CELERY_TASK_SOFT_TIME_LIMIT": "10",
    "CELERY_TASK_TIME_LIMIT": "12",
    "CELERY_BROKER_VISIBILITY_TIMEOUT": "15",
}
APP_ENV = {
    **SHORT_CLOCKS,
    "REDIS_TIMEOUT_SECONDS": "1",
    "DB_CONN_MAX_AGE": "60",
    "PYTHONUNBUFFERED": "1",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bindir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``, or None when PostgreSQL's server is not installed."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def missing_tools() -> list[str]:
    """What the topology needs and this machine lacks."""
    missing = [] if postgres_bindir() else ["PostgreSQL's server (initdb, pg_ctl)"]
    missing += [name for name in ("redis-server",) if shutil.which(name) is None]
    missing += [name for name in ("gunicorn", "celery") if not (BIN / name).exists()]
    return missing


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path.name}: no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Postgres:
    """A PostgreSQL cluster of its own: ``init()`` once, then ``start()``/``stop()`` at will."""

    def __init__(self, root: Path, port: int):
        self.bindir = postgres_bindir()
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = port

    def _run(self, *command: str, timeout: float = 120) -> None:
        command = [str(self.bindir / command[0]), *command[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(
            command, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "--auth=trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
            # A backend whose client died (a killed worker) notices within a second.
            " -c client_connection_check_interval=1000"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database
        )
        connection.autocommit = True
        return connection


class Process:
    """A long-running command in its own process group, its output in ``log``."""

    def __init__(self, name: str, command: list[str], env: dict, log: Path):
        self.name, self.command, self.env, self.log = name, command, env, log
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as output:
            output.write(f"\n=== start {time.strftime('%H:%M:%S')}: {' '.join(self.command)}\n")
            output.flush()
            self.popen = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL to the whole group (a prefork worker's children too), as a crash would."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=30)
            self.popen = None

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            self.popen = None
            return
        self.signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)
        self.kill()  # anything left in the group

    def log_contains(self, text: str, since: int = 0) -> bool:
        return self.log.exists() and text in self.log.read_text(errors="replace")[since:]

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0


class Topology:
    """PostgreSQL, Redis, gunicorn (two workers), a Celery worker and beat, on loopback ports of their own."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        teams: int = 2,
        reps: int = 4,
        deals: int = 12,
        gunicorn_workers: int = 2,
        database_url: str | None = None,
        gunicorn_threads: int = 1,
        short_clocks: bool = True,
    ):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="salesmgr-topology-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.seed_options = {"teams": teams, "reps": reps, "deals": deals}
        # A database of one's own already seeded (seed_demo's): used as it is, the cast read from
        # it; no PostgreSQL server is started and the database is left in place at the end.
        self.external_database = database_url is not None
        self.gunicorn_workers = gunicorn_workers
        # The cluster lives in a directory of its own that the postgres user owns.
        self.postgres = Postgres(
            Path(tempfile.mkdtemp(prefix="salesmgr-topology-pg-")), free_port()
        )
        self.redis_port = free_port()
        self.web_port = free_port()
        self.database_url = database_url or self.postgres.url("salesmgr_topology")
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.cast: dict = {}
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_URL", "REDIS_URL"))
        }
        env.update(APP_ENV)
        if not short_clocks:
            # Production's recompute delay, sweep and task time limits: at 100,000 deals a grouped
            # recompute outlasts the short 10 s limit, and would be killed and retried for ever.
            for name in SHORT_CLOCKS:
                env.pop(name, None)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "MEDIA_ROOT": str(self.workdir / "media"),
                "DJANGO_SETTINGS_MODULE": "salesmgr.settings",
            }
        )
        self.env = env
        self.redis = Process(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(self.redis_port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
            ],
            env,
            self.workdir / "redis.log",
        )  # fmt: skip
        self.web = Process(
            "gunicorn",
            [
                str(BIN / "gunicorn"), "salesmgr.wsgi",
                "-w", str(gunicorn_workers), "-b", f"127.0.0.1:{self.web_port}",
                "--timeout", "60", "--graceful-timeout", "5",
                # More than one: gunicorn's threaded workers, a request on each thread.
                "--threads", str(gunicorn_threads),
            ],
            env,
            self.workdir / "gunicorn.log",
        )  # fmt: skip
        self.worker = Process(
            "worker",
            [
                str(BIN / "celery"), "-A", "salesmgr", "worker", "-c", "2", "--loglevel=INFO",
                "-n", f"topology-{self.web_port}@%h", "--without-gossip", "--without-mingle",
            ],
            env,
            self.workdir / "worker.log",
        )  # fmt: skip
        self.beat = Process(
            "beat",
            [
                str(BIN / "celery"), "-A", "salesmgr", "beat", "--loglevel=INFO",
                "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
            ],
            env,
            self.workdir / "beat.log",
        )  # fmt: skip
        self.processes = [self.web, self.worker, self.beat, self.redis]

    # -- the whole --

    def start(self) -> None:
        if not self.external_database:
            self.postgres.init()
            self.postgres.start()
            connection = self.postgres.connect()
            try:
                connection.cursor().execute("CREATE DATABASE salesmgr_topology")
            finally:
                connection.close()
        self.start_redis()
        self.manage("migrate", "--noinput")
        # The processes start while the organisation is seeded: both take seconds.
        self.web.start()
        self.worker.start()
        self.beat.start()
        cast_path = self.workdir / "cast.json"
        if self.external_database:
            seed_arguments = ["--from-database", f"--deals={self.seed_options['deals']}"]
        else:
            seed_arguments = [f"--{name}={value}" for name, value in self.seed_options.items()]
        self.python("-m", "tests.topology.seed", "--out", str(cast_path), *seed_arguments)
        self.cast = json.loads(cast_path.read_text())
        self.wait_serving()
        self.wait_worker_ready()
        self.wait_for(
            lambda: self.beat.log_contains("beat: Starting"), 60, "beat to start", self.beat
        )

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        if self.postgres.running():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.postgres.stop("immediate")
        shutil.rmtree(self.postgres.root, ignore_errors=True)

    def logs(self, lines: int = 60) -> str:
        parts = [f"--- {p.name} ({p.log}) ---\n{tail(p.log, lines)}" for p in self.processes]
        parts.append(f"--- postgres ({self.postgres.log}) ---\n{tail(self.postgres.log, lines)}")
        return "\n".join(parts)

    # -- commands --

    def python(self, *args: str, timeout: float = 600) -> None:
        log = self.workdir / "setup.log"
        with log.open("a") as output:
            output.write(f"\n=== {' '.join(args)}\n")
            output.flush()
            done = subprocess.run(
                [sys.executable, *args],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{tail(log)}")

    def manage(self, *args: str) -> None:
        self.python("manage.py", *args)

    # -- pieces --

    def start_redis(self) -> None:
        self.redis.start()
        self.wait_for(self.redis_answers, 20, "redis-server to answer", self.redis)

    def stop_redis(self) -> None:
        self.redis.stop()

    def redis_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def wait_serving(self, timeout: float = 120) -> None:
        def serving() -> bool:
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=5) as answer:
                    return answer.status == 200
            except (urllib.error.URLError, OSError):
                return False

        self.wait_for(serving, timeout, "gunicorn to serve /healthz", self.web)

    def wait_worker_ready(self, since: int = 0, timeout: float = 120) -> None:
        self.wait_for(
            lambda: self.worker.log_contains(" ready.", since),
            timeout,
            "the Celery worker",
            self.worker,
        )

    def restart_worker(self) -> None:
        since = self.worker.log_size()
        self.worker.start()
        self.wait_worker_ready(since)

    @staticmethod
    def wait_for(
        condition, timeout: float, what: str, process: Process | None = None, every: float = 0.2
    ) -> float:
        """Poll ``condition`` until true; the seconds it took. Fails with the process's log otherwise."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if condition():
                return time.monotonic() - started
            if (
                process is not None
                and process.popen is not None
                and process.popen.poll() is not None
            ):
                raise RuntimeError(
                    f"{process.name} exited while waiting for {what}:\n{tail(process.log)}"
                )
            time.sleep(every)
        detail = f":\n{tail(process.log)}" if process is not None else ""
        raise TimeoutError(f"waited {timeout:.0f} s for {what}{detail}")
