"""Every page and every expanded state, at a desktop's and a phone's width, in German and in
English (issue 9): no page is wider than the screen, and axe-core finds no accessibility
violation.

The pages come from `app.url_map`: every GET route is opened, its path parameters filled from
the synced simulator data, so a page added later is checked from its first day. What a route
answers with other than a whole HTML page (CSV, XLSX, htmx partials, redirects) is checked where
it shows, or not at all. Each state is loaded once; both checks run on it at both widths.

axe-core is vendored (tests/browser/vendor/, MPL-2.0, see its licence file) and injected into
the page, which the app's CSP would refuse: this module's browser contexts bypass the CSP.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from services import settings
from services.syncing import sync_from_settings
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee
from store.outcomes import SyncStatus, SyncTrigger

pytestmark = [pytest.mark.browser, pytest.mark.browser_context_args(bypass_csp=True)]

AXE = os.path.join(os.path.dirname(__file__), "vendor", "axe-4.14.1.min.js")
VIEWPORTS = (
    ("1366×900", {"width": 1366, "height": 900}),
    ("390×844", {"width": 390, "height": 844}),
)
# GET routes that show no whole page of their own in this walk, and why.
ELSEWHERE = {
    "static": "files, not pages",
    "auth.second_step": "needs a sign-in waiting for its second step",
    "account.claim": "only after a demo ends",
    "auth.setup": "only before the first account: checked first",
}
# Elements wider than the screen, to name the culprit of an overflow.
WIDEST = """() => {
  const sticksOut = e => e && e.getBoundingClientRect().right > innerWidth + 0.5;
  const classes = e => typeof e.className === 'string' ? e.className.trim().split(/ +/) : [];
  const name = e => [e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''), ...classes(e)].join('.');
  return Array.from(document.querySelectorAll('body *'))
    .filter(e => sticksOut(e) && !sticksOut(e.parentElement))
    .slice(0, 5)
    .map(e => name(e) + ' (' + Math.round(e.getBoundingClientRect().right) + 'px)');
}"""
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(
      n => n.target.join(' ') + ': ' + n.failureSummary.split('\\n').slice(1).join(' ').trim()),
  }));
}"""


class Checker:
    """Checks the page as it is at both widths, and collects what is wrong."""

    def __init__(self, page, language: str):
        self.page = page
        self.language = language
        self.problems: list[str] = []
        self.checked: list[str] = []
        with open(AXE, encoding="utf-8") as source:
            self.axe = source.read()

    def settle(self) -> None:
        """Wait until htmx has loaded what loads itself and no request is under way."""
        self.page.wait_for_function(
            "() => !document.querySelector('[hx-trigger=load], .htmx-request')"
            " && document.readyState === 'complete'"
        )

    def __call__(self, state: str) -> None:
        page = self.page
        self.settle()
        if not page.evaluate("() => !!window.axe"):
            page.add_script_tag(content=self.axe)
        for name, viewport in VIEWPORTS:
            page.set_viewport_size(viewport)
            where = f"{state} [{self.language}, {name}]"
            over = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            if over > 0:
                self.problems.append(
                    f"{where}: {over}px wider than the screen: {page.evaluate(WIDEST)}"
                )
            for violation in page.evaluate(RUN_AXE):
                nodes = "\n      ".join(violation["nodes"])
                self.problems.append(
                    f"{where}: axe {violation['id']} ({violation['impact']}): {violation['help']}\n"
                    f"      {nodes}"
                )
        self.checked.append(state)

    def verdict(self) -> None:
        assert not self.problems, f"{len(self.problems)} problems:\n" + "\n".join(self.problems)


