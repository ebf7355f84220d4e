"""Turning a Calendly event's `location` into what the dashboard shows."""

from __future__ import annotations

from dataclasses import dataclass

# Conference types carry `join_url` and a `status`; only `pushed` guarantees the link.
CONFERENCE_TYPES = frozenset(
    {
        "google_conference",
        "zoom",
        "zoom_conference",  # the 2023 spec's spelling; real data says "zoom"
        "gotomeeting",
        "microsoft_teams_conference",
        "webex_conference",
    }
)
# Types whose `location` field holds an address, a phone number or free text.
TEXT_TYPES = frozenset({"physical", "outbound_call", "inbound_call", "custom", "ask_invitee"})


@dataclass(frozen=True)
class ParsedLocation:
    type: str | None
    location: str | None  # join URL, address, phone or text; None when not (yet) known
    status: str | None
    info: str | None  # additional_info, shown beside the location


def parse_location(raw) -> ParsedLocation:
    """Parse an event's `location` (object, plain string or null) into type, value and status.

    A plain string is taken as is (older payloads); a conference link counts only once its status
    is `pushed` (before that Calendly may send a placeholder or nothing); unknown types keep
    whatever `join_url` or `location` they carry so that nothing is lost.
    """
    if raw is None:
        return ParsedLocation(None, None, None, None)
    if isinstance(raw, str):
        return ParsedLocation("custom", raw.strip() or None, None, None)
    if not isinstance(raw, dict):
        return ParsedLocation(None, None, None, None)

    kind = raw.get("type")
    status = raw.get("status")
    info = _text(raw.get("additional_info"))
    if kind in CONFERENCE_TYPES:
        join_url = _text(raw.get("join_url"))
        return ParsedLocation(kind, join_url if status == "pushed" else None, status, info)
    if kind in TEXT_TYPES:
        return ParsedLocation(kind, _text(raw.get("location")), status, info)
    return ParsedLocation(
        kind, _text(raw.get("join_url")) or _text(raw.get("location")), status, info
    )


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
