"""A Python client generated from the served schema works against a live server.

The schema is read over HTTP from pytest-django's live server, handed to
``openapi-python-client`` (with its ruff post-hooks, the pinned ruff from this
virtualenv), and the generated package is imported from a temporary folder and
driven through a rep's short day: sign in for a token, list deals, read one,
move it to the next stage, lose a race (a stale version: 409, parsed into the
generated ``Conflict`` model), read the funnel and the forecasts, sign out.
Nothing generated is kept. Without the generator the test skips on a laptop;
under CI=true it fails.
"""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.models import Deal
from tests.conftest import IN_CI
from tests.factories import PASSWORD, DealFactory

PACKAGE = "salesmgr_client"


def _generator_missing() -> None:
    message = "openapi-python-client is not installed (pip install -r requirements-dev.txt)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _generate(schema_url: str, folder: Path) -> None:
    """Write the client package ``PACKAGE`` into ``folder`` from the schema at ``schema_url``."""
    try:
        import httpx
        import openapi_python_client  # noqa: F401
    except ImportError:
        _generator_missing()
    # trust_env=False: a proxy set in the environment must not stand between the test and loopback.
    response = httpx.get(
        schema_url, headers={"Accept": "application/vnd.oai.openapi+json"}, trust_env=False
    )
    assert response.status_code == 200, response.text[:500]
    schema = folder / "schema.json"
    schema.write_bytes(response.content)
    # The generator's post-hooks call `ruff` by name: the virtualenv's own, as pinned.
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(schema)]
    command += ["--meta", "none", "--output-path", str(folder / PACKAGE), "--fail-on-warning"]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # The generator reports a failed post-hook (ruff) without failing itself.
    assert "error" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr


@pytest.fixture
def generated(live_server, tmp_path):
    """A loader of the generated client's modules: ``generated("api.deals.deals_list")``."""
    _generate(f"{live_server.url}/api/v1/schema/", tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_a_generated_client_signs_in_moves_a_deal_loses_a_race_and_reads_the_figures(
    request, generated, live_server, rep, outsider, pipeline, stages
):
    first = DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")
    DealFactory(owner=rep, pipeline=pipeline, name="Globex expansion")
    DealFactory(owner=outsider, pipeline=pipeline, name="Not yours")

    client_module = generated("client")
    models = generated("models")
    anonymous = client_module.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    request.addfinalizer(anonymous.get_httpx_client().close)

    # Sign in: the body goes as JSON, the answer is the generated Token model.
    token_create = generated("api.auth.auth_token_create")
    token = token_create.sync(
        client=anonymous, body=models.TokenRequestRequest(username="rep", password=PASSWORD)
    )
    assert isinstance(token, models.Token), token
    api = client_module.AuthenticatedClient(
        base_url=live_server.url, token=token.token, prefix="Token", raise_on_unexpected_status=True
    )
    request.addfinalizer(api.get_httpx_client().close)

    # List: the rep's two deals, none of the outsider's.
    listed = generated("api.deals.deals_list").sync(client=api, ordering="name")
    assert isinstance(listed, models.PaginatedDealRowList), listed
    assert listed.count == 2
    assert [deal.name for deal in listed.results] == ["Acme renewal", "Globex expansion"]

    # Retrieve one by its integer id.
    deal = generated("api.deals.deals_retrieve").sync(id=first.pk, client=api)
    assert isinstance(deal, models.Deal), deal
    assert (deal.id, deal.stage_name, deal.status) == (
        first.pk,
        "Qualification",
        models.StageKindEnum.OPEN,
    )

    # Move it to the next stage of its pipeline, as listed through the API.
    stage_page = generated("api.stages.stages_list").sync(
        client=api, pipeline=deal.pipeline, ordering="order"
    )
    ordered = sorted(stage_page.results, key=lambda stage: stage.order)
    following = ordered[[stage.id for stage in ordered].index(deal.stage) + 1]
    assert following.name == "Discovery"
    move = generated("api.deals.deals_move_create")
    moved = move.sync(
        id=deal.id, client=api, body=models.MoveRequest(stage=following.id, version=deal.version)
    )
    assert isinstance(moved, models.Deal), moved
    assert (moved.stage, moved.stage_name, moved.version) == (
        following.id,
        "Discovery",
        deal.version + 1,
    )

    # The same move again with the version read before it: a 409 the client parses into Conflict.
    stale = move.sync_detailed(
        id=deal.id,
        client=api,
        body=models.MoveRequest(stage=stages["Proposal"].pk, version=deal.version),
    )
    assert stale.status_code == 409
    assert isinstance(stale.parsed, models.Conflict), stale.content
    assert stale.parsed.current_version == moved.version
    assert stale.parsed.detail
    assert Deal.objects.get(pk=first.pk).stage_id == following.id  # the stale move changed nothing

    # The funnel: both open deals, one of them now in Discovery.
    funnel = generated("api.metrics.metrics_funnel_retrieve").sync(client=api)
    assert isinstance(funnel, models.FunnelFigures), funnel
    assert funnel.open_deals == 2
    by_stage = {row.name: row for row in funnel.stages}
    assert by_stage["Discovery"].open_now == 1 and by_stage["Qualification"].open_now == 1

    # The forecasts: one per horizon, each with its range and its gap to quota.
    forecasts = generated("api.forecasts.forecasts_retrieve").sync(client=api)
    assert isinstance(forecasts, models.Forecasts), forecasts
    assert [figures.horizon for figures in forecasts.forecasts] == [30, 60, 90]
    for figures in forecasts.forecasts:
        assert isinstance(figures, models.ForecastFigures)
        assert isinstance(figures.gap, models.Gap)

    # Sign out: the token is revoked, and the same client is now refused with the Error model.
    signed_out = generated("api.auth.auth_token_destroy").sync_detailed(client=api)
    assert signed_out.status_code == 204
    refused = generated("api.deals.deals_list").sync_detailed(client=api)
    assert refused.status_code == 401
    assert isinstance(refused.parsed, models.Error), refused.content
