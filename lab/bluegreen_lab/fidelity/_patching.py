"""Reversible attribute replacement on moto's classes (no third-party mock library: the patches
must outlive a test and serve a ThreadedMotoServer started in the same process)."""

from __future__ import annotations

from typing import Any, Callable

_MISSING = object()


class Patcher:
    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def original(self, owner: type, name: str) -> Callable[..., Any]:
        """The attribute as currently resolved on ``owner`` (possibly inherited)."""
        return getattr(owner, name)

    def replace(self, owner: type, name: str, value: Any) -> None:
        self._undo.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, value)

    def wrap(self, owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        """Replace ``owner.name`` by ``make(original)``; the wrapper keeps the original's name."""
        original = self.original(owner, name)
        wrapper = make(original)
        wrapper.__name__ = getattr(original, "__name__", name)
        wrapper.__qualname__ = f"{owner.__name__}.{name}[bluegreen.fidelity]"
        wrapper.__wrapped__ = original  # type: ignore[attr-defined]
        self.replace(owner, name, wrapper)

    def restore(self) -> None:
        while self._undo:
            owner, name, previous = self._undo.pop()
            if previous is _MISSING:
                try:
                    delattr(owner, name)
                except AttributeError:
                    pass
            else:
                setattr(owner, name, previous)
