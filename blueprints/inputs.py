"""Hostile input stops at the edge, before any login, view or query sees it.

- A NUL byte anywhere in the path, the query or a submitted form is a bad request (400).
  PostgreSQL refuses NUL in text (the query would crash), and no honest client sends one.
- Integers are bounded to the database's range: an id in a path beyond it is no such page
  (404, through the `int` URL converter), a number in a query beyond it a bad request (400,
  through `int_arg`). Python's integers are unbounded; SQLite's and PostgreSQL's are not.
"""

from __future__ import annotations

import re

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

# PostgreSQL's INTEGER, the type of every id column (SQLite's 64 bits are wider).
DB_INT_MIN = -(2**31)
DB_INT_MAX = 2**31 - 1
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


class DatabaseIntegerConverter(IntegerConverter):
    """`<int:...>` that matches only ids the database can hold: a larger one is a 404."""

    def __init__(self, map, fixed_digits=0, min=None, max=DB_INT_MAX, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app: Flask) -> None:
    """Bound `<int:...>` in every rule added from now on, and refuse NUL bytes in every request.

    Call before any blueprint is registered: a rule takes its converter when it is added.
    """
    app.url_map.converters["int"] = DatabaseIntegerConverter
    app.before_request(refuse_nul_bytes)


def refuse_nul_bytes() -> None:
    """400 for a NUL byte in the path, in a query parameter's name or value, or in a form."""
    if "\x00" in request.path or _has_nul(request.args) or _form_has_nul():
        abort(400)


def _form_has_nul() -> bool:
    # Only forms are read: a view that reads its body itself (the webhook, JSON) keeps it.
    if request.method == "GET" or request.mimetype not in FORM_TYPES:
        return False
    names = (upload.filename or "" for upload in request.files.values())
    return _has_nul(request.form) or any("\x00" in name for name in names)


def _has_nul(params) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in params.items(multi=True))


def int_arg(name: str, default: int | None = None) -> int | None:
    """Query argument `name` as an integer for the database.

    `default` when it is missing or not a whole number (a malformed link still opens the page);
    400 when it is a whole number outside the database's range.
    """
    raw = (request.args.get(name) or "").strip()
    if not _WHOLE_NUMBER.fullmatch(raw):
        return default
    # Count digits first: int() of thousands of digits is slow, and refused past 4300.
    if len(raw.lstrip("+-").lstrip("0")) > len(str(DB_INT_MAX)):
        abort(400)
    value = int(raw)
    if not DB_INT_MIN <= value <= DB_INT_MAX:
        abort(400)
    return value
