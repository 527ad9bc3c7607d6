"""Command-line overrides checked against the schema before Hydra composes anything.

Hydra rejects an unknown key (`optim.lrr=0.2`, `+optim.lrr=0.2`) with a bare
"Key 'lrr' not in 'OptimConfig'". This check runs first and says which keys exist there
and which one was probably meant. Config-group choices (`model=resnet56`) and `hydra.*`
are left to Hydra, which lists the available options itself.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any, List, Optional, Sequence

from .config import Config
from .errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent / "conf"


def check_overrides(argv: Sequence[str]) -> None:
    """Raise ConfigError for the first override whose key the schema does not have."""
    problems = [p for key in _override_keys(argv) if (p := unknown_key_message(key))]
    if problems:
        raise ConfigError("\n".join(problems))


def unknown_key_message(dotted: str) -> Optional[str]:
    """None if `dotted` (e.g. "optim.warmup.lr") names a field of the schema."""
    node: Any = Config
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        if not dataclasses.is_dataclass(node):
            return None  # a free-form dict (model.kwargs) or a leaf with an index: Hydra's call
        fields = {f.name: f for f in dataclasses.fields(node)}
        if part not in fields:
            where = ".".join(parts[:depth])
            valid = sorted(fields)
            close = difflib.get_close_matches(part, valid, n=1)
            hint = f" Did you mean {'.'.join(parts[:depth] + close)!r}?" if close else ""
            return (f"unknown config key {dotted!r}.{hint} Valid keys "
                    f"{'in ' + where if where else 'at the top level'}: {', '.join(valid)}")
        node = _resolved_type(node, part)
    return None


def _resolved_type(owner, name: str):
    hints = typing.get_type_hints(owner)
    return hints.get(name)


def _override_keys(argv: Sequence[str]) -> List[str]:
    """The keys of plain overrides in `argv` (not groups, not hydra.*); [] if Hydra's
    parsers are unavailable or the line does not parse (Hydra then reports it)."""
    try:
        from hydra._internal.utils import get_args_parser
        from hydra.core.override_parser.overrides_parser import OverridesParser

        args = get_args_parser().parse_known_args(list(argv))[0]
        parsed = OverridesParser.create().parse_overrides(args.overrides or [])
    except Exception:  # noqa: BLE001 — never let the friendly check mask Hydra's own error
        return []
    groups = config_groups()
    keys = []
    for o in parsed:
        key = o.key_or_group
        if key.split("/")[0] == "hydra" or key.split(".")[0] == "hydra" or key in groups:
            continue
        if o.package:  # `group@pkg=choice`: a group choice, not a key
            continue
        keys.append(key)
    return keys


def config_groups() -> set:
    return {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
