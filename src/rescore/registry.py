"""A small name → builder registry (in the spirit of fvcore's Registry).

Registering a name twice raises, so two modules can never silently shadow each
other; asking for an unknown name raises an error that lists every registered
name and the closest match, so a typo on the command line explains itself.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, List


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._builders: Dict[str, Callable[..., Any]] = {}
        self._info: Dict[str, Dict[str, Any]] = {}

    def register(self, name: str | None = None, **info: Any) -> Callable:
        """Decorator: `@registry.register("resnet20", family="resnet_v1", depth=20)`."""

        def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
            key = name or builder.__name__
            if key in self._builders:
                raise KeyError(f"{self.kind} {key!r} is already registered "
                               f"(by {self._builders[key].__module__})")
            self._builders[key] = builder
            self._info[key] = dict(info)
            return builder

        return decorate

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._builders:
            raise KeyError(unknown_name_message(self.kind, name, self.names()))
        return self._builders[name]

    def info(self, name: str) -> Dict[str, Any]:
        self.get(name)  # same error for an unknown name
        return dict(self._info[name])

    def names(self) -> List[str]:
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        return name in self._builders


def unknown_name_message(kind: str, name: str, valid: List[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Registered: {', '.join(valid)}"
