"""Deterministic, realistic Calendly API v2 data (user, event types, events, invitees).

Everything is drawn from one ``random.Random(seed)``, UUIDs included, and all times are derived
from a caller-supplied ``now``: the same seed and ``now`` give identical data. The shapes follow
Calendly's current API (see shared/calendly-api.md); every ``uri`` points at api.calendly.com.
"""

from __future__ import annotations

import html
import random
import unicodedata
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from store import clock

API_BASE = "https://api.calendly.com"

HOST_NAME = "Katrin Böhm"
HOST_EMAIL = "katrin.boehm@tlr-akademie.de"
HOST_SLUG = "katrin-boehm"
# A colleague who co-hosts some group webinars with the host (a collective event, two members).
CO_HOST = {
    "uri": f"{API_BASE}/users/JONASALBRECHT01",
    "name": "Jonas Albrecht",
    "email": "jonas.albrecht@tlr-akademie.de",
}
# One in this many group events is co-hosted; chosen by the event's UUID, never by the shared
# random generator, so that every other value of a seeded account stays as it was.
CO_HOSTED_ONE_IN = 4

MAIN_EVENT_TYPE = "TLr - Infowebinar"


def fmt_time(dt: datetime) -> str:
    """Format like Calendly: UTC with microseconds, e.g. 2024-01-20T14:00:00.000000Z."""
    if dt.tzinfo is not None and dt.utcoffset():
        dt = dt.astimezone(UTC)
    # Spelled out rather than strftime: %Y does not zero-pad years before 1000 on glibc, and the
    # simulator compares these strings to compare times.
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
        f"{dt.second:02d}.{dt.microsecond:06d}Z"
    )


