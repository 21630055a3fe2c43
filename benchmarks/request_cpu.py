"""The Python cost of each request of the load's mix, in-process: CPU ms, queries, SQL ms, wall ms.

    REDIS_URL=redis://127.0.0.1:6379/4 \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/request_cpu.py --runs 30 [--only list-rep,retrieve] [--profile list-rep]

Reads (and writes: moves, edits, new deals) the organisation already in the database
(``seed_demo --deals N``, vacuumed; give it a copy of its own). Through Django's test
client, so every middleware, authentication, throttling, rendering and logging step runs
as under gunicorn, it sends the requests ``benchmarks/locustfile.py`` sends: a rep's list
(25 rows), a manager's team list, reading a deal, moving one between open stages,
editing its amount, creating one, the rep's own funnel, the team's funnel and
forecasts by API token, and the dashboard and deals pages signed in. Round after round,
so that each sees the same load, it prints per request the median and p95 of the CPU time
this process spent on it (the Python of the request, the figure that bounds how many
requests two cores serve), the median wall time, queries and summed SQL time, with the
load average. ``--profile NAME`` then profiles ``--runs`` more requests of that kind with
cProfile and prints the 30 costliest functions by own time and by cumulative time.

A change's recompute is queued as under gunicorn when ``REDIS_URL`` is set (give it a
Redis database of one's own: the queued tasks are left there, no worker runs them).
"""

import argparse
import cProfile
import datetime
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    import django

    django.setup()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Mix:
    """The cast (a rep, their manager, some open deals) and one method per kind of request."""

    def __init__(self) -> None:
        from django.test import Client

        from pipeline.models import Account, Deal, Stage, StageKind
        from salesmgr.models import Role, User
        from salesmgr.services import token_issue

        self.rep = User.objects.filter(role=Role.REP, manager__isnull=False).order_by("pk")[0]
        self.manager = self.rep.manager
        while self.manager.manager_id is not None:  # the top of the team, as the load's managers
            self.manager = self.manager.manager
        deal = (
            Deal.objects.filter(owner=self.rep, status="open", deleted_at__isnull=True)
            .order_by("pk")
            .first()
        )
        self.pipeline = deal.pipeline_id
        self.open_stages = list(
            Stage.objects.filter(pipeline_id=self.pipeline, kind=StageKind.OPEN)
            .order_by("order")
            .values_list("pk", flat=True)
        )
        self.deals = list(
            Deal.objects.filter(
                owner=self.rep,
                status="open",
                deleted_at__isnull=True,
                pipeline_id=self.pipeline,
                line_items__isnull=True,  # an edit sets the amount
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:40]
        )
        self.account = Account.objects.filter(owner=self.rep).order_by("pk")[0].pk
        self.rep_api = Client(
            HTTP_AUTHORIZATION=f"Token {token_issue(user=self.rep).key}",
            HTTP_ACCEPT="application/json",
        )
        self.manager_api = Client(
            HTTP_AUTHORIZATION=f"Token {token_issue(user=self.manager).key}",
            HTTP_ACCEPT="application/json",
        )
        self.manager_pages = Client()
        self.manager_pages.force_login(self.manager)
        self.turn = 0

    def _deal(self) -> dict:
        from pipeline.models import Deal

        self.turn += 1
        pk = self.deals[self.turn % len(self.deals)]
        return Deal.objects.values("id", "stage_id", "version").get(pk=pk)

    # Each returns (client, method, path, body) for one request.
    def list_rep(self):
        return self.rep_api, "get", "/api/v1/deals/?page_size=25", None

    def list_team(self):
        return self.manager_api, "get", "/api/v1/deals/?page_size=25", None

    def retrieve(self):
        return self.rep_api, "get", f"/api/v1/deals/{self._deal()['id']}/", None

    def move(self):
        deal = self._deal()
        stage = next(s for s in self.open_stages[self.turn % 2 :] if s != deal["stage_id"])
        body = {"stage": stage, "version": deal["version"]}
        return self.rep_api, "post", f"/api/v1/deals/{deal['id']}/move/", body

    def edit(self):
        deal = self._deal()
        # An amount no earlier run set, so that every edit writes.
        body = {"amount": f"{time.time_ns() // 1000 % 10**8 / 100:.2f}", "version": deal["version"]}
        return self.rep_api, "patch", f"/api/v1/deals/{deal['id']}/", body

    def create(self):
        body = {
            "name": f"CPU bench deal {time.time_ns()}",
            "account": self.account,
            "pipeline": self.pipeline,
            "stage": self.open_stages[0],
            "amount": "2500.00",
            "expected_close_date": str(datetime.date.today() + datetime.timedelta(days=30)),
        }
        return self.rep_api, "post", "/api/v1/deals/", body

    def funnel_rep(self):
        return self.rep_api, "get", f"/api/v1/metrics/funnel/?owner={self.rep.pk}", None

    def funnel_team(self):
        return self.manager_api, "get", f"/api/v1/metrics/funnel/?team={self.manager.pk}", None

    def forecast_team(self):
        return self.manager_api, "get", f"/api/v1/forecasts/?team={self.manager.pk}", None

    def dashboard(self):
        return self.manager_pages, "get", "/", None

    def deals_page(self):
        return self.manager_pages, "get", "/deals/", None


