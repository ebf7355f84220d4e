"""Reading an organization through the connector, against the simulator's team account over
real HTTP: memberships, the three scopes' reads, Calendly's 403 for a member token."""

from __future__ import annotations

import time

import pytest

from calendly.client import CalendlyClient
from calendly.errors import PermissionDeniedError
from calendly.scope import HOSTS, ME, ORGANIZATION, reads_for

pytestmark = pytest.mark.sim_account("team")


@pytest.fixture
def client(module_sim):
    with CalendlyClient("sim-token", base_url=module_sim.base_url, timeout=(2.0, 5.0)) as client:
        yield client


def uris(events):
    return sorted(event["uri"] for event in events)


def test_memberships_list_three_hosts_with_roles(module_sim, client):
    org = module_sim.organization_uri
    members = list(client.iter_organization_memberships(organization=org))
    assert sorted(m["user"]["email"] for m in members) == sorted(
        m["email"] for m in module_sim.members
    )
    assert len(members) == 3
    me = list(client.iter_organization_memberships(user=module_sim.user["uri"]))
    assert [m["role"] for m in me] == ["owner"]
    module_sim.set_org_admin(False)
    me = list(client.iter_organization_memberships(user=module_sim.user["uri"]))
    assert [m["role"] for m in me] == ["user"]


def test_each_scope_reads_what_it_names(module_sim, client):
    user, org = module_sim.user["uri"], module_sim.organization_uri
    jonas, mira = (module_sim.member(name)["uri"] for name in ("Jonas Weber", "Mira Schulz"))

    def read(mode, hosts=()):
        return list(
            client.iter_scope_events(reads_for(mode, user=user, organization=org, hosts=hosts))
        )

    everything = read(ORGANIZATION)
    assert uris(everything) == uris(module_sim.events.values())
    mine = read(ME)
    assert uris(mine) == uris(module_sim.events_of(user)) and 0 < len(mine) < len(everything)
    both = read(HOSTS, [jonas, mira])
    expected = {e["uri"] for e in module_sim.events_of(jonas) + module_sim.events_of(mira)}
    # The collective events both host come once.
    assert uris(both) == sorted(expected) and len(both) < len(
        module_sim.events_of(jonas) + module_sim.events_of(mira)
    )
    round_robin = [e for e in everything if e["name"] == "TLr - Infowebinar"]
    assert {m["user"] for e in round_robin for m in e["event_memberships"]} == {
        m["uri"] for m in module_sim.members
    }


def test_a_member_token_reads_only_its_own(module_sim, client):
    module_sim.set_org_admin(False)
    user, org = module_sim.user["uri"], module_sim.organization_uri
    jonas = module_sim.member("Jonas Weber")["uri"]
    assert list(client.iter_scheduled_events(user=user))
    for read in ({"organization": org}, {"user": jonas, "organization": org}, {"user": jonas}):
        with pytest.raises(PermissionDeniedError):
            list(client.iter_scheduled_events(**read))
    with pytest.raises(PermissionDeniedError):
        list(client.iter_event_types(organization=org))


def test_pacing_counts_one_rate_limit_for_every_host_read(module_sim):
    """Calendly's limit is per token: reading three hosts one after another shares one budget,
    so the reads are paced together and never meet a 429."""
    module_sim.set_rate_limit(3, 0.5)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        time.sleep(seconds)

    hosts = [member["uri"] for member in module_sim.members]
    reads = reads_for(HOSTS, user=None, organization=module_sim.organization_uri, hosts=hosts)
    with CalendlyClient(
        "sim-token", base_url=module_sim.base_url, timeout=(2.0, 5.0), sleep=sleep
    ) as client:
        events = list(client.iter_scope_events(reads, count=10))
        assert client.request_count > 3 * len(hosts) / 2
    assert len(events) == len(module_sim.events)
    assert module_sim.responses_429 == 0 and slept