def parse_time(value: str | datetime) -> datetime:
    """Parse an ISO-8601 string (or pass a datetime through) into an aware UTC datetime."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip())
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def new_uuid(rng: random.Random) -> str:
    """Return a version-4 UUID string drawn from ``rng`` (so it is reproducible)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def uuid_of(uri: str) -> str:
    """Return the last path segment of a Calendly URI."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


def cancellation(canceled_by: str, reason: str | None, canceler_type: str, created_at: str) -> dict:
    """Build a Calendly Cancellation object."""
    return {
        "canceled_by": canceled_by,
        "reason": reason,
        "canceler_type": canceler_type,
        "created_at": created_at,
    }


def recount(event: dict, invitees: list[dict]) -> None:
    """Make ``event["invitees_counter"]`` agree with its invitees (total = all, active = live)."""
    counter = event["invitees_counter"]
    counter["total"] = len(invitees)
    counter["active"] = sum(1 for inv in invitees if inv["status"] == "active")


# -- Europe/Berlin without tzdata ------------------------------------------------------------------
# Slots are local Berlin times; the EU DST rule is simple enough to apply by hand, which keeps the
# data identical on machines with and without a tz database.


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month, 31)  # only used for March and October
    return last - timedelta(days=(last.weekday() - 6) % 7)


def berlin_to_utc(day: date, hour: int, minute: int) -> datetime:
    """Convert a Berlin wall-clock time (daytime, so DST switch hours never matter) to UTC."""
    summer = _last_sunday(day.year, 3) <= day < _last_sunday(day.year, 10)
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    return local - timedelta(hours=2 if summer else 1)


# -- event type catalogue ----------------------------------------------------------------------


def _question(name, qtype, position, *, required=False, choices=None, include_other=False):
    return {
        "name": name,
        "type": qtype,
        "position": position,
        "enabled": True,
        "required": required,
        "answer_choices": list(choices or []),
        "include_other": include_other,
    }


@dataclass
class EventTypeSpec:
    """How one event type looks and how its events are scheduled and filled."""

    name: str
    slug: str
    kind: str
    duration: int
    color: str
    locale: str
    weight: float
    weekdays: tuple[int, ...]
    slots: tuple[tuple[int, int], ...]
    questions: list[dict]
    locations: list[tuple[str, float]]
    description: str
    limit_range: tuple[int, int] = (1, 1)
    active: bool = True
    split_names: bool = False
    booking_window_days: int = 30
    buffer_before: int = 0
    buffer_after: int = 0
    location_configs: list[dict] = field(default_factory=list)

    @property
    def default_limit(self) -> int:
        """The limit an event of this type gets when none is given."""
        return self.limit_range[1] if self.kind == "group" else 1


_SCHULFORMEN = ["Grundschule", "Oberschule", "Gymnasium", "Berufliche Schule", "Noch unsicher"]
_QUELLEN = [
    "Google-Suche",
    "Instagram",
    "Facebook",
    "Empfehlung von Freunden/Kollegen",
    "Newsletter",
    "Bildungsmesse",
]

EVENT_TYPE_SPECS: list[EventTypeSpec] = [
    EventTypeSpec(
        name=MAIN_EVENT_TYPE,
        slug="tlr-infowebinar",
        kind="group",
        duration=60,
        color="#0ae8f0",
        locale="de",
        weight=62,
        weekdays=(0, 1, 2, 3, 5),
        slots=((10, 0), (14, 0), (17, 0), (18, 30), (20, 0)),
        limit_range=(20, 50),
        booking_window_days=45,
        buffer_before=15,
        questions=[
            _question(
                "Welche Schulform interessiert Sie?",
                "single_select",
                0,
                required=True,
                choices=_SCHULFORMEN,
            ),
            _question(
                "Wie haben Sie von uns erfahren?",
                "multi_select",
                1,
                choices=_QUELLEN,
                include_other=True,
            ),
            _question("Haben Sie vorab Fragen an uns?", "text", 2),
            _question("Telefonnummer für Rückfragen", "phone_number", 3),
        ],
        locations=[
            ("zoom", 70),
            ("google_pushed", 12),
            ("microsoft_teams_conference", 8),
            ("webex_conference", 4),
            ("gotomeeting", 3),
            ("null", 3),
        ],
        location_configs=[{"kind": "zoom_conference"}],
        description=(
            "Im kostenlosen Infowebinar stellen wir den berufsbegleitenden Quereinstieg "
            "ins Lehramt vor: Ablauf, Voraussetzungen, Kosten & Förderung. Danach ist Zeit für "
            "Ihre Fragen."
        ),
    ),
    EventTypeSpec(
        name="TLr - Infowebinar (English)",
        slug="tlr-infowebinar-english",
        kind="group",
        duration=60,
        color="#8247f5",
        locale="en",
        weight=13,
        weekdays=(1, 3),
        slots=((18, 0), (19, 30)),
        limit_range=(15, 30),
        booking_window_days=45,
        buffer_before=15,
        split_names=True,
        questions=[
            _question(
                "Which type of school are you interested in?",
                "single_select",
                0,
                required=True,
                choices=["Primary school", "Secondary school", "Vocational school", "Not sure yet"],
            ),
            _question(
                "How did you hear about us?",
                "multi_select",
                1,
                choices=["Google", "LinkedIn", "Instagram", "A friend", "Newsletter"],
                include_other=True,
            ),
            _question("Anything you would like to ask in advance?", "text", 2),
        ],
        locations=[("zoom", 60), ("microsoft_teams_conference", 25), ("google_pushed", 15)],
        location_configs=[{"kind": "zoom_conference"}],
        description=(
            "Free information webinar (in English) about becoming a teacher in Germany as a "
            "career changer."
        ),
    ),
    EventTypeSpec(
        name="Einzelberatung",
        slug="einzelberatung",
        kind="solo",
        duration=30,
        color="#17e885",
        locale="de",
        weight=18,
        weekdays=(0, 1, 2, 3, 4),
        slots=tuple((h, m) for h in range(9, 17) for m in (0, 30)),
        booking_window_days=21,
        buffer_after=10,
        questions=[
            _question("Worum soll es in der Beratung gehen?", "text", 0, required=True),
            _question("Unter welcher Nummer erreichen wir Sie?", "phone_number", 1),
        ],
        locations=[
            ("physical", 22),
            ("google_pushed", 22),
            ("zoom", 18),
            ("inbound_call", 10),
            ("outbound_call", 10),
            ("ask_invitee", 8),
            ("custom", 6),
            ("google_processing", 2),
            ("null", 2),
        ],
        location_configs=[
            {"kind": "physical", "location": "TLr Akademie, Friedrichstraße 68, 10117 Berlin"},
            {"kind": "google_conference"},
        ],
        description="Persönliche Beratung (30 Minuten) zu Ihrem Weg ins Lehramt.",
    ),
    EventTypeSpec(
        name="Telefonsprechstunde",
        slug="telefonsprechstunde",
        kind="solo",
        duration=15,
        color="#ff8c00",
        locale="de",
        weight=7,
        active=False,  # retired: only past events remain
        weekdays=(1, 3),
        slots=tuple((h, m) for h in (10, 11) for m in (0, 15, 30, 45)),
        booking_window_days=14,
        questions=[
            _question(
                "Unter welcher Nummer sollen wir Sie anrufen?", "phone_number", 0, required=True
            ),
        ],
        locations=[("outbound_call", 60), ("inbound_call", 40)],
        location_configs=[{"kind": "outbound_call"}],
        description="Kurze telefonische Sprechstunde für Rückfragen zur Bewerbung.",
    ),
]

# -- people ----------------------------------------------------------------------------------------

# fmt: off
_FIRST = [
    "Anna", "Lena", "Laura", "Julia", "Sarah", "Katharina", "Sophie", "Marie", "Lisa", "Hannah",
    "Jana", "Miriam", "Sabine", "Petra", "Claudia", "Stefanie", "Andrea", "Nicole", "Ute", "Käthe",
    "Thomas", "Michael", "Andreas", "Stefan", "Christian", "Markus", "Tobias", "Jan", "Lukas",
    "Felix", "Florian", "Sebastian", "Matthias", "Daniel", "Jörg", "Jürgen", "Björn", "Sören",
    "Günter", "Jörn", "Maximilian", "Paul", "Jonas", "Elif", "Ayşe", "Mehmet", "Özlem",
    "Agnieszka", "Luca", "Noémie", "José", "Fatma", "Kerstin", "Heike", "Dörte", "Malte",
]
_LAST = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt",
    "Werner", "Krause", "Meier", "Lehmann", "Köhler", "Groß", "Weiß", "Strauß", "Fuchs", "Jäger",
    "Vogel", "Günther", "Dietrich", "Kühn", "Pohl", "Sommer", "Brandt", "Haas", "Graf", "Yılmaz",
    "Kaya", "Nowak", "Kowalski", "von der Heide", "Müller-Lüdenscheidt", "Łukasiewicz",
]
_DOMAINS = [
    "gmail.com", "web.de", "gmx.de", "t-online.de", "outlook.de", "yahoo.de", "posteo.de",
    "icloud.com", "freenet.de", "mailbox.org", "gmx.net", "schule.berlin.de",
]
# fmt: on

_TIMEZONES = [
    ("Europe/Berlin", 82),
    ("Europe/Vienna", 6),
    ("Europe/Zurich", 4),
    ("Europe/London", 2),
    ("America/New_York", 1),
    ("Asia/Shanghai", 1),
    ("Asia/Dubai", 1),
    (None, 3),
]

# Names that break naive code: umlauts/ß, non-Latin scripts, HTML, quotes, emoji, length.
SPECIAL_PEOPLE = [
    ("Jürgen Groß", "Jürgen", "Groß", "juergen.gross@web.de", "Europe/Berlin"),
    ("Zoë Müller-Lüdenscheidt", "Zoë", "Müller-Lüdenscheidt", "zoe.ml@gmx.de", "Europe/Berlin"),
    ("李小龙", "小龙", "李", "li.xiaolong@163.com", "Asia/Shanghai"),
    (
        "Δημήτρης Παπαδόπουλος",
        "Δημήτρης",
        "Παπαδόπουλος",
        "d.papadopoulos@otenet.gr",
        "Europe/Athens",
    ),
    ("Олег Иванов", "Олег", "Иванов", "oleg.ivanov@yandex.ru", "Europe/Moscow"),
    ("محمد علي", "محمد", "علي", "mohammed.ali@hotmail.com", "Asia/Dubai"),
    (
        "<script>alert(1)</script>",
        "<script>",
        "alert(1)</script>",
        "xss.probe@example.com",
        "Europe/Berlin",
    ),
    ('<b>Bold</b> & "quoted"', "<b>Bold</b>", '& "quoted"', "bold.quoted@example.org", None),
    ("Seán O'Brien", "Seán", "O'Brien", "sean.obrien@eircom.net", "Europe/Dublin"),
    ("Ünal Şahin", "Ünal", "Şahin", "uenal.sahin@gmail.com", "Europe/Berlin"),
    ("Lisa 🌻 Sommer", "Lisa 🌻", "Sommer", "lisa.sommer@posteo.de", "Europe/Berlin"),
    ("山田 太郎", "太郎", "山田", "taro.yamada@example.jp", "Asia/Tokyo"),
    (
        "Robert'); DROP TABLE invitees;--",
        "Robert');",
        "DROP TABLE invitees;--",
        "bobby.tables@example.com",
        "Europe/London",
    ),
    (
        "Dr. Marie-Luise Freifrau von Hohenstein-Wittgenstein zu Oberndorf am Neckar",
        "Marie-Luise",
        "Freifrau von Hohenstein-Wittgenstein zu Oberndorf am Neckar",
        "ml.hohenstein@uni-tuebingen.de",
        "Europe/Berlin",
    ),
]

_TRANSLIT = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "Ä": "Ae",
        "Ö": "Oe",
        "Ü": "Ue",
        "ı": "i",
        "ł": "l",
        "Ł": "L",
        " ": "",
    }
)


def _ascii(text: str) -> str:
    text = text.translate(_TRANSLIT)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


@dataclass(frozen=True)
class Person:
    """Someone who books events."""

    name: str
    first: str
    last: str
    email: str
    timezone: str | None


def _weighted(rng: random.Random, options: list[tuple[object, float]]):
    total = sum(w for _, w in options)
    x = rng.random() * total
    for value, weight in options:
        x -= weight
        if x < 0:
            return value
    return options[-1][0]


class People:
    """A reproducible population of invitees, with special names mixed in."""

    SPECIAL_RATE = 0.035

    def __init__(self, rng: random.Random, size: int):
        self.specials = [Person(*p) for p in SPECIAL_PEOPLE]
        self.pool: list[Person] = []
        seen: set[str] = set()
        for _ in range(size):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            f, la = _ascii(first), _ascii(last)
            style = rng.random()
            if style < 0.5:
                local = f"{f}.{la}"
            elif style < 0.7:
                local = f"{f[0]}.{la}"
            elif style < 0.85:
                local = f"{f}{la}{rng.randint(1, 99)}"
            else:
                local = f"{la}.{f}"
            email = f"{local}@{rng.choice(_DOMAINS)}"
            while email in seen:
                email = f"{local}{rng.randint(2, 999)}@{rng.choice(_DOMAINS)}"
            seen.add(email)
            if rng.random() < 0.03:  # people do type their address in mixed case
                email = email.title()
            self.pool.append(
                Person(f"{first} {last}", first, last, email, _weighted(rng, _TIMEZONES))
            )

    def pick(self, rng: random.Random, taken: set[str]) -> Person:
        """Pick someone whose email is not in ``taken`` (one booking per person and event)."""
        person = self.pool[0]
        for _ in range(8):
            if rng.random() < self.SPECIAL_RATE:
                person = rng.choice(self.specials)
            else:
                person = rng.choice(self.pool)
            if person.email.lower() not in taken:
                break
        return person


# -- answers ---------------------------------------------------------------------------------------

_FREE_TEXT_DE = [
    "Ist die Ausbildung auch berufsbegleitend möglich?",
    "Welche Voraussetzungen brauche ich?\nIch habe ein Diplom in Biologie.",
    "Gibt es Fördermöglichkeiten (Bildungsgutschein)?",
    "Kann ich mit <Quereinsteiger>-Profil teilnehmen? Kosten & Dauer?",
    "Wie groß sind die Klassen?\n\nUnd gibt es Präsenztage in München?",
    "Keine 🙂",
    '"Zitat" mit Anführungszeichen & Sonderzeichen: äöüß ÄÖÜ € ½',
    "Erste Zeile\r\nZweite Zeile (Windows-Zeilenende)",
    "Ich unterrichte bereits als Vertretungslehrkraft – zählt das?",
]
_FREE_TEXT_EN = [
    "Is the program available part-time?",
    "Do I need a German teaching degree?\nI studied in Spain.",
    "Is B2 German enough to start?",
    "No questions, thanks!",
]
_BERATUNG = [
    "Anerkennung meines ausländischen Abschlusses",
    "Zweitfach Mathematik – welche Module fehlen mir?",
    "Finanzierung & Teilzeit\nIch habe zwei Kinder (3 und 6).",
    "Wechsel aus der IT in den Schuldienst",
]
_OTHER_SOURCES = ["Podcast „Schule neu denken“", "Plakat in der U-Bahn", "LinkedIn-Post"]


def phone_number(rng: random.Random) -> str:
    """A German mobile number in the loose format people type."""
    return f"+49 1{rng.choice('567')}{rng.randint(0, 9)} {rng.randint(1000000, 9999999)}"


def answer_questions(rng: random.Random, spec: EventTypeSpec) -> list[dict]:
    """Answer the type's custom questions the way invitees do (optional ones often skipped)."""
    answers = []
    for q in spec.questions:
        if not q["required"] and rng.random() < 0.45:
            continue
        qtype = q["type"]
        if qtype == "single_select":
            answer = rng.choice(q["answer_choices"])
        elif qtype == "multi_select":
            picks = rng.sample(q["answer_choices"], rng.randint(1, 3))
            if q["include_other"] and rng.random() < 0.1:
                picks.append(rng.choice(_OTHER_SOURCES))
            answer = "\n".join(picks)  # Calendly joins multi-select answers with newlines
        elif qtype == "phone_number":
            answer = phone_number(rng)
        elif spec.locale == "en":
            answer = rng.choice(_FREE_TEXT_EN)
        elif q["required"]:
            answer = rng.choice(_BERATUNG)
        else:
            answer = rng.choice(_FREE_TEXT_DE)
        answers.append({"question": q["name"], "answer": answer, "position": q["position"]})
    return answers


