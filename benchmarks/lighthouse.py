"""Lighthouse's performance score of the dashboard (and the board), desktop and mobile, signed in.

    mkdir -p /tmp/lh && (cd /tmp/lh && npm install lighthouse)   # once, outside the repository
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/lighthouse.py --runs 3

Serves the app as ``benchmarks/pageload.py`` does (collected static files,
fresh snapshots, ``runserver --noreload`` with WhiteNoise on a free loopback
port), then runs Lighthouse (the package beside ``--lighthouse``, default
``/tmp/lh/node_modules/.bin/lighthouse``) against each page through
``lighthouse_run.mjs``: Debian's Chromium (``CHROME_PATH``, default
``/usr/bin/chromium``), headless, Lighthouse's default mobile settings and its
desktop preset, with a signed-in session in the browser's cookie jar, so that
the page's own HTMX requests are signed in too. Prints, per page and form
factor, the median over ``--runs`` of the performance score and of first and
largest contentful paint, total blocking time, cumulative layout shift and
speed index. The JSON reports go to a temporary folder (``--keep DIR`` keeps
them), never into the repository. Run it as ``nice -n -15`` on a shared
machine: Lighthouse's throttled timings swell with the load.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pageload import free_port, load_average, serve, session_cookie  # noqa: E402

RUNNER = Path(__file__).with_name("lighthouse_run.mjs")
PAGES = [
    ("dashboard", "manager1", "/dashboard/"),
    ("dashboard", "admin", "/dashboard/"),
    ("board", "manager1", "/board/"),
]
METRICS = {
    "FCP ms": "first-contentful-paint",
    "LCP ms": "largest-contentful-paint",
    "TBT ms": "total-blocking-time",
    "CLS": "cumulative-layout-shift",
    "SI ms": "speed-index",
}
GOALS = {"desktop": 90, "mobile": 80}
ATTEMPTS = 3


def lighthouse(binary: str, url: str, cookie: str, form_factor: str, report: Path) -> dict:
    # The runner puts the session into the browser's cookie jar, so that the
    # page's own HTMX requests are signed in as a user's would be.
    modules = Path(binary).resolve().parents[2]
    command = ["node", str(RUNNER), str(modules), url, cookie, form_factor, str(report)]
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    # Lighthouse now and then loses the trace of a load ("NO_NAVSTART") on a
    # busy machine: such a run measured nothing (its report says so in
    # runtimeError, with no score), so it is run again.
    for attempt in range(1, ATTEMPTS + 1):
        finished = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, timeout=300)
        result = json.loads(report.read_text()) if finished.returncode == 0 else {}
        if result and not result.get("runtimeError"):
            break
        if attempt == ATTEMPTS:
            raise SystemExit(f"Lighthouse failed {ATTEMPTS} times on {url} ({form_factor})")
    if "/login/" in result.get("finalDisplayedUrl", result.get("finalUrl", "")):
        raise SystemExit(f"Lighthouse was sent to the login page from {url}")
    figures = {"score": result["categories"]["performance"]["score"] * 100}
    for label, audit in METRICS.items():
        figures[label] = result["audits"][audit]["numericValue"]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="Lighthouse runs per page and form factor (median)."
    )
    parser.add_argument(
        "--lighthouse", default="/tmp/lh/node_modules/.bin/lighthouse", help="The Lighthouse CLI."
    )
    parser.add_argument(
        "--pages", default="all", help="'all', or 'dashboard' for the dashboards alone."
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="Keep Lighthouse's JSON reports in this folder (default: thrown away).",
    )
    args = parser.parse_args()
    if not Path(args.lighthouse).exists():
        raise SystemExit(
            f"no Lighthouse at {args.lighthouse}: mkdir -p /tmp/lh && (cd /tmp/lh && npm install lighthouse)"
        )

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from pipeline.models import Deal
    from reports.models import DirtyScope
    from reports.services import snapshots_compute, standard_scopes

    call_command("collectstatic", interactive=False, verbosity=0)
    snapshots_compute(scopes=standard_scopes())
    DirtyScope.objects.all().delete()
    pages = [page for page in PAGES if args.pages == "all" or page[0] == args.pages]
    cookies = {username: session_cookie(username) for _, username, _ in pages}

    port = free_port()
    server = serve(port, Path(tempfile.gettempdir()) / f"salesmgr-lighthouse-{port}.log")
    rows = []
    try:
        for _, username, path in pages:  # the server process imports and fills its caches once
            warm = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}",
                headers={"Cookie": f"sessionid={cookies[username]}"},
            )
            urllib.request.urlopen(warm, timeout=120).read()
        with tempfile.TemporaryDirectory(prefix="salesmgr-lighthouse-") as scratch:
            reports = args.keep or Path(scratch)
            reports.mkdir(parents=True, exist_ok=True)
            for name, username, path in pages:
                for form_factor in GOALS:
                    runs = [
                        lighthouse(
                            args.lighthouse,
                            f"http://127.0.0.1:{port}{path}",
                            cookies[username],
                            form_factor,
                            Path(reports) / f"{name}-{username}-{form_factor}-{n}.json",
                        )
                        for n in range(args.runs)
                    ]
                    rows.append((f"{name} ({username})", form_factor, runs))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)

    print(
        f"{Deal.objects.count():,} deals; Lighthouse performance, runserver + WhiteNoise; load {load_average()}"
    )
    print(
        f"{'page':<22} {'form':<8} {'score':>5} "
        + " ".join(f"{label:>8}" for label in METRICS)
        + "  runs"
    )
    for name, form_factor, runs in rows:
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        figures = " ".join(
            f"{median[label]:>8.3f}" if label == "CLS" else f"{median[label]:>8.0f}"
            for label in METRICS
        )
        print(f"{name:<22} {form_factor:<8} {median['score']:>5.0f} {figures}  {len(runs)}")
    print("goals: " + ", ".join(f"{form} >= {goal}" for form, goal in GOALS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
