"""The sync scope: whose webinars the mirror holds. One rule for the sync, the webhook receiver,
the webhook subscription and the missing-upstream flag (issue 10).

"me" reads the token's own events, "organization" everyone's, "hosts" the chosen members'
(by URI, or by email as CALENDLY_SCOPE_HOSTS may name them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from calendly.records import ScheduledEvent
from calendly.scope import ADMIN_ROLES, HOSTS, ME, MODES, ORGANIZATION, needs_admin
from store.outcomes import RunProblem

__all__ = ["HOSTS", "ME", "MODES", "ORGANIZATION", "Scope", "ScopeHostUnknown", "ScopeNotAllowed"]


class ScopeNotAllowed(Exception):
    """The token may not read the scope asked for (a member's token, not an owner's or
    admin's): the sync refuses before it changes anything."""

    run_problem = RunProblem.SCOPE_NOT_ALLOWED

    def __init__(self, mode: str):
        super().__init__(f"the token may not read the {mode!r} scope")
        self.run_params = {"scope": mode}


class ScopeHostUnknown(Exception):
    """A chosen host is no member of the organization."""

    run_problem = RunProblem.SCOPE_HOST_UNKNOWN

    def __init__(self, host: str):
        super().__init__("a chosen host is no member of the organization")
        self.run_params = {"host": host[:255]}


@dataclass(frozen=True)
class Scope:
    """Whose events the mirror holds; `hosts` (URIs or emails) only for HOSTS."""

    mode: str = ME
    hosts: tuple[str, ...] = ()

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown sync scope {self.mode!r}")

    @property
    def needs_admin(self) -> bool:
        """True when only an owner's or admin's token may read it."""
        return needs_admin(self.mode)

    def allowed_for(self, role: str | None) -> bool:
        """Whether a token of this organization role may read the scope (None: not known yet,
        so Calendly decides)."""
        return not self.needs_admin or role is None or role in ADMIN_ROLES

    def includes(self, event: ScheduledEvent, user_uri: str | None) -> bool:
        """True when `event` (with its event_memberships) lies in the scope."""
        return self.includes_hosts(
            [(member.user, member.user_email) for member in event.event_memberships], user_uri
        )

    def includes_hosts(self, hosts: Iterable[tuple[str, str | None]], user_uri: str | None) -> bool:
        """True when an event hosted by `hosts` ((user URI, email) pairs) lies in the scope."""
        if self.mode == ORGANIZATION:
            return True
        wanted = {user_uri} if self.mode == ME else {host.casefold() for host in self.hosts}
        for uri, email in hosts:
            if self.mode == ME and uri == user_uri:
                return True
            if self.mode == HOSTS and (
                (uri or "").casefold() in wanted or (email or "").casefold() in wanted
            ):
                return True
        return False

    def is_narrower_than(self, other: Scope) -> bool:
        """True unless every event of `other` surely lies in this scope too."""
        if self.mode == ORGANIZATION:
            return False
        if self.mode == other.mode:
            return self.mode == HOSTS and not set(other.hosts) <= set(self.hosts)
        return True
