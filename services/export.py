"""Attendee lists for spreadsheets, as CSV and as XLSX, from one definition of the columns.

CSV: UTF-8 with BOM, every cell defused so a spreadsheet never runs attendee input as a formula.
XLSX: typed cells (dates as dates in the admin's time zone, text as text, never a formula), a
frozen header row, an autofilter and column widths that fit. Booking questions are columns;
across event types a question asked at the same place of each form in the same way (the German
and the English info-webinar) is one column, any other says which event type asks it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import pgettext

from services import audit
from services.queries import UNPOSITIONED, event_type_questions, host_names, ranked_answers
from store.models import AdminUser, CalendlyEvent, CalendlyEventAttendee
from store.outcomes import AuditAction, RecordStatus

# Spreadsheets treat a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
# German spreadsheet programs split on semicolons, English ones on commas.
DELIMITERS = {"de": ";"}
FLUSH_AT = 64 * 1024
CSV_MIMETYPE = "text/csv"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# How dates look in a spreadsheet cell, per language (the cell holds a real date either way).
DATE_FORMATS = {"de": "DD.MM.YYYY HH:MM"}
DEFAULT_DATE_FORMAT = "YYYY-MM-DD HH:MM"
# Excel's limit for one cell's text, and the column widths (in characters) worth showing.
CELL_LIMIT = 32_767
WIDTH_RANGE = (8, 50)
# Characters XML 1.0 (and so XLSX) cannot hold; attendee text may contain them.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Row = tuple[CalendlyEventAttendee, CalendlyEvent]


# -- booking questions as columns ----------------------------------------------------------------


@dataclass(frozen=True)
class EventTypeQuestions:
    """What the event type cache says about a type: its name and each question's kind."""

    name: str | None = None
    kinds: Mapping[str, str] = field(default_factory=dict)  # question text -> type


@dataclass(frozen=True)
class QuestionColumn:
    """One column of booking answers: its title and the (event type URI, question) it shows."""

    title: str
    keys: frozenset[tuple[str | None, str]]


def question_columns(
    sources: Iterable[tuple[str | None, object]],
    types: Mapping[str, EventTypeQuestions] | None = None,
) -> list[QuestionColumn]:
    """The answer columns for (event type URI, stored questions_and_answers) pairs, in the order
    the booking forms ask them.

    With one event type, each question is a column titled by its text. Event types whose forms
    ask the same kind of question at every position both have (as the cache knows them: the
    German and the English info-webinar) share one column per position, titled with each
    wording. A column that not every event type of the export asks names the ones that do.
    `types` defaults to what the event type cache says about the types met.
    """
    asked: dict[str | None, dict[str, int]] = {}  # type -> question -> best rank
    for type_uri, raw in sources:
        questions = asked.setdefault(type_uri, {})
        for rank, question, _answer in ranked_answers(raw):
            questions[question] = min(rank, questions.get(question, rank))
    asked = {uri: questions for uri, questions in asked.items() if questions}
    if types is None:
        types = {
            uri: EventTypeQuestions(name, kinds)
            for uri, (name, kinds) in event_type_questions(asked).items()
        }
    forms = {uri: _Form.of(uri, questions, types) for uri, questions in asked.items()}
    placed: list[tuple[tuple[int, int], QuestionColumn]] = []
    for number, family in enumerate(_families(list(forms.values()))):
        for rank in sorted({rank for form in family for rank in form.texts}):
            entries = [(form.uri, text) for form in family for text in form.texts.get(rank, ())]
            shared = rank < UNPOSITIONED and len({uri for uri, _text in entries}) > 1
            groups = [entries] if shared else [[entry] for entry in entries]
            for group in groups:
                column = _column(group, set(asked), types)
                placed.append(((rank, number), column))
    placed.sort(key=lambda item: item[0])
    return _merge_titles([column for _order, column in placed])


@dataclass(frozen=True)
class _Form:
    """One event type's booking form as the answers show it: rank -> question texts, and the
    kind of question at each rank when the cache knows it."""

    uri: str | None
    texts: dict[int, tuple[str, ...]]
    kinds: dict[int, frozenset]

    @classmethod
    def of(cls, uri, questions: Mapping[str, int], types) -> _Form:
        known = (types.get(uri) if uri else None) or EventTypeQuestions()
        texts: dict[int, tuple[str, ...]] = {}
        for question, rank in questions.items():
            texts[rank] = (*texts.get(rank, ()), question)
        kinds = {
            rank: frozenset(known.kinds.get(text) for text in found)
            for rank, found in texts.items()
        }
        return cls(uri, texts, kinds)

    def parallel(self, other: _Form) -> bool:
        """True when both ask the same kind of question at every position both have."""
        shared = [rank for rank in self.texts if rank in other.texts and rank < UNPOSITIONED]
        return bool(shared) and all(
            set(self.texts[rank]) == set(other.texts[rank])
            or (self.kinds[rank] == other.kinds[rank] and None not in self.kinds[rank])
            for rank in shared
        )


