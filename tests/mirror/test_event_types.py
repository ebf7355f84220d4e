"""The cached event types (GET /event_types) and event types chosen by name.

The sync refreshes the cache only when it meets an event whose type it does not know, so a sync
without changes costs no extra request. A name in CALENDLY_EVENT_TYPES (or the stored choice)
resolves to its type's URI through the cache, so an event renamed at Calendly keeps syncing.
"""

import copy
import json

import pytest
from sqlalchemy import select

from calendly.signature import sign
from services.syncing import sync_from_settings
from store.database import db
from store.models import CalendlyEvent

# A small account: every event inside the sync's look-back window.
pytestmark = pytest.mark.sim_account("small")

KEY = "whsec-types-1a2b3c"
PATH = "/api/infowebinar/webhook"
INFOWEBINAR = "TLr - Infowebinar"


def uuid_of(resource) -> str:
    return resource["uri"].rsplit("/", 1)[1]


def event_type_requests(calendly_sim) -> int:
    return sum(1 for record in calendly_sim.request_log if record.path == "/event_types")


def cached() -> dict:
    from store.models import CalendlyEventType  # the cache's table

    return {row.uri: row for row in db.session.scalars(select(CalendlyEventType))}


def test_the_first_sync_caches_the_event_types_with_their_questions(connected_app, calendly_sim):
    app = connected_app(calendly_sim)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        assert event_type_requests(calendly_sim) == 1
        types = cached()
        assert set(types) == {item["uri"] for item in calendly_sim.event_types}
        info = types[calendly_sim.event_type_uri(INFOWEBINAR)]
        upstream = next(t for t in calendly_sim.event_types if t["name"] == INFOWEBINAR)
        assert (info.name, info.active, info.kind) == (INFOWEBINAR, True, "group")
        assert info.owner == calendly_sim.user["uri"]
        assert info.custom_questions == upstream["custom_questions"]
        single = next(q for q in info.custom_questions if q["type"] == "single_select")
        assert single["answer_choices"] and isinstance(single["position"], int)
        retired = types[calendly_sim.event_type_uri("Telefonsprechstunde")]
        assert retired.active is False


def test_a_sync_without_changes_asks_no_event_types(connected_app, calendly_sim):
    app = connected_app(calendly_sim)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        calendly_sim.reset_log()
        run = sync_from_settings("cli")
        assert run.status == "succeeded"
        assert event_type_requests(calendly_sim) == 0
        assert all(record.path == "/scheduled_events" for record in calendly_sim.request_log)


def test_an_unknown_event_type_refreshes_the_cache_once(connected_app, calendly_sim):
    app = connected_app(calendly_sim)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        question = {
            "name": "Welches Fach?",
            "type": "single_select",
            "position": 0,
            "enabled": True,
            "required": True,
            "answer_choices": ["Mathematik", "Deutsch"],
            "include_other": False,
        }
        new_type = calendly_sim.add_event_type("Fachwebinar", questions=[question])
        for _ in range(3):
            calendly_sim.add_event(event_type_uri=new_type["uri"])
        calendly_sim.reset_log()

        run = sync_from_settings("cli")

        assert (run.status, run.events_created) == ("succeeded", 3)
        assert event_type_requests(calendly_sim) == 1
        row = cached()[new_type["uri"]]
        assert row.name == "Fachwebinar"
        assert row.custom_questions == [question]
        calendly_sim.reset_log()
        assert sync_from_settings("cli").status == "succeeded"
        assert event_type_requests(calendly_sim) == 0


def test_a_malformed_event_type_is_left_out_of_the_cache(connected_app, calendly_sim):
    broken = calendly_sim.add_event_type("Kaputt")
    broken["custom_questions"] = "nicht eine Liste"
    app = connected_app(calendly_sim)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        types = cached()
        assert broken["uri"] not in types
        assert calendly_sim.event_type_uri(INFOWEBINAR) in types


