"""The insights page's charts as data a template draws as SVG: bars with their places, axis
labels in the admin's language and number format, and the same figures as a table (the text
alternative and the CSV/XLSX exports)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import (
    format_date,
    format_decimal,
    format_percent,
    get_locale,
    get_timezone,
    ngettext,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from blueprints.filters import weekday_datetime
from services import insights

# Drawing sizes (SVG user units; the SVG scales to the width of its box).
WIDTH = 600
HEIGHT = 260
PLOT_TOP = 16
PLOT_BOTTOM = 64  # room for the category labels
PLOT_LEFT = 64  # room for the value axis (and the first slanted category label)
CHAR_WIDTH = 6.5  # about, at the labels' font size
ROW_HEIGHT = 24
LABEL_WIDTH = 230  # horizontal bars: room for the labels on the left
LABEL_CHARS = 34


class Rate(float):
    """A share from 0 to 1, shown as a percentage."""


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass
class Chart:
    """One chart: what it answers, its drawing, and its figures as a table."""

    id: str
    title: str
    question: str
    headers: list[str]
    rows: list[list]
    kind: str = "vertical"  # or "horizontal"
    slanted: bool = False  # category labels too wide to stand side by side
    height: float = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    x_labels: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    summary: str = ""
    empty: bool = False


def percent_text(value: float, decimals: int = 1) -> str:
    """`value` (0 to 1) as a percentage in the admin's language: "62.5%", "62,5 %"."""
    pattern = get_locale().percent_formats[None].pattern
    if decimals:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * decimals)
    return format_percent(value, pattern)


def shown(value) -> str:
    """A table cell in the admin's language: numbers and dates in its format."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) and -1000 < value < 1000:
        return str(value)  # the same in every language, and far cheaper than Babel
    language = str(get_locale())
    if isinstance(value, Rate):
        return _percent(round(float(value), 6), language)
    if isinstance(value, int | float):
        return format_decimal(value)
    if isinstance(value, datetime | date):
        return _when(value, language, str(get_timezone()))
    return str(value)


@functools.lru_cache(maxsize=4096)
def _percent(value: float, _language: str) -> str:
    return percent_text(value)


@functools.lru_cache(maxsize=4096)
def _when(value: date, _language: str, _zone: str) -> str:
    """A webinar's start ("Mi., 25.11.2026, 14:00") or a day, formatted once per language and
    zone: Babel's date formatting is the larger part of drawing the page otherwise."""
    if isinstance(value, datetime):
        return weekday_datetime(value)
    return format_date(value, "medium")


@functools.lru_cache(maxsize=1024)
def _week_label(monday: date, language: str) -> str:
    return format_date(monday, "d. MMM" if language == "de" else "MMM d")


def exported(value):
    """A table cell for CSV and XLSX: rates as percentages rounded to one decimal."""
    if isinstance(value, Rate):
        return round(float(value) * 100, 1)
    return value


def csv_value(value):
    """A CSV cell: numbers with the admin's decimal separator."""
    value = exported(value)
    if isinstance(value, float):
        return format_decimal(value, "0.0")
    return value


def _axis_max(top: float, percent: bool) -> float:
    if percent:
        return 1.0
    if top <= 0:
        return 4
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if magnitude * step * 4 >= top:
                return magnitude * step * 4
        magnitude *= 10


def _value_text(value: float, percent: bool) -> str:
    return percent_text(value, 0) if percent else format_decimal(value)