def _families(forms: list[_Form]) -> list[list[_Form]]:
    """The forms grouped so that each group's forms are parallel to one another."""
    families: list[list[_Form]] = []
    for form in forms:
        family = next((f for f in families if all(form.parallel(o) for o in f)), None)
        if family is None:
            families.append([form])
        else:
            family.append(form)
    return families


def _column(entries: list[tuple[str | None, str]], every_type: set, types) -> QuestionColumn:
    """A column for `entries`; its title names the event types when not all of them ask it."""
    title = " / ".join(dict.fromkeys(text for _uri, text in entries))
    covered = {uri for uri, _text in entries}
    if covered != every_type:
        names = sorted({_type_name(uri, types) for uri in covered}, key=str.casefold)
        title = f"{title} ({', '.join(names)})"
    return QuestionColumn(title, frozenset(entries))


def _type_name(uri: str | None, types) -> str:
    info = types.get(uri) if uri else None
    if info is not None and info.name:
        return info.name
    return (uri or "?").rsplit("/", 1)[-1]


def _merge_titles(columns: list[QuestionColumn]) -> list[QuestionColumn]:
    """Columns with the same title (the same question at several places) become one."""
    merged: dict[str, frozenset] = {}
    for column in columns:
        merged[column.title] = merged.get(column.title, frozenset()) | column.keys
    return [QuestionColumn(title, keys) for title, keys in merged.items()]


def answers_by_column(row: Row, where: Mapping[tuple[str | None, str], str]) -> dict[str, str]:
    """An attendee's answers keyed by the title of the column that shows each; `where` maps
    (event type URI, question) to that title."""
    attendee, event = row
    answers = {}
    for _rank, question, answer in ranked_answers(attendee.questions_and_answers):
        title = where.get((event.event_type_uri, question))
        if title is not None and not answers.get(title):
            answers[title] = answer
    return answers


# -- the columns of an export --------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of an export: its title and how to read its value from a row (typed: text,
    an aware datetime, a number, or None)."""

    title: str
    value: Callable[[Row, dict[str, str]], object]


def _yes_no(flag: bool) -> str:
    return _("yes") if flag else _("no")


def _status(attendee: CalendlyEventAttendee) -> str:
    return _("canceled") if attendee.status == RecordStatus.CANCELED else _("booked")


def columns(questions: list[QuestionColumn], timezone: str) -> list[Column]:
    """Every column of an attendee export, titled in the current language."""
    fixed = [
        Column(_("Webinar"), lambda row, _a: row[1].name),
        Column(_("Webinar start (%(tz)s)", tz=timezone), lambda row, _a: row[1].start_time),
        Column(_("Host"), lambda row, _a: host_names(row[1].hosts)),
        Column(_("Name"), lambda row, _a: row[0].name),
        Column(_("Email"), lambda row, _a: row[0].email),
        Column(_("Status"), lambda row, _a: _status(row[0])),
        Column(_("Booked at (%(tz)s)", tz=timezone), lambda row, _a: row[0].calendly_created_at),
        Column(_("Attendee time zone"), lambda row, _a: row[0].timezone),
        Column(_("Rescheduled"), lambda row, _a: _yes_no(row[0].rescheduled)),
        Column(_("No-show"), lambda row, _a: _yes_no(row[0].no_show)),
        Column(_("Cancel reason"), lambda row, _a: row[0].cancel_reason),
        Column(_("Canceled at (%(tz)s)", tz=timezone), lambda row, _a: row[0].canceled_at),
    ]
    return fixed + [_answer_column(question.title) for question in questions]


def _answer_column(title: str) -> Column:
    return Column(title, lambda _row, answers: answers.get(title, ""))


def table(
    rows: Iterable[Row], questions: list[QuestionColumn], timezone: str
) -> tuple[list[Column], Iterator[list]]:
    """The columns and, lazily, each row's typed values."""
    cols = columns(questions, timezone)
    where = {key: column.title for column in questions for key in column.keys}

    def values() -> Iterator[list]:
        for row in rows:
            answers = answers_by_column(row, where)
            yield [column.value(row, answers) for column in cols]

    return cols, values()


# -- file names ----------------------------------------------------------------------------------


def list_file_name(view: str, extension: str) -> str:
    """The download name of a dashboard tab's attendees, in the current language."""
    views = {
        "upcoming": pgettext("file name", "upcoming"),
        "past": pgettext("file name", "past"),
        "canceled": pgettext("file name", "canceled"),
    }
    return f"{pgettext('file name', 'attendees')}-{views.get(view, view)}.{extension}"


