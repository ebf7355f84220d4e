"""The sync scope against the simulator's team organization (three hosts, a round-robin
"TLr - Infowebinar" and a collective English one), over real HTTP into a real database: what
each scope mirrors, what a no-change sync costs, the missing-upstream rule, webhooks outside
the scope, and a member's token refused."""

from __future__ import annotations

import copy
import json
import math

import pytest
from sqlalchemy import func, select

from calendly.signature import sign
from services.syncing import sync_from_settings
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee
from store.outcomes import RunProblem, SyncStatus

pytestmark = pytest.mark.sim_account("team")

TYPES = "TLr - Infowebinar,TLr - Infowebinar (English)"
KEY = "whsec-scope-test"


@pytest.fixture
def scoped_app(make_app, calendly_sim):
    """`scoped_app(scope, hosts="")`: an app syncing both info-webinar types by name."""

    def build(scope="", hosts=""):
        return make_app(
            CALENDLY_API_BASE_URL=calendly_sim.base_url,
            CALENDLY_TOKEN=calendly_sim.token,
            CALENDLY_EVENT_TYPES=TYPES,
            CALENDLY_SCOPE=scope,
            CALENDLY_SCOPE_HOSTS=hosts,
            CALENDLY_WEBHOOK_SIGNING_KEY=KEY,
            SYNC_LOOKBACK_DAYS=14,
            CALENDLY_MAX_RETRIES=1,
            CALENDLY_BACKOFF_BASE=0.01,
        )

    return build


def webinars(sim, hosts=None):
    """UUIDs of the simulator's info-webinars (hosted by one of `hosts`, URIs)."""
    return {
        uri.rsplit("/", 1)[1]
        for event in sim.events.values()
        if event["name"].startswith("TLr - Infowebinar")
        and (hosts is None or any(m["user"] in hosts for m in event["event_memberships"]))
        for uri in [event["uri"]]
    }


def stored(app):
    with app.app_context():
        rows = db.session.execute(select(CalendlyEvent.calendly_id, CalendlyEvent.missing_upstream))
        return {calendly_id: missing for calendly_id, missing in rows}


def sync(app):
    with app.app_context():
        run = sync_from_settings("manual")
        return run.status, run.outcome, run.outcome_params, run.api_requests


def paths_since(sim, start):
    return [record.path for record in sim.request_log[start:]]


def test_organization_scope_mirrors_every_hosts_webinars(scoped_app, calendly_sim):
    app = scoped_app("organization")
    status, *_ = sync(app)
    assert status == SyncStatus.SUCCEEDED
    assert set(stored(app)) == webinars(calendly_sim)
    hosts = {
        m["user"]
        for event in calendly_sim.events.values()
        if event["uri"].rsplit("/", 1)[1] in stored(app)
        for m in event["event_memberships"]
    }
    assert hosts == {member["uri"] for member in calendly_sim.members}
    # A no-change sync reads the organization once, page by page, and asks nothing else.
    before = len(calendly_sim.request_log)
    status, _, _, requests = sync(app)
    assert status == SyncStatus.SUCCEEDED
    pages = math.ceil(len(calendly_sim.events) / 100)
    assert paths_since(calendly_sim, before) == ["/scheduled_events"] * pages
    assert requests == pages


def test_these_hosts_mirror_exactly_the_chosen_ones(scoped_app, calendly_sim):
    jonas, mira = (calendly_sim.member(n) for n in ("Jonas Weber", "Mira Schulz"))
    # One by email (resolved through /organization_memberships), one by URI.
    app = scoped_app("hosts", f"{jonas['email'].upper()}, {mira['uri']}")
    status, *_ = sync(app)
    assert status == SyncStatus.SUCCEEDED
    chosen = webinars(calendly_sim, {jonas["uri"], mira["uri"]})
    assert set(stored(app)) == chosen
    assert chosen != webinars(calendly_sim)
    collective = [
        e for e in calendly_sim.events.values() if e["name"] == "TLr - Infowebinar (English)"
    ]
    assert collective  # seen through both hosts, stored once
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CalendlyEvent)) == len(chosen)
    # No change: one read per chosen host; members, types and /users/me are known by now.
    before = len(calendly_sim.request_log)
    status, _, _, requests = sync(app)
    assert status == SyncStatus.SUCCEEDED
    assert paths_since(calendly_sim, before) == ["/scheduled_events"] * 2
    assert requests == 2


def test_my_events_match_todays_behaviour(scoped_app, calendly_sim):
    app = scoped_app()  # no scope configured: the token's own events, as before
    status, *_ = sync(app)
    assert status == SyncStatus.SUCCEEDED
    mine = webinars(calendly_sim, {calendly_sim.user["uri"]})
    assert set(stored(app)) == mine and mine != webinars(calendly_sim)
    assert all(
        r.query.get("user") for r in calendly_sim.request_log if r.path == "/scheduled_events"
    )
    before = len(calendly_sim.request_log)
    assert sync(app)[3] == 1
    assert paths_since(calendly_sim, before) == ["/scheduled_events"]


