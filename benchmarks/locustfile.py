"""Reps and managers at work, for Locust: mixed reads and writes through the API and the pages.

Run by ``benchmarks/load.py`` (and, briefly, by ``tests/topology``), which
starts the topology and hands over its cast (``SALESMGR_LOAD_CAST``: the JSON
``tests.topology.seed`` writes, with every person's API token). Only a
loopback host is accepted: this load is for a server of one's own.

A rep (four in five users) lists and reads deals, moves one between open
stages, edits an amount, creates a deal and reads their own funnel; each rep
user works on deals no other simulated user touches (taken from the cast,
plus those it creates), so a write never meets a stale version. A manager
signs in on the sign-in page once, then reads the team's funnel and
forecasts through the API and opens the dashboard and the deals page.

Every answer that is not 2xx (redirects followed) is a failure; 5xx answers
are also counted apart and printed at the end.
"""

import collections
import datetime
import itertools
import json
import os
import random
import threading
from pathlib import Path
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task

CAST = json.loads(Path(os.environ["SALESMGR_LOAD_CAST"]).read_text())
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

_lock = threading.Lock()
_slots = itertools.count()
# Every open deal of the cast, interleaved across reps, each handed to one simulated user.
_pool = [
    (rep, deal)
    for group in itertools.zip_longest(
        *[[(rep, d) for d in rep["open_deals"]] for rep in CAST["reps"]]
    )
    for rep, deal in group
    if rep is not None
]
STATUSES: collections.Counter = collections.Counter()


@events.test_start.add_listener
def loopback_only(environment, **kwargs):
    host = urlsplit(environment.host or "").hostname
    if host not in LOOPBACK:
        environment.process_exit_code = 2
        print(f"refusing to load {environment.host!r}: only a loopback host (127.0.0.1) is allowed")
        environment.runner.quit()


@events.request.add_listener
def count_status(response=None, **kwargs):
    if response is not None:
        STATUSES[getattr(response, "status_code", 0)] += 1


@events.quitting.add_listener
def print_statuses(environment, **kwargs):
    server_errors = sum(n for code, n in STATUSES.items() if code >= 500)
    print(f"statuses: {dict(sorted(STATUSES.items()))}; 5xx: {server_errors}")
    if server_errors:
        environment.process_exit_code = 1


class Rep(HttpUser):
    weight = 4
    wait_time = between(0.5, 2.0)

    def on_start(self):
        slot = next(_slots)
        self.rep = CAST["reps"][slot % len(CAST["reps"])]
        with _lock:
            mine = [_pool.pop(0)] if _pool else []
        if mine and mine[0][0]["id"] != self.rep["id"]:
            self.rep = mine[0][0]  # act as the owner of the deal handed over
        self.deals = [deal for _, deal in mine]
        self.client.headers.update(
            {"Authorization": f"Token {self.rep['token']}", "Accept": "application/json"}
        )
        self.rng = random.Random(slot)
        if not self.deals:
            self.create_deal()

    def _deal(self) -> dict:
        deal_id = self.rng.choice(self.deals)
        return self.client.get(f"/api/v1/deals/{deal_id}/", name="/api/v1/deals/[id]/").json()

    @task(4)
    def list_deals(self):
        self.client.get("/api/v1/deals/?page_size=25", name="/api/v1/deals/")

    @task(3)
    def read_deal(self):
        self._deal()

    @task(2)
    def move_deal(self):
        deal = self._deal()
        stage = self.rng.choice([s for s in CAST["stages"]["open"] if s != deal["stage"]])
        self.client.post(
            f"/api/v1/deals/{deal['id']}/move/",
            json={"stage": stage, "version": deal["version"]},
            name="/api/v1/deals/[id]/move/",
        )

    @task(2)
    def edit_amount(self):
        deal = self._deal()
        self.client.patch(
            f"/api/v1/deals/{deal['id']}/",
            json={"amount": f"{self.rng.randint(500, 50000)}.00", "version": deal["version"]},
            name="/api/v1/deals/[id]/ PATCH",
        )

    @task(1)
    def create_deal(self):
        answer = self.client.post(
            "/api/v1/deals/",
            json={
                "name": f"Load deal {self.rng.randint(1, 10**9)}",
                "account": self.rep["account"],
                "pipeline": CAST["pipeline"],
                "stage": self.rng.choice(CAST["stages"]["open"]),
                "amount": "2500.00",
                "expected_close_date": str(datetime.date.today() + datetime.timedelta(days=30)),
            },
            name="/api/v1/deals/ POST",
        )
        if answer.status_code == 201:
            self.deals.append(answer.json()["id"])

    @task(1)
    def own_funnel(self):
        self.client.get(
            f"/api/v1/metrics/funnel/?owner={self.rep['id']}", name="/api/v1/metrics/funnel/ (rep)"
        )


class Manager(HttpUser):
    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self):
        self.manager = CAST["managers"][next(_slots) % len(CAST["managers"])]
        login = self.client.get("/login/", name="/login/")
        token = login.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        self.client.post(
            "/login/",
            data={
                "username": self.manager["username"],
                "password": CAST["password"],
                "csrfmiddlewaretoken": token,
            },
            name="/login/ POST",
        )
        self.api = {"Authorization": f"Token {self.manager['token']}", "Accept": "application/json"}

    @task(3)
    def team_funnel(self):
        self.client.get(
            f"/api/v1/metrics/funnel/?team={self.manager['id']}",
            headers=self.api,
            name="/api/v1/metrics/funnel/ (team)",
        )

    @task(2)
    def team_forecast(self):
        self.client.get(
            f"/api/v1/forecasts/?team={self.manager['id']}",
            headers=self.api,
            name="/api/v1/forecasts/ (team)",
        )

    @task(2)
    def dashboard(self):
        self.client.get("/", name="/ (dashboard page)")

    @task(1)
    def deals_page(self):
        self.client.get("/deals/", name="/deals/ (page)")