def empty_tracking() -> dict:
    """A Tracking object with every field null."""
    return dict.fromkeys(
        ("utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "salesforce_uuid")
    )


def tracking(rng: random.Random) -> dict:
    """UTM tracking, null for most bookings."""
    data = empty_tracking()
    if rng.random() < 0.15:
        data["utm_source"] = rng.choice(["newsletter", "instagram", "google", "facebook"])
        data["utm_medium"] = rng.choice(["email", "social", "cpc"])
        data["utm_campaign"] = rng.choice(["infowebinar-herbst", "schulstart", "retargeting"])
    return data


# -- locations -------------------------------------------------------------------------------------

LOCATION_VARIANTS = [
    "physical",
    "outbound_call",
    "inbound_call",
    "google_pushed",
    "google_processing",
    "zoom",
    "gotomeeting",
    "microsoft_teams_conference",
    "webex_conference",
    "custom",
    "ask_invitee",
    "null",
]

_ADDRESSES = [
    "TLr Akademie, Friedrichstraße 68, 10117 Berlin",
    "Café Einstein, Kurfürstenstraße 58, 10785 Berlin",
    "Bürogemeinschaft Süd, Schäftlarnstraße 10, 81371 München",
]


def build_location(rng: random.Random, variant: str, event_uuid: str) -> dict | None:
    """Build a Location object of the given variant (one of LOCATION_VARIANTS)."""
    if variant == "null":
        return None
    if variant == "physical":
        loc = {"type": "physical", "location": rng.choice(_ADDRESSES)}
        if rng.random() < 0.6:
            loc["additional_info"] = "2. OG, Raum 204 – bitte am Empfang melden."
        return loc
    if variant == "outbound_call":
        return {
            "type": "outbound_call",
            "location": phone_number(rng) if rng.random() < 0.9 else None,
        }
    if variant == "inbound_call":
        loc = {"type": "inbound_call", "location": "+49 30 2345 6789"}
        if rng.random() < 0.5:
            loc["additional_info"] = "Bitte rufen Sie pünktlich an, Durchwahl -12."
        return loc
    if variant == "google_pushed":
        return {
            "type": "google_conference",
            "status": "pushed",
            "join_url": f"https://calendly.com/events/{event_uuid}/google_meet",
        }
    if variant == "google_processing":
        return {"type": "google_conference", "status": "processing", "join_url": None}
    if variant == "zoom":
        meeting_id = rng.randint(81_000_000_000, 89_999_999_999)
        password = str(rng.randint(100000, 999999))
        return {
            "type": "zoom",
            "status": "pushed",
            "join_url": f"https://us02web.zoom.us/j/{meeting_id}?pwd={new_uuid(rng)[:8]}",
            "data": {
                # Calendly sends the id as a number or a string depending on the account.
                "id": meeting_id if rng.random() < 0.5 else str(meeting_id),
                "settings": {
                    "global_dial_in_numbers": [
                        {
                            "number": "+49 69 7104 9922",
                            "country": "DE",
                            "type": "toll",
                            "city": "Frankfurt am Main",
                            "country_name": "Germany",
                        },
                        {
                            "number": "+49 30 5679 5800",
                            "country": "DE",
                            "type": "toll",
                            "city": "Berlin",
                            "country_name": "Germany",
                        },
                    ]
                },
                "extra": {"intl_numbers_url": "https://us02web.zoom.us/u/kdWxyz"},
                "password": password,
            },
        }
    if variant == "gotomeeting":
        meeting_id = rng.randint(100_000_000, 999_999_999)
        return {
            "type": "gotomeeting",
            "status": "pushed",
            "join_url": f"https://global.gotomeeting.com/join/{meeting_id}",
            "data": {
                "uniqueMeetingId": meeting_id,
                "conferenceCallInfo": f"Deutschland: +49 721 6059 6510\nZugangscode: {meeting_id}",
            },
        }
    if variant == "microsoft_teams_conference":
        conf = str(rng.randint(100_000_000, 999_999_999))
        return {
            "type": "microsoft_teams_conference",
            "status": "pushed",
            "join_url": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{event_uuid}",
            "data": {
                "id": new_uuid(rng),
                "audioConferencing": {
                    "conferenceId": conf,
                    "dialinUrl": f"https://dialin.teams.microsoft.com/{new_uuid(rng)}?id={conf}",
                    "tollNumber": "+49 69 365052420",
                }
                if rng.random() < 0.7
                else None,
            },
        }
    if variant == "webex_conference":
        mid = new_uuid(rng).replace("-", "")
        return {
            "type": "webex_conference",
            "status": "pushed",
            "join_url": f"https://tlr-akademie.webex.com/tlr-akademie/j.php?MTID=m{mid}",
            "data": {
                "id": f"m{mid}",
                "telephony": {
                    "callInNumbers": [
                        {
                            "label": "Germany Toll",
                            "callInNumber": "+49-6196-7819736",
                            "tollType": "toll",
                        }
                    ]
                },
                "password": new_uuid(rng)[:11],
            },
        }
    if variant == "custom":
        return {
            "type": "custom",
            "location": rng.choice(
                ["Den Link erhalten Sie am Vortag per E-Mail.", "Schulhof, Eingang B", None]
            ),
        }
    if variant == "ask_invitee":
        return {
            "type": "ask_invitee",
            "location": rng.choice(
                [
                    "Bei mir zu Hause: Hauptstraße 5, 50667 Köln",
                    "Skype: tanja.k.83",
                    "Büro Düsseldorf",
                ]
            ),
        }
    raise ValueError(f"unknown location variant {variant!r}")


# -- resources -------------------------------------------------------------------------------------


def build_user(rng: random.Random, now: datetime) -> tuple[dict, str]:
    """Return (User resource, organization URI) for the German host."""
    user_uuid, org_uuid = new_uuid(rng), new_uuid(rng)
    org_uri = f"{API_BASE}/organizations/{org_uuid}"
    user = {
        "uri": f"{API_BASE}/users/{user_uuid}",
        "name": HOST_NAME,
        "slug": HOST_SLUG,
        "email": HOST_EMAIL,
        "scheduling_url": f"https://calendly.com/{HOST_SLUG}",
        "timezone": "Europe/Berlin",
        "time_notation": "24h",
        "avatar_url": None,
        "created_at": fmt_time(now - timedelta(days=1100, hours=3, minutes=17)),
        "updated_at": fmt_time(now - timedelta(days=40, hours=5, minutes=2)),
        "current_organization": org_uri,
        "resource_type": "User",
        "locale": "de",
    }
    return user, org_uri


def build_event_type(
    rng: random.Random, spec: EventTypeSpec, user: dict, now: datetime, position: int
) -> dict:
    """Build an EventType resource for ``spec``."""
    created = now - timedelta(days=rng.randint(500, 1000), seconds=rng.randint(0, 86399))
    updated = now - timedelta(days=rng.randint(3, 200), seconds=rng.randint(0, 86399))
    return {
        "uri": f"{API_BASE}/event_types/{new_uuid(rng)}",
        "name": spec.name,
        "active": spec.active,
        "booking_method": "instant",
        "slug": spec.slug,
        "scheduling_url": f"https://calendly.com/{HOST_SLUG}/{spec.slug}",
        "duration": spec.duration,
        "duration_options": None,
        "kind": spec.kind,
        "pooling_type": None,
        "type": "StandardEventType",
        "color": spec.color,
        "created_at": fmt_time(created),
        "updated_at": fmt_time(max(created, updated)),
        "internal_note": "Max. Teilnehmerzahl je nach Moderator anpassen."
        if spec.kind == "group"
        else None,
        "description_plain": spec.description,
        "description_html": f"<p>{html.escape(spec.description, quote=False)}</p>",
        "profile": {"type": "User", "name": HOST_NAME, "owner": user["uri"]},
        "secret": False,
        "deleted_at": None,
        "admin_managed": False,
        "is_paid": False,
        "locale": spec.locale,
        "locations": [dict(c) for c in spec.location_configs] or None,
        "position": position,
        "custom_questions": [dict(q) for q in spec.questions],
    }


def event_hosts(user: dict, spec: EventTypeSpec, event_uuid: str) -> list[dict]:
    """Who hosts an event: the user, and for some group events the co-host as well."""
    co_hosted = spec.kind == "group" and zlib.crc32(event_uuid.encode()) % CO_HOSTED_ONE_IN == 0
    return [user, CO_HOST] if co_hosted else [user]


def build_event(
    rng: random.Random,
    *,
    user: dict,
    spec: EventTypeSpec,
    event_type_uri: str,
    start: datetime,
    created_at: str,
    location=...,
    name: str | None = None,
    limit: int | None = None,
    event_uuid: str | None = None,
) -> dict:
    """Build an Event resource with no invitees (counters 0); ``location=...`` picks one."""
    event_uuid = event_uuid or new_uuid(rng)
    end = start + timedelta(minutes=spec.duration)
    if location is ...:
        location = build_location(rng, _weighted(rng, spec.locations), event_uuid)
    notes = None
    if spec.kind == "group" and rng.random() < 0.1:
        notes = "Bitte 10 Minuten vorher einwählen.\nFolien: https://tlr-akademie.de/folien.pdf"
    return {
        "uri": f"{API_BASE}/scheduled_events/{event_uuid}",
        "name": spec.name if name is None else name,
        "meeting_notes_plain": notes,
        "meeting_notes_html": None
        if notes is None
        else "<p>Bitte 10 Minuten vorher einwählen.<br>Folien: "
        '<a href="https://tlr-akademie.de/folien.pdf">folien.pdf</a></p>',
        "status": "active",
        "start_time": fmt_time(start),
        "end_time": fmt_time(end),
        "event_type": event_type_uri,
        "location": location,
        "invitees_counter": {
            "total": 0,
            "active": 0,
            "limit": limit if limit is not None else spec.default_limit,
        },
        "created_at": created_at,
        "updated_at": created_at,
        "event_memberships": [
            {
                "user": host["uri"],
                "user_email": host["email"],
                "user_name": host["name"],
                "buffered_start_time": fmt_time(start - timedelta(minutes=spec.buffer_before)),
                "buffered_end_time": fmt_time(end + timedelta(minutes=spec.buffer_after)),
            }
            for host in event_hosts(user, spec, event_uuid)
        ],
        "event_guests": [],
        "calendar_event": {
            "kind": "google",
            "external_id": "".join(
                rng.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26)
            ),
        }
        if rng.random() < 0.9
        else None,
    }