@pytest.mark.parametrize("scope", ["organization", "hosts"])
def test_a_member_token_is_refused_in_plain_words_and_nothing_changes(
    scoped_app, calendly_sim, scope
):
    calendly_sim.set_org_admin(False)
    app = scoped_app(scope, calendly_sim.member("Jonas Weber")["email"])
    status, outcome, params, _ = sync(app)
    assert (status, outcome, params) == (
        SyncStatus.FAILED,
        RunProblem.SCOPE_NOT_ALLOWED,
        {"scope": scope},
    )
    assert stored(app) == {}
    with app.test_request_context(headers={"Accept-Language": "de"}):
        from blueprints.messages import problem_text

        text = str(problem_text(outcome, params))
    assert "nur seine eigenen Webinare" in text and "Nichts wurde geändert" in text


def test_missing_upstream_only_within_the_scope(scoped_app, calendly_sim):
    jonas = calendly_sim.member("Jonas Weber")
    app = scoped_app("hosts", jonas["uri"])
    sync(app)
    his = sorted(webinars(calendly_sim, {jonas["uri"]}))
    assert len(his) >= 3
    gone, moved, kept = his[0], his[1], his[2:]
    calendly_sim.remove_event(gone)
    # Round robin handed this one to a colleague outside the scope: it still exists.
    owner = calendly_sim.user
    calendly_sim.events[moved]["event_memberships"] = [
        dict(calendly_sim.events[moved]["event_memberships"][0], user=owner["uri"])
    ]
    status, *_ = sync(app)
    assert status == SyncStatus.SUCCEEDED
    flags = stored(app)
    assert flags[gone] is True
    assert flags[moved] is False
    assert not any(flags[uuid] for uuid in kept)


def delivery_for(sim, event):
    invitee = sim.book(event["uri"].rsplit("/", 1)[1], name="Lena Roth", email="lena@example.org")
    payload = copy.deepcopy(invitee)
    payload["scheduled_event"] = copy.deepcopy(sim.events[event["uri"].rsplit("/", 1)[1]])
    body = json.dumps(
        {"event": "invitee.created", "created_at": invitee["updated_at"], "payload": payload}
    ).encode()
    headers = {"Content-Type": "application/json", "Calendly-Webhook-Signature": sign(body, KEY)}
    return body, headers


def test_a_webhook_outside_the_scope_stores_nothing(scoped_app, calendly_sim):
    jonas, mira = (calendly_sim.member(n) for n in ("Jonas Weber", "Mira Schulz"))
    app = scoped_app("hosts", jonas["email"])
    client = app.test_client()
    outside = calendly_sim.add_event(hosts=[mira])
    inside = calendly_sim.add_event(hosts=[jonas])
    answer = client.post(
        "/api/infowebinar/webhook",
        data=(body := delivery_for(calendly_sim, outside))[0],
        headers=body[1],
    )
    assert answer.status_code == 200 and "outside_scope" in answer.get_json()["detail"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CalendlyEventAttendee)) == 0
        assert db.session.scalar(select(func.count()).select_from(CalendlyEvent)) == 0
    body, headers = delivery_for(calendly_sim, inside)
    assert client.post("/api/infowebinar/webhook", data=body, headers=headers).status_code == 200
    assert set(stored(app)) == {inside["uri"].rsplit("/", 1)[1]}


def test_type_names_resolve_across_the_organization(make_app, calendly_sim):
    """The collective type is no type of the token's user: its name still finds its events,
    also one renamed at Calendly, through the organization's listing."""
    collective = [
        uuid
        for uuid, event in calendly_sim.events.items()
        if event["name"] == "TLr - Infowebinar (English)"
    ]
    calendly_sim.rename_event(collective[0], "Info evening (renamed)")
    app = make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN=calendly_sim.token,
        CALENDLY_EVENT_TYPES="tlr - infowebinar (english)",
        CALENDLY_SCOPE="organization",
        SYNC_LOOKBACK_DAYS=14,
    )
    assert sync(app)[0] == SyncStatus.SUCCEEDED
    assert set(stored(app)) == set(collective)
    listed = [r.query for r in calendly_sim.request_log if r.path == "/event_types"]
    assert listed and all(query.get("organization") for query in listed)


@pytest.mark.parametrize(("scope", "hosts"), [("everyone", ""), ("hosts", ""), ("hosts", " , ")])
def test_an_unusable_scope_in_the_environment_stops_the_start(make_app, scope, hosts):
    with pytest.raises(ValueError, match="CALENDLY_SCOPE"):
        make_app(CALENDLY_SCOPE=scope, CALENDLY_SCOPE_HOSTS=hosts)