def _data(app) -> dict[str, str]:
    """Path parameters from the synced data: the webinar with most attendees, one of them."""
    with app.app_context():
        event_id, _count = db.session.execute(
            select(CalendlyEventAttendee.event_id, func.count())
            .group_by(CalendlyEventAttendee.event_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        attendee = db.session.scalars(
            select(CalendlyEventAttendee)
            .where(CalendlyEventAttendee.event_id == event_id)
            .where(CalendlyEventAttendee.email.is_not(None))
            .limit(1)
        ).one()
        assert db.session.get(CalendlyEvent, event_id) is not None
        return {
            "event_id": str(event_id),
            "attendee_id": str(attendee.id),
            "email": attendee.email,
            "name": attendee.name or attendee.email,
            "chart_id": "lead-time",
            "extension": "csv",
        }


def _path(rule, values: dict[str, str]) -> str:
    def fill(match):
        converter, name = match[1] or "", match[2]
        if name in values:
            return values[name]
        if converter.startswith("int"):
            return "1"  # e.g. the first account
        pytest.fail(f"{rule.rule}: give <{name}> a value in _data()", pytrace=False)

    return re.sub(r"<(?:([^:<>]+):)?([^<>]+)>", fill, rule.rule)


def _open_a_list(page) -> None:
    """Open the attendee list of the first webinar in view with bookings, and one answer row."""
    rows = page.locator("#webinar-list .webinar")
    booked = rows.filter(has_text=re.compile(r"\b[1-9]\d* (von|of) \d+")).first
    booked.locator(".webinar-title a").click()
    expect(booked.locator("table.attendee-table")).to_be_visible()
    booked.locator("[data-details-toggle]").first.click()


@pytest.mark.parametrize("language", ["de", "en"])
def test_every_page_fits_the_screen_and_passes_axe(
    strict_page, live_server, calendly_sim, sign_in, language
):
    page = strict_page
    app = live_server.app
    app.config.update(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN=calendly_sim.token,
        CALENDLY_EVENT_TYPES="TLr - Infowebinar, TLr - Infowebinar (English)",
    )
    calendly_sim.add_webhook_subscription("https://hooks.example.org/abc", ["invitee.created"])
    with app.app_context():
        settings.save_account(calendly_sim.user)
        assert sync_from_settings(SyncTrigger.CLI).status == SyncStatus.SUCCEEDED
    data = _data(app)
    check = Checker(page, language)

    # Before the first account, then signed out.
    page.goto(live_server("/setup"))
    if language == "en":
        page.locator(".lang-switch button[value=en]").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    check("first-run setup")
    live_server.create_admin()
    page.goto(live_server("/login"))
    expect(page.locator("html")).to_have_attribute("lang", language)
    check("sign-in")
    sign_in(page, live_server)
    if page.locator("html").get_attribute("lang") != language:
        page.locator(f".lang-switch button[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)

    # Every GET route that answers with a whole page.
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if "GET" not in rule.methods or rule.endpoint in ELSEWHERE:
            continue
        url = live_server(_path(rule, data))
        answer = page.request.get(url, max_redirects=0)
        if answer.status != 200 or "<html" not in answer.text()[:300]:
            continue  # a download, a partial or a redirect
        page.goto(url)
        check(f"{rule.endpoint} {rule.rule}")
        if rule.endpoint == "attendees.webinar":
            page.locator("[data-details-toggle]").first.click()
            check(f"{rule.rule} with answers open")
    assert {"dashboard.index", "settings.index", "sync.runs", "attendees.webinar"} <= {
        state.split()[0] for state in check.checked
    }, check.checked

    # Expanded states: the sync panel after a run, an attendee list, an answer row.
    page.goto(live_server("/"))
    check.settle()
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/sync")):
        page.locator("#sync-panel button[type=submit]").click()
    expect(page.locator("#sync-panel .sync-progress")).to_have_count(0, timeout=30_000)
    expect(page.locator("#sync-panel[hx-trigger]")).to_have_count(0, timeout=30_000)
    check.settle()
    check("dashboard, sync panel after a run")
    _open_a_list(page)
    check("dashboard, an attendee list and an answer row open")
    page.goto(live_server("/?view=past"))
    _open_a_list(page)
    expect(page.locator(".no-show-toggle").first).to_be_visible()
    check("past webinars, a list with no-show buttons and an answer row open")

    query = data["name"][:4]
    page.goto(live_server(f"/search?q={query}"))
    expect(page.locator("#search-results .person-name").first).to_be_visible()
    check(f"search for {json.dumps(query)}")
    for action in ("export", "erase"):  # a person's data: the confirmation steps
        page.goto(live_server(f"/person-data/{action}?email={data['email']}"))
        check(f"person data, {action} to confirm")
    page.goto(live_server("/settings"))
    check.settle()
    page.locator("#webhook-admin tr.webhook .confirm-delete summary").first.click()
    check("settings with the webhook section loaded and a deletion to confirm")
    assert page.goto(live_server("/webinars/2147483000")).status == 404
    check("error page")

    check.verdict()
