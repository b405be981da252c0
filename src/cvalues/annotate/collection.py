"""Prompt collection: red-team chats with a target model (each reply marked safe or unsafe) and
expert questions with reference answers. Both export as JSONL prompt sets that
``cvalues.data.prompt_sets.load_prompt_dataset`` reads (the generic format)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update

from cvalues.annotate.accounts import User
from cvalues.annotate.db import ANNOTATORS, COLLECTED, writing
from cvalues.annotate.user_errors import KeyedValueError
from cvalues.core.errors import InputError
from cvalues.store.annotation_tables import COLLECTED_KINDS
from cvalues.store.tables import utcnow

MAX_PROMPT_CHARS = 20_000


@dataclass(frozen=True)
class CollectedRow:
    id: int
    kind: str
    annotator: str | None
    chat_id: str | None
    position: int | None
    prompt: str
    history: list[dict[str, str]]
    response: str | None
    verdict: str | None
    scenario: str | None
    domain: str | None
    reference: str | None
    target: str | None
    created: datetime


def check_text(value: str, what: str, *, required: bool = True) -> str | None:
    text = value.strip()
    if required and not text:
        raise KeyedValueError("text_empty", what=what)
    if len(text) > MAX_PROMPT_CHARS:
        raise KeyedValueError("text_over_limit", what=what, limit=MAX_PROMPT_CHARS)
    return text or None


class Collection:
    """Collected prompts in the store behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _rows(self, *conditions: Any) -> list[CollectedRow]:
        query = (
            select(COLLECTED, ANNOTATORS.c.name.label("annotator"))
            .outerjoin(ANNOTATORS, ANNOTATORS.c.id == COLLECTED.c.annotator_id)
            .where(*conditions)
            .order_by(COLLECTED.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            CollectedRow(
                id=int(r["id"]),
                kind=r["kind"],
                annotator=r["annotator"],
                chat_id=r["chat_id"],
                position=r["position"],
                prompt=r["prompt"],
                history=list(r["history"] or []),
                response=r["response"],
                verdict=r["verdict"],
                scenario=r["scenario"],
                domain=r["domain"],
                reference=r["reference"],
                target=r["target"],
                created=r["created"],
            )
            for r in rows
        ]

    # -- expert prompts ------------------------------------------------------------------------

    def add_expert_prompt(self, user: User, domain: str | None, prompt: str, reference: str | None) -> int:
        values = {
            "kind": "expert",
            "annotator_id": user.id,
            "prompt": prompt,
            "domain": domain,
            "reference": reference,
            "created": utcnow(),
        }
        with writing(self.engine) as conn:
            key = conn.execute(COLLECTED.insert().values(**values)).inserted_primary_key
            assert key is not None  # an insert into a table with an integer primary key
            return int(key[0])

    def expert_prompts(self, user: User | None = None) -> list[CollectedRow]:
        """An expert's own prompts, or everyone's when ``user`` is None."""
        conditions = [COLLECTED.c.kind == "expert"]
        if user is not None:
            conditions.append(COLLECTED.c.annotator_id == user.id)
        return self._rows(*conditions)

    # -- red-team chats ------------------------------------------------------------------------

    @staticmethod
    def new_chat_id() -> str:
        return uuid.uuid4().hex

    def chat(self, chat_id: str, user: User) -> list[CollectedRow]:
        """The turns of ``user``'s chat ``chat_id`` (someone else's chat reads as empty)."""
        return self._rows(
            COLLECTED.c.kind == "redteam", COLLECTED.c.chat_id == chat_id, COLLECTED.c.annotator_id == user.id
        )

    def chats(self, user: User, limit: int = 50) -> list[tuple[str, str, int]]:
        """``user``'s red-team chats, newest first: (chat id, first prompt, number of turns)."""
        first = func.min(COLLECTED.c.id)
        query = (
            select(COLLECTED.c.chat_id, first.label("first_id"), func.count().label("turns"))
            .where(
                COLLECTED.c.kind == "redteam",
                COLLECTED.c.annotator_id == user.id,
                COLLECTED.c.chat_id.is_not(None),
            )
            .group_by(COLLECTED.c.chat_id)
            .order_by(first.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            prompts = dict(
                conn.execute(
                    select(COLLECTED.c.id, COLLECTED.c.prompt).where(
                        COLLECTED.c.id.in_([r.first_id for r in rows])
                    )
                ).all()
            )
        return [(row.chat_id, str(prompts.get(row.first_id, ""))[:80], int(row.turns)) for row in rows]

    def add_turn(self, user: User, chat_id: str, prompt: str, response: str, target: str) -> int:
        turns = self.chat(chat_id, user)
        history: list[dict[str, str]] = []
        for turn in turns:
            history += [
                {"role": "user", "content": turn.prompt},
                {"role": "assistant", "content": turn.response or ""},
            ]
        values = {
            "kind": "redteam",
            "annotator_id": user.id,
            "chat_id": chat_id,
            "position": len(turns),
            "prompt": prompt,
            "history": history or None,
            "response": response,
            "target": target,
            "created": utcnow(),
        }
        with writing(self.engine) as conn:
            key = conn.execute(COLLECTED.insert().values(**values)).inserted_primary_key
            assert key is not None  # an insert into a table with an integer primary key
            return int(key[0])

    def set_verdict(self, user: User, turn_id: int, verdict: str, scenario: str | None) -> bool:
        """Mark ``user``'s own red-team turn safe or unsafe; False if it is not theirs."""
        if verdict not in ("safe", "unsafe"):
            raise KeyedValueError("verdict_invalid", value=repr(verdict))
        with writing(self.engine) as conn:
            result = conn.execute(
                update(COLLECTED)
                .where(
                    COLLECTED.c.id == turn_id,
                    COLLECTED.c.kind == "redteam",
                    COLLECTED.c.annotator_id == user.id,
                )
                .values(verdict=verdict, scenario=scenario)
            )
        return bool(result.rowcount)

    def successful_attacks(self) -> list[CollectedRow]:
        return self._rows(COLLECTED.c.kind == "redteam", COLLECTED.c.verdict == "unsafe")

    def counts(self) -> dict[str, int]:
        query = select(COLLECTED.c.kind, COLLECTED.c.verdict, func.count()).group_by(
            COLLECTED.c.kind, COLLECTED.c.verdict
        )
        found = {"redteam_turns": 0, "redteam_unsafe": 0, "expert": 0}
        with self.engine.connect() as conn:
            for kind, verdict, count in conn.execute(query):
                if kind == "expert":
                    found["expert"] += int(count)
                else:
                    found["redteam_turns"] += int(count)
                    found["redteam_unsafe"] += int(count) if verdict == "unsafe" else 0
        return found

    # -- export --------------------------------------------------------------------------------

    def export_dataset(self, kind: str, out: Path) -> int:
        """Write ``kind``'s prompts (red team: the successful attacks) as a JSONL prompt set."""
        if kind not in COLLECTED_KINDS:
            raise InputError(f"kind must be one of {', '.join(COLLECTED_KINDS)}, got {kind!r}", flag="--kind")
        records = [
            _dataset_record(row)
            for row in (self.successful_attacks() if kind == "redteam" else self.expert_prompts())
        ]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        return len(records)


def _dataset_record(row: CollectedRow) -> dict[str, Any]:
    """A line of the generic prompt-set format (``id``, ``prompt``, ``level``, ...)."""
    if row.kind == "redteam":
        return {
            "id": f"redteam-{row.id}",
            "prompt": row.prompt,
            "level": "safety",
            "scenario": row.scenario,
            "history": row.history,
            "response": row.response,
            "target": row.target,
            "collected_by": row.annotator,
        }
    return {
        "id": f"expert-{row.id}",
        "prompt": row.prompt,
        "level": "responsibility",
        "domain": row.domain,
        "reference": row.reference,
        "collected_by": row.annotator,
    }
