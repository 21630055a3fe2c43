"""The Content-Security-Policy header, and the templates it relies on: no inline script, no
inline event handler (tests/e2e/test_csp.py loads the pages in a browser under the policy)."""

import base64
import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# <script> elements that run: any without src, unless they only carry JSON data.
INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>"
)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)
JS_URL = re.compile(r"(?:href|src|action)\s*=\s*[\"']?\s*javascript:", re.IGNORECASE)


def _directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.parametrize("path", ["/login/", "/", "/deals/", "/api/v1/users/me/", "/nowhere/"])
def test_every_response_carries_the_policy(client, rep, path):
    client.force_login(rep)
    response = client.get(path)
    policy = _directives(response["Content-Security-Policy"])
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert policy["form-action"] == "'self'"
    assert policy["object-src"] == "'none'"
    # <style> elements only from static files, or with a known hash; no inline ones.
    assert policy["style-src-elem"].split()[0] == "'self'"
    assert "unsafe-inline" not in policy["style-src-elem"]


def test_the_policy_can_be_tried_report_only(settings, client, db):
    settings.CSP_REPORT_ONLY = True
    response = client.get("/login/")
    assert "Content-Security-Policy" not in response
    assert "script-src 'self'" in response["Content-Security-Policy-Report-Only"]


def _templates() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*.html") if p.is_file())


def test_no_template_has_an_inline_script_handler_or_style_element():
    found = []
    for path in _templates():
        text = path.read_text()
        for pattern in (INLINE_SCRIPT, HANDLER, JS_URL, STYLE_ELEMENT):
            found += [
                f"{path.relative_to(TEMPLATES)}: {m.group(0)}" for m in pattern.finditer(text)
            ]
    assert found == []


def test_the_scan_would_find_them():
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert INLINE_SCRIPT.search('<script type="module">x()</script>')
    assert not INLINE_SCRIPT.search('<script src="/static/js/a.js" defer></script>')
    assert not INLINE_SCRIPT.search('<script id="d" type="application/json">{}</script>')
    assert HANDLER.search('<button onclick="window.print()">')
    assert not HANDLER.search('<button data-print class="button">')
    assert STYLE_ELEMENT.search("<style>p { color: red }</style>")


def test_every_page_tells_htmx_to_add_no_style_element():
    for path in _templates():
        text = path.read_text()
        for config in re.findall(r"name=\"htmx-config\" content='([^']*)'", text):
            assert '"includeIndicatorStyles":false' in config, path


def test_htmx_and_plotly_are_served_from_static():
    static = Path(settings.STATICFILES_DIRS[0])
    assert (static / "js" / "htmx.min.js").is_file()
    assert (static / "vendor" / "plotly" / "plotly-finance.min.js").is_file()
    srcs = {
        m
        for p in _templates()
        for m in re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", p.read_text())
    }
    assert srcs and all(src.startswith("{% static ") for src in srcs), srcs
    data_srcs = {
        m for p in _templates() for m in re.findall(r"data-plotly-src=\"([^\"]+)\"", p.read_text())
    }
    assert data_srcs and all(src.startswith("{% static ") for src in data_srcs)


def test_the_api_docs_load_their_script_from_a_url_and_their_style_is_allowed(client, db):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html)
    allowed = _directives(response["Content-Security-Policy"])["style-src-elem"].split()
    styles = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert styles
    for text in styles:
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed
    script = re.search(r"<script src=\"([^\"]*\?script[^\"]*)\"", html).group(1)
    assert client.get(script.replace("&amp;", "&")).status_code == 200
