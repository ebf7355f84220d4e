"""Calendly's timestamps (calendly.times): one reader and one writer for the whole app."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from calendly.times import format_time, parse_time, parse_time_or_none


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-05-06T07:08:09.123456Z", datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)),
        ("2030-05-06T07:08:09Z", datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)),
        (" 2030-05-06T09:08:09+02:00 ", datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("2030-05-06T07:08:09", datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)),  # Calendly means UTC
    ],
)
def test_parse_time_reads_calendlys_spellings_as_utc(text, expected):
    parsed = parse_time(text)
    assert parsed == expected and parsed.tzinfo is UTC


def test_parse_time_passes_datetimes_through_in_utc():
    local = datetime(2030, 5, 6, 9, tzinfo=timezone(timedelta(hours=2)))
    assert parse_time(local) == local and parse_time(local).tzinfo is UTC


@pytest.mark.parametrize("absent", [None, ""])
def test_parse_time_of_nothing_is_none(absent):
    assert parse_time(absent) is None


@pytest.mark.parametrize("garbage", ["yesterday", "   ", "2030-13-01T00:00:00Z", 1700000000, {}])
def test_parse_time_refuses_garbage(garbage):
    with pytest.raises(ValueError, match="unreadable timestamp"):
        parse_time(garbage)
    assert parse_time_or_none(garbage) is None


def test_format_time_writes_utc_with_microseconds():
    moment = datetime(2030, 5, 6, 9, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(moment) == "2030-05-06T07:08:09.123456Z"
    assert format_time(datetime(987, 1, 2, tzinfo=UTC)) == "0987-01-02T00:00:00.000000Z"
    assert parse_time(format_time(moment)) == moment


def test_format_time_refuses_a_naive_time():
    with pytest.raises(ValueError, match="min_start_time must be timezone-aware"):
        format_time(datetime(2030, 1, 1), name="min_start_time")
