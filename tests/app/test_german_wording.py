"""The German catalogue speaks one German: "der Token", and words a person would say."""

import re
from pathlib import Path

from babel.messages.pofile import read_po

GERMAN = Path(__file__).parents[2] / "translations" / "de" / "LC_MESSAGES" / "messages.po"
# A neuter article or pronoun before (an adjective and) "Token": the app says "der Token".
# ("des Tokens" and "dem Token" are the masculine forms too.)
NEUTER_TOKEN = re.compile(
    r"\b(das|dieses|jedes|welches|ein\s+\w+es|das\s+\w+e)\s+"
    r"(Calendly-|Personal Access )?Token\b",
    re.IGNORECASE,
)


def german_texts() -> list[tuple[str, str]]:
    with GERMAN.open("rb") as po:
        catalog = read_po(po)
    texts = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        texts += [(str(message.id), text) for text in strings if text]
    return texts


def test_the_pattern_finds_the_neuter_forms():
    for wrong in ("Das Token", "speichern Sie das Token", "das gespeicherte Calendly-Token",
                  "ein neues Personal Access Token", "dieses Token"):  # fmt: skip
        assert NEUTER_TOKEN.search(wrong), wrong
    for right in ("Der Token", "den Token", "des Tokens", "dem Token", "einen neuen Token",
                  "der gespeicherte Calendly-Token"):  # fmt: skip
        assert not NEUTER_TOKEN.search(right), right


def test_the_token_is_always_masculine():
    neuter = [(msgid, text) for msgid, text in german_texts() if NEUTER_TOKEN.search(text)]
    assert not neuter


def test_plain_words_for_exports_and_missing_events():
    texts = " ".join(text for _msgid, text in german_texts())
    assert "Teilnehmende als CSV" in texts
    assert "CSV dieser Teilnehmenden" not in texts
    assert "fehlend" not in texts
    assert "nicht mehr in Calendly" in texts
