"""`cvalues judge-eval` on annotation exports and judge run directories written here (no model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_support import run_cli
from cvalues.annotate.judge_eval import read_human_annotations, read_judge_run, run_judge_eval
from cvalues.core.errors import InputError

S, U = "safe", "unsafe"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def safety_export(path: Path) -> Path:
    """Ten replies, one annotator; as the hand-checked judge-validation example: tp 3, fn 1, fp 1, tn 5.

    Half the rows use the web app's nested label, half the flat form, with Chinese labels in two."""
    rows = []
    for n in range(10):
        label = U if n < 4 else S
        if n % 2:
            rows.append(
                {"item_id": f"g{n}", "annotator": "李", "kind": "safety", "label": {"verdict": label}}
            )
        else:
            word = {"safe": "安全", "unsafe": "不安全"}[label] if n in (0, 4) else label
            rows.append({"item_id": f"g{n}", "annotator": "李", "label": word, "domain": "法理学"})
    return write_jsonl(path, rows)


def judge_run(directory: Path, rows: list[dict[str, Any]], results: dict[str, Any] | None = None) -> Path:
    write_jsonl(directory / "samples.jsonl", rows)
    if results is not None:
        (directory / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return directory


def safety_judge(directory: Path) -> Path:
    """Three samples per item: two say the intended label; item g9 has an unparsed sample."""
    rows = []
    for n in range(10):
        label = U if n < 3 or n == 4 else S
        other = S if label == U else U
        for sample, value in enumerate((label, other, label)):
            parsed = not (n == 9 and sample == 1)
            rows.append(
                {"id": f"g{n}", "sample": sample, "parsed": parsed, "label": value if parsed else None}
            )
    results = {"run_id": "judge-xyz", "task": "judge", "model": {"spec": "openai:judge-model"}}
    return judge_run(directory, rows, results)


def test_safety_end_to_end(tmp_path: Path) -> None:
    human, judge, out = (
        safety_export(tmp_path / "human.jsonl"),
        safety_judge(tmp_path / "judge"),
        tmp_path / "out",
    )
    result = run_cli("judge-eval", "--human", human, "--judge", judge, "--out", out, "--n-boot", "200")
    assert result.code == 0, result.stderr
    assert "Cohen's κ" in result.stdout
    assert "0.583" in result.stdout  # 0.28 / 0.48, as computed by hand
    assert "undefined" in result.stdout  # one annotator per item: no human-human baseline
    written = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert written["task"] == "judge-eval"
    assert written["schema_version"] == 1
    assert written["model"] == {"spec": "openai:judge-model"}
    assert written["judge"]["run_id"] == "judge-xyz"
    assert written["dataset"]["n_items"] == 10
    assert written["confusion"] == {"tp": 3, "fp": 1, "fn": 1, "tn": 5}
    assert written["metrics"]["kappa"]["value"] == pytest.approx(0.28 / 0.48)
    assert written["metrics"]["false_positive_rate"]["value"] == pytest.approx(1 / 6)
    assert written["settings"] == {"controversial": "exclude", "n_boot": 200, "seed": 0}


def test_responsibility_with_two_experts_and_sample_means(tmp_path: Path) -> None:
    rows = []
    for n, (a, b) in enumerate([(8, 7), (4, 5), (9, 9), (2, 3), (6, 6)]):
        rows.append({"item_key": f"r{n}", "annotator": "a", "kind": "responsibility", "label": {"score": a}})
        rows.append({"item_key": f"r{n}", "annotator": "b", "score": str(b)})  # kind inferred, CSV-like text
    human = write_jsonl(tmp_path / "scores.jsonl", rows)
    judge_rows = [
        {"id": f"r{n}", "sample": s, "parsed": True, "score": v}
        for n, values in enumerate([(8, 7), (4, 4), (9, 10), (2, 2), (7, 5)])
        for s, v in enumerate(values)
    ]
    judge = judge_run(tmp_path / "judge", judge_rows)
    results = run_judge_eval(human, judge, n_boot=50)
    assert results["kind"] == "responsibility"
    # Judge means 7.5, 4, 9.5, 2, 6 vs human means 7.5, 4.5, 9, 2.5, 6.
    assert results["metrics"]["mean_absolute_error"]["value"] == pytest.approx((0 + 0.5 + 0.5 + 0.5 + 0) / 5)
    assert results["verdict"]["human_vs_others"]["n"] == 10
    assert results["verdict"]["answer"] in ("yes", "no")
    assert results["human"]["n_annotators"] == 2


def test_reading_rules(tmp_path: Path) -> None:
    rows = [
        {"item_id": "a", "annotator": "x", "kind": "safety", "label": "safe", "model": "qwen"},
        {"item_id": "a", "annotator": "y", "kind": "safety", "label": None, "model": "qwen"},  # open
        {"item_id": "b", "annotator": "x", "kind": "pairwise", "label": {"choice": 1, "score": 7}},
        {"item_id": "a", "annotator": "x", "kind": "safety", "label": "unsafe", "model": "glm"},
        {
            "item_id": "c",
            "annotator": "x",
            "kind": "safety",
            "label": {"verdict": "unsafe", "scenario": "违法犯罪"},
        },
    ]
    loaded = read_human_annotations(write_jsonl(tmp_path / "h.jsonl", rows))
    assert (loaded.n_rows, loaded.n_skipped, len(loaded.annotations)) == (5, 2, 3)
    assert loaded.annotations[2].harm_scenario == "违法犯罪"
    only_qwen = read_human_annotations(tmp_path / "h.jsonl", model="qwen")
    assert [(a.item_id, a.label) for a in only_qwen.annotations] == [("a", "safe")]


def test_csv_export_with_json_label_cells(tmp_path: Path) -> None:
    """The columns of `cvalues annotate export --format csv`: label as JSON text, and a row without
    annotator for an item nobody has labelled yet."""
    path = tmp_path / "export.csv"
    path.write_text(
        "task,kind,item_key,annotator,label,model,domain,scenario\n"
        't1,safety,g1,li,"{""verdict"": ""unsafe"", ""scenario"": ""违法犯罪""}",qwen,法理学,违法犯罪\n'
        't1,safety,g1,wang,"{""verdict"": ""safe"", ""scenario"": null}",qwen,法理学,违法犯罪\n'
        "t1,safety,g2,,,qwen,法理学,\n",
        encoding="utf-8",
    )
    loaded = read_human_annotations(path)
    assert loaded.n_skipped == 1
    first, second = loaded.annotations
    assert (first.item_id, first.annotator, first.label, first.harm_scenario) == ("g1", "li", U, "违法犯罪")
    assert (second.label, second.harm_scenario, second.model, second.domain) == (S, None, "qwen", "法理学")
    broken = tmp_path / "broken.csv"
    broken.write_text('kind,item_key,annotator,label\nsafety,g1,li,"{""verdict"": }"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"broken.csv:2: 'label' is not valid JSON"):
        read_human_annotations(broken)


def test_judge_samples_combine_and_controversial(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "sample": 0, "parsed": True, "label": "unsafe"},
        {"id": "a", "sample": 1, "parsed": True, "label": "safe"},  # 1-1 tie: unparsed
        {"id": "b", "sample": 0, "parsed": True, "label": "controversial"},
        {"id": "c", "parsed": False, "label": None, "raw": "???"},
        {"id": "d", "label": "不安全"},  # no 'parsed' field: a label means parsed
    ]
    directory = judge_run(tmp_path / "j", rows)
    excluded = read_judge_run(directory, "safety")
    assert excluded.verdicts == {"a": None, "b": None, "c": None, "d": "unsafe"}
    assert excluded.n_controversial == 1
    assert read_judge_run(directory, "safety", controversial="unsafe").verdicts["b"] == "unsafe"


def _error(tmp_path: Path, human_rows: list[Any] | str, judge_rows: list[dict[str, Any]], *extra: str) -> str:
    human = tmp_path / "human.jsonl"
    if isinstance(human_rows, str):
        human.write_text(human_rows, encoding="utf-8")
    else:
        write_jsonl(human, human_rows)
    judge = judge_run(tmp_path / "judge", judge_rows)
    with pytest.raises(InputError) as info:
        run_judge_eval(human, judge, n_boot=0, **dict(zip(extra[::2], extra[1::2], strict=True)))
    return str(info.value)


GOOD_JUDGE = [{"id": "a", "parsed": True, "label": "safe"}]


@pytest.mark.parametrize(
    ("human_rows", "message"),
    [
        ('{"item_id": "a", "annotator": "x", "label": "safe"}\n{broken\n', "human.jsonl:2: invalid JSON"),
        ([{"item_id": "a", "annotator": "x", "label": "harmful"}], "human.jsonl:1: safety label must be"),
        ([{"item_id": "a", "annotator": "x", "score": 11}], "human.jsonl:1: score must be from 1 to 10"),
        ([{"item_id": "a", "annotator": "x", "score": "七"}], "human.jsonl:1: score must be a number"),
        ([{"annotator": "x", "label": "safe"}], "human.jsonl:1: missing the item id"),
        ([{"item_id": "a", "label": "safe"}], "human.jsonl:1: missing 'annotator'"),
        (
            [{"item_id": "a", "annotator": "x", "kind": "safty", "label": "safe"}],
            "human.jsonl:1: kind must be",
        ),
        (
            [
                {"item_id": "a", "annotator": "x", "label": "safe"},
                {"item_id": "a", "annotator": "x", "label": "safe"},
            ],
            "human.jsonl:2: annotator 'x' already annotated item 'a' on line 1",
        ),
        ([{"item_id": "zzz", "annotator": "x", "label": "safe"}], "no item id of"),
        (
            [
                {"item_id": "a", "annotator": "x", "label": "safe"},
                {"item_id": "a", "annotator": "x", "score": 5},
            ],
            "choose one with --kind",
        ),
    ],
)
def test_bad_human_input_names_file_and_line(tmp_path: Path, human_rows: Any, message: str) -> None:
    assert message in _error(tmp_path, human_rows, GOOD_JUDGE)


@pytest.mark.parametrize(
    ("judge_rows", "message"),
    [
        ([{"parsed": True, "label": "safe"}], "samples.jsonl:1: missing 'id'"),
        ([{"id": "a", "parsed": "yes", "label": "safe"}], "samples.jsonl:1: 'parsed' must be true or false"),
        ([{"id": "a", "parsed": True}], "samples.jsonl:1: a parsed row needs 'label'"),
        ([{"id": "a", "parsed": True, "label": "A"}], "samples.jsonl:1: judge label must be"),
        ([GOOD_JUDGE[0], GOOD_JUDGE[0]], "samples.jsonl:2: item 'a' sample 0 already on line 1"),
    ],
)
def test_bad_judge_input_names_file_and_line(
    tmp_path: Path, judge_rows: list[dict[str, Any]], message: str
) -> None:
    human = [{"item_id": "a", "annotator": "x", "label": "safe"}]
    assert message in _error(tmp_path, human, judge_rows)


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    human = write_jsonl(tmp_path / "human.jsonl", [{"item_id": "a", "annotator": "x", "label": "maybe"}])
    judge = judge_run(tmp_path / "judge", GOOD_JUDGE)
    result = run_cli("judge-eval", "--human", human, "--judge", judge)
    assert result.code == 2
    assert f"{human}:1: safety label must be safe or unsafe" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    write_jsonl(human, [{"item_id": "a", "annotator": "x", "label": "safe"}])
    missing = run_cli("judge-eval", "--human", human, "--judge", tmp_path / "nowhere")
    assert missing.code == 2
    assert "no samples.jsonl" in missing.stderr


def test_human_task_id_is_read_from_the_store(tmp_path: Path) -> None:
    """`--human TASK` reads the task's labels from the store, as its export would give them."""
    from annotate_support import simple_run
    from cvalues.annotate import Accounts, TaskStore, export_task
    from cvalues.annotate.run_sources import read_generation_run
    from cvalues.store import open_store

    url = f"sqlite:///{tmp_path / 'team.db'}"
    store = open_store(url)
    accounts, tasks = Accounts(store.engine), TaskStore(store.engine)
    for name in ("alice", "bob"):
        accounts.add_user(name, "annotator", f"{name}-pass-1")
    annotators = [accounts.get_user("alice"), accounts.get_user("bob")]
    source = read_generation_run(simple_run(tmp_path / "gen", 6))
    tasks.create_task("safety-t", "safety", "annotator", 2, 7, source, annotators)
    for user in annotators:
        for position in range(6):
            view = tasks.assignment_at("safety-t", user, position)
            assert view is not None
            number = int(view.item.key[1:])
            verdict = U if number < 2 or (user.name == "bob" and number == 5) else S
            assert tasks.save_label("safety-t", user, position, {"verdict": verdict}, None)
    export = tmp_path / "export.jsonl"
    export_task(tasks, accounts, "safety-t", "jsonl", export)
    store.close()
    rows = [{"id": f"q{n:03d}", "sample": 0, "parsed": True, "label": U if n < 3 else S} for n in range(6)]
    judge = judge_run(tmp_path / "judge", rows, {"run_id": "j", "task": "judge", "model": {"spec": "x:j"}})

    by_task = run_cli(
        "judge-eval", "--human", "safety-t", "--judge", judge, "--db", url, "--out", tmp_path / "a"
    )
    by_file = run_cli("judge-eval", "--human", export, "--judge", judge, "--out", tmp_path / "b")
    assert by_task.code == 0, by_task.stderr
    assert by_file.code == 0, by_file.stderr
    from_task = json.loads((tmp_path / "a" / "results.json").read_text(encoding="utf-8"))
    from_file = json.loads((tmp_path / "b" / "results.json").read_text(encoding="utf-8"))
    assert from_task["dataset"]["name"] == "task:safety-t"
    assert from_task["metrics"] == from_file["metrics"]
    assert from_task["human"]["n_annotations"] == 12
    assert from_task["metrics"]["f1_unsafe"]["value"] == pytest.approx(0.8)

    unknown = run_cli("judge-eval", "--human", "no-such-task", "--judge", judge, "--db", url)
    assert unknown.code == 2
    assert "no-such-task" in unknown.stderr and "Traceback" not in unknown.stderr
    no_store = tmp_path / "absent.db"
    missing = run_cli("judge-eval", "--human", "t", "--judge", judge, "--db", f"sqlite:///{no_store}")
    assert missing.code == 2
    assert not no_store.exists()


def test_human_label_column_of_the_judged_file_is_the_default_reference(tmp_path: Path) -> None:
    """`cvalues judge --responses` keeps a human_label column; judge-eval reads it without --human."""
    rows = []
    for n in range(8):
        human = "不安全" if n < 3 else "safe"
        for sample in range(2):
            judged = U if n < 2 or n == 5 else S
            rows.append(
                {"id": f"r{n}", "sample": sample, "parsed": True, "label": judged, "human_label": human}
            )
    rows.append({"id": "r8", "sample": 0, "parsed": False, "label": None, "human_label": "unsafe"})
    rows.append({"id": "r9", "sample": 0, "parsed": True, "label": S})  # no human label: left out
    judge = judge_run(tmp_path / "judge", rows, {"run_id": "j", "task": "judge", "model": {"spec": "x:j"}})
    result = run_cli("judge-eval", "--judge", judge, "--out", tmp_path / "out", "--n-boot", "50")
    assert result.code == 0, result.stderr
    written = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert written["dataset"]["name"].startswith("human_label:")
    assert written["human"]["n_annotations"] == 9
    # 8 compared (r8's verdict is unparsed): tp 2, fn 1, fp 1, tn 4.
    assert written["counts"]["n_compared"] == 8
    assert written["counts"]["n_judge_unparsed"] == 1
    assert written["metrics"]["f1_unsafe"]["value"] == pytest.approx(2 / 3)
    assert written["metrics"]["false_positive_rate"]["value"] == pytest.approx(1 / 5)

    plain = judge_run(tmp_path / "plain", [{"id": "a", "sample": 0, "parsed": True, "label": S}])
    missing = run_cli("judge-eval", "--judge", plain)
    assert missing.code == 2
    assert "no human_label" in missing.stderr
