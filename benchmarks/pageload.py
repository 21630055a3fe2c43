"""A cold first load of the dashboard and the board in Chromium, served as ``make run`` serves them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/pageload.py --runs 5

Reads the data already in the database (seed it first: ``seed_demo --deals N``).
It collects the static files, writes fresh snapshots of every standard scope,
starts ``manage.py runserver --noreload`` on a free loopback port (WhiteNoise
serves the static files, compressed, as under ``make run``) and, for each page
and run, opens a fresh browser context of Debian's Chromium (``/usr/bin/chromium``,
driven by Playwright: an empty cache) signed in by a session cookie, loads the
page and waits for the network to go idle. It prints the medians of the
server's time to the first byte of the page, of the time to DOMContentLoaded, to the load event and to the last response before the
network went idle, and the bytes transferred (compressed, as on the wire) and
requests made. It stops the server when done.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = [
    ("dashboard", "manager1", "/dashboard/"),
    ("dashboard", "admin", "/dashboard/"),
    ("board", "manager1", "/board/"),
]

# What the page's own Performance API says once the network is idle: the navigation's
# milestones and every response's size on the wire (headers included).
TIMINGS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const ends = resources.map((r) => r.responseEnd);
  return {
    server: nav.responseStart - nav.requestStart,
    dcl: nav.domContentLoadedEventEnd,
    load: nav.loadEventEnd,
    last: Math.max(nav.loadEventEnd, ...ends),
    bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
    requests: 1 + resources.length,
  };
}"""


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(port: int, log: Path) -> subprocess.Popen:
    """``manage.py runserver`` as ``make run`` starts it, without the autoreloader's second process."""
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the server stopped; see {log}") from None
            time.sleep(0.3)
    os.killpg(server.pid, signal.SIGTERM)
    raise SystemExit(f"the server did not answer within 60 s; see {log}")


def session_cookie(username: str) -> str:
    """A signed-in session for ``username``, made as Django's test client makes one."""
    from django.test import Client

    from salesmgr.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client.cookies["sessionid"].value


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="Cold loads per page (median).")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from playwright.sync_api import sync_playwright

    from pipeline.models import Deal
    from reports.models import DirtyScope
    from reports.services import snapshots_compute, standard_scopes

    call_command("collectstatic", interactive=False, verbosity=0)
    snapshots_compute(scopes=standard_scopes())
    DirtyScope.objects.all().delete()
    cookies = {username: session_cookie(username) for _, username, _ in PAGES}

    port = free_port()
    server = serve(port, Path(os.environ.get("TMPDIR", "/tmp")) / f"salesmgr-pageload-{port}.log")
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            for name, username, path in PAGES:
                # One warm-up load: the server process imports and fills its caches once.
                warm = browser.new_context()
                warm.add_cookies([{"name": "sessionid", "value": cookies[username], "url": base}])
                warm.new_page().goto(base + path, wait_until="networkidle")
                warm.close()
                runs = []
                for _ in range(args.runs):
                    context = browser.new_context()  # an empty cache: a first visit
                    context.add_cookies(
                        [{"name": "sessionid", "value": cookies[username], "url": base}]
                    )
                    page = context.new_page()
                    page.goto(base + path, wait_until="networkidle")
                    if "/login/" in page.url:
                        raise SystemExit(f"{username} was sent to the login page")
                    runs.append(page.evaluate(TIMINGS))
                    context.close()
                rows.append((f"{name} ({username})", runs))
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)

    print(
        f"{Deal.objects.count():,} deals; cold loads in Chromium, runserver + WhiteNoise; load {load_average()}"
    )
    print(
        f"{'page':<22} {'server ms':>9} {'DOM ready ms':>12} {'load ms':>8} {'idle ms':>8} {'kB':>7} {'requests':>9} {'runs':>5}"
    )
    for name, runs in rows:
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(
            f"{name:<22} {median['server']:>9.0f} {median['dcl']:>12.0f} {median['load']:>8.0f} {median['last']:>8.0f} "
            f"{median['bytes'] / 1024:>7.0f} {median['requests']:>9.0f} {len(runs):>5}"
        )
    print("goal: the dashboard's load under 1,500 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
