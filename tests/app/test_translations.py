"""Every sentence the app can show exists in German: the messages are extracted fresh from the
source (as `pybabel extract -F babel.cfg` does), and each must have a German translation in
translations/de that is not marked fuzzy, compiled into the .mo the app loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
GERMAN = ROOT / "translations" / "de" / "LC_MESSAGES"
# The keywords babel.cfg's header tells pybabel to add.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}


def _method_map() -> list[tuple[str, str]]:
    """The [method: pattern] sections of babel.cfg."""
    sections = []
    for line in (ROOT / "babel.cfg").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]") and ":" in line:
            method, pattern = line[1:-1].split(":", 1)
            sections.append((pattern.strip(), method.strip()))
    assert sections, "babel.cfg names no extraction methods"
    return sections


def _source_messages() -> set[tuple[str, str | None]]:
    """Every (msgid, context) in the source (plural messages by their singular)."""
    found = set()
    dirs_ignored = (".venv", "node_modules", "tests", "bench")
    for _filename, _lineno, message, _comments, context in extract_from_dir(
        str(ROOT),
        method_map=_method_map(),
        keywords=KEYWORDS,
        # Like pybabel: skip dot-directories (.venv); the tests and benchmarks show no screen.
        directory_filter=lambda path: (
            not Path(path).name.startswith(".") and Path(path).name not in dirs_ignored
        ),
    ):
        found.add((message[0] if isinstance(message, tuple) else message, context))
    return found


@pytest.fixture(scope="module")
def german_po():
    with open(GERMAN / "messages.po", "rb") as file:
        return read_po(file, locale="de")


def test_every_message_in_the_source_has_a_german_translation(german_po):
    messages = _source_messages()
    assert len(messages) > 300, "extraction found too little; is babel.cfg read?"
    missing, fuzzy = [], []
    for msgid, context in sorted(messages, key=lambda item: (item[0], item[1] or "")):
        entry = german_po.get(msgid, context=context)
        strings = entry.string if entry is not None else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            missing.append(msgid)
        elif entry.fuzzy:
            fuzzy.append(msgid)
    assert not missing, f"no German translation in messages.po (run pybabel update): {missing}"
    assert not fuzzy, f"marked fuzzy in messages.po (check the German, drop the flag): {fuzzy}"


def _key(value):
    # Plural messages: tuples from the .po reader, lists from the .mo reader.
    return tuple(value) if isinstance(value, (list, tuple)) else value


def test_the_compiled_catalogue_matches_the_po_file(german_po):
    with open(GERMAN / "messages.mo", "rb") as file:
        compiled = read_mo(file)
    expected = {
        _key(message.id): _key(message.string)
        for message in german_po
        if message.id and message.string and not message.fuzzy
    }
    actual = {_key(message.id): _key(message.string) for message in compiled if message.id}
    stale = sorted(str(msgid) for msgid, text in expected.items() if actual.get(msgid) != text)
    assert not stale, f"messages.mo is older than messages.po (run pybabel compile): {stale}"
