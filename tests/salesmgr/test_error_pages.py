"""Error pages in the app's style, never Django's debug pages unless asked for; the site icon."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.views.defaults import permission_denied, server_error

SETTINGS_PROBE = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG, settings.LOCAL_INSTALL)"


def test_a_local_install_shows_no_debug_pages_unless_asked():
    def probe(**env):
        clean = {
            k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"}
        }
        result = subprocess.run(
            [sys.executable, "-c", SETTINGS_PROBE],
            env={**clean, "DJANGO_SETTINGS_MODULE": "salesmgr.settings", **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert probe() == "False True"
    assert probe(DEBUG="true") == "True True"
    assert probe(DEBUG="false", SECRET_KEY="x" * 50, ALLOWED_HOSTS="crm.example") == "False False"


def test_a_wrong_address_answers_the_apps_404_without_listing_urls(client, rep):
    client.force_login(rep)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert 'class="site-header"' in body
    assert "URLconf" not in body and "api/v1/" not in body


def test_the_403_page_is_in_the_apps_style(rf, rep):
    request = rf.get("/somewhere/")
    request.user = rep
    response = permission_denied(request, PermissionDenied("secret reason"))
    body = response.content.decode()
    assert response.status_code == 403
    assert "Not allowed" in body and 'class="site-header"' in body
    assert "secret reason" not in body


@pytest.mark.django_db
def test_the_500_page_renders_without_the_request_context_or_the_database(rf):
    with CaptureQueriesContext(connection) as queries:
        response = server_error(rf.get("/"))
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and 'class="site-header"' in body
    assert len(queries) == 0


@pytest.mark.django_db
def test_the_site_icon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"".join(icon.streaming_content).startswith(b"\x00\x00\x01\x00")
