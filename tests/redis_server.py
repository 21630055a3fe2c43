"""A private Redis server a test can stop and start, and a real Celery worker to run against it.

The server listens on a free loopback port, keeps nothing on disk and is
always killed at the end. Without ``redis-server`` installed the tests that
need it are skipped on a laptop and failed under CI=true.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]


def need_redis_server() -> str:
    """The path of ``redis-server``; skips (fails under CI=true) when it is not installed."""
    path = shutil.which("redis-server")
    if path is None:
        message = "this test needs redis-server on the PATH"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """One ``redis-server`` on a fixed port: ``start()`` and ``stop()`` as often as a test likes."""

    def __init__(self, executable: str, port: int, log: Path):
        self.executable = executable
        self.port = port
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, wait: float = 10) -> None:
        command = [
            self.executable,
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]  # fmt: skip
        with self.log.open("a") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{self.log.read_text()}")
            if self._answers():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer within {wait} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def worker_database_url() -> str:
    """The URL of the database this test runs in (pytest-django's test_<name>), for the worker."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def start_worker(*, redis_url: str, log: Path) -> subprocess.Popen:
    """A solo-pool Celery worker on the test database and the broker at ``redis_url``."""
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": redis_url,
        "DB_CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A", "salesmgr", "worker",
        "--pool", "solo", "-c", "1",
        "--without-heartbeat", "--without-gossip", "--without-mingle",
        "-n", f"reports-test-{uuid.uuid4().hex[:8]}@%h",
        "--loglevel", "INFO",
    ]  # fmt: skip
    with log.open("w") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