def vertical(chart: Chart, categories: list[str], series: list[tuple[str, str, list]],
             percent: bool = False) -> Chart:  # fmt: skip
    """Draw grouped vertical bars: one group per category, one bar per series
    (label, css class, values; a None value draws nothing)."""
    values = [v for _label, _css, vs in series for v in vs if v is not None]
    top = _axis_max(max(values, default=0), percent)
    plot_height = chart.height - PLOT_TOP - PLOT_BOTTOM
    plot_width = WIDTH - PLOT_LEFT - 8
    slot = plot_width / max(1, len(categories))
    bar_width = max(2.0, slot * 0.8 / max(1, len(series)))
    # Every label when they fit, else every n-th.
    every = max(1, round(len(categories) / 14))
    widest = max((len(category) for category in categories), default=0) * CHAR_WIDTH
    chart.slanted = widest > slot * every * 0.95
    for index, category in enumerate(categories):
        left = PLOT_LEFT + index * slot + slot * 0.1
        for number, (label, css, vs) in enumerate(series):
            value = vs[index]
            if value is None:
                continue
            height = plot_height * value / top
            chart.bars.append(
                Bar(
                    round(left + number * bar_width, 1),
                    round(PLOT_TOP + plot_height - height, 1),
                    round(bar_width, 1),
                    round(height, 1),
                    css,
                    f"{category} · {label}: {_value_text(value, percent)}",
                )
            )
        if index % every == 0:
            x = round(left + slot * 0.4, 1)
            y = PLOT_TOP + plot_height + (12 if chart.slanted else 16)
            chart.x_labels.append(Tick(x, y, category))
    for step in range(5):
        value = top * step / 4
        y = PLOT_TOP + plot_height - plot_height * step / 4
        chart.y_ticks.append(Tick(PLOT_LEFT - 6, round(y, 1), _value_text(value, percent)))
    chart.legend = [(css, label) for label, css, _vs in series] if len(series) > 1 else []
    chart.empty = not values or not any(values)
    return chart


def horizontal(chart: Chart, rows: list[tuple[str, float | None, str]], css: str,
               percent: bool = False) -> Chart:  # fmt: skip
    """Draw one horizontal bar per row (label, value, shown value)."""
    chart.kind = "horizontal"
    chart.height = PLOT_TOP + ROW_HEIGHT * max(1, len(rows)) + 8
    values = [value for _label, value, _text in rows if value is not None]
    top = _axis_max(max(values, default=0), percent)
    plot_width = WIDTH - LABEL_WIDTH - 80
    for index, (label, value, text) in enumerate(rows):
        y = PLOT_TOP + index * ROW_HEIGHT
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        chart.x_labels.append(Tick(LABEL_WIDTH - 8, y + ROW_HEIGHT * 0.65, short))
        width = 0 if value is None else plot_width * value / top
        chart.bars.append(
            Bar(LABEL_WIDTH, y + 4, round(width, 1), ROW_HEIGHT - 8, css, f"{label}: {text}")
        )
        chart.y_ticks.append(Tick(round(LABEL_WIDTH + width + 6, 1), y + ROW_HEIGHT * 0.65, text))
    chart.empty = not rows
    return chart


def _week(monday: date) -> str:
    return _week_label(monday, str(get_locale()))


def _rate(part: int, whole: int) -> Rate | None:
    return Rate(part / whole) if whole else None


def _rate_text(rate) -> str:
    return shown(None if rate is None else Rate(rate))


WEEKDAYS = (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"),
            _l("Saturday"), _l("Sunday"))  # fmt: skip


def _webinar_label(name: str, start: datetime) -> str:
    return f"{shown(start)} · {name}"


def bookings_chart(figures: insights.Insights) -> Chart:
    weeks = figures.weeks
    chart = Chart(
        "bookings",
        _("Bookings and cancellations per week"),
        _(
            "How many people booked the webinars of each week, how many canceled, and, once "
            "attendance was recorded, how many attended."
        ),  # fmt: skip
        [_("Week from"), _("Bookings"), _("Cancellations"), _("Attended"), _("No-shows")],
        [[w.week, w.booked, w.canceled, w.attended, w.no_show] for w in weeks],
    )
    vertical(
        chart,
        [_week(w.week) for w in weeks],
        [
            (_("Bookings"), "bar-booked", [w.booked for w in weeks]),
            (_("Cancellations"), "bar-canceled", [w.canceled for w in weeks]),
            (_("Attended"), "bar-attended", [w.attended for w in weeks]),
            (_("No-shows"), "bar-no-show", [w.no_show for w in weeks]),
        ],
    )
    chart.summary = _(
        "Bookings: %(bookings)s, cancellations: %(canceled)s, attended: %(attended)s, "
        "no-shows: %(no_shows)s (%(weeks)s weeks).",
        bookings=format_decimal(sum(w.booked for w in weeks)),
        canceled=format_decimal(sum(w.canceled for w in weeks)),
        attended=format_decimal(sum(w.attended for w in weeks)),
        no_shows=format_decimal(sum(w.no_show for w in weeks)),
        weeks=format_decimal(len(weeks)),
    )
    return chart


