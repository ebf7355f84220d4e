"""Location parsing covers all ten Calendly location types, plain strings and null."""

import pytest

from calendly.locations import parse_location

JOIN = "https://meet.example.com/abc-defg-hij"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # The seed's two cases.
        (
            {"type": "google_conference", "status": "pushed", "join_url": JOIN},
            ("google_conference", JOIN, "pushed"),
        ),
        ("https://zoom.us/j/123", ("custom", "https://zoom.us/j/123", None)),
        # Conference links only count once pushed.
        (
            {"type": "google_conference", "status": "processing", "join_url": JOIN},
            ("google_conference", None, "processing"),
        ),
        (
            {"type": "google_conference", "status": None, "join_url": None},
            ("google_conference", None, None),
        ),
        (
            {
                "type": "zoom",
                "status": "pushed",
                "join_url": "https://zoom.us/j/9",
                "data": {"id": 9, "password": "x"},
            },
            ("zoom", "https://zoom.us/j/9", "pushed"),
        ),
        (
            {"type": "zoom", "status": "failed", "join_url": None, "data": None},
            ("zoom", None, "failed"),
        ),
        (
            {
                "type": "gotomeeting",
                "status": "pushed",
                "join_url": "https://global.gotomeeting.com/join/1",
            },
            ("gotomeeting", "https://global.gotomeeting.com/join/1", "pushed"),
        ),
        (
            {
                "type": "microsoft_teams_conference",
                "status": "pushed",
                "join_url": "https://teams.microsoft.com/l/1",
            },
            ("microsoft_teams_conference", "https://teams.microsoft.com/l/1", "pushed"),
        ),
        (
            {"type": "webex_conference", "status": "initiated", "join_url": None},
            ("webex_conference", None, "initiated"),
        ),
        (
            {
                "type": "physical",
                "location": "Schulstraße 5, 10115 Berlin",
                "additional_info": "2. OG",
            },
            ("physical", "Schulstraße 5, 10115 Berlin", None),
        ),
        (
            {"type": "outbound_call", "location": "+49 30 1234567"},
            ("outbound_call", "+49 30 1234567", None),
        ),
        ({"type": "outbound_call", "location": None}, ("outbound_call", None, None)),
        (
            {"type": "inbound_call", "location": "+49 89 7654321"},
            ("inbound_call", "+49 89 7654321", None),
        ),
        ({"type": "custom", "location": "Wir rufen Sie an"}, ("custom", "Wir rufen Sie an", None)),
        (
            {"type": "ask_invitee", "location": "Skype: jürgen.groß"},
            ("ask_invitee", "Skype: jürgen.groß", None),
        ),
        (None, (None, None, None)),
        ({"type": "some_future_type", "join_url": JOIN}, ("some_future_type", JOIN, None)),
    ],
)
def test_parse_location(raw, expected):
    parsed = parse_location(raw)
    assert (parsed.type, parsed.location, parsed.status) == expected


def test_additional_info_is_kept():
    parsed = parse_location(
        {"type": "physical", "location": "Aula", "additional_info": "Eingang B"}
    )
    assert parsed.info == "Eingang B"
