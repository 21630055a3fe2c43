"""The Content-Security-Policy in a real browser: the pages a manager uses most load, run their
scripts and draw their charts without a single violation (no inline script, no inline handler,
nothing from elsewhere)."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.periods import Period
from pipeline.services import deal_move
from pipeline.services.activities import activity_log
from quotas.services import quota_set
from tests.e2e.conftest import draw_charts
from tests.factories import DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e

LISTEN = """() => {
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber);
  });
}"""


@pytest.fixture
def team(transactional_db):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    pipeline = PipelineFactory(name="New business")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    month = Period.named("month", timezone.localdate())
    deals = []
    for n in (1, 2):
        rep = UserFactory(username=f"rep{n}", manager=manager, full_name=f"Rep Number{n}")
        quota_set(
            owner=rep, period_start=month.start, period_end=month.last_day, target=Decimal(9000)
        )
        won = DealFactory(owner=rep, pipeline=pipeline, amount=Decimal(2500), name=f"Won {n}")
        activity_log(by=rep, kind="call", subject=f"call {n}", deal=won)
        deal_move(deal=won, to_stage=stages["Won"], by=rep, expected_version=won.version)
        deals.append(
            DealFactory(
                owner=rep,
                pipeline=pipeline,
                amount=Decimal(1200),
                name=f"Open {n}",
                expected_close_date=timezone.localdate() + datetime.timedelta(days=12),
            )
        )
    return manager, deals


def _violations(page, console) -> list[str]:
    return page.evaluate("() => window.__cspViolations") + [
        text for text in console if "Content Security Policy" in text
    ]


def test_the_main_pages_run_under_the_policy_without_a_violation(page, login, team):
    manager, deals = team
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.on("pageerror", lambda error: console.append(f"page error: {error}"))
    # Listen before any script of each page runs.
    page.add_init_script(f"({LISTEN})()")
    login(manager)

    response = page.goto("/dashboard/")
    policy = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in directives["style-src-elem"]
    assert "frame-ancestors 'none'" in policy and "base-uri 'self'" in policy
    assert "form-action 'self'" in policy
    draw_charts(page)
    page.wait_for_selector("#dashboard-kpis:not([aria-busy])")
    assert page.locator(".chart svg.main-svg").count() >= 3
    assert _violations(page, console) == []

    page.goto("/board/")
    page.wait_for_selector("[data-board]")
    assert page.locator(f"[data-card][data-deal='{deals[0].pk}']").count() == 1
    assert _violations(page, console) == []

    page.goto(f"/deals/{deals[0].pk}/")
    page.wait_for_url(f"**/deals/{deals[0].pk}/")
    assert "Open 1" in page.locator("h1").inner_text()
    assert _violations(page, console) == []

    page.goto("/reports/funnel-activity/")
    page.wait_for_url("**/reports/funnel-activity/")
    draw_charts(page)
    assert page.locator(".chart svg.main-svg").count() >= 1
    assert _violations(page, console) == []

    page.goto("/coaching/")
    page.wait_for_url("**/coaching/")
    assert page.locator("h1").count() == 1
    assert _violations(page, console) == []

    # HTMX still swaps (it runs from static/ and needs no eval): the home page's panels load.
    page.goto("/")
    page.wait_for_function("() => !document.querySelector('[hx-trigger=load][aria-busy]')")
    assert _violations(page, console) == []
    assert not [text for text in console if text.startswith("page error")]

    # And the listening works: an inline script put into the page is refused and reported.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__inlineRan = true'; document.body.appendChild(s); }"
    )
    page.wait_for_function("() => window.__cspViolations.length > 0")
    assert page.evaluate("() => window.__inlineRan") is None
    assert "script-src" in _violations(page, console)[0]
