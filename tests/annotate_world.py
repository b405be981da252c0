"""The annotation app over a fresh store with users (admin, annotators, an expert), for the HTTP
tests; parametrised over SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from annotate_support import csrf_token, fresh_database, login, simple_run
from cvalues.annotate import Accounts, RedTeamTarget, TaskStore, create_app
from cvalues.annotate.run_sources import read_generation_run
from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse
from cvalues.store import Store, open_store

PASSWORDS = {
    "root": "admin-pass-1",
    "alice": "alice-pass-1",
    "bob": "bob-pass-12",
    "carol": "carol-pass1",
    "eve": "expert-pass1",
}
JUDGE_MARK = "JUDGE-SAID-UNSAFE-42"


class EchoBackend:
    """A stand-in target model for the red-team pages: answers with the prompt it was sent."""

    spec = ModelSpec(provider="openai", name="echo-target")
    batch_size = 1
    max_concurrency = 1

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        return [ModelResponse(text="回声：" + request.messages[-1].content) for request in requests]

    async def aclose(self) -> None:
        return None


@dataclass
class World:
    store: Store
    accounts: Accounts
    tasks: TaskStore
    tmp: Path
    clients: dict[str, TestClient] = field(default_factory=dict)
    app: Any = None

    def client(self, name: str | None = None) -> TestClient:
        """A logged-in client for ``name`` (one per user), or a fresh anonymous one."""
        if name is None:
            return TestClient(self.app)
        if name not in self.clients:
            client = TestClient(self.app)
            login(client, name, PASSWORDS[name])
            self.clients[name] = client
        return self.clients[name]


BACKENDS = ("sqlite", "postgresql")


@contextmanager
def open_world(backend: str, tmp_path: Path) -> Iterator[World]:
    """A fresh store on ``backend`` with root (admin), alice, bob, carol (annotators), eve (expert),
    and the app over it with a stand-in red-team target."""
    with fresh_database(backend, tmp_path) as url:
        store = open_store(url)
        accounts, tasks = Accounts(store.engine), TaskStore(store.engine)
        accounts.add_user("root", "admin", PASSWORDS["root"])
        for name in ("alice", "bob", "carol"):
            accounts.add_user(name, "annotator", PASSWORDS[name])
        accounts.add_user("eve", "expert", PASSWORDS["eve"])
        target = RedTeamTarget(EchoBackend.spec, backend=EchoBackend())
        world = World(store, accounts, tasks, tmp_path)
        world.app = create_app(store, target=target)
        try:
            yield world
        finally:
            store.close()


def users(world: World, *names: str) -> list[Any]:
    return [world.accounts.get_user(name) for name in names]


def safety_task(world: World, task_id: str = "safety-t", n: int = 6, per_item: int = 2) -> None:
    run = simple_run(world.tmp / task_id, n, extra={"judge_verdict": JUDGE_MARK})
    source = read_generation_run(run)
    world.tasks.create_task(
        task_id, "safety", "annotator", per_item, 7, source, users(world, "alice", "bob", "carol")
    )


def label(client: TestClient, task_id: str, position: int, **fields: str) -> Any:
    page = client.get(f"/tasks/{task_id}/{position}")
    assert page.status_code == 200
    data = {**fields, "csrf_token": csrf_token(page.text)}
    return client.post(f"/tasks/{task_id}/{position}", data=data, follow_redirects=False)
