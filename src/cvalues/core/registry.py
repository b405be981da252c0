"""Open registries: a name -> component table that code fills by decorator and other packages fill
through Python entry points, so a separate package adds a backend, a dataset, a judge output
parser or a suite without editing cvalues.

    from cvalues.core.registry import BACKENDS

    @BACKENDS.register("echo")
    def echo_backend(spec, options): ...

    # or, in another package's pyproject.toml:
    # [project.entry-points."cvalues.backends"]
    # echo = "my_package.echo:echo_backend"

Entry points are read on the first look-up of a name that code has not registered, so importing
cvalues stays cheap and a broken plugin only matters to whoever asks for its name. They are read
once per process and group (scanning every installed distribution costs about 10 ms, and a run
looks names up several times); a plugin installed while a process runs is seen by the next one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar, overload

from cvalues.core.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind  # "backend", "dataset", … for messages
        self.group = group  # the entry point group, e.g. "cvalues.backends"
        self._items: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, item: T) -> T: ...

    def register(self, name: str, item: T | None = None) -> Any:
        """``REGISTRY.register("name", obj)``, or ``@REGISTRY.register("name")`` as a decorator."""
        if item is not None:
            self._items[name] = item
            return item

        def decorate(obj: T) -> T:
            self._items[name] = obj
            return obj

        return decorate

    def plugin_names(self) -> list[str]:
        return sorted(ep.name for ep in _entry_points(self.group))

    def names(self) -> list[str]:
        return sorted(set(self._items) | set(self.plugin_names()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._items or name in self.plugin_names())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def find(self, name: str) -> T | None:
        if name in self._items:
            return self._items[name]
        for ep in _entry_points(self.group):
            if ep.name == name:
                try:
                    loaded = ep.load()
                except Exception as exc:  # a plugin's own bug: name it, do not crash with its traceback
                    raise InputError(
                        f"the {self.kind} {name!r} from entry point {ep.value!r} failed to load: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                self._items[name] = loaded
                return loaded  # type: ignore[no-any-return]
        return None

    def get(self, name: str, *, flag: str | None = None) -> T:
        found = self.find(name)
        if found is None:
            raise InputError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}", flag=flag)
        return found


@functools.cache
def _entry_points(group: str) -> tuple[EntryPoint, ...]:
    return tuple(entry_points(group=group))


# The toolkit's four open registries. Components register where they are defined; the registry
# itself lives here, at the bottom, so that every layer can look names up.
BACKENDS: Registry[Callable[..., Any]] = Registry("backend", "cvalues.backends")
DATASETS: Registry[Any] = Registry("dataset", "cvalues.datasets")
JUDGES: Registry[Callable[..., Any]] = Registry("judge output parser", "cvalues.judges")
SUITES: Registry[Any] = Registry("suite", "cvalues.suites")

__all__ = ["BACKENDS", "DATASETS", "JUDGES", "SUITES", "Registry"]
