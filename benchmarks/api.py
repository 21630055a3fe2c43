"""How fast the deals API answers over HTTP, served by gunicorn from PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/api.py --deals 100000 --reuse

Migrates the database, seeds it with ``seed_demo --reset --deals N`` (unless
``--reuse`` and it already holds N deals or more), runs ANALYZE, starts gunicorn with two
workers on a free loopback port, signs in as a rep and a manager of the demo
organisation and measures, with a bounded number of requests:

- the rep's deal list and the manager's team list (``page_size=50``),
- reading one deal,
- moving a deal back and forth between two open stages with its current version,

each with one client (median, p95) and with 8 concurrent clients (throughput,
median, p95). Then it starts ``benchmarks/bare_handler.py`` (psycopg2 + json, no Django)
under the same gunicorn settings on another port, checks that it lists the same deals, and
times both lists against it, the app's request and the bare one alternating (random order
within each pair) with one client and with 8, printing medians, p95, the ratio and the
machine load. Then it counts the SQL queries of one list and one read made
in-process, prints a table, and stops gunicorn. The goals it is held to are in
``PERFORMANCE.md``.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._measure import Timings, alternate, load_line, machine_load, ratio  # noqa: E402

PASSWORD = "demo1234"  # seed_demo's password for every demo user
REP, MANAGER = "rep1", "manager1"  # manager1's team: rep1-5 and, through manager3, rep11-15
HOST = "127.0.0.1"
CLIENTS = 8
REQUEST_TIMEOUT = 30  # seconds


@dataclass
class Result:
    name: str
    clients: int
    latencies: list[float] = field(default_factory=list)  # seconds
    wall: float = 0.0
    errors: int = 0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p95_ms(self) -> float:
        if len(self.latencies) < 2:
            return self.median_ms
        return statistics.quantiles(self.latencies, n=20, method="inclusive")[18] * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall if self.wall else float("nan")


class Client:
    """One keep-alive-if-possible HTTP connection to the server, signed in with a token."""

    def __init__(self, port: int, token: str | None = None):
        self.connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
        self.headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"

    def request(
        self, method: str, path: str, body: dict | None = None
    ) -> tuple[int, dict | list | None]:
        payload = json.dumps(body).encode() if body is not None else None
        try:
            self.connection.request(method, path, body=payload, headers=self.headers)
            response = self.connection.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()  # reconnects on the next request
            raise
        return response.status, (json.loads(data) if data else None)

    def close(self) -> None:
        self.connection.close()


def _django():
    """Set up Django in this process (for counting rows and the in-process query counts)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


def _manage(*args: str) -> None:
    command = [sys.executable, "manage.py", *args]
    print("$", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    if subprocess.run(command, cwd=ROOT).returncode:
        raise SystemExit(f"manage.py {args[0]} failed; see above.")
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)