@pytest.mark.parametrize("selection", [INFOWEBINAR, INFOWEBINAR.upper()])
def test_a_type_chosen_by_name_keeps_syncing_its_renamed_events(
    connected_app, calendly_sim, selection
):
    app = connected_app(calendly_sim, CALENDLY_EVENT_TYPES=selection)
    type_uri = calendly_sim.event_type_uri(INFOWEBINAR)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        stored = stored_events()
        assert stored and {row.event_type_uri for row in stored.values()} == {type_uri}
        renamed = next(iter(stored))
        calendly_sim.rename_event(renamed, "Infoabend Quereinstieg")

        run = sync_from_settings("cli")

        assert run.status == "succeeded"
        assert (run.events_updated, run.events_missing) == (1, 0)
        row = stored_events()[renamed]
        assert row.name == "Infoabend Quereinstieg" and not row.missing_upstream


def test_a_stored_choice_by_name_resolves_through_the_cache(connected_app, calendly_sim):
    from services import settings

    app = connected_app(calendly_sim)
    with app.app_context():
        settings.set_setting(settings.EVENT_TYPES_KEY, [INFOWEBINAR])
        assert sync_from_settings("cli").status == "succeeded"
        renamed = next(iter(stored_events()))
        calendly_sim.rename_event(renamed, "Umbenannt")
        assert sync_from_settings("cli").events_missing == 0
        assert stored_events()[renamed].name == "Umbenannt"


def test_an_event_of_another_type_with_the_chosen_name_is_not_synced(connected_app, calendly_sim):
    app = connected_app(calendly_sim, CALENDLY_EVENT_TYPES=INFOWEBINAR)
    other = calendly_sim.add_event(
        event_type_uri=calendly_sim.event_type_uri("Einzelberatung"), name=INFOWEBINAR
    )
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        assert uuid_of(other) not in stored_events()


def test_a_delivery_for_a_renamed_event_of_a_type_chosen_by_name_is_applied(
    connected_app, calendly_sim
):
    app = connected_app(
        calendly_sim, CALENDLY_EVENT_TYPES=INFOWEBINAR, CALENDLY_WEBHOOK_SIGNING_KEY=KEY
    )
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
    event = calendly_sim.add_event(name="Infoabend (umbenannt)")
    invitee = calendly_sim.book(uuid_of(event), name="Anna Schmidt", email="anna@example.org")
    payload = {
        "event": "invitee.created",
        "created_at": invitee["created_at"],
        "created_by": calendly_sim.user["uri"],
        "payload": dict(copy.deepcopy(invitee), scheduled_event=copy.deepcopy(event)),
    }
    body = json.dumps(payload).encode()
    response = app.test_client().post(
        PATH, data=body, headers={"Calendly-Webhook-Signature": sign(body, KEY)}
    )
    assert response.get_json()["outcome"] == "applied", response.get_json()
    with app.app_context():
        assert uuid_of(event) in stored_events()


def stored_events() -> dict:
    return {row.calendly_id: row for row in db.session.scalars(select(CalendlyEvent))}


def test_an_empty_selection_keeps_nothing_and_the_star_keeps_everything():
    from mirror.event_types import ALL_TYPES, EventTypeSelection

    uri = "https://api.calendly.com/event_types/ANY"
    nothing = EventTypeSelection([], {uri: "Einzelberatung"})
    assert not nothing.everything
    assert not nothing.includes(uri, "Einzelberatung")
    assert not nothing.includes("https://api.calendly.com/event_types/NEW", "Neu")
    everything = EventTypeSelection([ALL_TYPES], {uri: "Einzelberatung"})
    assert everything.everything
    assert everything.includes(uri) and everything.includes(None, "whatever")


def test_a_star_in_calendly_event_types_chooses_every_type(make_app):
    from services import settings

    app = make_app(event_types=None, CALENDLY_EVENT_TYPES="*")
    with app.app_context():
        assert settings.event_types_chosen()
        assert settings.sync_event_types() == ["*"]
