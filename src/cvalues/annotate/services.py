"""What every request handler reaches: the store and the objects over it, held on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from cvalues.annotate.accounts import Accounts
from cvalues.annotate.collection import Collection
from cvalues.annotate.login_throttle import LoginThrottle
from cvalues.annotate.redteam_target import RedTeamTarget
from cvalues.annotate.rendering import Renderer
from cvalues.annotate.task_store import TaskStore
from cvalues.store.store import Store


@dataclass
class AppServices:
    store: Store
    accounts: Accounts
    tasks: TaskStore
    collection: Collection
    renderer: Renderer
    throttle: LoginThrottle
    target: RedTeamTarget | None = None
    # Set behind HTTPS so that cookies are never sent in clear text.
    secure_cookies: bool = False

    @classmethod
    def over(
        cls,
        store: Store,
        target: RedTeamTarget | None = None,
        secure_cookies: bool = False,
        renderer: Renderer | None = None,
    ) -> AppServices:
        engine = store.engine
        return cls(
            store,
            Accounts(engine),
            TaskStore(engine),
            Collection(engine),
            renderer or Renderer(secure_cookies=secure_cookies),
            LoginThrottle(engine),
            target,
            secure_cookies,
        )


def services(request: Request) -> AppServices:
    return request.app.state.services  # type: ignore[no-any-return]
