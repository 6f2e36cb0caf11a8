"""The one registry pattern behind models, datasets and VP methods: a name → entry dict whose lookups
fail with a :class:`ConfigError` that lists the allowed names."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from vpbench.errors import ConfigError


class _Named(Protocol):
    name: str


T = TypeVar("T", bound=_Named)


class Registry(dict[str, T], Generic[T]):
    """A dict of entries keyed by their ``name``, with checked registration and friendly lookups."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, entry: T) -> T:
        """Add ``entry``; registering a name twice is a programming error."""
        if entry.name in self:
            raise ValueError(f"{self.kind} {entry.name!r} is registered twice")
        self[entry.name] = entry
        return entry

    def lookup(self, name: str) -> T:
        """The entry called ``name``, or a :class:`ConfigError` naming the allowed values."""
        try:
            return self[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; allowed values: {', '.join(sorted(self))}"
            ) from None