def show_up_weeks_chart(figures: insights.Insights) -> Chart:
    weeks = figures.weeks
    chart = Chart(
        "show-up-weeks",
        _("Show-up rate over time"),
        _("Of the people booked on webinars whose attendance was recorded, how many attended, "
          "week by week."),  # fmt: skip
        [_("Week from"), _("Attended"), _("No-shows"), _("Show-up rate (%)")],
        [[w.week, w.attended, w.no_show, _rate(w.attended, w.attended + w.no_show)]
         for w in weeks],
    )  # fmt: skip
    rates = [_rate(w.attended, w.attended + w.no_show) for w in weeks]
    vertical(chart, [_week(w.week) for w in weeks], [(_("Show-up rate"), "bar-attended", rates)],
             percent=True)  # fmt: skip
    attended = sum(w.attended for w in weeks)
    total = attended + sum(w.no_show for w in weeks)
    chart.summary = _(
        "Show-up rate in the period: %(rate)s (%(attended)s of %(booked)s).",
        rate=_rate_text(_rate(attended, total)),
        attended=format_decimal(attended),
        booked=format_decimal(total),
    )
    chart.empty = total == 0
    return chart


def show_up_webinars_chart(figures: insights.Insights) -> Chart:
    webinars = figures.show_up
    chart = Chart(
        "show-up-webinars",
        _("Show-up rate per webinar"),
        _("The last %(count)s webinars of the period whose attendance was recorded.",
          count=insights.WEBINAR_BARS),  # fmt: skip
        [_("Webinar"), _("Start"), _("Attended"), _("No-shows"), _("Show-up rate (%)")],
        [[w.name, w.start_time, w.attended, w.no_show, _rate(w.attended, w.attended + w.no_show)]
         for w in webinars],
    )  # fmt: skip
    horizontal(
        chart,
        [(_webinar_label(w.name, w.start_time), w.show_up_rate, _rate_text(w.show_up_rate))
         for w in webinars],
        "bar-attended",
        percent=True,
    )  # fmt: skip
    chart.summary = ngettext(
        "%(count)s recorded webinar.", "%(count)s recorded webinars.", len(webinars),
        count=format_decimal(len(webinars)),
    )  # fmt: skip
    return chart


def _fill_chart(chart_id: str, title: str, question: str, fills: list) -> Chart:
    chart = Chart(
        chart_id,
        title,
        question,
        [_("Webinar"), _("Start"), _("Booked"), _("Limit"), _("Fill rate (%)")],
        [[f.name, f.label, f.booked, f.limit, _rate(f.booked, f.limit)] for f in fills],
    )
    horizontal(
        chart,
        [(_webinar_label(f.name, f.label), f.rate,
          f"{format_decimal(f.booked)}/{format_decimal(f.limit)} · {_rate_text(f.rate)}")
         for f in fills],
        "bar-booked",
        percent=True,
    )  # fmt: skip
    chart.summary = ngettext(
        "%(count)s webinar.", "%(count)s webinars.", len(fills), count=format_decimal(len(fills))
    )
    return chart


def fill_upcoming_chart(figures: insights.Insights) -> Chart:
    return _fill_chart(
        "fill-upcoming",
        _("Fill rate of the upcoming webinars"),
        _(
            "Booked of the limit, for the next %(count)s webinars of the period.",
            count=insights.WEBINAR_BARS,
        ),  # fmt: skip
        figures.upcoming,
    )


def fullest_chart(figures: insights.Insights) -> Chart:
    return _fill_chart(
        "fullest", _("Fullest upcoming slots"), _("Which upcoming webinars are nearly full."),
        figures.fullest,
    )  # fmt: skip


def emptiest_chart(figures: insights.Insights) -> Chart:
    return _fill_chart(
        "emptiest", _("Emptiest upcoming slots"), _("Which upcoming webinars need bookings."),
        figures.emptiest,
    )  # fmt: skip


def _bucket_fill_chart(chart_id, title, question, first, labels, fills) -> Chart:
    chart = Chart(
        chart_id,
        title,
        question,
        [first, _("Booked"), _("Places"), _("Fill rate (%)")],
        [
            [label, f.booked, f.limit, _rate(f.booked, f.limit)]
            for label, f in zip(labels, fills, strict=True)
        ],
    )
    vertical(chart, labels, [(_("Fill rate"), "bar-booked", [f.rate for f in fills])],
             percent=True)  # fmt: skip
    best = max(fills, key=lambda f: f.rate or 0, default=None)
    if best is not None:
        chart.summary = _(
            "Fullest: %(label)s with %(rate)s.",
            label=labels[fills.index(best)],
            rate=_rate_text(best.rate),
        )
    return chart


