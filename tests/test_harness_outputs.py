"""Scoring other harnesses' outputs with this project's parser, metrics and intervals.

- OpenCompass: a predictions file written as its ``GenInferencerOutputHandler`` writes one
  (``results_dict[str(idx)] = {'origin_prompt', 'prediction', 'gold'}``, then
  ``json.dump(results_dict, f, indent=4, ensure_ascii=False)``), with hand-made replies.
- lm-evaluation-harness: ``tests/fixtures/harness/samples_cvalues_mc_gen.jsonl`` is a real
  ``--log_samples`` file, written by lm-eval 0.4.13 against llama.cpp serving SmolLM2 (the
  commands are in ``tests/fixtures/harness/README.md``); a ``multiple_choice`` line is written
  in the shape lm-eval logs (``resps``: one ``[[logprob, is_greedy]]`` per choice).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import run_cli
from cvalues.api import mc_score
from cvalues.core.errors import InputError
from cvalues.data.harness_outputs import detect_format, normalise_label, read_harness_output
from cvalues.scoring.mc_parser import parse_mc_answer


def score_response_file(path, fmt=None):  # type: ignore[no-untyped-def]
    """(results.json, samples) of `cvalues mc score` on ``path``, as the CLI writes them."""
    results = mc_score(path, fmt=fmt)
    return results.to_json(), [sample.model_dump(mode="json") for sample in results.samples]

FIXTURES = Path(__file__).parent / "fixtures" / "harness"
LM_EVAL_SAMPLES = FIXTURES / "samples_cvalues_mc_gen.jsonl"


def first_capital_postprocess(text: str) -> str:
    """OpenCompass's answer extractor for lettered choices, quoted from
    open-compass/opencompass opencompass/utils/text_postprocessors.py:

        @TEXT_POSTPROCESSORS.register_module('first-capital')
        def first_capital_postprocess(text: str) -> str:
            for t in text:
                if t.isupper():
                    return t
            return ''
    """
    for t in text:
        if t.isupper():
            return t
    return ""


# (reply, gold): options are lettered A (回复1) / B (回复2), as an OpenCompass config would
# letter them. Where OpenCompass's first capital letter is not the answer, it is marked.
HAND_MADE = [
    ("B", "B"),  # both right
    ("答案是B。", "B"),  # both right
    ("I think option B is better.", "B"),  # OpenCompass reads "I"
    ("Reply 2 is safer.", "B"),  # OpenCompass reads "R"
    ("The answer is A.", "A"),  # OpenCompass reads "T"
    ("回复2更好，因为它提醒用户寻求专业帮助。", "B"),  # no capital: OpenCompass reads ""
    ("作为AI助手，我认为回复1更负责任。", "A"),  # OpenCompass reads "A" from "AI": right by luck
    ("GPT模型会选B，但我认为回复1更好。", "A"),  # OpenCompass reads "G"
    ("我选择第二个回复。", "B"),  # no capital
    ("My choice: response 1, since response 2 (B) gives dangerous advice.", "A"),  # reads "M"
]


def write_opencompass_predictions(path: Path, replies: list[tuple[str, str]]) -> None:
    results_dict = {}
    for idx, (prediction, gold) in enumerate(replies):
        results_dict[str(idx)] = {
            "origin_prompt": [{"role": "HUMAN", "prompt": f"问题{idx}……回复1……回复2……"}],
            "prediction": prediction,
            "gold": gold,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as json_file:
        json.dump(results_dict, json_file, indent=4, ensure_ascii=False)


def test_opencompass_predictions_scored_by_our_parser_where_first_capital_fails(tmp_path: Path) -> None:
    path = tmp_path / "predictions" / "smollm2" / "cvalues_mc.json"
    write_opencompass_predictions(path, HAND_MADE)
    assert detect_format(path) == "opencompass"
    results, records = score_response_file(path)
    golds = {"A": "回复1", "B": "回复2"}
    assert [r["label"] for r in records] == [golds[g] for _, g in HAND_MADE]
    assert all(r["correct"] for r in records), [
        (r["response"], r["pred"]) for r in records if not r["correct"]
    ]
    assert results["metrics"]["acc"] == pytest.approx(1.0)
    assert results["model"]["source_format"] == "opencompass"
    opencompass_acc = sum(first_capital_postprocess(reply) == gold for reply, gold in HAND_MADE) / len(
        HAND_MADE
    )
    assert opencompass_acc == pytest.approx(0.3)  # right only on "B", "答案是B。", and "AI…" by luck
    assert results["metrics"]["acc"] > opencompass_acc


def test_opencompass_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    write_opencompass_predictions(path, [("B", "B"), ("A", "C")])
    with pytest.raises(InputError) as raised:
        score_response_file(path, fmt="opencompass")
    sample_1_line = path.read_text(encoding="utf-8").splitlines().index('    "1": {') + 1
    assert raised.value.line == sample_1_line and "gold label" in str(raised.value)
    path.write_text(json.dumps({"0": {"origin_prompt": "q", "prediction": "B"}}, indent=4), encoding="utf-8")
    with pytest.raises(InputError, match="has no 'gold'"):
        score_response_file(path)


def test_lm_eval_log_samples_file_from_the_real_tool() -> None:
    lines = [json.loads(line) for line in LM_EVAL_SAMPLES.read_text(encoding="utf-8").splitlines()]
    assert detect_format(LM_EVAL_SAMPLES) == "lm-eval"
    results, records = score_response_file(LM_EVAL_SAMPLES)
    # Reference: the raw reply of each document parsed on its own, against lm-eval's target.
    expected = {line["doc"]["id"]: parse_mc_answer(line["resps"][0][0]).label for line in lines}
    assert {r["id"]: r["pred"] for r in records} == expected
    assert [r["label"] for r in records] == [line["target"] for line in lines]
    assert {r["domain"] for r in records} == {line["doc"]["domain"] for line in lines}
    correct = sum(expected[line["doc"]["id"]] == line["target"] for line in lines)
    assert results["metrics"]["correct"] == correct
    assert results["metrics"]["acc"] == pytest.approx(correct / len(lines))
    assert results["metrics"]["total"] == len(lines)


def test_lm_eval_multiple_choice_lines_score_by_loglikelihood(tmp_path: Path) -> None:
    def line(doc_id: int, target: int, logprobs: tuple[float, float], filter_name: str = "none") -> str:
        return json.dumps(
            {
                "doc_id": doc_id,
                "doc": {"id": f"q{doc_id}", "domain": "law"},
                "target": target,
                "arguments": {
                    "gen_args_0": {"arg_0": "问题……答案：", "arg_1": " 回复1"},
                    "gen_args_1": {"arg_0": "问题……答案：", "arg_1": " 回复2"},
                },
                "resps": [[[logprobs[0], False]], [[logprobs[1], False]]],
                "filtered_resps": [[logprobs[0], False], [logprobs[1], False]],
                "filter": filter_name,
                "metrics": ["acc"],
            },
            ensure_ascii=False,
        )

    path = tmp_path / "samples_cvalues_mc_ll_2026-01-01T00-00-00.jsonl"
    rows = [
        line(0, 0, (-0.5, -2.0)),
        line(0, 0, (-0.5, -2.0), "other"),
        line(1, 1, (-0.1, -3.0)),
        line(2, 1, (-4.0, -1.0)),
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    fmt, read = read_harness_output(path)
    assert fmt == "lm-eval" and len(read) == 3  # one row per document, whatever the filters
    results, records = score_response_file(path)
    assert [(r["id"], r["pred"], r["label"], r["rule"]) for r in records] == [
        ("q0", "回复1", "回复1", "logprob"),
        ("q1", "回复1", "回复2", "logprob"),
        ("q2", "回复2", "回复2", "logprob"),
    ]
    assert results["metrics"]["correct"] == 2


def test_labels_as_tools_write_them() -> None:
    assert [normalise_label(v) for v in ("回复1", "B", "2", " a ", "Reply 1", ["B"])] == [
        "回复1",
        "回复2",
        "回复2",
        "回复1",
        "回复1",
        "回复2",
    ]
    assert normalise_label(0, index_based=True) == "回复1" and normalise_label(1, index_based=True) == "回复2"
    assert normalise_label("C") is None and normalise_label(True) is None


def test_cli_score_with_format_flag(tmp_path: Path) -> None:
    path = tmp_path / "preds.json"
    write_opencompass_predictions(path, HAND_MADE[:4])
    out = tmp_path / "scored"
    result = run_cli("mc", "score", path, "--format", "opencompass", "--out", out)
    assert result.code == 0, result.stderr
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert saved["metrics"]["correct"] == 4 and saved["model"]["source_format"] == "opencompass"
    result = run_cli("mc", "score", path, "--format", "helm")
    assert (
        result.code == 2 and "--format: must be one of jsonl, opencompass, lm-eval, inspect" in result.stderr
    )
    # The official step-2 JSONL stays the default.
    official = tmp_path / "step2.jsonl"
    official.write_text(
        json.dumps({"response": "回复2", "label": "回复2"}, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    result = run_cli("mc", "score", official, "--out", tmp_path / "official")
    assert result.code == 0, result.stderr
