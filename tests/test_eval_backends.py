"""``cvalues eval`` shares one backend per model across a suite's tasks and closes each after the
last task it answers: the model is gone before the judge is loaded (on Ray, its actors' CPUs are
free for the judge's; in-process, its memory)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cvalues
from cvalues.core.backend import ModelSpec
from cvalues.core.registry import BACKENDS
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse

EVENTS: list[tuple[str, str]] = []


class Journal:
    """Answers every request at once and writes down when it is made, called and closed."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec, self.batch_size, self.max_concurrency = spec, 16, 1
        EVENTS.append(("open", spec.name))

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        EVENTS.append(("call", self.spec.name))
        return [ModelResponse(text='{"label": "safe", "reason": "ok"}') for _ in requests]

    async def aclose(self) -> None:
        EVENTS.append(("close", self.spec.name))


BACKENDS.register("journal", lambda spec, options: Journal(spec))

SUITE = """\
name = "two-models"

[[tasks]]
name = "gen"
kind = "generate"
dataset = "sample"
limit = 2

[[tasks]]
name = "gen-safety"
kind = "judge"
input = "gen"
rubric = "safety"
"""


def test_the_model_is_closed_before_the_judge_is_opened(tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE, encoding="utf-8")
    EVENTS.clear()
    result = cvalues.evaluate(
        "journal:model",
        str(suite),
        judge="journal:judge",
        out=tmp_path / "eval",
        db=f"sqlite:///{tmp_path / 'store.db'}",
        progress=False,
    )
    assert not result.failed and set(result.tasks) == {"gen", "gen-safety"}
    assert EVENTS[0] == ("open", "model") and ("close", "model") in EVENTS
    assert EVENTS.index(("close", "model")) < EVENTS.index(("open", "judge"))
    assert EVENTS[-1] == ("close", "judge")
    assert EVENTS.count(("open", "model")) == EVENTS.count(("open", "judge")) == 1