def prepare_database(deals: int, seed: int, reuse: bool) -> int:
    _manage("migrate", "--noinput", "--verbosity=0")
    _django()
    from pipeline.models import Deal

    present = Deal.objects.count()
    if reuse and present >= deals:
        print(f"Reusing the {present:,} deals already there.")
    else:
        _manage("seed_demo", "--reset", f"--deals={deals}", f"--seed={seed}")
        present = Deal.objects.count()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would after a bulk load: plans see the real sizes
    return present


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_gunicorn(
    port: int, log_path: Path, app: str = "salesmgr.wsgi:application"
) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY")
        or "benchmark-only-secret-key-not-for-production-use",
        "ALLOWED_HOSTS": HOST,
        "LOG_LEVEL": "WARNING",
        # Plain http on the loopback: DEBUG=false would otherwise redirect every request to https.
        "SECURE_SSL_REDIRECT": "false",
    }
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        app,
        "-w", "2",
        "-b", f"{HOST}:{port}",
        "--timeout", "60",
    ]  # fmt: skip
    print("$", " ".join(command), flush=True)
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_serving(
    server: subprocess.Popen,
    port: int,
    log_path: Path,
    timeout: float = 60,
    probe: str = "/api/v1/users/me/",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(
                f"gunicorn exited with {server.returncode}:\n{log_path.read_text()[-3000:]}"
            )
        try:
            status, _ = Client(port).request("GET", probe)
            if status in (200, 401):
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(
        f"gunicorn did not answer within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}"
    )


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def sign_in(port: int, username: str) -> str:
    status, body = Client(port).request(
        "POST", "/api/v1/auth/token/", {"username": username, "password": PASSWORD}
    )
    if status != 200:
        raise SystemExit(
            f"Could not sign in as {username} ({status}: {body}); is this seed_demo's data?"
        )
    return body["token"]


def measure(name: str, clients: int, per_client: int, make_step, deadline: float) -> Result:
    """Run ``per_client`` steps in each of ``clients`` threads; a step returns True when it succeeded.

    ``make_step(index)`` gives thread ``index`` its own step function (its own connection and state).
    """
    result = Result(name, clients)
    lock = threading.Lock()
    steps = [make_step(index) for index in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def work(step):
        barrier.wait()
        for _ in range(per_client):
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            try:
                ok = step()
            except (OSError, http.client.HTTPException):
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    result.latencies.append(elapsed)
                else:
                    result.errors += 1

    threads = [threading.Thread(target=work, args=(step,), daemon=True) for step in steps]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - started
    return result


def get_step(port: int, token: str, paths: list[str]):
    def make(index: int):
        client = Client(port, token)
        position = [index]

        def step() -> bool:
            path = paths[position[0] % len(paths)]
            position[0] += 1
            status, _ = client.request("GET", path)
            return status == 200

        return step

    return make


def move_step(port: int, token: str, deals: list[dict], stages_of: dict[int, tuple[int, int]]):
    """Each client moves its own deal between two open stages, sending the version it last saw."""

    def make(index: int):
        client = Client(port, token)
        deal = deals[index % len(deals)]  # shared, so the next measurement starts from its version

        def step() -> bool:
            first, second = stages_of[deal["pipeline"]]
            target = second if deal["stage"] == first else first
            status, body = client.request(
                "POST",
                f"/api/v1/deals/{deal['id']}/move/",
                {"stage": target, "version": deal["version"]},
            )
            if status == 200:
                deal.update(stage=body["stage"], version=body["version"])
                return True
            if status == 409:  # another client moved it: carry on from its version
                deal["version"] = body["current_version"]
            return False

        return step

    return make


def pick_deals(
    port: int, rep_token: str, count: int
) -> tuple[list[int], list[dict], dict[int, tuple[int, int]]]:
    """Deals of the rep to read, open ones to move, and two open stages of each of their pipelines."""
    client = Client(port, rep_token)
    status, page = client.request("GET", "/api/v1/deals/?page_size=50")
    if status != 200 or not page["results"]:
        raise SystemExit(f"The rep's deal list answered {status} with no deals.")
    read_ids = [deal["id"] for deal in page["results"]]
    status, page = client.request("GET", f"/api/v1/deals/?status=open&page_size={max(count, 1)}")
    movable = page["results"] if status == 200 else []
    if not movable:
        raise SystemExit("The rep has no open deals to move.")
    stages_of = {}
    for pipeline in {deal["pipeline"] for deal in movable}:
        _, stages = client.request(
            "GET", f"/api/v1/stages/?pipeline={pipeline}&kind=open&ordering=order"
        )
        ids = [stage["id"] for stage in stages["results"]]
        if len(ids) >= 2:
            stages_of[pipeline] = (ids[0], ids[1])
    movable = [deal for deal in movable if deal["pipeline"] in stages_of]
    client.close()
    return read_ids, movable, stages_of


def team_label(manager: str) -> str:
    return "list, manager's team" if manager == MANAGER else f"list, {manager}'s team"


def query_counts(rep: str, managers: list[str], deal_id: int) -> dict[str, int]:
    """The SQL queries of one request each, made in this process through Django's test client."""
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    counts = {}
    for label, username, path in (
        ("list, rep", rep, "/api/v1/deals/?page_size=50"),
        *((team_label(manager), manager, "/api/v1/deals/?page_size=50") for manager in managers),
        ("retrieve", rep, f"/api/v1/deals/{deal_id}/"),
    ):
        token = Token.objects.get(user__username=username).key
        client = DjangoClient(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
        client.get(path)  # warm up the caches a first request fills
        with CaptureQueriesContext(connection) as queries:
            status = client.get(path).status_code
        counts[label] = len(queries) if status == 200 else -status
    return counts


def measure_interleaved(
    clients: int, per_client: int, makers: dict, deadline: float
) -> dict[str, Timings]:
    """Each of ``clients`` threads calls every step of ``makers`` in turn, a random order per
    round, so the app and the yardstick are timed request by request in the same moments."""
    merged = {name: Timings() for name in makers}
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def work(index: int) -> None:
        steps = {name: make(index) for name, make in makers.items()}
        barrier.wait()
        timings = alternate(
            steps,
            per_client,
            seed=index,
            deadline=deadline,
            failures=(OSError, http.client.HTTPException),
        )
        with lock:
            for name, timing in timings.items():
                merged[name].extend(timing)

    threads = [
        threading.Thread(target=work, args=(index,), daemon=True) for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return merged


def same_ids(app_port: int, bare_port: int, token: str) -> bool:
    """Whether the bare handler's first page lists the same deals, in the same order, as the API's."""
    path = "/api/v1/deals/?page_size=50"
    _, app_page = Client(app_port, token).request("GET", path)
    _, bare_page = Client(bare_port, token).request("GET", path)
    same_count = app_page.get("count_exact") == bare_page.get("count_exact") and (
        app_page["count"] == bare_page["count"] or not app_page.get("count_exact")
    )  # two estimates of the same rows may differ a little: they are the planner's
    return [d["id"] for d in app_page["results"]] == [d["id"] for d in bare_page["results"]] and (
        same_count
    )


def print_table(
    results: list[Result], counts: dict[str, int], deals: int, against_bare: list
) -> None:
    print()
    print(f"Deals API, gunicorn -w 2, PostgreSQL, {deals:,} deals")
    header = f"{'request':<26} {'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>8} {'median ms':>10} {'p95 ms':>8}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<26} {r.clients:>7} {len(r.latencies):>8} {r.errors:>6} {r.throughput:>8.1f} "
            f"{r.median_ms:>10.1f} {r.p95_ms:>8.1f}"
        )
    print()
    print("SQL queries of one request (in-process):")
    for label, count in counts.items():
        print(f"  {label:<22} {count if count >= 0 else f'failed with {-count}'}")
    print()
    print(
        "The lists against the bare handler (psycopg2 + json, gunicorn -w 2), interleaved per request:"
    )
    header = f"{'request':<22} {'clients':>7} {'app median':>10} {'p95':>7} {'bare median':>11} {'p95':>7} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for name, clients, timings, before, after in against_bare:
        app, bare = timings["app"], timings["bare"]
        errors = (
            f"  errors app {app.errors}, bare {bare.errors}" if app.errors or bare.errors else ""
        )
        print(
            f"{name:<22} {clients:>7} {app.median_ms:>10.1f} {app.p95_ms:>7.1f} {bare.median_ms:>11.1f} "
            f"{bare.p95_ms:>7.1f} {ratio(app, bare):>5.2f}x  ({len(app.times)} + {len(bare.times)} requests){errors}"
        )
        print(f"  {load_line(before, after)}")
    print()
    print("Goals (PERFORMANCE.md, at 1M deals): retrieve median < 15 ms and <= 6 queries;")
    print("team list p95 < 100 ms at 8 clients.")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=100_000, help="deals to seed (default 100000)")
    parser.add_argument("--seed", type=int, default=42, help="seed_demo's random seed")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the data if it already holds --deals deals"
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="requests per measurement, one client"
    )
    parser.add_argument(
        "--per-client", type=int, default=50, help="requests per client at 8 clients"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=600, help="stop measuring after this long"
    )
    parser.add_argument(
        "--manager",
        action="append",
        help=f"a manager whose team list to measure (repeatable; default {MANAGER})",
    )
    args = parser.parse_args()
    managers = args.manager or [MANAGER]

    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print(
            "Set DATABASE_URL to a PostgreSQL database (postgres://...); this benchmark measures PostgreSQL.",
            file=sys.stderr,
        )
        return 2

    deals = prepare_database(args.deals, args.seed, args.reuse)
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="salesmgr-bench-"))
    log_path = workdir / "gunicorn.log"
    server = start_gunicorn(port, log_path)
    bare_port = _free_port()
    bare_log = workdir / "bare.log"
    bare_server = start_gunicorn(bare_port, bare_log, "benchmarks.bare_handler:application")
    try:
        wait_until_serving(server, port, log_path)
        wait_until_serving(bare_server, bare_port, bare_log, probe="/api/v1/deals/")
        rep_token = sign_in(port, REP)
        manager_tokens = {team_label(manager): sign_in(port, manager) for manager in managers}
        read_ids, movable, stages_of = pick_deals(port, rep_token, CLIENTS)
        deadline = time.monotonic() + args.max_seconds
        rep_list = get_step(port, rep_token, ["/api/v1/deals/?page_size=50"])
        retrieve = get_step(port, rep_token, [f"/api/v1/deals/{deal_id}/" for deal_id in read_ids])
        move = move_step(port, rep_token, movable, stages_of)
        measurements = [
            ("list, rep", rep_list),
            *(
                (label, get_step(port, token, ["/api/v1/deals/?page_size=50"]))
                for label, token in manager_tokens.items()
            ),
            ("retrieve", retrieve),
            ("move", move),
        ]
        # A short warm-up so both workers have connected and filled their caches.
        for _, make_step in measurements[: 2 + len(managers)]:
            measure("warm-up", 2, 5, make_step, deadline)
        results = []
        for name, make_step in measurements:
            results.append(measure(name, 1, args.requests, make_step, deadline))
            print(f"  {name}, 1 client: {results[-1].median_ms:.1f} ms median", flush=True)
        for name, make_step in measurements:
            results.append(measure(name, CLIENTS, args.per_client, make_step, deadline))
            print(f"  {name}, {CLIENTS} clients: {results[-1].throughput:.0f} req/s", flush=True)
        against_bare = []
        for name, token in (("list, rep", rep_token), *manager_tokens.items()):
            if not same_ids(port, bare_port, token):
                raise SystemExit(
                    f"The bare handler's {name} is not the API's: the comparison would mean nothing."
                )
            makers = {
                "app": get_step(port, token, ["/api/v1/deals/?page_size=50"]),
                "bare": get_step(bare_port, token, ["/api/v1/deals/?page_size=50"]),
            }
            for clients, per_client in ((1, args.requests), (CLIENTS, args.per_client)):
                before = machine_load()
                timings = measure_interleaved(clients, per_client, makers, deadline)
                against_bare.append((name, clients, timings, before, machine_load()))
                print(f"  {name} against the bare handler, {clients} client{'s' if clients > 1 else ''}: "
                      f"{ratio(timings['app'], timings['bare']):.2f}x", flush=True)  # fmt: skip
        if time.monotonic() > deadline:
            print(
                f"Stopped measuring after --max-seconds={args.max_seconds:.0f}; some figures have fewer requests."
            )
    finally:
        stop_gunicorn(server)
        stop_gunicorn(bare_server)
    counts = query_counts(REP, managers, read_ids[0])
    print_table(results, counts, deals, against_bare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
