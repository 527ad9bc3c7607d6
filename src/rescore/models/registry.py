"""The model registry: a name → entry function, plus facts about each model that answer
questions (`python -m rescore.models list`, the config check) without building it.

Each family module registers explicitly named entry functions at its bottom
(`def resnet56(...)`), in the style of timm's `resnet.py`, so `grep "def resnet56"` finds
the model. Registering a name twice raises, so two modules can never silently shadow each
other; asking for an unknown name raises an error that lists every registered name and the
closest match, so a typo on the command line explains itself.
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
        """Decorator: `@registry.register(family="resnet_v1", depth=20)` registers the
        function under its own name (or `name`)."""

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


MODELS = Registry("model")


def register_model(*, family: str, depth: int, block: str, default_shortcut: str | None,
                   params: int, features: int, placement: str | None = None) -> Callable:
    """Register an entry function under its own name with the facts `list` prints.

    default_shortcut: the option build_model uses when none is asked for (the one place
    it is decided). placement: the family's own residual unit (units.py, He et al. 2016b
    Fig. 4), which build_model fills in when a unit variant leaves it open; None for
    families whose units cannot be varied (plain and ImageNet-style nets).
    params: trainable parameters at the entry's defaults with 10 classes;
    features: the width into the classifier, so params at k classes is
    params + (k - 10) * (features + 1). Both are checked against built models by
    tests/test_models_zoo.py."""
    return MODELS.register(family=family, depth=depth, block=block,
                           default_shortcut=default_shortcut, params=params,
                           features=features, placement=placement)