def build_invitee(
    rng: random.Random,
    *,
    event_uri: str,
    name: str,
    email: str,
    first_name: str | None,
    last_name: str | None,
    timezone: str | None,
    created_at: str,
    questions_and_answers: list[dict],
    tracking_data: dict | None = None,
    text_reminder_number: str | None = None,
    invitee_uuid: str | None = None,
) -> dict:
    """Build an active Invitee resource."""
    invitee_uuid = invitee_uuid or new_uuid(rng)
    return {
        "cancel_url": f"https://calendly.com/cancellations/{invitee_uuid}",
        "created_at": created_at,
        "email": email,
        "event": event_uri,
        "first_name": first_name,
        "last_name": last_name,
        "name": name,
        "new_invitee": None,
        "no_show": None,
        "old_invitee": None,
        "payment": None,
        "questions_and_answers": questions_and_answers,
        "reconfirmation": None,
        "reschedule_url": f"https://calendly.com/reschedulings/{invitee_uuid}",
        "rescheduled": False,
        "routing_form_submission": None,
        "scheduling_method": None,
        "invitee_scheduled_by": None,
        "status": "active",
        "text_reminder_number": text_reminder_number,
        "timezone": timezone,
        "tracking": tracking_data if tracking_data is not None else tracking(rng),
        "updated_at": created_at,
        "uri": f"{event_uri}/invitees/{invitee_uuid}",
    }


