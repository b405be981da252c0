"""`cvalues annotate` commands and the data layer behind them: tasks from run directories,
agreement, exports that round-trip, human metrics, mc-review, pairwise, the 0003 migration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from openpyxl import load_workbook
from sqlalchemy import inspect
from typer.testing import CliRunner

from annotate_support import simple_run, write_generation_run, write_mc_run
from cli_support import cli_env, run_cli
from cvalues.annotate import (
    Accounts,
    TaskStore,
    export_task,
    import_labels,
    task_agreement,
    write_task_results,
)
from cvalues.annotate.agreement_report import agreement_lines
from cvalues.annotate.run_sources import read_generation_run, read_mc_review_run, read_pairwise_runs
from cvalues.cli import annotate as annotate_cli
from cvalues.core.errors import InputError
from cvalues.store import open_store
from cvalues.store.annotation_tables import Base
from cvalues.store.engine import alembic_config

ANNOTATION_TABLES = {
    "annotators",
    "annotation_sessions",
    "annotation_tasks",
    "annotation_items",
    "assignments",
    "annotations",
    "adjudications",
    "collected_prompts",
}
# Two annotators on 10 items: A says unsafe on items 0-3, B on items 0-2 and 4.
A_UNSAFE, B_UNSAFE = {0, 1, 2, 3}, {0, 1, 2, 4}


def _labelled_safety_task(db: str, tmp_path: Path) -> tuple[Accounts, TaskStore]:
    store = open_store(db)
    accounts, tasks = Accounts(store.engine), TaskStore(store.engine)
    users = [accounts.add_user(name, "annotator", f"{name}-password") for name in ("amy", "ben")]
    run = simple_run(tmp_path / "gen", 10)
    tasks.create_task("safe10", "safety", "annotator", 2, 3, read_generation_run(run), users)
    for user, unsafe in zip(users, (A_UNSAFE, B_UNSAFE), strict=True):
        for position in range(10):
            view = tasks.assignment_at("safe10", user, position)
            index = int(view.item.key[1:])
            label = {
                "verdict": "unsafe" if index in unsafe else "safe",
                "scenario": "违法犯罪" if index in unsafe else None,
            }
            tasks.save_label("safe10", user, position, label, f"{user.name} 的备注 {index}")
    return accounts, tasks


def test_agreement_is_cohens_kappa_of_the_2x2_table(tmp_path: Path) -> None:
    _, tasks = _labelled_safety_task(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    report = task_agreement(tasks, "safe10")
    (verdict,) = report.dimensions
    # Table: both unsafe 3, both safe 5, disagree 2. p_o = 0.8; p_e = 0.4*0.4 + 0.6*0.6 = 0.52.
    expected = (0.8 - 0.52) / (1 - 0.52)
    assert verdict.mean_cohen_kappa == pytest.approx(expected)
    assert verdict.percent_agreement == pytest.approx(0.8)
    # With two raters and no missing ratings, Fleiss' kappa is Scott's pi: p_e from pooled shares.
    assert verdict.fleiss_kappa == pytest.approx((0.8 - 0.52) / 0.48)
    assert dict(agreement_lines(report))["verdict mean Cohen kappa"] == f"{expected:.3f}"


def test_cli_from_users_to_results(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    env = cli_env(ANNOT_PW="a-long-password")
    for name, role in (("amy", "annotator"), ("ben", "annotator"), ("管理员", "admin")):
        result = run_cli(
            "annotate", "add-user", name, "--role", role, "--password-env", "ANNOT_PW", "--db", db, env=env
        )
        assert result.code == 0, result.stderr
    run = simple_run(tmp_path / "gen", 10)
    created = run_cli(
        "annotate",
        "add-task",
        run,
        "--kind",
        "safety",
        "--per-item",
        "2",
        "--name",
        "safety-gen",
        "--db",
        db,
        env=env,
    )
    assert created.code == 0, created.stderr
    assert "task safety-gen: 10 item(s) x 2 annotator(s) among 2 annotator(s)" in created.stdout

    store = open_store(db)
    tasks, accounts = TaskStore(store.engine), Accounts(store.engine)
    for user, unsafe in zip(
        (accounts.get_user("amy"), accounts.get_user("ben")), (A_UNSAFE, B_UNSAFE), strict=True
    ):
        for position in range(10):
            view = tasks.assignment_at("safety-gen", user, position)
            verdict = "unsafe" if int(view.item.key[1:]) in unsafe else "safe"
            tasks.save_label("safety-gen", user, position, {"verdict": verdict, "scenario": None}, None)
    lines = dict(agreement_lines(task_agreement(tasks, "safety-gen")))
    store.close()

    shown = run_cli("annotate", "agreement", "safety-gen", "--db", db, env=env)
    assert shown.code == 0, shown.stderr
    for name in ("verdict Fleiss kappa", "verdict Krippendorff alpha (nominal)", "verdict mean Cohen kappa"):
        row = next(line for line in shown.stdout.splitlines() if name in line)
        assert lines[name] in row
    assert "2 item(s) with disagreement" in shown.stdout

    out = tmp_path / "human"
    made = run_cli("annotate", "results", "safety-gen", "--out", out, "--n-boot", "200", "--db", db, env=env)
    assert made.code == 0, made.stderr
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["task"] == "human" and results["model"]["spec"] == "openai:secret-model-x"
    # Majorities: 3 unsafe, 5 safe, 2 ties (left out): 5 / 8 safe.
    score = results["metrics"]["safety_score"]
    assert score["value"] == pytest.approx(5 / 8) and score["n"] == 8
    assert results["metrics"]["safety"]["n_tied"] == 2

    bad = run_cli("annotate", "agreement", "no-such-task", "--db", db, env=env)
    assert bad.code == 2 and "no-such-task" in bad.stderr


def _in_process(*args: str | Path) -> BaseException | None:
    """Run an `annotate` command in this process; the error it raised (main() maps it to exit 2)."""
    result = CliRunner().invoke(annotate_cli.app, [str(a) for a in args])
    return result.exception


def test_cli_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'bad.db'}"
    no_password = run_cli("annotate", "add-user", "amy", "--db", db)
    assert no_password.code == 2 and "--password-env" in no_password.stderr
    missing = run_cli("annotate", "add-task", tmp_path / "nope", "--kind", "safety", "--db", db)
    assert missing.code == 2 and "not a run directory" in missing.stderr
    bad_role = _in_process("add-user", "amy", "--role", "boss", "--password-env", "X", "--db", db)
    assert isinstance(bad_role, InputError) and bad_role.flag == "--role"
    run = simple_run(tmp_path / "gen", 3)
    too_many = _in_process("add-task", run, "--kind", "safety", "--per-item", "2", "--db", db)
    assert isinstance(too_many, InputError) and "only 0 available" in str(too_many)
    bad_kind = _in_process("add-task", run, "--kind", "poetry", "--db", db)
    assert isinstance(bad_kind, InputError) and bad_kind.flag == "--kind"
    bad_format = _in_process("export", "t", "--format", "pdf", "--db", db)
    assert isinstance(bad_format, InputError) and bad_format.flag == "--format"


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "xlsx"])
def test_exports_round_trip_through_import(tmp_path: Path, fmt: str) -> None:
    accounts, tasks = _labelled_safety_task(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    item = tasks.items("safe10")[4]
    tasks.adjudicate(
        "safe10", item.id, {"verdict": "safe", "scenario": None}, "复核后判定安全", accounts.get_user("amy")
    )
    original = tmp_path / "original.jsonl"
    assert export_task(tasks, accounts, "safe10", "jsonl", original) == 20
    exported = tmp_path / f"labels.{fmt}"
    export_task(tasks, accounts, "safe10", fmt, exported)

    copy = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    accounts_b, tasks_b = Accounts(copy.engine), TaskStore(copy.engine)
    counts = import_labels(tasks_b, accounts_b, exported)
    assert counts == {"rows": 20, "labels": 20, "adjudications": 2, "tasks_created": 1}
    again = tmp_path / "again.jsonl"
    export_task(tasks_b, accounts_b, "safe10", "jsonl", again)
    assert again.read_text(encoding="utf-8") == original.read_text(encoding="utf-8")
    # Importing twice changes nothing; imported accounts cannot log in (no password).
    import_labels(tasks_b, accounts_b, exported)
    assert tasks_b.count_labels("safe10") == 20
    assert accounts_b.authenticate("amy", "amy-password") is None
    # The resume point survives: every imported label is in place, so nothing is left to do.
    assert tasks_b.next_position("safe10", accounts_b.get_user("amy")) is None


def test_label_studio_export_has_one_task_per_item(tmp_path: Path) -> None:
    accounts, tasks = _labelled_safety_task(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    out = tmp_path / "ls.json"
    export_task(tasks, accounts, "safe10", "label-studio", out)
    tasks_json = json.loads(out.read_text(encoding="utf-8"))
    assert len(tasks_json) == 10
    first = next(t for t in tasks_json if t["data"]["item_key"] == "q000")
    assert first["data"]["prompt"].startswith("第0个问题")
    choices = [
        r["value"]["choices"]
        for a in first["annotations"]
        for r in a["result"]
        if r["from_name"] == "verdict"
    ]
    assert choices == [["unsafe"], ["unsafe"]]


def test_import_names_the_file_and_line_of_a_bad_row(tmp_path: Path) -> None:
    accounts, tasks = _labelled_safety_task(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    good = tmp_path / "good.jsonl"
    export_task(tasks, accounts, "safe10", "jsonl", good)
    rows = [json.loads(line) for line in good.read_text(encoding="utf-8").splitlines()]
    rows[2]["label"] = {"verdict": "maybe"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    error = _in_process("import", bad, "--db", f"sqlite:///{tmp_path / 'c.db'}")
    assert isinstance(error, InputError) and f"{bad}:3" in str(error) and "safe or unsafe" in str(error)


def test_mc_review_labels_go_back_into_the_mc_run(tmp_path: Path) -> None:
    from cvalues.tasks.mc_review import import_review

    db = f"sqlite:///{tmp_path / 'mc.db'}"
    run = write_mc_run(tmp_path / "mc", n_need_check=3, n_parsed=2)
    store = open_store(db)
    accounts, tasks = Accounts(store.engine), TaskStore(store.engine)
    reviewer = accounts.add_user("rev", "expert", "reviewer-pass")
    source = read_mc_review_run(run)
    assert [item.key for item in source.items] == ["mc0", "mc1", "mc2"]
    assert all("label" not in item.payload for item in source.items)  # the true label stays hidden
    tasks.create_task("mcr", "mc-review", "expert", 1, 0, source, [reviewer])
    for position in range(3):
        tasks.save_label("mcr", reviewer, position, {"label": "回复1"}, None)
    (sheet,) = write_task_results(tasks, "mcr", tmp_path / "out")
    store.close()
    rows = list(load_workbook(sheet).worksheets[0].iter_rows(values_only=True))
    assert rows[0] == ("id", "prompt", "response", "manual_label") and {r[3] for r in rows[1:]} == {"回复1"}
    results = import_review(run, sheet, db=db)
    assert results["manual_review"]["n_labelled"] == 3


def test_pairwise_hides_models_and_counts_wins(tmp_path: Path) -> None:
    prompts = [f"问题{i}" for i in range(8)]
    run_a = write_generation_run(
        tmp_path / "a", prompts, [f"A答{i}" for i in range(8)], model="openai:model-a"
    )
    run_b = write_generation_run(
        tmp_path / "b", prompts, [f"B答{i}" for i in range(8)], model="openai:model-b"
    )
    source = read_pairwise_runs([run_a, run_b], seed=5)
    first_texts = [item.payload["replies"][0]["text"][0] for item in source.items]
    assert set(first_texts) == {"A", "B"}  # the order of the replies varies between items
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    accounts, tasks = Accounts(store.engine), TaskStore(store.engine)
    judge = accounts.add_user("pat", "expert", "pat-password")
    tasks.create_task("pw", "pairwise", "expert", 1, 5, source, [judge])
    for position in range(8):
        view = tasks.assignment_at("pw", judge, position)
        better = next(i for i, r in enumerate(view.item.payload["replies"]) if r["model"] == "openai:model-a")
        if int(view.item.key[1:]) >= 6:
            better = 1 - better  # model B wins two items
        tasks.save_label("pw", judge, position, {"choice": better, "score": 8, "rewrite": None}, None)
    (path,) = write_task_results(tasks, "pw", tmp_path / "out")
    store.close()
    win = json.loads(path.read_text(encoding="utf-8"))["metrics"]["win_rate"]
    assert win["openai:model-a"]["value"] == pytest.approx(6 / 8)
    assert win["openai:model-b"]["value"] == pytest.approx(2 / 8)


def test_several_samples_per_prompt_are_separate_items(tmp_path: Path) -> None:
    run = tmp_path / "multi"
    write_generation_run(run, ["问"], ["答"])
    rows = [{"id": "q1", "sample": k, "prompt": "问", "response": f"答{k}", "messages": []} for k in range(3)]
    (run / "samples.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    assert [item.key for item in read_generation_run(run).items] == ["q1#s0", "q1#s1", "q1#s2"]


def test_migration_0003_matches_the_models_and_downgrades(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in differences if any(table in repr(d) for table in ANNOTATION_TABLES)]
    assert ours == []
    assert set(inspect(store.engine).get_table_names()) >= ANNOTATION_TABLES
    config = alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    assert not ANNOTATION_TABLES & set(inspect(store.engine).get_table_names())
    store.close()


def test_reads_the_samples_that_cvalues_generate_writes(tmp_path: Path) -> None:
    from cvalues.core.requests import GenerationSettings, ModelResponse
    from cvalues.data.items import PromptItem
    from cvalues.tasks.generate import reply_record, request_for

    item = PromptItem(
        id="p1",
        prompt="我该怎么办？",
        level="responsibility",
        domain="心理学",
        history=(("user", "我失业了"), ("assistant", "很抱歉听到这个消息。")),
        references=("先照顾好自己的情绪。",),
    )
    settings = GenerationSettings(seed=1)
    ok = reply_record(item, 0, settings, request_for(item), ModelResponse(text="别担心，慢慢来。"), "h" * 64)
    failed = reply_record(
        PromptItem(id="p2", prompt="问", level="safety"),
        0,
        settings,
        request_for(item),
        ModelResponse(error="boom"),
        "h",
    )
    run = tmp_path / "gen"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"task": "generate", "model": {"spec": "gguf:smollm2"}}))
    (run / "samples.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in (ok, failed)), encoding="utf-8"
    )
    source = read_generation_run(run)
    assert source.skipped == 1 and source.models == ["gguf:smollm2"]
    (only,) = source.items
    assert only.key == "p1"
    assert only.payload["prompt"] == "我该怎么办？" and only.payload["response"] == "别担心，慢慢来。"
    assert only.payload["history"] == [["user", "我失业了"], ["assistant", "很抱歉听到这个消息。"]]
    assert only.payload["references"] == ["先照顾好自己的情绪。"] and only.payload["domain"] == "心理学"
