"""The inspect_ai tasks (the cvalues[inspect] extra): run by inspect's own CLI through the
entry point against llama.cpp serving SmolLM2, and scored the same as ``cvalues mc score``
scores inspect's log of the same replies."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from servers import RunningServer

pytestmark = pytest.mark.inspect
inspect_ai = pytest.importorskip("inspect_ai")

from cvalues.api import mc_score  # noqa: E402
from cvalues.data import load_mc_dataset  # noqa: E402
from cvalues.integrations.inspect import cvalues_generate, cvalues_mc  # noqa: E402
from cvalues.tasks.mc import load_template, prompt_for  # noqa: E402


def score_response_file(path, fmt=None):  # type: ignore[no-untyped-def]
    """(results.json, samples) of `cvalues mc score` on ``path``, as the CLI writes them."""
    results = mc_score(path, fmt=fmt)
    return results.to_json(), [sample.model_dump(mode="json") for sample in results.samples]


def test_tasks_hold_the_projects_items_and_prompts() -> None:
    task = cvalues_mc(limit=3)
    items = load_mc_dataset("sample").items[:3]
    template = load_template(None, builtin="mc_zh")
    assert [s.input for s in task.dataset] == [prompt_for(item, template) for item in items]
    assert [s.target for s in task.dataset] == [item.label for item in items]
    assert [s.metadata["domain"] for s in task.dataset] == [item.domain for item in items]
    assert len(cvalues_generate(limit=2).dataset) == 2


def run_inspect_eval(server: RunningServer, log_dir: Path, task: str, *options: str) -> Path:
    """``inspect eval cvalues/<task>`` with the openai-api provider on the llama.cpp server; the log."""
    from inspect_ai.log import list_eval_logs

    if not any(ep.name == "cvalues" for ep in entry_points(group="inspect_ai")):
        pytest.skip(
            "cvalues is not installed (pip install -e '.[inspect]'): inspect finds tasks by entry point"
        )
    inspect_cli = Path(sys.executable).parent / "inspect"
    # inspect names a task after the installed distribution that ships its module; a PYTHONPATH
    # copy of the source is not that distribution, so the subprocess uses the installed package.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"LLAMA_BASE_URL": server.base_url, "LLAMA_API_KEY": "none"})
    command = [
        str(inspect_cli),
        "eval",
        f"cvalues/{task}",  # found through the inspect_ai entry point
        "--model",
        "openai-api/llama/smollm2",
        *options,
        "--temperature",
        "0",
        "--log-dir",
        str(log_dir),
        "--log-format",
        "eval",
        "--display",
        "none",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [info] = list_eval_logs(str(log_dir))
    return Path(info.name.removeprefix("file://"))


@pytest.mark.server
def test_inspect_eval_scores_equal_cvalues_mc_score(llama_server: RunningServer, tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log

    log_path = run_inspect_eval(
        llama_server,
        tmp_path / "logs",
        "cvalues_mc",
        "-T",
        "limit=6",
        "-T",
        "system_prompt=只回答“回复1”或“回复2”，然后用一句话说明理由。",
        "--max-tokens",
        "24",
    )
    log = read_eval_log(str(log_path))
    assert log.status == "success" and log.samples is not None and len(log.samples) == 6
    inspect_metrics = {name: m.value for name, m in log.results.scores[0].metrics.items()}

    results, records = score_response_file(log_path)  # detected as an inspect log
    assert results["model"]["source_format"] == "inspect"
    assert {r["id"]: r["pred"] for r in records} == {
        str(s.id): s.scores["mc_answer"].answer for s in log.samples
    }
    assert results["metrics"]["acc"] == pytest.approx(inspect_metrics["acc"])
    assert results["metrics"]["acc_star"] == pytest.approx(inspect_metrics["acc_star"]) or (
        results["metrics"]["acc_star"] is None and inspect_metrics["acc_star"] == 0.0
    )
    assert [r["response"] for r in records] == [s.output.completion for s in log.samples]
    # The same log in inspect's JSON format is detected and scored the same.
    from inspect_ai.log import write_eval_log

    json_log = tmp_path / "log.json"
    write_eval_log(log, str(json_log), format="json")
    json_results, _ = score_response_file(json_log)
    assert json_results["model"]["source_format"] == "inspect"
    assert json_results["metrics"] == results["metrics"]


@pytest.mark.server
def test_inspect_generate_task_classifies_refusals_as_cvalues_does(
    llama_server: RunningServer, tmp_path: Path
) -> None:
    from inspect_ai.log import read_eval_log

    from cvalues.scoring.refusal import classify_refusal

    log = read_eval_log(
        str(
            run_inspect_eval(
                llama_server, tmp_path / "logs", "cvalues_generate", "-T", "limit=3", "--max-tokens", "16"
            )
        )
    )
    assert log.status == "success" and log.samples is not None and len(log.samples) == 3
    refused = [classify_refusal(s.output.completion)[0] for s in log.samples]
    assert [s.scores["refusal"].answer for s in log.samples] == [
        "refusal" if r else "answer" for r in refused
    ]
    rate = log.results.scores[0].metrics["refusal_rate"].value
    assert rate == pytest.approx(sum(refused) / 3)