def fail_conference(event: dict) -> None:
    """Report an event's conference as failed, as Calendly does once the event is canceled."""
    loc = event.get("location")
    if not isinstance(loc, dict) or "status" not in loc:
        return
    loc["status"] = "failed"
    # Calendly's failed examples keep a Meet link but drop the other providers' details.
    if loc["type"] != "google_conference":
        loc["join_url"] = None
        loc["data"] = None


def cancel_invitee_dict(inv: dict, cancel: dict) -> None:
    """Mark an invitee canceled with the given Cancellation."""
    inv["status"] = "canceled"
    inv["cancellation"] = cancel
    inv["updated_at"] = cancel["created_at"]


def rescheduled_invitee(rng: random.Random, old: dict, *, event_uri: str, created_at: str) -> dict:
    """Build the invitee a reschedule of ``old`` creates in ``event_uri``, linking the two.

    The caller cancels ``old`` (Calendly records a reschedule as a cancellation plus a booking).
    """
    new = build_invitee(
        rng,
        event_uri=event_uri,
        name=old["name"],
        email=old["email"],
        first_name=old["first_name"],
        last_name=old["last_name"],
        timezone=old["timezone"],
        created_at=created_at,
        questions_and_answers=[dict(qa) for qa in old["questions_and_answers"]],
        tracking_data=dict(old["tracking"]),
        text_reminder_number=old["text_reminder_number"],
    )
    new["old_invitee"] = old["uri"]
    old["rescheduled"] = True
    old["new_invitee"] = new["uri"]
    return new


