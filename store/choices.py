"""Choice questions of event types (single_select, multi_select) and the answer rows the
insights page counts (store.models.ChoiceAnswer)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

CHOICE_TYPES = frozenset({"single_select", "multi_select"})
# Stored for a line that is none of the choices (an "Other" text): counted, its text not kept.
OTHER_ANSWER = ""


@dataclass(frozen=True)
class ChoiceQuestion:
    """A choice question of one event type, with the key it counts under across types."""

    key: str
    name: str
    type: str
    position: int
    choices: tuple[str, ...]


def question_key(position, question_type: str, choices) -> str:
    """The same key for the same question of two event types: same position, type, choices."""
    text = json.dumps([position, question_type, list(choices)], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def choice_questions(custom_questions: list | None) -> dict[int, ChoiceQuestion]:
    """position -> ChoiceQuestion for the enabled choice questions of an event type's
    cached custom_questions."""
    found = {}
    for question in custom_questions or ():
        if not isinstance(question, dict) or question.get("type") not in CHOICE_TYPES:
            continue
        if question.get("enabled") is False or question.get("position") is None:
            continue
        choices = tuple(str(choice) for choice in question.get("answer_choices") or ())
        position = question["position"]
        found[position] = ChoiceQuestion(
            key=question_key(position, question["type"], choices),
            name=str(question.get("name") or ""),
            type=question["type"],
            position=position,
            choices=choices,
        )
    return found


def chosen_lines(question: ChoiceQuestion, answer: str | None) -> list[str]:
    """The answers one attendee chose: one per line of a multi-select answer, each once; a line
    that is none of the choices becomes OTHER_ANSWER."""
    if not answer:
        return []
    lines = answer.splitlines() if question.type == "multi_select" else [answer]
    chosen = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        value = line if line in question.choices else OTHER_ANSWER
        if value not in chosen:
            chosen.append(value)
    return chosen


def answer_rows(
    questions: dict[int, ChoiceQuestion], answers: list | None, event_id: int, attendee_id: int
) -> list[dict]:
    """ChoiceAnswer rows of one attendee's questions_and_answers."""
    rows = []
    for entry in answers or ():
        if not isinstance(entry, dict):
            continue
        question = questions.get(entry.get("position"))
        if question is None:
            continue
        for line in chosen_lines(question, entry.get("answer")):
            rows.append(
                {
                    "event_id": event_id,
                    "attendee_id": attendee_id,
                    "question_key": question.key,
                    "answer": line,
                }
            )
    return rows
