"""What must hold for every screen: sign-in required, CSRF on every POST, attendee data shown as
plain text, no inline script or style (CSP), no token anywhere, no stack traces."""

import csv
import io
import logging
import re
import zipfile

import pytest
from werkzeug.routing import IntegerConverter

from services import settings

HX = {"HX-Request": "true"}
XSS_NAME = "<script>alert(1)</script>"
XSS_EVENT = '<img src=x onerror="alert(2)">'
UMLAUT_NAME = "Jürgen Groß"
TOKEN = "eyJraWQiOiJTRUNSRVQtVE9LRU4tZm9yLXRlc3RzIn0.super-secret-calendly-token-4711"
PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.second_step", "auth.setup", "auth.set_language"}
# Monitoring: tells nothing without a sign-in (tests/blueprints/test_operations.py).
PUBLIC_ENDPOINTS |= {"operations.healthz", "operations.readyz", "operations.prometheus_metrics"}
WEBHOOK_PATH = "/api/infowebinar/webhook"


def _urls(app, method):
    """One concrete URL per rule that accepts `method` (sample values for the arguments)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if method not in rule.methods or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        if rule.rule == WEBHOOK_PATH:
            continue
        values = {
            name: 1 if isinstance(conv, IntegerConverter) else "someone@example.org"
            for name, conv in rule._converters.items()
        }
        urls.append(rule.build(values, append_unknown=False)[1])
    return sorted(set(urls))


@pytest.fixture
def hostile_data(add_webinar, add_attendee):
    event = add_webinar(name=XSS_EVENT, location_type="custom", location=XSS_NAME)
    add_attendee(
        event,
        name=XSS_NAME,
        email="xss@example.org",
        timezone=XSS_NAME,
        cancel_reason=XSS_NAME,
        questions_and_answers=[{"question": XSS_NAME, "answer": XSS_EVENT, "position": 0}],
    )
    add_attendee(event, name=UMLAUT_NAME, email="juergen@example.org")
    return event


# -- sign-in required ---------------------------------------------------------------------------


def test_every_page_and_partial_needs_sign_in(app, client, admin_user):
    urls = _urls(app, "GET")
    assert {"/", "/search", "/webinars/1", "/webinars.csv"} <= set(urls)
    for url in urls:
        page = client.get(url)
        assert page.status_code == 302, url
        assert page.headers["Location"].startswith("/login"), url
        partial = client.get(url, headers=HX)
        assert partial.status_code == 401, url
        assert partial.headers["HX-Redirect"].startswith("/login"), url
        assert partial.get_data() == b"", url


def test_every_post_needs_sign_in(app, client, admin_user, csrf_token):
    token = csrf_token("/login")
    for url in _urls(app, "POST"):
        response = client.post(url, data={"csrf_token": token})
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login"), url


def test_unknown_paths_do_not_reveal_anything_when_signed_out(client, admin_user):
    response = client.get("/no/such/page")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_static_files_are_public(client):
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200


def test_webhook_is_not_behind_the_login(app, client):
    assert any(rule.rule == WEBHOOK_PATH for rule in app.url_map.iter_rules())
    response = client.post(WEBHOOK_PATH, json={})
    assert response.status_code != 302
    assert "outcome" in response.get_json()  # the endpoint answered, not the login guard


# -- CSRF ---------------------------------------------------------------------------------------


def test_every_post_without_csrf_token_is_refused(app, login):
    assert app.config.get("WTF_CSRF_ENABLED", True)
    urls = _urls(app, "POST") + ["/login", "/language", "/setup"]
    for url in urls:
        for headers in ({}, HX):
            response = login.post(url, data={"lang": "en"}, headers=headers)
            assert response.status_code == 400, (url, response.status_code)
    assert login.get("/").status_code == 200  # still signed in: the logout was refused too


def test_csrf_error_is_a_friendly_page(client, admin_user):
    response = client.post("/login", data={}, headers={"Accept-Language": "en"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "security token" in html
    assert "Traceback" not in html and "CSRFError" not in html


def test_htmx_posts_carry_the_token_in_a_header(login):
    html = login.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html)[1]
    assert f'<body hx-headers=\'{{"X-CSRFToken": "{token}"}}\'' in html


# -- attendee data is text ----------------------------------------------------------------------


def _assert_plain_text(html, where):
    assert XSS_NAME not in html, where
    assert XSS_EVENT not in html, where
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, where


def test_hostile_names_render_as_text_everywhere(login, hostile_data):
    event = hostile_data
    pages = {
        "dashboard": login.get("/").get_data(as_text=True),
        "list partial": login.get("/", headers=HX).get_data(as_text=True),
        "webinar page": login.get(f"/webinars/{event.id}").get_data(as_text=True),
        "attendee partial": login.get(f"/webinars/{event.id}", headers=HX).get_data(as_text=True),
        "person page": login.get("/people/xss@example.org").get_data(as_text=True),
        "search page": login.get("/search?q=script").get_data(as_text=True),
        "search partial": login.get("/search?q=script", headers=HX).get_data(as_text=True),
    }
    for where, html in pages.items():
        _assert_plain_text(html, where)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for where in ("attendee partial", "webinar page", "person page", "search partial"):
        assert escaped in pages[where], where
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in pages["dashboard"]
    assert UMLAUT_NAME in pages["attendee partial"]
    assert UMLAUT_NAME in login.get("/search?q=Gro%C3%9F", headers=HX).get_data(as_text=True)
    assert UMLAUT_NAME in login.get("/people/juergen@example.org").get_data(as_text=True)


def test_hostile_names_stay_literal_text_in_the_csv(login, hostile_data):
    for url in (f"/webinars/{hostile_data.id}/attendees.csv", "/webinars.csv"):
        text = login.get(url, headers={"Accept-Language": "en"}).get_data().decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        names = [row[rows[0].index("Name")] for row in rows[1:]]
        assert XSS_NAME in names and UMLAUT_NAME in names, url
        assert XSS_NAME in rows[0]  # the question became a column title, unchanged
        assert "&lt;" not in text


# -- CSP: nothing inline ------------------------------------------------------------------------

INLINE_PATTERNS = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I),
    "style element": re.compile(r"<style", re.I),
    "event handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "hx-on": re.compile(r"<[^>]*\shx-on", re.I),
    "javascript: URL": re.compile(r"<[^>]*=\s*[\"']?\s*javascript:", re.I),
}


def _assert_nothing_inline(html, where):
    for what, pattern in INLINE_PATTERNS.items():
        assert pattern.search(html) is None, f"{what} in {where}"


def test_no_inline_script_style_or_handlers(client, login, hostile_data):
    urls = ["/", "/?view=past", f"/webinars/{hostile_data.id}", "/search?q=ju",
            "/people/juergen@example.org", "/no-such-page"]  # fmt: skip
    for url in urls:
        for headers in ({}, HX):
            _assert_nothing_inline(login.get(url, headers=headers).get_data(as_text=True), url)
    login.post("/logout", data={"csrf_token": _token(login)})
    _assert_nothing_inline(client.get("/login").get_data(as_text=True), "/login")


def _token(client):
    html = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def test_setup_page_has_nothing_inline(client):
    _assert_nothing_inline(client.get("/setup").get_data(as_text=True), "/setup")


def test_htmx_does_not_inject_styles_or_eval(login):
    html = login.get("/").get_data(as_text=True)
    config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'', html)[1]
    assert '"includeIndicatorStyles": false' in config
    assert '"allowEval": false' in config
    assert '"historyCacheSize": 0' in config


def test_security_headers(login):
    response = login.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in response.headers["Vary"]


# -- the token never leaks ----------------------------------------------------------------------


def test_token_never_appears_in_pages_partials_csv_or_logs(app, login, hostile_data, caplog):
    with app.app_context():
        settings.save_calendly_token(TOKEN)
    caplog.set_level(logging.DEBUG)
    urls = [url for url in _urls(app, "GET") if "/people/" not in url]
    urls += [f"/webinars/{hostile_data.id}", f"/webinars/{hostile_data.id}/attendees.csv",
             f"/webinars/{hostile_data.id}/attendees.xlsx",
             "/people/juergen@example.org", "/search?q=ju", "/login", "/setup"]  # fmt: skip
    for url in urls:
        for headers in ({}, HX):
            response = login.get(url, headers=headers)
            body = _readable(response)
            assert TOKEN not in body, url
            assert TOKEN[:-4] not in body, url
            assert all(TOKEN not in value for value in response.headers.values()), url
    assert TOKEN not in caplog.text


def _readable(response) -> str:
    """The response's text; for a workbook, the text of every part of its zip."""
    if not response.mimetype.endswith(".sheet"):
        return response.get_data(as_text=True)
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as workbook:
        return "".join(workbook.read(name).decode("utf-8") for name in workbook.namelist())


# -- errors -------------------------------------------------------------------------------------


def test_not_found_is_friendly(login):
    response = login.get("/no/such/page", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "Page not found." in response.get_data(as_text=True)


def test_server_error_is_friendly_without_a_stack_trace(app, client, admin_user, csrf_token):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/explode")
    def explode():
        raise RuntimeError("secret internals")

    credentials = {"email": admin_user.email, "password": admin_user.password}
    client.post("/login", data={**credentials, "csrf_token": csrf_token("/login")})
    response = client.get("/explode", headers={"Accept-Language": "en"})
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in html
    assert "secret internals" not in html and "Traceback" not in html


def test_trusted_proxy_address_is_used_only_when_configured(make_app):
    """Login throttling keys on the client address: X-Forwarded-For counts only behind a proxy."""
    from flask import request

    seen = []
    for proxies in (0, 1):
        app = make_app(TRUSTED_PROXIES=proxies)
        # First in line, before the login guard answers.
        app.before_request_funcs.setdefault(None, []).insert(
            0, lambda: seen.append(request.remote_addr)
        )
        app.test_client().get(
            "/login",
            headers={"X-Forwarded-For": "203.0.113.7"},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        )
    assert seen == ["10.0.0.2", "203.0.113.7"]
