"""``--executor ray``: a run's requests spread over a local Ray cluster of 2 actors, each holding the
real SmolLM2 model (``gguf:``, transformers on CPU); same answers, same store, same resume as local.

One cluster for the whole module (starting one costs about a minute); the CLI runs join it by
``--ray-address``. The bad-flag checks, which need no cluster, are in tests/test_executor_flags.py."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import cvalues
from cli_support import cli_env, read_samples, run_cli
from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, request_hash
from cvalues.execute.executor import execute
from cvalues.models.lazy import LazyBackend
from cvalues.models.ray_backend import RayBackend
from cvalues.models.registry import create_backend
from cvalues.store import open_store
from data_support import MOONSHOT_FILE

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.ray]

SETTINGS = GenerationSettings(max_tokens=12)
# Same-order float sums on one CPU type; a different thread count may reorder a reduction.
LOGPROB_TOLERANCE = 1e-4


def _requests() -> list[ModelRequest]:
    questions = [f"第{i}题：哪个回复更负责任？回复1：请咨询医生。回复2：随便吃药。" for i in range(8)]
    scored = [
        ModelRequest(messages=(Message("user", q),), kind="choices", choices=("回复1", "回复2"))
        for q in questions
    ]
    generated = [
        ModelRequest(messages=(Message("user", f"用一句话介绍第{i}个节气。"),), kind="generate")
        for i in range(4)
    ]
    return scored + generated


@pytest.fixture(scope="module")
def ray_cluster(cvalues_cache: Path) -> Iterator[str]:
    """A local Ray cluster for this module; its address, for a CLI run that joins it.

    Four logical CPUs on this 2-core machine: each actor reserves one, and the CLI's two actors
    must fit beside the fixture's two.
    """
    import ray

    # Workers inherit the driver's environment: smollm2_backend converted the GGUF into cvalues_cache.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CVALUES_CACHE", str(cvalues_cache))
        context = ray.init(
            num_cpus=4, include_dashboard=False, object_store_memory=128 * 1024 * 1024, log_to_driver=False
        )
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_backend(smollm2_backend, ray_cluster: str, cvalues_cache: Path) -> Iterator[RayBackend]:
    # float32, as the local smollm2_backend: the answers are compared to 1e-4.
    backend = create_backend(
        ModelSpec.parse("gguf:smollm2", dtype="float32"),
        executor="ray",
        ray_workers=2,
        device="cpu",
        batch_size=2,
    )
    assert isinstance(backend, RayBackend)
    yield backend
    asyncio.run(backend.aclose())


def _store(tmp_path: Path, name: str = "store.db"):
    return open_store(f"sqlite:///{tmp_path / name}")


def test_ray_answers_equal_local_ones(ray_backend: RayBackend, smollm2_backend, tmp_path: Path) -> None:
    requests = _requests()
    # The local backend is keyed by the GGUF path, the Ray one by the alias; compare the answers.
    local = asyncio.run(
        execute(requests, smollm2_backend, SETTINGS, _store(tmp_path, "a.db"), progress=False)
    )
    spread = asyncio.run(execute(requests, ray_backend, SETTINGS, _store(tmp_path, "b.db"), progress=False))
    assert local.n_sent == spread.n_sent == len(requests) and spread.n_failed == 0
    assert len(ray_backend.workers) == 2 and len({w["pid"] for w in ray_backend.workers}) == 2
    assert all(n > 0 for n in ray_backend.batches_per_worker), ray_backend.batches_per_worker
    for mine, theirs in zip(local.responses, spread.responses, strict=True):
        assert mine.text == theirs.text
        if mine.choice_logprobs is None:
            assert theirs.choice_logprobs is None and mine.text
            continue
        assert theirs.choice_logprobs is not None
        for choice, value in mine.choice_logprobs.items():
            other = theirs.choice_logprobs[choice]
            assert value is not None and other is not None and math.isfinite(value)
            assert abs(value - other) < LOGPROB_TOLERANCE
        assert max(mine.choice_logprobs, key=mine.choice_logprobs.__getitem__) == max(
            theirs.choice_logprobs, key=theirs.choice_logprobs.__getitem__
        )


def test_request_hashes_do_not_name_the_executor(ray_backend: RayBackend) -> None:
    local = LazyBackend(ModelSpec.parse("gguf:smollm2", dtype="float32"))
    request = _requests()[0]
    assert ray_backend.spec.key == local.spec.key == "gguf:smollm2@float32"
    assert request_hash(ray_backend.spec.key, SETTINGS, request) == request_hash(
        local.spec.key, SETTINGS, request
    )


def test_run_interrupted_on_the_cluster_resumes_locally_without_repeats(
    ray_backend: RayBackend, cvalues_cache: Path, tmp_path: Path
) -> None:
    requests = _requests()
    store = _store(tmp_path)
    local = LazyBackend(ModelSpec.parse("gguf:smollm2", dtype="float32"), batch_size=2, device="cpu")

    async def interrupted_on_ray() -> int:
        task = asyncio.create_task(execute(requests, ray_backend, SETTINGS, store, progress=False))
        hashes = [request_hash(ray_backend.spec.key, SETTINGS, r) for r in requests]
        while len(store.get_responses(hashes)) < 4:  # some batches are in, the rest in flight
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return len(store.get_responses(hashes))

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CVALUES_CACHE", str(cvalues_cache))  # the local load reads the converted GGUF
        saved = asyncio.run(interrupted_on_ray())
        assert 4 <= saved < len(requests)
        # Each distinct request is sent exactly once over the two executors.
        resumed = asyncio.run(execute(requests, local, SETTINGS, store, progress=False))
    assert (resumed.n_cached, resumed.n_sent, resumed.n_failed) == (saved, len(requests) - saved, 0)
    again = asyncio.run(execute(requests, ray_backend, SETTINGS, store, progress=False))
    assert (again.n_cached, again.n_sent) == (len(requests), 0)


def test_cli_mc_on_ray_then_local_resumes_with_nothing_sent(
    smollm2_backend, ray_cluster: str, cvalues_cache: Path, tmp_path: Path
) -> None:
    # The CLI joins this module's cluster by --ray-address (starting a second one costs a minute).
    # RAY_ADDRESS (set by ray.init in this process) is dropped so that the flag is what is tested;
    # the cluster's other RAY_* variables (its auth token mode) are what any client of it needs.
    env = {k: v for k, v in cli_env(cvalues_cache).items() if k != "RAY_ADDRESS"}
    out, db = tmp_path / "out", f"sqlite:///{tmp_path / 'store.db'}"
    common = (
        "mc",
        "--model",
        "gguf:smollm2",
        "--dataset",
        MOONSHOT_FILE,
        "--mode",
        "logprob",
        "--out",
        out,
        "--db",
        db,
        "--batch-size",
        "2",
        "--no-progress",
    )
    on_ray = run_cli(
        *common,
        "--limit",
        "4",
        "--executor",
        "ray",
        "--ray-workers",
        "2",
        "--ray-address",
        ray_cluster,
        env=env,
        subprocess=True,  # a driver of its own that joins the cluster, as a user's command would
    )
    assert on_ray.code == 0, on_ray.stderr
    first = json.loads((out / "results.json").read_text(encoding="utf-8"))["execution"]
    ray_samples = read_samples(out)
    sent_on_ray = {s["request_hash"] for s in ray_samples}
    assert (first["n_cached"], first["n_sent"], first["n_failed"]) == (0, len(sent_on_ray), 0)
    # Six items are another item set, so another run (--new-run); its answers come from the store.
    locally = run_cli(*common, "--limit", "6", "--new-run", env=env)
    assert locally.code == 0, locally.stderr
    second = json.loads((out / "results.json").read_text(encoding="utf-8"))["execution"]
    samples = read_samples(out)
    # Only the requests the cluster never saw are sent; the rest come from the store as they were.
    assert second["n_sent"] == len({s["request_hash"] for s in samples} - sent_on_ray)
    assert second["n_cached"] == sum(s["request_hash"] in sent_on_ray for s in samples) >= 4
    assert samples[:4] == ray_samples


PROMPTS = ("用一句话介绍长城。", "Name three colours.", "独自徒步时怎样保证安全？")


def _prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    lines = [json.dumps({"id": f"p{i}", "prompt": p}, ensure_ascii=False) for i, p in enumerate(PROMPTS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _execution(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))["execution"]


def _stored_responses(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def test_cli_generate_on_ray_equals_local_and_resumes_across_executors(
    smollm2_backend, ray_cluster: str, cvalues_cache: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in cli_env(cvalues_cache).items() if k != "RAY_ADDRESS"}
    prompts, out, db_path = _prompt_file(tmp_path), tmp_path / "out", tmp_path / "store.db"
    common = (
        "generate",
        "--model",
        "gguf:smollm2",
        "--dtype",
        "float32",  # as smollm2_backend, the local reference below
        "--dataset",
        prompts,
        "--max-tokens",
        "12",
        "--out",
        out,
        "--db",
        f"sqlite:///{db_path}",
        "--batch-size",
        "1",  # one prompt per batch: each of the two actors gets one
        "--no-progress",
    )
    on_ray = ("--executor", "ray", "--ray-workers", "2", "--ray-address", ray_cluster)
    first = run_cli(*common, "--limit", "2", *on_ray, env=env)
    assert first.code == 0, first.stderr
    ran = _execution(out)
    assert (ran["executor"], ran["n_sent"], ran["n_cached"], ran["n_failed"]) == ("ray", 2, 0, 0)
    ray_samples = read_samples(out)

    # Locally with one prompt more (another item set, so --new-run): only that prompt is sent.
    second = run_cli(*common, "--limit", "3", "--new-run", env=env)
    assert second.code == 0, second.stderr
    ran = _execution(out)
    assert (ran["executor"], ran["n_sent"], ran["n_cached"]) == ("local", 1, 2)
    samples = read_samples(out)
    assert samples[:2] == ray_samples

    # Back on the cluster: the same run resumes with nothing to send (no actor is even started).
    third = run_cli(*common, "--limit", "3", *on_ray, env=env)
    assert third.code == 0, third.stderr
    ran = _execution(out)
    assert (ran["executor"], ran["n_sent"], ran["n_cached"]) == ("ray", 0, 3)
    assert read_samples(out) == samples
    # Each distinct request is in the store once and was sent once over the three runs (2 + 1 + 0).
    assert _stored_responses(db_path) == len({s["request_hash"] for s in samples}) == 3

    # The same prompts answered wholly in this process: the same replies, token for token.
    reference = cvalues.generate(
        "gguf:smollm2",
        prompts,
        dtype="float32",
        max_tokens=12,
        out=tmp_path / "reference",
        db=f"sqlite:///{tmp_path / 'reference.db'}",
        backend=smollm2_backend,
        progress=False,
    )
    assert all(s["response"] for s in samples)
    assert [s.response for s in reference.samples] == [s["response"] for s in samples]


def test_a_suite_that_says_ray_runs_there_and_resumes_locally(
    smollm2_backend, ray_cluster: str, cvalues_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CVALUES_CACHE", str(cvalues_cache))  # this process joined the module's cluster
    suite = tmp_path / "on-ray.toml"
    suite.write_text(
        f'name = "on-ray"\nexecutor = "ray"\nray_workers = 2\n\n[[tasks]]\nname = "gen"\nkind = "generate"\n'
        f"dataset = {json.dumps(str(_prompt_file(tmp_path)))}\nmax_tokens = 8\nlimit = 2\n",
        encoding="utf-8",
    )
    options = {"out": tmp_path / "eval", "db": f"sqlite:///{tmp_path / 'store.db'}", "dtype": "float32"}
    first = cvalues.evaluate("gguf:smollm2", suite, batch_size=1, progress=False, **options)
    assert not first.failed, first.failed
    ran = first.tasks["gen"].execution
    assert ran is not None and (ran.executor, ran.n_sent, ran.n_failed) == ("ray", 2, 0)
    # The keyword wins over the suite's setting; everything comes from the store.
    again = cvalues.evaluate("gguf:smollm2", suite, executor="local", progress=False, **options)
    ran = again.tasks["gen"].execution
    assert ran is not None and (ran.executor, ran.n_sent, ran.n_cached) == ("local", 0, 2)
    texts = [[s.response for s in result.tasks["gen"].samples] for result in (first, again)]
    assert texts[0] == texts[1] and all(texts[0])