def webinar_file_name(event: CalendlyEvent, extension: str) -> str:
    """The download name of one webinar's attendees, in the current language."""
    stem = pgettext("file name", "attendees")
    return f"{stem}-{event.start_time:%Y-%m-%d}-{event.id}.{extension}"


# -- CSV -----------------------------------------------------------------------------------------


def csv_cell(value) -> str:
    """`value` as text, with a leading apostrophe when it could be read as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def delimiter_for(language: str) -> str:
    """The field separator spreadsheets expect in `language`."""
    return DELIMITERS.get(language, ",")


def in_zone(value: datetime, zone: ZoneInfo) -> datetime:
    """`value` as wall-clock time in `zone` (a naive value is taken as UTC, as stored)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone)


def _csv_text(value, zone: ZoneInfo) -> str:
    if isinstance(value, datetime):
        return in_zone(value, zone).strftime("%Y-%m-%d %H:%M")
    return csv_cell(value)


def stream_csv(
    rows: Iterable[Row], questions: list[QuestionColumn], timezone: str, delimiter: str
) -> Iterator[str]:
    """The whole CSV document in chunks: BOM, header, one line per (attendee, event)."""
    cols, values = table(rows, questions, timezone)
    return csv_chunks([column.title for column in cols], values, timezone, delimiter)


def csv_chunks(
    titles: list[str], values: Iterable[list], timezone: str, delimiter: str
) -> Iterator[str]:
    """A CSV document in chunks: BOM, the header `titles`, one line per list of typed values
    (datetimes in `timezone`)."""
    zone = ZoneInfo(timezone)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([csv_cell(title) for title in titles])
    for row in values:
        writer.writerow([_csv_text(value, zone) for value in row])
        if buffer.tell() >= FLUSH_AT:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# -- XLSX ----------------------------------------------------------------------------------------


def _xlsx_text(value) -> str:
    return _NOT_XML.sub("", str(value))[:CELL_LIMIT]


def xlsx_document(
    rows: Iterable[Row], questions: list[QuestionColumn], timezone: str, language: str
) -> bytes:
    """The attendees as an XLSX workbook: one sheet, a frozen and filtered header row."""
    cols, values = table(rows, questions, timezone)
    return workbook([column.title for column in cols], values, _("Attendees"), timezone, language)


def workbook(
    titles: list[str], values: Iterable[list], sheet_title: str, timezone: str, language: str
) -> bytes:
    """An XLSX workbook of one sheet: the header `titles` (frozen, filtered) and a row per list
    of typed values, each cell of its own type (datetimes as wall-clock time in `timezone`)."""
    # Imported here: only a download needs it, and it takes a while to load.
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    zone = ZoneInfo(timezone)
    date_format = DATE_FORMATS.get(language, DEFAULT_DATE_FORMAT)
    book = Workbook()
    sheet = book.active
    sheet.title = _xlsx_text(sheet_title)[:31]
    widths = [len(title) for title in titles]
    for index, title in enumerate(titles, 1):
        cell = sheet.cell(row=1, column=index, value=_xlsx_text(title))
        cell.data_type = "s"
        cell.font = Font(bold=True)
    for row_number, row in enumerate(values, 2):
        for index, value in enumerate(row, 1):
            cell = sheet.cell(row=row_number, column=index)
            _set_typed(cell, value, zone, date_format)
            widths[index - 1] = max(widths[index - 1], _shown_width(value))
    low, high = WIDTH_RANGE
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = min(high, max(low, width + 2))
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _set_typed(cell, value, zone: ZoneInfo, date_format: str) -> None:
    """Store `value` as its own type; text is always a string cell, never a formula."""
    if value is None or value == "":
        return
    if isinstance(value, datetime):
        # Excel has no time zones: the admin's wall-clock time, as the CSV and the screens show.
        cell.value = in_zone(value, zone).replace(tzinfo=None)
        cell.number_format = date_format
    elif isinstance(value, date):
        cell.value = value
        cell.number_format = date_format.split(" ")[0]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        cell.value = value
    else:
        cell.value = _xlsx_text(value)
        cell.data_type = "s"  # openpyxl would take a leading "=" for a formula


def _shown_width(value) -> int:
    if isinstance(value, datetime | date):
        return 16
    return max((len(line) for line in str(value or "").splitlines()), default=0)


def note_download(which: str, file_format: str, actor: AdminUser | None, **refs) -> None:
    """Note in the audit log that `actor` downloaded the list `which` ("webinar": one webinar's
    attendees, `webinar` its Calendly id; "webinars": a dashboard tab's, `view` and `filtered`)
    as `file_format` (csv, xlsx)."""
    audit.record_now(AuditAction.EXPORT_DOWNLOADED, actor, list=which, format=file_format, **refs)
