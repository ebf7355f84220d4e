"""Reading Zoom's and Teams' participant exports: encodings, delimiters, summary blocks."""

import codecs

import pytest

from services.participant_lists import (
    MAX_BYTES,
    ParticipantListError,
    decode,
    read_participant_list,
)

ZOOM = """Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants
812 3456 7890,Infowebinar,03/04/2031 05:58 PM,03/04/2031 07:04 PM,host@schule.example,67,3

Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest
Jürgen Groß,Juergen.Gross@Example.DE,03/04/2031 05:59:01 PM,03/04/2031 06:30:00 PM,31,Yes
"Demir, Aylin",aylin@example.de,03/04/2031 06:01:10 PM,03/04/2031 07:00:00 PM,59,Yes
Jürgen Groß,juergen.gross@example.de,03/04/2031 06:35:00 PM,03/04/2031 07:00:00 PM,25,Yes
Anruf 0301234,,03/04/2031 06:02:00 PM,03/04/2031 06:50:00 PM,48,Yes
"""

TEAMS = (
    "1. Summary\n"
    "Meeting title\tInfowebinar Quereinstieg\n"
    "Attended participants\t3\n"
    "Start time\t3/4/31, 6:00:00 PM\n"
    "\n"
    "2. Participants\n"
    "Name\tFirst Join\tLast Leave\tIn-Meeting Duration\tEmail\tParticipant ID (UPN)\tRole\n"
    "Jürgen Groß\t3/4/31, 6:00:03 PM\t3/4/31, 7:00:00 PM\t59m 57s\tJUERGEN.GROSS@EXAMPLE.DE\t"
    "juergen.gross@example.de\tAttendee\n"
    "Lena Schmidt\t3/4/31, 6:01:00 PM\t3/4/31, 7:00:00 PM\t59m\t\tlena@schule.example\tAttendee\n"
    "Gast (extern)\t3/4/31, 6:05:00 PM\t3/4/31, 6:10:00 PM\t5m\t\t\tAttendee\n"
    "\n"
    "3. In-Meeting Activities\n"
    "Name\tJoin Time\tLeave Time\tDuration\tEmail\tRole\n"
    "Max Muster\t3/4/31, 6:02:00 PM\t3/4/31, 6:20:00 PM\t18m\tmax@example.de\tAttendee\n"
)

# Teams' older attendance list names people only: nobody can be matched by email.
OLD_TEAMS = "Full Name\tUser Action\tTimestamp\nA\tJoined\t3/4/31, 6:00:00 PM\n"


def emails(found):
    return [person.key for person in found.people]


def test_zoom_with_its_meeting_summary_in_utf8():
    found = read_participant_list(ZOOM.encode())

    # The host's address in the summary is no participant; a rejoin counts once.
    assert emails(found) == ["juergen.gross@example.de", "aylin@example.de"]
    assert found.people[0].name == "Jürgen Groß"
    assert found.people[0].email == "Juergen.Gross@Example.DE"
    assert found.people[1].name == "Demir, Aylin"
    assert found.without_email == ["Anruf 0301234"]


def test_zoom_saved_by_german_excel_with_semicolons_and_cp1252():
    text = ZOOM.split("\n\n", 1)[1].replace(",", ";").replace('"Demir; Aylin"', "Aylin Demir")
    found = read_participant_list(text.encode("cp1252"))

    assert emails(found) == ["juergen.gross@example.de", "aylin@example.de"]
    assert found.people[0].name == "Jürgen Groß"


def test_utf8_with_bom_and_windows_line_ends():
    data = codecs.BOM_UTF8 + ZOOM.replace("\n", "\r\n").encode()
    assert emails(read_participant_list(data)) == ["juergen.gross@example.de", "aylin@example.de"]


def test_teams_report_in_utf16_with_bom_and_tabs():
    found = read_participant_list(TEAMS.encode("utf-16"))  # Python writes the BOM

    assert emails(found) == [
        "juergen.gross@example.de",
        "lena@schule.example",  # no Email, but the UPN is an address
        "max@example.de",  # from the activities section's own header
    ]
    assert found.without_email == ["Gast (extern)"]


def test_utf16_without_bom_is_recognised():
    found = read_participant_list(TEAMS.encode("utf-16-le"))
    assert "lena@schule.example" in emails(found)


def test_german_headers():
    text = "Name (ursprünglicher Name);E-Mail-Adresse des Benutzers;Dauer (Minuten)\nA B;A@B.DE;5\n"
    assert emails(read_participant_list(text.encode())) == ["a@b.de"]


def test_an_address_looking_like_a_header_word_is_data():
    text = "Name,Email\nEmaille Schmidt,email@email.example\nB,b@example.org\n"
    assert emails(read_participant_list(text.encode())) == ["email@email.example", "b@example.org"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (b"PK\x03\x04\x14\x00\x06\x00rest-of-a-zip", "spreadsheet"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "spreadsheet"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "spreadsheet"),
        (OLD_TEAMS.encode("utf-16"), "no_email_column"),
        (b"Name,Email\nA,\nB,not an address\n", "no_participants"),
        (b"just some text", "no_email_column"),
    ],
)
def test_what_is_no_participant_list_says_why(data, reason):
    with pytest.raises(ParticipantListError) as raised:
        read_participant_list(data)
    assert raised.value.reason == reason


def test_decode_keeps_umlauts_of_every_encoding():
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "cp1252"):
        assert decode("Groß,Müller\n".encode(encoding)) == "Groß,Müller\n"


def test_the_size_limit_is_two_megabytes():
    assert MAX_BYTES == 2 * 1024 * 1024
