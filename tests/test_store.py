"""The store: migrations on a fresh SQLite file, upserts, Chinese JSON, runs, chunked lookups."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, select, text

import cvalues.store.annotation_tables  # noqa: F401  (registers the annotation tables on Base.metadata)
from cvalues.core.errors import InputError
from cvalues.core.requests import Message, ModelRequest, ModelResponse
from cvalues.data.items import MCItem, PairItem, PromptItem
from cvalues.store import RunItemRow, Store, open_store
from cvalues.store.engine import alembic_config
from cvalues.store.tables import Base, Item

STORE_TABLES = {"datasets", "items", "runs", "responses", "run_items", "judgments"}
ANNOTATION_TABLES = {
    "annotators",
    "annotation_sessions",
    "annotation_tasks",
    "annotation_items",
    "assignments",
    "annotations",
    "adjudications",
    "collected_prompts",
    "login_failures",
}
ALL_TABLES = STORE_TABLES | ANNOTATION_TABLES


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.close()


def _request(content: str) -> ModelRequest:
    return ModelRequest(messages=(Message("user", content),))


def _hash(n: int) -> str:
    return f"{n:064x}"


def _mc_item(key: str) -> MCItem:
    return MCItem(
        id=key,
        question="我的朋友总是向我借钱不还，我该怎么办？",
        reply1="你可以坦诚地和他沟通，说明你的感受。",
        reply2="直接和他断绝来往。",
        label="回复1",
        domain="亲密关系",
        pair_id="p-" + key,
    )


# -- opening and migrating -------------------------------------------------------------------


def test_fresh_sqlite_file_gets_every_table_and_wal(tmp_path: Path) -> None:
    db_file = tmp_path / "nested" / "dir" / "store.db"
    store = open_store(f"sqlite:///{db_file}")
    try:
        assert db_file.is_file()
        tables = set(inspect(store.engine).get_table_names())
        assert tables == ALL_TABLES | {"alembic_version"}
        with store.engine.connect() as conn:
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        store.close()


def test_second_open_runs_no_migration_and_keeps_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with open_store(url) as first:
        dataset_id = first.upsert_dataset("cvalues_mc", "https://example.org/x.jsonl", "ab" * 32, 3)

    import alembic.command

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("an up-to-date store must not be migrated again")

    monkeypatch.setattr(alembic.command, "upgrade", refuse)
    with open_store(url) as second:
        assert second.upsert_dataset("cvalues_mc", "https://example.org/x.jsonl", "ab" * 32, 3) == dataset_id


def test_migration_matches_the_table_models(store: Store) -> None:
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []

    inspector = inspect(store.engine)
    migrated = {table: {column["name"] for column in inspector.get_columns(table)} for table in ALL_TABLES}
    declared = {
        table.name: {column.name for column in table.columns} for table in Base.metadata.sorted_tables
    }
    assert migrated == declared


def test_default_url_is_a_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CVALUES_DB", raising=False)
    with open_store() as store:
        assert store.engine.url.database == "cvalues.db"
    assert (tmp_path / "cvalues.db").is_file()


def test_env_var_chooses_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVALUES_DB", f"sqlite:///{tmp_path / 'from_env.db'}")
    with open_store():
        pass
    assert (tmp_path / "from_env.db").is_file()


@pytest.mark.parametrize("bad_url", ["not a url", "nosuchdb://user@host/db"])
def test_bad_url_names_the_flag_or_the_env_var(bad_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError) as from_flag:
        open_store(bad_url)
    assert from_flag.value.flag == "--db"
    assert str(from_flag.value).startswith("--db: ")

    monkeypatch.setenv("CVALUES_DB", bad_url)
    with pytest.raises(InputError) as from_env:
        open_store()
    assert from_env.value.flag == "CVALUES_DB"


def test_sqlite_path_that_is_a_directory_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open the store"):
        open_store(f"sqlite:///{tmp_path}")


def test_in_memory_store_keeps_its_data_between_transactions() -> None:
    with open_store("sqlite://") as store:
        dataset_id = store.upsert_dataset("mem", "local", "00" * 32, 0)
        assert store.upsert_dataset("mem", "local", "00" * 32, 0) == dataset_id


# -- datasets and items ----------------------------------------------------------------------


def test_upsert_dataset_is_keyed_by_name_and_checksum(store: Store) -> None:
    first = store.upsert_dataset("cvalues_mc", "a.jsonl", "aa" * 32, 10)
    again = store.upsert_dataset("cvalues_mc", "/elsewhere/a.jsonl", "aa" * 32, 10)
    other_bytes = store.upsert_dataset("cvalues_mc", "a.jsonl", "bb" * 32, 11)
    assert first == again
    assert other_bytes != first
    with store.engine.connect() as conn:
        source = conn.execute(text("SELECT source FROM datasets WHERE id = :id"), {"id": first}).scalar_one()
    assert source == "/elsewhere/a.jsonl"


def test_items_round_trip_chinese_and_saving_twice_is_idempotent(store: Store) -> None:
    dataset_id = store.upsert_dataset("demo", "demo.jsonl", "cc" * 32, 4)
    items: list[Any] = [
        _mc_item("mc-1"),
        _mc_item("mc-2"),
        PromptItem(id="pr-1", prompt="如何安慰失恋的朋友？", level="responsibility", domain="心理学"),
        PairItem(id="pa-1", prompt="问题", pos="好的回复", neg="坏的回复", pos_type="拒绝&正向建议"),
    ]
    store.save_items(dataset_id, items)
    store.save_items(dataset_id, items)

    with store.engine.connect() as conn:
        items_table = Item.__table__
        rows = conn.execute(select(items_table).order_by(items_table.c.item_key)).all()
        raw_payload = conn.execute(
            text("SELECT CAST(payload AS TEXT) FROM items WHERE item_key = 'mc-1'")
        ).scalar_one()
    assert [(row.item_key, row.kind) for row in rows] == [
        ("mc-1", "mc"),
        ("mc-2", "mc"),
        ("pa-1", "pair"),
        ("pr-1", "prompt"),
    ]
    assert rows[0].domain == "亲密关系"
    assert rows[0].pair_id == "p-mc-1"
    assert MCItem(**rows[0].payload) == _mc_item("mc-1")
    assert "我的朋友总是向我借钱不还" in raw_payload
    assert "\\u" not in raw_payload


# -- responses -------------------------------------------------------------------------------


def test_errored_responses_are_not_served_and_a_success_replaces_them(store: Store) -> None:
    request = _request("你好")
    store.save_responses([(_hash(1), "hf:demo", request, ModelResponse(error="timeout"))])
    assert store.get_responses([_hash(1)]) == {}

    success = ModelResponse(text="你好！有什么可以帮你？", input_tokens=3, output_tokens=7, latency_s=0.5)
    store.save_responses([(_hash(1), "hf:demo", request, success)])
    assert store.get_responses([_hash(1)]) == {_hash(1): success}

    # A late error (e.g. from a concurrent run) must not erase the stored success.
    store.save_responses([(_hash(1), "hf:demo", request, ModelResponse(error="late failure"))])
    assert store.get_responses([_hash(1)]) == {_hash(1): success}
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT text, error, output_tokens FROM responses")).one()
    assert tuple(row) == ("你好！有什么可以帮你？", None, 7)


def test_duplicate_hashes_in_one_save_keep_the_success(store: Store) -> None:
    request = _request("q")
    store.save_responses(
        [
            (_hash(2), "hf:demo", request, ModelResponse(text="ok")),
            (_hash(2), "hf:demo", request, ModelResponse(error="flaky")),
        ]
    )
    assert store.get_responses([_hash(2)])[_hash(2)].text == "ok"


def test_choice_logprobs_round_trip(store: Store) -> None:
    response = ModelResponse(choice_logprobs={"回复1": -0.1, "回复2": -2.4}, extra={"模型": "演示"})
    store.save_responses([(_hash(3), "hf:demo", _request("哪个更好？"), response)])
    assert store.get_responses([_hash(3)])[_hash(3)] == response


def test_lookup_of_more_hashes_than_sqlite_allows_variables(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")

    @event.listens_for(store.engine, "connect")
    def _old_sqlite_limit(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

    store.engine.dispose()  # new connections get the limit of SQLite builds before 3.32
    try:
        rows = [(_hash(n), "hf:demo", _request(f"q{n}"), ModelResponse(text=f"a{n}")) for n in range(1500)]
        store.save_responses(rows)
        wanted = [_hash(n) for n in range(1600)]  # 100 of them were never stored
        found = store.get_responses(wanted)
        assert len(found) == 1500
        assert found[_hash(1234)].text == "a1234"
    finally:
        store.close()


# -- runs ------------------------------------------------------------------------------------


def test_run_records(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset_id = store.upsert_dataset("demo", "demo.jsonl", "dd" * 32, 2)
    monkeypatch.chdir(tmp_path)
    spec = {"model": "hf:SmolLM2", "说明": "中文"}
    created = store.create_run("run-1", "mc", spec, {"temperature": 0.0}, dataset_id, "runs/a")
    assert created.status == "running"
    assert created.created.tzinfo is not None

    loaded = store.get_run("run-1")
    assert loaded is not None
    assert loaded.model_spec == spec
    assert loaded.out_dir == str(tmp_path / "runs" / "a")
    assert loaded.created.utcoffset() == UTC.utcoffset(None)
    assert store.get_run("no-such-run") is None

    store.create_run("run-2", "mc", spec, {"temperature": 0.0}, dataset_id, tmp_path / "runs" / "a")
    latest = store.find_run_by_out_dir("./runs/a")
    assert latest is not None and latest.id == "run-2"
    assert store.find_run_by_out_dir("runs/b") is None

    store.set_run_status("run-1", "interrupted")
    interrupted = store.get_run("run-1")
    assert interrupted is not None and interrupted.status == "interrupted"
    assert interrupted.updated >= interrupted.created

    with pytest.raises(ValueError, match="already exists"):
        store.create_run("run-1", "mc", spec, {}, dataset_id, "runs/a")
    with pytest.raises(ValueError, match="not one of"):
        store.set_run_status("run-1", "paused")
    with pytest.raises(LookupError):
        store.set_run_status("no-such-run", "finished")


def test_run_items_upsert_and_load(store: Store) -> None:
    store.create_run("run-1", "mc", {}, {}, None, None)
    store.save_run_items(
        "run-1",
        [
            RunItemRow("b", _hash(2), {"prediction": "回复2"}),
            RunItemRow("a", _hash(1), {"prediction": "回复1"}, {"correct": True}),
        ],
    )
    store.save_run_items("run-1", [RunItemRow("b", _hash(3), {"prediction": "回复1"}, {"correct": False})])
    assert store.load_run_items("run-1") == [
        RunItemRow("a", _hash(1), {"prediction": "回复1"}, {"correct": True}),
        RunItemRow("b", _hash(3), {"prediction": "回复1"}, {"correct": False}),
    ]
    assert store.load_run_items("other") == []


def test_unscored_run_item_is_sql_null(store: Store) -> None:
    store.create_run("run-1", "mc", {}, {}, None, None)
    store.save_run_items("run-1", [RunItemRow("a", _hash(1), {"prediction": None})])
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM run_items WHERE score IS NULL")).scalar_one() == 1
    assert store.load_run_items("run-1")[0].score is None


def test_run_items_need_an_existing_run(store: Store) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        store.save_run_items("never-created", [RunItemRow("a", _hash(1), {})])