KINDS = {
    "list-rep": Mix.list_rep,
    "list-team": Mix.list_team,
    "retrieve": Mix.retrieve,
    "move": Mix.move,
    "edit": Mix.edit,
    "create": Mix.create,
    "funnel-rep": Mix.funnel_rep,
    "funnel-team": Mix.funnel_team,
    "forecast-team": Mix.forecast_team,
    "dashboard": Mix.dashboard,
    "deals-page": Mix.deals_page,
}


def send(mix: Mix, kind: str) -> tuple[float, float, int, float]:
    """One request of ``kind``: (CPU s, wall s, queries, SQL s)."""
    from django.db import connection

    client, method, path, body = KINDS[kind](mix)
    sql: list[float] = []

    def count(execute, statement, params, many, context):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            sql.append(time.perf_counter() - started)

    extra = {"content_type": "application/json"} if body is not None else {}
    cpu, started = time.process_time(), time.perf_counter()
    with connection.execute_wrapper(count):
        response = getattr(client, method)(path, body, **extra) if body else client.get(path)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if response.status_code >= 300:
        raise SystemExit(f"{kind}: {method.upper()} {path} answered {response.status_code}")
    return cpu, wall, len(sql), sum(sql)


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--only", help="Comma-separated kinds: " + ", ".join(KINDS))
    parser.add_argument("--profile", choices=list(KINDS))
    parser.add_argument("--sort", default="tottime,cumulative")
    options = parser.parse_args()
    setup_django()
    kinds = options.only.split(",") if options.only else list(KINDS)
    mix = Mix()
    for kind in kinds:  # warm-up: imports, caches, connections
        send(mix, kind)
    figures: dict[str, list[tuple]] = {kind: [] for kind in kinds}
    load_before = load_average()
    for _ in range(options.runs):
        for kind in kinds:
            figures[kind].append(send(mix, kind))
    load_after = load_average()
    print(f"{'request':<16} {'cpu ms':>7} {'p95':>7} {'wall ms':>8} {'queries':>7} {'sql ms':>7}")
    for kind in kinds:
        cpu, wall, queries, sql = zip(*figures[kind], strict=True)
        print(
            f"{kind:<16} {statistics.median(cpu) * 1000:>7.1f} {p95(cpu) * 1000:>7.1f} "
            f"{statistics.median(wall) * 1000:>8.1f} {statistics.median(queries):>7.0f} "
            f"{statistics.median(sql) * 1000:>7.1f}"
        )
    print(f"{options.runs} rounds; load average {load_before} before, {load_after} after")
    if options.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(options.runs):
            send(mix, options.profile)
        profiler.disable()
        stats = pstats.Stats(profiler)
        for key in options.sort.split(","):
            print(f"\n--- {options.profile}, {options.runs} requests, by {key} ---")
            stats.sort_stats(key).print_stats(30)


if __name__ == "__main__":
    main()
