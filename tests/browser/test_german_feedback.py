"""Every feedback path in German, in a real browser: a sync that works, one that fails over the
network, a refused token (401), a missing scope (403), Calendly's rate limit (429), a token
refused on Settings, a changed encryption key, and a webhook subscription Calendly refuses.

For each, the page's text outside `[lang=en]` (where Calendly's own words may stand) holds no
English sentence of the catalogue and none of the connector's English technical words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from cryptography.fernet import Fernet
from playwright.sync_api import expect

from services import settings
from services.secrets import TokenVault

TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"
FORBIDDEN = ("Calendly API error", "Unexpected error", "TokenVaultError")
# The page's visible text without the elements marked as English.
TEXT_OUTSIDE_ENGLISH = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('[lang=en]').forEach((el) => el.remove());
  document.documentElement.appendChild(body);  // innerText needs a rendered element
  body.style.position = 'absolute';
  const text = body.innerText;
  body.remove();
  return text;
}"""

pytestmark = pytest.mark.sim_account("small")


def _english_fragments() -> list[str]:
    """Every catalogue message of three words or more whose German differs, cut at its
    placeholders into the parts of three words or more that a page would show literally."""
    with open(TRANSLATIONS / "messages.pot", "rb") as file:
        template = read_po(file)
    with open(TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po", "rb") as file:
        german = read_po(file, locale="de")
    fragments = set()
    for message in template:
        for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
            entry = german.get(message.id)
            translated = entry.string if entry is not None else ""
            if not msgid or len(msgid.split()) < 3 or msgid in _as_tuple(translated):
                continue
            for part in re.split(r"%\(\w+\)[sd]|%[sd]", msgid):
                if len(part.split()) >= 3:
                    fragments.add(" ".join(part.split()))
    assert len(fragments) > 100
    return sorted(fragments)


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


ENGLISH = _english_fragments()


def assert_german(page, where: str) -> str:
    """The page's text outside [lang=en], after checking it has no English of the catalogue."""
    text = " ".join(page.evaluate(TEXT_OUTSIDE_ENGLISH).split())
    english = [fragment for fragment in ENGLISH if fragment in text]
    forbidden = [word for word in FORBIDDEN if word in text]
    assert not english and not forbidden, f"{where}: English {english + forbidden} in {text}"
    return text


def sync_now(page, server, outcome: str) -> str:
    """Click "Jetzt synchronisieren" on the dashboard and wait for the run's outcome."""
    page.goto(server("/"))
    page.get_by_role("button", name="Jetzt synchronisieren").click()
    message = page.locator("#sync-panel .sync-message")
    expect(message).to_contain_text(outcome, timeout=20_000)
    return message.inner_text()


@pytest.fixture(autouse=True)
def fail_fast(live_server):
    """One retry, and short waits: the failures below need not take long."""
    live_server.app.config.update(
        CALENDLY_MAX_RETRIES=1, CALENDLY_BACKOFF_BASE=0.01, CALENDLY_BACKOFF_CAP=0.02
    )


def test_sync_feedback_is_german(german_admin, live_server, calendly_sim):
    page = german_admin
    assert "Gespeichert:" in sync_now(page, live_server, "Synchronisierung beendet")
    assert_german(page, "sync ok")

    live_server.app.config["CALENDLY_API_BASE_URL"] = "http://127.0.0.1:9"  # nobody listens
    assert "Calendly ist nicht erreichbar" in sync_now(page, live_server, "fehlgeschlagen")
    assert_german(page, "network")
    page.goto(live_server("/sync/runs"))
    assert "Calendly ist nicht erreichbar" in assert_german(page, "run history")

    live_server.app.config["CALENDLY_API_BASE_URL"] = calendly_sim.base_url
    calendly_sim.revoke_token()
    assert "hat den Token nicht angenommen" in sync_now(page, live_server, "fehlgeschlagen")
    assert_german(page, "401")
    calendly_sim.clear_faults()

    calendly_sim.set_scopes(missing=["scheduled_events:read"])
    assert "scheduled_events:read" in sync_now(page, live_server, "fehlgeschlagen")
    assert_german(page, "403 scope")
    calendly_sim.set_scopes(missing=())

    calendly_sim.inject("429", times=None, reset=0.05)
    assert "Anfragelimit" in sync_now(page, live_server, "fehlgeschlagen")
    assert_german(page, "429")
    calendly_sim.clear_faults()


def test_settings_feedback_is_german(german_admin, live_server, calendly_sim):
    page = german_admin
    live_server.app.config["CALENDLY_TOKEN"] = ""

    # A pasted token Calendly refuses: paste a new one here, with a link to Calendly's page.
    page.goto(live_server("/settings"))
    page.fill("#token", "kein-gueltiger-token-0000")
    page.get_by_role("button", name="Prüfen und speichern").click()
    errors = page.locator("#calendly-settings .field-errors")
    expect(errors).to_contain_text("hat den Token nicht angenommen")
    expect(errors.get_by_role("link", name="Calendlys API-Seite")).to_have_attribute(
        "href", "https://calendly.com/integrations/api_webhooks"
    )
    expect(errors.locator("[lang=en]")).to_contain_text("The access token is invalid")
    assert "Einstellungen" not in errors.inner_text()  # the admin is on Settings already
    assert_german(page, "token refused")

    # The encryption key changed: the stored token cannot be read.
    with live_server.app.app_context():
        settings.save_calendly_token(calendly_sim.token)
        settings.save_account(calendly_sim.user)
    live_server.app.extensions["token_vault"] = TokenVault(Fernet.generate_key().decode())
    page.goto(live_server("/settings"))
    expect(page.locator("#calendly-settings")).to_contain_text("lässt sich nicht entschlüsseln")
    assert_german(page, "key changed, settings")
    page.goto(live_server("/"))
    page.get_by_role("button", name="Jetzt synchronisieren").click()
    expect(page.locator("#sync-panel .sync-message")).to_contain_text("nicht entschlüsseln")
    assert_german(page, "key changed, sync")

    # Calendly refuses a webhook subscription (the token lacks the scope).
    live_server.app.config["CALENDLY_TOKEN"] = calendly_sim.token
    calendly_sim.set_scopes(missing=["webhooks:write"])
    page.goto(live_server("/settings/webhooks"))
    page.get_by_label("Öffentliche Adresse dieser App").fill("https://webinare.example.org")
    page.get_by_role("button", name="Abonnement anlegen").click()
    expect(page.locator("#webhook-admin .flash-error")).to_contain_text("webhooks:write")
    assert_german(page, "webhook refused")
