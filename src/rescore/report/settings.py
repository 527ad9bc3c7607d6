"""A run's setting as dotted config keys (`unit.placement`, `optim.lr`, ...), and which
keys differ across some runs: what an ablation report groups by.

Only keys that define a run's result count (config.result_defining: not seed, name,
out_root, data.root, logging or checkpoint intervals, ...). A key a run's config does not
hold (a config saved before the key existed) has the schema's default, as for the run
folder's digest (config.config_digest). A run without any saved config has no known
setting: its values show as "?".
"""

from __future__ import annotations

import typing
from dataclasses import asdict, fields, is_dataclass
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..config import Config, result_defining

if TYPE_CHECKING:  # collect.py reads run recipes through recipe.py, which uses this module
    from .collect import Run

UNKNOWN = "?"  # the value of every key for a run without a saved config
Setting = Tuple[Tuple[str, Any], ...]  # ((key, value), ...) in the order asked for


class UnknownKeyError(ValueError):
    """--by names a key that no run's config has."""


def flatten(config: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """{"unit": {"placement": "x"}} → {"unit.placement": "x"}; lists become tuples (so
    they can be grouped on), enums their value."""
    flat: Dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = _plain(value)
    return flat


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


@lru_cache(maxsize=1)
def _defaults() -> Tuple[Tuple[str, Any], ...]:
    return tuple(flatten(result_defining(asdict(Config()))).items())


def defaults() -> Dict[str, Any]:
    """The schema's defaults as dotted keys (result-defining ones only)."""
    return dict(_defaults())


def run_settings(run: Run) -> Optional[Dict[str, Any]]:
    """Every result-defining dotted key of the run's config, defaults filled in; None when
    the run saved no config."""
    if not run.config:
        return None
    return config_settings(run.config)


def config_settings(config: Mapping[str, Any]) -> Dict[str, Any]:
    """Every result-defining dotted key of a saved config, the schema's defaults filled in
    for the keys it does not hold."""
    return {**defaults(), **flatten(result_defining(dict(config)))}


def all_keys(runs: Iterable[Run]) -> List[str]:
    keys = set(defaults())
    for run in runs:
        keys.update(run_settings(run) or {})
    return sorted(keys)


def differing_keys(runs: Sequence[Run]) -> List[str]:
    """The keys whose value is not the same in every run that saved a config."""
    known = [s for s in (run_settings(r) for r in runs) if s is not None]
    keys = sorted({k for s in known for k in s})
    return [k for k in keys if len({_hashable(s.get(k)) for s in known}) > 1]


def _hashable(value: Any) -> Any:
    return value if not isinstance(value, (dict, list)) else repr(value)


def check_keys(wanted: Sequence[str], runs: Sequence[Run]) -> None:
    """Raise UnknownKeyError naming the keys that are not config keys of these runs, and
    the valid ones (those that differ across the runs first)."""
    valid = all_keys(runs)
    if not wanted:
        raise UnknownKeyError(f"--by names no key. Keys that differ across these runs: "
                              f"{', '.join(differing_keys(runs)) or 'none'}")
    unknown = [k for k in wanted if k not in valid]
    if not unknown:
        return
    varying = differing_keys(runs)
    not_defining = [k for k in unknown if _names_a_setting_that_defines_nothing(k)]
    if not_defining:
        raise UnknownKeyError(
            f"--by {','.join(not_defining)}: does not define a run's result (the seed is what "
            f"each row's statistics are over; names, folders, cadences and threads change "
            f"nothing). Keys that differ across these runs: {', '.join(varying) or 'none'}")
    raise UnknownKeyError(
        f"--by {','.join(unknown)}: not a config key of these runs. Keys that differ "
        f"across them: {', '.join(varying) or 'none'}. Every valid key: {', '.join(valid)}")


def _names_a_setting_that_defines_nothing(key: str) -> bool:
    """seed, name, trainer.log_every, …: schema fields result_defining leaves out."""
    every = flatten(asdict(Config()))
    return key in every and key not in flatten(result_defining(asdict(Config())))


def setting_of(run: Run, keys: Sequence[str]) -> Setting:
    values = run_settings(run)
    if values is None:
        return tuple((k, UNKNOWN) for k in keys)
    return tuple((k, _hashable(values.get(k))) for k in keys)


def value_text(value: Any) -> str:
    """A value as one would write it on the command line (null, [32000,48000], 0.1)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ",".join(value_text(v) for v in value) + "]"
    return str(value)


def setting_text(setting: Setting) -> str:
    return " ".join(f"{k}={value_text(v)}" for k, v in setting)


def setting_order(setting: Setting) -> tuple:
    """Rows sorted by their values: null first, then a choice in the schema's order (the
    placements as Fig. 4 of He et al. 2016b lists them), numbers by size, other text
    alphabetically, unknown last."""
    orders = choice_orders()

    def one(key: str, value: Any) -> tuple:
        if value == UNKNOWN:
            return (4, 0.0, "")
        if value is None:
            return (0, 0.0, "")
        if key in orders and value in orders[key]:
            return (1, float(orders[key].index(value)), "")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (2, float(value), "")
        return (3, 0.0, value_text(value))
    return tuple(one(k, v) for k, v in setting)


@lru_cache(maxsize=1)
def choice_orders() -> Dict[str, List[str]]:
    """Dotted key → its Choice enum's values in declaration order (config.py)."""
    return dict(_choices(Config, ""))


def _choices(schema: type, prefix: str) -> Iterable[Tuple[str, List[str]]]:
    hints = typing.get_type_hints(schema)
    for f in fields(schema):
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint
        if is_dataclass(hint):
            yield from _choices(hint, f"{prefix}{f.name}.")
        elif isinstance(hint, type) and issubclass(hint, Enum):
            yield f"{prefix}{f.name}", [m.value for m in hint]
