"""End-to-end tests: a real Chromium (Debian's, at /usr/bin/chromium) driven by Playwright.

The app runs in pytest-django's live server over the test database. Without
Chromium the tests skip on a laptop; under CI=true they fail.
"""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.factories import PASSWORD

# Playwright's synchronous API runs an event loop in this thread; the ORM calls
# the tests make between browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(reason: str):
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def live_server(request, collected_static):
    """pytest-django's live server, with static files left to WhiteNoise as in every other mode.

    pytest-django puts Django's own static handler in front, which serves
    uncompressed files from the source folders and knows no hashed names.
    """
    from django.contrib.staticfiles import handlers
    from pytest_django.live_server_helper import LiveServer

    address = (
        request.config.getvalue("liveserver")
        or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS")
        or "localhost"
    )
    django_handler = handlers.StaticFilesHandler
    handlers.StaticFilesHandler = lambda application: application
    try:
        server = LiveServer(address)
    finally:
        handlers.StaticFilesHandler = django_handler
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _missing(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def login(page):
    """Sign ``user`` in through the login form; the page is then on the home page."""

    def sign_in(user):
        page.goto("/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/")
        # The home page's panels load after it: let them land, so that no request of the page is
        # still running in the live server when the test goes on, or when its teardown empties
        # the tables (a flush that met a panel's queries deadlocked once).
        page.wait_for_load_state("networkidle")
        return page

    return sign_in


@contextmanager
def htmx_swap(page):
    """Wait, around the step inside, for the HTMX request it starts to be answered and settled.

    Playwright's "networkidle" is a state of the page load, reached once: waiting for it again
    returns at once, before a request a later choice started. This waits for HTMX's own
    afterSettle event, so the next step cannot race a swap that would undo it.
    """
    page.evaluate(
        "() => { window.__htmxSettled = false;"
        " document.body.addEventListener('htmx:afterSettle',"
        " () => { window.__htmxSettled = true; }, {once: true}); }"
    )
    yield
    page.wait_for_function("() => window.__htmxSettled === true")


def draw_charts(page, selector: str = ".chart") -> None:
    """Bring each chart into view and wait until it is drawn: a chart draws when it nears the viewport."""
    charts = page.locator(selector)
    for index in range(charts.count()):
        chart = charts.nth(index)
        chart.scroll_into_view_if_needed()
        chart.locator("svg.main-svg").first.wait_for()


@pytest.fixture
def screenshot(page):
    """Save a full-page screenshot under artifacts/ (kept by CI as a test artifact)."""

    def take(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