# -- the generator ---------------------------------------------------------------------------------

_INVITEE_REASONS = [
    None,
    None,
    "Terminüberschneidung",
    "Ich bin leider krank.",
    "Habe mich doch für einen anderen Weg entschieden.",
    "Can't make it, sorry!",
    "Kinderbetreuung ist ausgefallen 😕",
]
_HOST_REASONS = [
    "Krankheitsbedingt abgesagt – neuer Termin folgt.",
    "Zu wenige Anmeldungen",
    "Technische Probleme",
    None,
]


@dataclass
class SampleData:
    """A complete simulated Calendly account."""

    user: dict
    organization_uri: str
    event_types: list[dict]
    events: dict[str, dict]
    invitees: dict[str, list[dict]]
    specs: dict[str, EventTypeSpec]  # event type uri -> spec
    now: datetime
    # The organization's members (User resources, the token's user first) and their roles.
    members: list[dict] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # user uri -> owner | admin | user
    # Team event types: type uri -> the users who host it (a type not named: its owner alone).
    type_hosts: dict[str, list[str]] = field(default_factory=dict)


def _between(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    span = int((hi - lo).total_seconds() * 1_000_000)
    if span <= 0:
        return lo
    return lo + timedelta(microseconds=rng.randrange(span))


def _pick_start(rng, spec, first_day, n_days, lo, hi, used) -> datetime:
    for _ in range(30):
        day = first_day + timedelta(days=rng.randrange(n_days))
        if day.weekday() not in spec.weekdays:
            continue
        start = berlin_to_utc(day, *rng.choice(spec.slots))
        if lo <= start < hi and start not in used:
            return start
    # Crowded calendar (many events, few days): any free 5-minute mark will do.
    span_minutes = max(1, int((hi - lo).total_seconds() // 300))
    start = lo.replace(second=0, microsecond=0)
    start += timedelta(minutes=5 * rng.randrange(span_minutes))
    return start if start >= lo else start + timedelta(minutes=5)


def generate(
    seed: int = 42,
    now: datetime | None = None,
    n_events: int = 300,
    max_invitees: int = 40,
    past_days: int = 60,
    future_days: int = 120,
    exact_invitees: bool = False,
) -> SampleData:
    """Generate a reproducible account: same ``seed`` and ``now`` give identical data.

    ``exact_invitees`` (for benchmarks) gives every event exactly ``max_invitees`` invitees:
    only group event types are used, limits are raised to fit, and no reschedules are added.
    """
    now = parse_time(now) if now is not None else clock.now()
    rng = random.Random(seed)
    user, org_uri = build_user(rng, now)
    event_types, specs = [], {}
    for position, spec in enumerate(EVENT_TYPE_SPECS):
        et = build_event_type(rng, spec, user, now, position)
        event_types.append(et)
        specs[et["uri"]] = spec
    by_spec = {id(spec): uri for uri, spec in specs.items()}

    lo = now - timedelta(days=past_days)
    hi = now + timedelta(days=max(future_days, 0))
    if hi <= lo:
        hi = lo + timedelta(days=1)
    first_day = lo.date()
    n_days = max(1, (hi.date() - first_day).days + 1)
    weights = [
        (s, s.weight)
        for s in EVENT_TYPE_SPECS
        if (s.active or past_days > 0) and (s.kind == "group" or not exact_invitees)
    ]

    people = People(rng, max(300, n_events * max(max_invitees, 1) // 4))
    used_starts: set[datetime] = set()
    plans = []
    for _ in range(n_events):
        spec = _weighted(rng, weights)
        # Retired types only have events from before they were switched off.
        type_hi = hi if spec.active else min(hi, now)
        start = _pick_start(rng, spec, first_day, n_days, lo, type_hi, used_starts)
        used_starts.add(start)
        plans.append((start, spec))
    plans.sort(key=lambda p: p[0])

    events: dict[str, dict] = {}
    invitees: dict[str, list[dict]] = {}
    for start, spec in plans:
        _fill_event(
            rng,
            people,
            user,
            spec,
            by_spec[id(spec)],
            start,
            now,
            max_invitees,
            future_days,
            events,
            invitees,
            exact_invitees,
        )

    _ensure_special_people(rng, people, events, invitees, specs)
    if not exact_invitees:
        _add_reschedules(rng, events, invitees, specs, now, max(1, n_events // 40))
    _ensure_location_variants(rng, events)
    for ev_uuid, event in events.items():
        _finalize(event, invitees[ev_uuid])
    return SampleData(
        user, org_uri, event_types, events, invitees, specs, now, [user], {user["uri"]: "owner"}
    )


# -- a team: an organization with several hosts ------------------------------------------------

TEAM_NAME = "TLr Onboarding"
# (name, email, slug, role) of the colleagues a team account adds to the token's user.
TEAM_MEMBERS = (
    ("Jonas Weber", "jonas.weber@tlr-akademie.de", "jonas-weber", "admin"),
    ("Mira Schulz", "mira.schulz@tlr-akademie.de", "mira-schulz", "user"),
)
# The collective type: every event is hosted by both colleagues together.
COLLECTIVE_EVENT_TYPE = "TLr - Infowebinar (English)"


def membership_of(user: dict) -> dict:
    """An entry of an event's `event_memberships` for `user`."""
    return {"user": user["uri"], "user_email": user["email"], "user_name": user["name"]}


def add_team(data: SampleData, seed: int) -> SampleData:
    """Turn `data` into a team account: two colleagues join the organization, the main
    Infowebinar becomes a round-robin team type shared by all three (its events take turns),
    and the English Infowebinar a collective type the two colleagues host together.

    The token's user keeps its solo types; uses its own random stream so that the single-host
    account stays what it was.
    """
    rng = random.Random(f"team:{seed}")
    owner = data.user
    members = [owner]
    for name, email, slug, role in TEAM_MEMBERS:
        member = dict(owner, uri=f"{API_BASE}/users/{new_uuid(rng)}", name=name, email=email)
        member.update(slug=slug, scheduling_url=f"https://calendly.com/{slug}")
        members.append(member)
        data.roles[member["uri"]] = role
    data.members = members
    team_uri = f"{API_BASE}/teams/{new_uuid(rng)}"
    by_name = {et["name"]: et for et in data.event_types}
    pools = {
        MAIN_EVENT_TYPE: ("round_robin", members),
        COLLECTIVE_EVENT_TYPE: ("collective", members[1:]),
    }
    for type_name, (pooling, hosts) in pools.items():
        et = by_name[type_name]
        et["pooling_type"] = pooling
        et["profile"] = {"type": "Team", "name": TEAM_NAME, "owner": team_uri}
        data.type_hosts[et["uri"]] = [host["uri"] for host in hosts]
    turn = 0
    for event in sorted(data.events.values(), key=lambda e: (e["start_time"], e["uri"])):
        et = next((et for et in data.event_types if et["uri"] == event["event_type"]), None)
        if et is None or et["uri"] not in data.type_hosts:
            continue
        template = event["event_memberships"][0]
        if et["pooling_type"] == "round_robin":
            hosts = [members[turn % len(members)]]
            turn += 1
        else:
            hosts = members[1:]
        event["event_memberships"] = [dict(template, **membership_of(host)) for host in hosts]
    return data


def _fill_event(
    rng, people, user, spec, et_uri, start, now, max_invitees, future_days, events, invitees, exact
):
    window_lo = start - timedelta(days=spec.booking_window_days)
    book_hi = min(start - timedelta(hours=1), now)
    book_lo = min(window_lo, book_hi - timedelta(hours=6))
    ev_uuid = new_uuid(rng)
    limit = rng.randint(*spec.limit_range) if spec.kind == "group" else 1
    if exact:
        limit = max(limit, max_invitees)
    event = build_event(
        rng,
        user=user,
        spec=spec,
        event_type_uri=et_uri,
        start=start,
        created_at="",
        limit=limit,
        event_uuid=ev_uuid,
    )
    event_uri = event["uri"]

    if spec.kind == "group":
        total = rng.randint(0, max(max_invitees, 0)) if not exact else max_invitees
        if start > now and future_days > 0 and not exact:
            # Far-off webinars are still filling up.
            ahead = (start - now).total_seconds() / 86400
            total = int(total * max(0.15, 1 - ahead / max(future_days, 1)))
        n_canceled = sum(1 for _ in range(total) if rng.random() < 0.12)
        n_active = min(total - n_canceled, limit)
        statuses = ["active"] * n_active + ["canceled"] * n_canceled
    else:
        statuses = ["active"]

    taken: set[str] = set()
    invs = []
    for status in statuses:
        person = people.pick(rng, taken)
        taken.add(person.email.lower())
        created = _between(rng, book_lo, book_hi)
        split = spec.split_names
        inv = build_invitee(
            rng,
            event_uri=event_uri,
            name=f"{person.first} {person.last}" if split else person.name,
            email=person.email,
            first_name=person.first if split else None,
            last_name=person.last if split else None,
            timezone=person.timezone,
            created_at=fmt_time(created),
            questions_and_answers=answer_questions(rng, spec),
            text_reminder_number=phone_number(rng) if rng.random() < 0.08 else None,
        )
        if status == "canceled":
            when = _between(rng, created, book_hi)
            cancel_invitee_dict(
                inv,
                cancellation(inv["name"], rng.choice(_INVITEE_REASONS), "invitee", fmt_time(when)),
            )
        elif start + timedelta(minutes=spec.duration) < now and rng.random() < 0.05:
            marked = min(now, start + timedelta(minutes=spec.duration + rng.randint(5, 600)))
            inv["no_show"] = {
                "uri": f"{API_BASE}/invitee_no_shows/{new_uuid(rng)}",
                "created_at": fmt_time(marked),
            }
            inv["updated_at"] = inv["no_show"]["created_at"]
        invs.append((created, inv))
    invs.sort(key=lambda p: (p[0], p[1]["uri"]))
    inv_list = [inv for _, inv in invs]

    first_booking = invs[0][0] if invs else _between(rng, book_lo, book_hi)
    event["created_at"] = fmt_time(first_booking)

    if spec.kind == "solo" and inv_list and rng.random() < 0.08:
        # A one-on-one canceled by its invitee cancels the event too.
        inv = inv_list[0]
        when = _between(rng, invs[0][0], book_hi)
        cancel = cancellation(inv["name"], rng.choice(_INVITEE_REASONS), "invitee", fmt_time(when))
        inv["no_show"] = None
        cancel_invitee_dict(inv, cancel)
        event["status"] = "canceled"
        event["cancellation"] = dict(cancel)
        fail_conference(event)
    elif rng.random() < 0.06:
        last_booking = invs[-1][0] if invs else first_booking
        when = _between(rng, max(last_booking, first_booking), max(book_hi, last_booking))
        reason = rng.choice(_HOST_REASONS)
        cancel = cancellation(HOST_NAME, reason, "host", fmt_time(when))
        event["status"] = "canceled"
        event["cancellation"] = cancel
        fail_conference(event)
        for inv in inv_list:
            if inv["status"] == "active":
                inv["no_show"] = None
                cancel_invitee_dict(inv, dict(cancel))

    if spec.kind == "solo" and inv_list and rng.random() < 0.12:
        guest = people.pick(rng, taken)
        stamp = inv_list[0]["created_at"]
        event["event_guests"] = [{"email": guest.email, "created_at": stamp, "updated_at": stamp}]

    events[ev_uuid] = event
    invitees[ev_uuid] = inv_list


def _ensure_special_people(rng, people, events, invitees, specs):
    """Make every tricky name appear at least once (small data sets may miss some by chance)."""
    seen = {inv["email"] for invs in invitees.values() for inv in invs}
    group_events = [
        u for u, ev in events.items() if specs[ev["event_type"]].kind == "group" and invitees[u]
    ]
    if not group_events:
        return
    for person in people.specials:
        if person.email in seen:
            continue
        ev_uuid = rng.choice(group_events)
        invs = invitees[ev_uuid]
        if any(inv["email"].lower() == person.email for inv in invs):
            continue
        inv = rng.choice(invs)
        split = specs[events[ev_uuid]["event_type"]].split_names
        inv["name"] = f"{person.first} {person.last}" if split else person.name
        inv["first_name"] = person.first if split else None
        inv["last_name"] = person.last if split else None
        inv["email"] = person.email
        inv["timezone"] = person.timezone
        if inv.get("cancellation") and inv["cancellation"]["canceler_type"] == "invitee":
            inv["cancellation"]["canceled_by"] = inv["name"]


def _add_reschedules(rng, events, invitees, specs, now, n_pairs):
    """Move a few invitees to a later event of the same type, as Calendly records a reschedule."""
    group = [
        u
        for u, ev in events.items()
        if ev["status"] == "active" and specs[ev["event_type"]].kind == "group"
    ]
    if len(group) < 2:
        return
    starts = {u: parse_time(events[u]["start_time"]) for u in group}
    active = {u: sum(1 for i in invitees[u] if i["status"] == "active") for u in group}
    done = 0
    for _ in range(n_pairs * 6):
        if done >= n_pairs:
            break
        a_uuid = rng.choice(group)
        candidates = [
            inv for inv in invitees[a_uuid] if inv["status"] == "active" and not inv["old_invitee"]
        ]
        if not candidates:
            continue
        old = rng.choice(candidates)
        old_created = parse_time(old["created_at"])
        a_type = events[a_uuid]["event_type"]
        options = [
            u
            for u in group
            if u != a_uuid
            and events[u]["event_type"] == a_type
            and starts[u] > old_created + timedelta(days=1)
            and events[u]["invitees_counter"]["limit"] > active[u]
        ]
        if not options:
            continue
        b_uuid = rng.choice(options)
        if any(i["email"].lower() == old["email"].lower() for i in invitees[b_uuid]):
            continue
        upper = min(starts[a_uuid], starts[b_uuid] - timedelta(hours=1), now)
        if upper <= old_created:
            continue
        when = fmt_time(_between(rng, old_created, upper))
        new = rescheduled_invitee(rng, old, event_uri=events[b_uuid]["uri"], created_at=when)
        old["no_show"] = None
        cancel_invitee_dict(
            old, cancellation(old["name"], rng.choice([None, "Neuer Termin"]), "invitee", when)
        )
        invitees[b_uuid].append(new)
        invitees[b_uuid].sort(key=lambda i: (i["created_at"], i["uri"]))
        b_event = events[b_uuid]
        b_event["created_at"] = min(b_event["created_at"], when)
        active[a_uuid] -= 1
        active[b_uuid] += 1
        done += 1


def _location_variant(event: dict) -> str | None:
    """The LOCATION_VARIANTS name of an event's location (None for a failed Meet)."""
    loc = event["location"]
    if loc is None:
        return "null"
    if loc["type"] == "google_conference":
        return f"google_{loc['status']}" if loc["status"] in ("pushed", "processing") else None
    return loc["type"]


def _ensure_location_variants(rng, events):
    """Give each location variant (all ten types, both Meet states, null) at least one event."""
    present = {_location_variant(ev) for ev in events.values()}
    missing = [v for v in LOCATION_VARIANTS if v not in present]
    if not missing:
        return
    active = [u for u, ev in events.items() if ev["status"] == "active"]
    pool = active if len(active) >= len(missing) else list(events)
    for variant, ev_uuid in zip(
        missing, rng.sample(pool, min(len(pool), len(missing))), strict=False
    ):
        events[ev_uuid]["location"] = build_location(rng, variant, ev_uuid)
    # On a small account that may have replaced the only event of another variant: give each
    # variant lost that way an event whose variant is left on others (active ones first).
    for variant in LOCATION_VARIANTS:
        counts = Counter(_location_variant(ev) for ev in events.values())
        if counts[variant]:
            continue
        spare = [
            u
            for u, ev in events.items()
            if _location_variant(ev) not in LOCATION_VARIANTS or counts[_location_variant(ev)] > 1
        ]
        if not spare:
            return  # fewer events than variants
        ev_uuid = rng.choice([u for u in spare if events[u]["status"] == "active"] or spare)
        events[ev_uuid]["location"] = build_location(rng, variant, ev_uuid)


def _finalize(event: dict, invs: list[dict]) -> None:
    recount(event, invs)
    stamps = [event["created_at"]]
    stamps.extend(inv["updated_at"] for inv in invs)
    if "cancellation" in event:
        stamps.append(event["cancellation"]["created_at"])
    event["updated_at"] = max(stamps)  # same fixed-width format, so string order is time order
