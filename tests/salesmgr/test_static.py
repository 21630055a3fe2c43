"""Static files: compressed, under hashed names cached for a year, and a Plotly bundle that draws every chart."""

import datetime
import gzip
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from reports import charts

YEAR = 365 * 24 * 3600
# The trace types of plotly.js's "finance" partial bundle (its README lists them).
FINANCE_TRACES = {
    "bar",
    "candlestick",
    "funnel",
    "funnelarea",
    "histogram",
    "indicator",
    "ohlc",
    "pie",
    "scatter",
    "waterfall",
}


def _assets(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', page)


def _max_age(response) -> int:
    return int(re.search(r"max-age=(\d+)", response["Cache-Control"]).group(1))


@pytest.mark.django_db
def test_the_dashboard_static_files_come_gzipped_and_cached_for_a_year(client, manager):
    client.force_login(manager)
    assets = _assets(client.get("/dashboard/").content.decode())
    scripts = [a for a in assets if a.endswith(".js")]
    assert len(scripts) >= 3
    assert any("/vendor/plotly/plotly-finance.min." in s for s in scripts)
    for path in assets:
        response = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
        assert response.status_code == 200, path
        if path.endswith((".js", ".css")):
            # Brotli where the Brotli package is installed (a test tool pulls it in), else gzip.
            assert response["Content-Encoding"] in {"gzip", "br"}, path
        assert _max_age(response) >= YEAR, path
        assert "immutable" in response["Cache-Control"], path
        response.close()


@pytest.mark.django_db
def test_a_client_without_gzip_gets_the_plain_file(client):
    response = client.get("/static/js/dashboard.js")
    assert response.status_code == 200
    assert "Content-Encoding" not in response
    response.close()


def test_runserver_leaves_static_files_to_whitenoise():
    apps = settings.INSTALLED_APPS
    assert apps.index("whitenoise.runserver_nostatic") < apps.index("django.contrib.staticfiles")


def test_the_plotly_bundle_is_the_small_one_and_holds_every_trace_the_charts_use():
    bundle = Path(settings.BASE_DIR, "static", "vendor", "plotly", "plotly-finance.min.js")
    assert "plotly.js (finance - minified)" in bundle.read_text()[:200]
    assert bundle.stat().st_size < 1_500_000
    forecasts = [
        {
            "horizon": 30,
            **{m: Decimal("10") for m in charts.METHOD_LABELS},
            "model_p10": Decimal("5"),
            "model_p90": Decimal("20"),
            "quota": Decimal("30"),
        }
    ]
    stage = {"name": "Qualify", "entered": 3, "conversion": 0.5, "avg_days_in_stage": 2.0}
    accuracy = {
        "as_of": datetime.date(2026, 1, 1),
        "actual": Decimal("5"),
        "methods": {m: {"forecast": Decimal("4")} for m in charts.METHOD_LABELS},
    }
    mape = {
        "horizon": 30,
        "snapshots": 3,
        "methods": {m: {"mape": 0.2} for m in charts.METHOD_LABELS},
    }
    figures = [
        charts.funnel_chart("f", "New", [stage]),
        charts.forecast_chart("c", forecasts),
        charts.won_by_month_chart(
            "w", [{"bucket": datetime.date(2026, 1, 1), "won_value": Decimal("3"), "won_deals": 1}]
        ),
        charts.accuracy_chart("a", [accuracy], 30),
        charts.mape_chart("m", [mape]),
        charts.pipeline_by_stage_chart(
            "p", [{"stage__name": "Q", "pipeline__name": "New", "deals": 1, "value": Decimal("2")}]
        ),
    ]
    used = {trace["type"] for chart in figures for trace in chart.figure["data"]}
    assert used == {"bar", "funnel", "scatter"}
    assert used <= FINANCE_TRACES


@pytest.mark.django_db
def test_pages_go_out_compressed_to_a_browser_that_accepts_it(client, django_user_model):
    user = django_user_model.objects.create_user(username="paige", password="pw-123456")
    client.force_login(user)

    plain = client.get("/deals/")
    packed = client.get("/deals/", headers={"Accept-Encoding": "gzip, deflate, br"})

    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    assert b"<h1" in gzip.decompress(packed.content)
    assert len(packed.content) < len(plain.content) / 2
