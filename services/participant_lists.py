"""Reading the participant list a video platform exports after a meeting (Zoom's participant
CSV, Teams' attendance report) into the people in it: pure functions, no database, no Flask.

The exports differ in encoding (UTF-8 with or without BOM, Teams' UTF-16 with BOM, cp1252 from
older Excel saves), in delimiter (comma, semicolon, tab) and in what comes before the
participants (Zoom's meeting summary, Teams' "1. Summary" section). The participants' header row
is the one with an email column; a later header row (Teams' "3. In-Meeting Activities") takes
over the columns from there. People are matched by email, compared case-insensitively.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass, field

# Larger files are refused before they are read (the route says so).
MAX_BYTES = 2 * 1024 * 1024
DELIMITERS = (",", ";", "\t")
# Header cells, compared without case, spaces or punctuation ("User Email", "E-Mail-Adresse").
NAME_HEADERS = (
    "nameoriginalname",
    "nameursprunglichername",
    "name",
    "fullname",
    "vollstandigername",
    "displayname",
    "anzeigename",
    "participant",
    "teilnehmer",
    "teilnehmername",
)
EMAIL_HEADERS = frozenset(
    {
        "email",
        "mail",
        "emailaddress",
        "useremail",
        "participantemail",
        "attendeeemail",
        "emailadresse",
        "benutzeremail",
        "teilnehmeremail",
        "emailadressedesbenutzers",
        "emailadressedesteilnehmers",
    }
)
UPN_HEADERS = frozenset({"participantidupn", "teilnehmeridupn", "upn", "userprincipalname"})
# Zoom's meeting summary above the participants has a "User Email" column too: the host's.
SUMMARY_HEADERS = frozenset({"meetingid", "topic", "thema", "besprechungsid", "meetingtitle"})
_EMAIL = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+")
_NOT_LETTERS = re.compile(r"[^0-9a-z]+")
_UMLAUTS = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})


class ParticipantListError(Exception):
    """The file is no participant list this app can read.

    Attributes:
        reason: ``empty``, ``spreadsheet`` (an Excel or other binary file), ``no_email_column``
            or ``no_participants`` (an email column, but no address in it).
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Participant:
    """One person of the list: their email as written and casefolded, and their name."""

    email: str
    name: str

    @property
    def key(self) -> str:
        return self.email.casefold()


@dataclass
class ParticipantList:
    """The people of one list, once each (Zoom repeats a person for every rejoin), and the
    names of rows without an email address (guests, dial-ins), which nobody can be matched to."""

    people: list[Participant] = field(default_factory=list)
    without_email: list[str] = field(default_factory=list)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(person.key for person in self.people)


def read_participant_list(data: bytes) -> ParticipantList:
    """The people of an exported participant list.

    Raises:
        ParticipantListError: the file is empty, binary, has no email column or no address.
    """
    text = decode(data)
    if not text.strip():
        raise ParticipantListError("empty")
    lines = text.splitlines()
    found = ParticipantList()
    seen: set[str] = set()
    nameless: set[str] = set()
    columns = None
    has_header = False
    for cells in _rows(lines):
        header = _header_columns(cells)
        if header is not None:
            columns = header if header[0] >= 0 else None
            has_header = has_header or columns is not None
            continue
        if columns is None:
            continue
        email, name = _person(cells, *columns)
        if email is None:
            # A line of one cell is a section title ("3. In-Meeting Activities"), not a person.
            filled = sum(1 for cell in cells if cell.strip())
            if name and filled > 1 and name.casefold() not in nameless:
                nameless.add(name.casefold())
                found.without_email.append(name)
        elif email.casefold() not in seen:
            seen.add(email.casefold())
            found.people.append(Participant(email=email, name=name))
    if not has_header:
        raise ParticipantListError("no_email_column")
    if not found.people:
        raise ParticipantListError("no_participants")
    return found


def decode(data: bytes) -> str:
    """The file's text: by its BOM, else UTF-16 when every other byte is NUL, else UTF-8, else
    cp1252 (an Excel save on Windows).

    Raises:
        ParticipantListError: ``empty`` for no bytes, ``spreadsheet`` for a binary file.
    """
    if not data.strip():
        raise ParticipantListError("empty")
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ParticipantListError("spreadsheet")  # xlsx (a zip) or an old .xls
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_or_refuse(data, "utf-16")
    if data.startswith(codecs.BOM_UTF8):
        return _decode_or_refuse(data, "utf-8-sig")
    sample = data[:400]
    if len(sample) > 3 and sample[1::2].count(0) > len(sample) // 4:
        return _decode_or_refuse(data, "utf-16-le")
    if sample[::2].count(0) > len(sample) // 4:
        return _decode_or_refuse(data, "utf-16-be")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise ParticipantListError("spreadsheet")
    return text


def _decode_or_refuse(data: bytes, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise ParticipantListError("spreadsheet") from None
    if "\x00" in text:
        raise ParticipantListError("spreadsheet")
    return text


def _rows(lines: list[str]):
    """Each line's cells, split at the delimiter of the nearest header row above it (or the
    one that splits the line most, before any header)."""
    delimiter = None
    # One line at a time: the summary block above the participants may use another layout.
    # A quoted cell spanning lines does not occur in these exports.
    for line in lines:
        best = _split(line, delimiter) if delimiter else None
        for candidate in DELIMITERS:
            cells = _split(line, candidate)
            if _header_columns(cells) is not None and len(cells) > len(best or ()):
                delimiter, best = candidate, cells
        if best is None:
            best = max((_split(line, d) for d in DELIMITERS), key=len)
        yield best


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _normal(cell: str) -> str:
    return _NOT_LETTERS.sub("", cell.strip().lstrip("\ufeff").casefold().translate(_UMLAUTS))


def _header_columns(cells: list[str]) -> tuple[int, int | None, int | None] | None:
    """(email column, UPN column, name column) when `cells` is a header row with an email or
    UPN column, else None. A summary's header gives email column -1: no participants follow."""
    normal = [_normal(cell) for cell in cells]
    email = next((i for i, cell in enumerate(normal) if cell in EMAIL_HEADERS), None)
    upn = next((i for i, cell in enumerate(normal) if cell in UPN_HEADERS), None)
    if email is None and upn is None:
        return None
    if SUMMARY_HEADERS.intersection(normal):
        return -1, None, None
    name = next((normal.index(title) for title in NAME_HEADERS if title in normal), None)
    return (email if email is not None else upn), upn, name


def _person(cells: list[str], email_at: int, upn_at: int | None, name_at: int | None):
    """(email or None, name) of a participant row. Teams leaves Email empty for some accounts
    whose UPN is their address."""
    name = _cell(cells, name_at)
    for index in (email_at, upn_at):
        match = _EMAIL.search(_cell(cells, index))
        if match:
            return match.group(0), name or match.group(0)
    return None, name


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()
