"""Which of Calendly's scheduled events a token reads: the sync scope and its requests.

Calendly answers ``GET /scheduled_events?user=<uri>`` alone only for the token's own events;
``organization=<uri>`` (everyone's) and ``user=<colleague>&organization=<uri>`` need an owner
or admin token. Plain data, no HTTP: ``CalendlyClient.iter_scope_events`` reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

ME = "me"
ORGANIZATION = "organization"
HOSTS = "hosts"
MODES = (ME, ORGANIZATION, HOSTS)
# Organization roles that may read colleagues' and the whole organization's events.
ADMIN_ROLES = frozenset({"owner", "admin"})


def needs_admin(mode: str) -> bool:
    """True when the scope reads more than the token's own events."""
    return mode in (ORGANIZATION, HOSTS)


def allowed_modes(role: str | None) -> tuple[str, ...]:
    """The scopes a token with this organization role may read (unknown role: only its own)."""
    return MODES if role in ADMIN_ROLES else (ME,)


def reads_for(
    mode: str, *, user: str | None, organization: str | None, hosts: Sequence[str] = ()
) -> list[dict]:
    """The ``user``/``organization`` arguments of each read of `mode`: one read for "me" and
    "organization", one per host for "hosts".

    Raises:
        ValueError: an unknown mode, or a URI the mode needs is missing.
    """
    if mode == ME:
        if not user:
            raise ValueError("the 'me' scope needs the token's user URI")
        return [{"user": user}]
    if not organization:
        raise ValueError(f"the {mode!r} scope needs the organization URI")
    if mode == ORGANIZATION:
        return [{"organization": organization}]
    if mode == HOSTS:
        return [{"user": host, "organization": organization} for host in dict.fromkeys(hosts)]
    raise ValueError(f"unknown sync scope {mode!r}")


def hosted_within(memberships: Iterable[str], mode: str, *, user: str | None, hosts=()) -> bool:
    """True when an event hosted by the users `memberships` (URIs) lies in the scope `mode`
    (every event of the organization lies in "organization")."""
    if mode == ORGANIZATION:
        return True
    wanted = {user} if mode == ME else set(hosts)
    return any(uri in wanted for uri in memberships)
