"""Command-line overrides checked against the schema before Hydra composes anything.

Hydra rejects an unknown key (`optim.lrr=0.2`, `+optim.lrr=0.2`) with a bare
"Key 'lrr' not in 'OptimConfig'", and an unknown group option with a long search-path
dump. This check runs first and says which keys or options exist and which one was
probably meant; a value of the wrong type (`optim.lr=abc`) is named too. Everything it
cannot judge (interpolations, `hydra.*`) is left to Hydra. Range checks (lr > 0, …)
come later, in config.check_config, on the composed config.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any, List, Optional, Sequence

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .config import CONF_DIR, Config
from .errors import ConfigError


def check_overrides(argv: Sequence[str]) -> None:
    """Raise ConfigError listing every override with an unknown key, an unknown group
    option or a value of the wrong type."""
    problems = []
    for o in _parsed_overrides(argv):
        key = o.key_or_group
        if key in config_groups():
            problems += [p for v in _values(o) if (p := unknown_option_message(key, v))]
        elif (p := unknown_key_message(key)) is not None:
            problems.append(p)
        elif not o.is_delete():
            problems += [p for v in _values(o) if (p := wrong_type_message(key, v))]
    if problems:
        raise ConfigError("\n".join(problems))


def unknown_option_message(group: str, choice: Any) -> Optional[str]:
    if choice is None or not isinstance(choice, str) or (CONF_DIR / group / f"{choice}.yaml"
                                                         ).exists():
        return None
    valid = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
    close = difflib.get_close_matches(choice, valid, n=1)
    hint = f" Did you mean {group}={close[0]}?" if close else ""
    return f"unknown {group} {choice!r}.{hint} Available: {', '.join(valid)}"


def wrong_type_message(dotted: str, value: Any) -> Optional[str]:
    """None if `value` fits the schema's type at `dotted` (as Hydra would convert it)."""
    if isinstance(value, str) and "${" in value:
        return None  # an interpolation: only the composed config can tell
    try:
        OmegaConf.update(OmegaConf.structured(Config), dotted, value, merge=True)
    except OmegaConfBaseException as err:
        return f"{dotted}={value!r}: {str(err).splitlines()[0]}"
    return None


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


def _parsed_overrides(argv: Sequence[str]) -> List[Any]:
    """The overrides in `argv` this check can judge (not hydra.*, not `group@pkg=`); []
    if Hydra's parsers are unavailable or the line does not parse (Hydra reports it)."""
    try:
        from hydra._internal.utils import get_args_parser
        from hydra.core.override_parser.overrides_parser import OverridesParser

        args = get_args_parser().parse_known_args(list(argv))[0]
        parsed = OverridesParser.create().parse_overrides(args.overrides or [])
    except Exception:  # noqa: BLE001 — never let the friendly check mask Hydra's own error
        return []
    return [o for o in parsed
            if o.key_or_group.replace("/", ".").split(".")[0] != "hydra" and not o.package]


def _values(o) -> List[Any]:
    """The plain value, or each value of a simple sweep `a,b,c`; [] for ranges, globs…"""
    if o.is_delete():
        return []
    value = o.value()
    if o.is_sweep_override():
        return list(getattr(value, "list", None) or [])
    return [value]


def config_groups() -> set:
    return {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
