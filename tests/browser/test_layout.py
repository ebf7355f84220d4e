"""Layout in a real browser (issue 9): attendee lists of one line per person, at a desktop's and a
phone's width."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from store import clock
from store.database import db
from store.models import CalendlyEventAttendee

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
# Each name's and email's text as client rectangles: one rectangle is one line.
LINES = """cells => cells.map(cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  return [cell.textContent, range.getClientRects().length];
})"""


def _add_people(app, event_id: int, count: int) -> None:
    """`count` more bookings with long names, emails and answers, as a big webinar has."""
    with app.app_context():
        for n in range(count):
            db.session.add(
                CalendlyEventAttendee(
                    event_id=event_id,
                    calendly_id=f"layout-inv-{n}",
                    uri=f"https://api.calendly.com/scheduled_events/x/invitees/layout-{n}",
                    name=f"Theresa Haas-Oberländer {n}",
                    email=f"theresa.haas-oberlaender{n}@schule-berlin.de",
                    status="active",
                    timezone="Europe/Berlin",
                    questions_and_answers=[
                        {"question": "Telefonnummer für Rückfragen", "answer": "+49 30 1234567"},
                        {"question": "Hinweise zur Barrierefreiheit", "answer": ""},
                    ],
                    calendly_created_at=clock.now() - timedelta(days=n),
                )
            )
        db.session.commit()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_attendee_list_one_line_per_person_answers_one_click_away(
    admin_page, live_server, seed_webinars, viewport
):
    page = admin_page
    ids = seed_webinars(live_server.app)
    _add_people(live_server.app, ids[0], 20)  # 26 people
    page.set_viewport_size(viewport)
    page.goto(live_server("/"))
    page.locator("#webinar-list .webinar-title a").first.click()
    table = page.locator(f"#attendees-{ids[0]} table.attendee-table")
    expect(table).to_be_visible()

    cells = table.locator(".cell-name .one-line, .cell-email .one-line")
    assert cells.count() == 52
    broken = [text for text, lines in cells.evaluate_all(LINES) if lines != 1]
    assert not broken, f"names or emails on more than one line: {broken}"

    height = table.bounding_box()["height"]
    if viewport is DESKTOP:
        # One line each: before, 26 people took about 6,100 px.
        assert height < 60 + 26 * 40, height
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    else:
        # Labelled cards: each cell says what it is.
        label = page.evaluate(
            "getComputedStyle(document.querySelector('.attendee .cell-email'), '::before').content"
        )
        assert label == '"E-Mail"'
        assert height < 26 * 260, height

    jurgen = table.locator("tbody.attendee", has_text="Jürgen Groß")
    answers = jurgen.locator(".attendee-details")
    expect(answers).to_be_hidden()
    toggle = jurgen.get_by_role("button", name="Antworten: Jürgen Groß")
    toggle.click()
    expect(answers).to_be_visible()
    expect(answers).to_contain_text("Welches Fach möchten Sie unterrichten?")
    expect(answers).to_contain_text("Mathematik, Physik")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(answers).to_be_hidden()


# The longest name and email the simulator books (devtools/sample_data.py); which webinar they
# land on moves with the clock, so this test books them itself.
LONGEST_NAME = "Dr. Marie-Luise Freifrau von Hohenstein-Wittgenstein zu Oberndorf am Neckar"
LONGEST_EMAIL = "p.mueller-luedenscheidt.schulleitung@grundschule-am-hohenstein.example.org"


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_longest_name_never_widens_the_webinar_page(
    admin_page, live_server, seed_webinars, language
):
    """A name too long for one desktop line scrolls the table inside its frame; the page itself
    stays as wide as the screen (the hidden column header once leaked out of the frame)."""
    page = admin_page
    ids = seed_webinars(live_server.app)
    with live_server.app.app_context():
        db.session.add(
            CalendlyEventAttendee(
                event_id=ids[0],
                calendly_id="layout-longest",
                uri="https://api.calendly.com/scheduled_events/x/invitees/layout-longest",
                name=LONGEST_NAME,
                email=LONGEST_EMAIL,
                status="active",
                timezone="Europe/Berlin",
                # The widest date in both languages: a two-digit day of December, late evening.
                calendly_created_at=datetime(2026, 12, 28, 22, 58, tzinfo=UTC),
            )
        )
        db.session.commit()
    page.goto(live_server("/"))
    if page.locator("html").get_attribute("lang") != language:
        page.locator(f".lang-switch button[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)
    page.set_viewport_size(DESKTOP)
    page.goto(live_server(f"/webinars/{ids[0]}"))
    table = page.locator("table.attendee-table")
    expect(table).to_contain_text(LONGEST_NAME)

    cells = table.locator(".cell-name .one-line, .cell-email .one-line")
    broken = [text for text, lines in cells.evaluate_all(LINES) if lines != 1]
    assert not broken, f"names or emails on more than one line: {broken}"
    assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0
    frame = page.locator(".table-frame").bounding_box()
    assert frame["x"] + frame["width"] <= DESKTOP["width"]


STYLE = """e => { const s = getComputedStyle(e);
  return {border: s.borderTopStyle + ' ' + s.borderTopColor, padding: s.paddingLeft,
          font: s.fontSize, radius: s.borderTopLeftRadius, background: s.backgroundColor,
          cursor: s.cursor, listStyle: s.listStyleType, display: s.display}; }"""


def test_settings_fields_buttons_and_confirmations(admin_on, live_server, calendly_sim):
    from services import settings

    with live_server.app.app_context():
        settings.save_calendly_token(calendly_sim.token)  # stored, so it can be replaced here
        settings.save_account(calendly_sim.user)
    page = admin_on("/settings", CALENDLY_EVENT_TYPES="TLr - Infowebinar")

    # Number and time inputs look like the other fields; no browser-default frames or bullets.
    text = page.locator("#display_timezone").evaluate(STYLE)
    for field in ("#lookback_days", "#daily_time", "#interval_minutes"):
        style = page.locator(field).evaluate(STYLE)
        assert {k: style[k] for k in ("border", "padding", "font", "radius")} == {
            k: text[k] for k in ("border", "padding", "font", "radius")
        }, field
    for fieldset in page.locator("fieldset").all():
        assert fieldset.evaluate("e => getComputedStyle(e).borderTopStyle") == "none"
    assert page.locator("#event-types").evaluate(STYLE)["listStyle"] == "none"

    # "Replace" is a button in looks, and a disabled button looks disabled.
    replace = page.locator(".token-replace > summary").evaluate(STYLE)
    remove = page.locator(".token-remove button").evaluate(STYLE)
    assert replace["display"] == "inline-block" and replace["border"].startswith("solid")
    assert replace["radius"] == remove["radius"] and replace["font"] == remove["font"]
    assert replace["padding"] == remove["padding"] and replace["cursor"] == "pointer"
    locked = page.get_by_role("button", name="Save choice")
    expect(locked).to_be_disabled()
    enabled = page.locator("#preferences button[type=submit]").evaluate(STYLE)
    disabled = locked.evaluate(STYLE)
    assert disabled["cursor"] == "not-allowed"
    assert disabled["background"] != enabled["background"]

    # The confirmation shows beside the form that was saved, and takes the focus.
    page.locator("#preferences").get_by_role("button", name="Save", exact=True).click()
    notice = page.locator("#preferences .notice")
    expect(notice).to_contain_text("Settings saved.")
    expect(notice).to_be_focused()
    button = page.locator("#preferences button[type=submit]").bounding_box()
    shown = notice.bounding_box()
    assert 0 <= shown["y"] - (button["y"] + button["height"]) < 60, (button, shown)
    assert shown["y"] >= 0 and shown["y"] + shown["height"] <= page.viewport_size["height"]
