"""The client's data-compliance deletion of invitees against the simulator over real HTTP:
accepted (202) on an Enterprise account, Calendly's 403s otherwise, and never retried."""

from __future__ import annotations

import pytest

from calendly.client import CalendlyClient
from calendly.errors import ApiError, PermissionDeniedError

TOKEN = "sim-token"
PATH = "/data_compliance/deletion/invitees"

pytestmark = pytest.mark.sim_account("small", token=TOKEN)


@pytest.fixture
def calendly_client(module_sim):
    with CalendlyClient(
        TOKEN, base_url=module_sim.base_url, sleep=lambda _s: None, timeout=(2.0, 5.0)
    ) as client:
        yield client


def _emails(sim) -> list[str]:
    return [inv["email"] for invs in sim.invitees.values() for inv in invs]


def test_on_enterprise_the_invitees_are_deleted_whatever_the_case(calendly_client, module_sim):
    module_sim.set_enterprise(True)
    email = _emails(module_sim)[0]
    before = len(_emails(module_sim))
    gone = _emails(module_sim).count(email)

    assert calendly_client.delete_invitee_data([email.upper()]) is None

    assert email not in _emails(module_sim)
    assert len(_emails(module_sim)) == before - gone
    assert module_sim.deletion_requests == [[email.upper()]]
    [request] = [r for r in module_sim.request_log if r.path == PATH]
    assert (request.method, request.status) == ("POST", 202)


def test_without_enterprise_calendly_refuses_with_its_403(calendly_client, module_sim):
    with pytest.raises(PermissionDeniedError) as refused:
        calendly_client.delete_invitee_data(["a@example.de"])
    assert refused.value.status == 403
    assert "Enterprise" in refused.value.said
    assert not refused.value.required_scopes
    assert [r.status for r in module_sim.request_log if r.path == PATH] == [403]  # not retried


def test_a_user_without_the_data_requests_permission_is_refused(calendly_client, module_sim):
    module_sim.set_enterprise(True)
    module_sim.set_org_admin(False)
    with pytest.raises(PermissionDeniedError) as refused:
        calendly_client.delete_invitee_data(["a@example.de"])
    assert "data requests permission" in refused.value.said


def test_a_token_without_the_scope_is_refused_with_the_scope_named(calendly_client, module_sim):
    module_sim.set_enterprise(True)
    module_sim.set_scopes(missing=["data_compliance:write"])
    with pytest.raises(PermissionDeniedError) as refused:
        calendly_client.delete_invitee_data(["a@example.de"])
    assert refused.value.required_scopes == ["data_compliance:write"]


def test_no_emails_is_refused_before_any_request(calendly_client, module_sim):
    with pytest.raises(ValueError):
        calendly_client.delete_invitee_data([])
    with pytest.raises(ValueError):
        calendly_client.delete_invitee_data("a@example.de")
    assert module_sim.request_log == []


def test_the_simulator_wants_a_list_of_emails(calendly_client, module_sim):
    module_sim.set_enterprise(True)
    with pytest.raises(ApiError) as refused:
        calendly_client.delete_invitee_data(["not an email"])
    assert refused.value.status == 400