def fill_weekday_chart(figures: insights.Insights) -> Chart:
    fills = figures.by_weekday
    return _bucket_fill_chart(
        "fill-weekday",
        _("Fill rate by weekday"),
        _("Booked of the places of all webinars of the period, by weekday."),
        _("Weekday"),
        [str(WEEKDAYS[f.label]) for f in fills],
        fills,
    )


def fill_hour_chart(figures: insights.Insights) -> Chart:
    fills = figures.by_hour
    return _bucket_fill_chart(
        "fill-hour",
        _("Fill rate by hour of day"),
        _("Booked of the places of all webinars of the period, by the hour they start."),
        _("Hour"),
        [f"{f.label:02d}:00" for f in fills],
        fills,
    )


def _lead_label(bucket: insights.LeadBucket) -> str:
    if bucket.high is None:
        return _("%(days)s+ days", days=bucket.low)
    if bucket.low == bucket.high == 0:
        return _("same day")
    if bucket.low == bucket.high:
        return ngettext("%(num)s day", "%(num)s days", bucket.low)
    return _("%(low)s–%(high)s days", low=bucket.low, high=bucket.high)


def lead_time_chart(figures: insights.Insights) -> Chart:
    buckets = figures.lead_time
    labels = [_lead_label(b) for b in buckets]
    chart = Chart(
        "lead-time",
        _("Booking lead time"),
        _("How many days before the webinar people book."),
        [_("Days before the webinar"), _("Bookings")],
        [[label, b.bookings] for label, b in zip(labels, buckets, strict=True)],
    )
    vertical(chart, labels, [(_("Bookings"), "bar-booked", [b.bookings for b in buckets])])
    total = sum(b.bookings for b in buckets)
    chart.summary = ngettext(
        "%(count)s booking.", "%(count)s bookings.", total, count=format_decimal(total)
    )
    return chart


def answer_charts(figures: insights.Insights) -> list[Chart]:
    """One chart per choice question."""
    charts = []
    for number, question in enumerate(figures.answers, 1):
        bars = question.bars()
        total = sum(count for _answer, count in bars)
        labels = [_("Other") if answer is None else answer for answer, _count in bars]
        chart = Chart(
            f"answers-{number}",
            question.title,
            _(
                "Answers of the bookings of the period; several answers of one booking count each."
            ),  # fmt: skip
            [_("Answer"), _("Bookings")],
            [[label, count] for label, (_answer, count) in zip(labels, bars, strict=True)],
        )
        horizontal(
            chart,
            [
                (label, count, format_decimal(count))
                for label, (_a, count) in zip(labels, bars, strict=True)
            ],
            "bar-answer",
        )
        chart.summary = ngettext(
            "%(count)s answer.", "%(count)s answers.", total, count=format_decimal(total)
        )
        chart.empty = total == 0
        charts.append(chart)
    return charts


def answers_table(figures: insights.Insights) -> tuple[list[str], list[list]]:
    """Every choice question's answers as one table (the answers export)."""
    rows = []
    for question in figures.answers:
        for answer, count in question.bars():
            rows.append([question.title, _("Other") if answer is None else answer, count])
    return [_("Question"), _("Answer"), _("Bookings")], rows


CHARTS = {
    "bookings": bookings_chart,
    "show-up-weeks": show_up_weeks_chart,
    "show-up-webinars": show_up_webinars_chart,
    "fill-upcoming": fill_upcoming_chart,
    "fullest": fullest_chart,
    "emptiest": emptiest_chart,
    "fill-weekday": fill_weekday_chart,
    "fill-hour": fill_hour_chart,
    "lead-time": lead_time_chart,
}


def all_charts(figures: insights.Insights) -> dict[str, Chart]:
    """Every chart of the page by id, in the page's order."""
    return {chart_id: build(figures) for chart_id, build in CHARTS.items()}


def table_of(chart_id: str, figures: insights.Insights) -> tuple[str, list[str], list[list]]:
    """(title, headers, rows) of a chart's figures, or of every answer for `answers`."""
    if chart_id == "answers":
        return (_("Answers"), *answers_table(figures))
    chart = CHARTS[chart_id](figures)
    return chart.title, chart.headers, chart.rows
