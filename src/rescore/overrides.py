"""Command-line overrides checked against the schema before Hydra composes anything.

Hydra rejects an unknown key (`optim.lrr=0.2`, `+optim.lrr=0.2`) with a bare
"Key 'lrr' not in 'OptimConfig'", and an unknown group option with a long search-path
dump. This check runs first and says which keys or options exist and which one was
probably meant; a value of the wrong type (`optim.lr=abc`) is named too. It also refuses
what would compose into a config that cannot run, each with what to type instead:
deleting a schema field (`~seed`: the run folder's name needs it) or a group a run needs
(`~optim`, `optim=null`), adding with `+` what is already there (`+seed=1`, `+model=…`),
and a line Hydra's parser cannot read. Everything it cannot judge (interpolations,
`hydra.*`) is left to Hydra. Range checks (lr > 0, …) come later, in
config.check_config, on the composed config.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
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
    multirun = is_multirun(argv)
    for o in _parsed_overrides(argv):
        key = o.key_or_group
        if o.is_sweep_override() and not multirun:
            problems.append(f"'{o.input_line}' is a sweep, which needs a multirun: put -m "
                            f"before the overrides (python -m rescore -m {o.input_line} …), "
                            f"or quote a value that holds a comma, past the shell too: "
                            f"\"key='a,b'\"")
        elif key in config_groups():
            problems += _group_problems(o, key)
        elif (p := unknown_key_message(key)) is not None:
            problems.append(p)
        elif o.is_delete():
            problems += [p for p in [deleted_field_message(key)] if p]
        elif o.is_add() and is_schema_field(key):
            problems.append(f"'{o.input_line}' adds {key!r}, which every config already has: "
                            f"set it with {o.input_line[1:]!r} instead")
        else:
            problems += [p for v in _values(o) if (p := wrong_type_message(key, v))]
    if problems:
        raise ConfigError("\n".join(problems))


def _group_problems(o, group: str) -> List[str]:
    """A group takes one of its options; only an optional group (default null) can be left
    out, and that by `~group`, since Hydra refuses `group=null` for every group."""
    options = ", ".join(group_options(group))
    if o.is_delete() and group not in optional_groups():
        return [f"'~{group}' removes the {group} group, but a run needs one of its options: "
                f"{options}"]
    if not o.is_delete() and o.value() is None:
        if group in optional_groups():
            return [f"'{o.input_line}': leave {group} out, or delete it with '~{group}'"]
        return [f"'{o.input_line}': the {group} group needs one of its options: {options}"]
    if o.is_add():
        return [f"'{o.input_line}' adds a {group} group, but the config already has one: "
                f"choose it with {o.input_line.lstrip('+')!r} instead"]
    if isinstance(o.value(), list):  # Hydra would merge the options into one config
        options_given = ",".join(str(v) for v in o.value())
        return [f"'{o.input_line}': the {group} group takes one option (a list would merge "
                f"them into one run); to run each, sweep them: "
                f"python -m rescore -m {group}={options_given}"]
    return [p for v in _values(o) if (p := unknown_option_message(group, v))]


def deleted_field_message(dotted: str) -> Optional[str]:
    """None unless `dotted` is a schema field, which can be set but not deleted (the
    schema gives every field a value; an entry of a free-form dict may go)."""
    if not is_schema_field(dotted):
        return None
    default = OmegaConf.select(OmegaConf.structured(Config), dotted)
    instead = (f"set the fields under it instead, e.g. {dotted}.<field>=..."
               if OmegaConf.is_dict(default) else
               f"set it instead, e.g. {dotted}={_as_override_value(default)} (its default)")
    return f"'~{dotted}': a schema field can be set but not deleted; {instead}"


def _as_override_value(value: Any) -> str:
    """A default as it would be typed on the command line (null, true, [1,2], {})."""
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value)
    return json.dumps(value, separators=(",", ":")).replace('"', "'")


def is_schema_field(dotted: str) -> bool:
    """True if every part of `dotted` names a dataclass field (not a free-form dict key)."""
    return _field_type(dotted.split(".")) is not None


def unknown_option_message(group: str, choice: Any) -> Optional[str]:
    if choice is None or not isinstance(choice, str) or (CONF_DIR / group / f"{choice}.yaml"
                                                         ).exists():
        return None
    valid = group_options(group)
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
            hint += _in_another_group(parts, depth)
            return (f"unknown config key {dotted!r}.{hint} Valid keys "
                    f"{'in ' + where if where else 'at the top level'}: {', '.join(valid)}")
        node = _resolved_type(node, part)
    return None


def _in_another_group(parts: List[str], depth: int) -> str:
    """A hint when the unknown key, right under a group, is a group itself or exists under
    other groups or at the top level: model.shortcut=B is the group shortcut=B, trainer.ema
    is optim.ema (EMA and SWA are part of the optimisation recipe: they scale with the
    schedule), trainer.name is name, model.name or data.name."""
    if depth != 1:
        return ""
    key = parts[1]
    top = {f.name: _resolved_type(Config, f.name) for f in dataclasses.fields(Config)}
    if dataclasses.is_dataclass(top.get(key)):
        return f" {key!r} is a config group of its own: {key}=<option> or {key}.<key>=<value>."
    found = [key] if key in top and len(parts) == 2 else []  # top-level keys are values
    for group, node in top.items():
        if group == parts[0] or not dataclasses.is_dataclass(node):
            continue
        if _field_type([group] + parts[1:]) is not None:  # the whole path, moved
            found.append(".".join([group] + parts[1:]))
        elif dataclasses.is_dataclass(_field_type([group, key])):  # its group, a typo below
            found.append(f"{group}.{key}")
    if not found:
        return ""
    if len(found) == 1:
        target = _field_type(found[0].split("."))
        keys = (f" (its keys: {', '.join(f.name for f in dataclasses.fields(target))})"
                if dataclasses.is_dataclass(target) else "")
        return f" It is {found[0]!r}{keys}."
    return f" It exists as {', '.join(repr(f) for f in found)}."


def _field_type(parts: List[str]):
    """The schema's type at the path `parts`; None where no field is (or a free-form dict)."""
    node: Any = Config
    for part in parts:
        if not dataclasses.is_dataclass(node) or \
                part not in {f.name for f in dataclasses.fields(node)}:
            return None
        node = _resolved_type(node, part)
    return node


def _resolved_type(owner, name: str):
    hints = typing.get_type_hints(owner)
    return hints.get(name)


def _parsed_overrides(argv: Sequence[str]) -> List[Any]:
    """The overrides in `argv` this check can judge (not hydra.*, not `group@pkg=`).

    An override Hydra's parser cannot read is a ConfigError here (exit 2, one line), not a
    Hydra traceback with exit 1 later."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    args = get_args_parser().parse_known_args(list(argv))[0]
    parser = OverridesParser.create()
    parsed = []
    for line in args.overrides or []:
        try:
            parsed += parser.parse_overrides([line])
        except OverrideParseException as err:
            raise ConfigError(f"cannot parse the override {line!r}: {_first_line(err)}. "
                              f"Overrides are key=value, +key=value (add), ~key (delete); "
                              f"quote a value holding '=' or spaces: key='a=b'") from None
    return [o for o in parsed
            if o.key_or_group.replace("/", ".").split(".")[0] != "hydra" and not o.package]


def is_multirun(argv: Sequence[str]) -> bool:
    """-m, --multirun, or hydra.mode=MULTIRUN (which Hydra 1.3 reads from the config)."""
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_known_args(list(argv))[0]
    return bool(args.multirun) or "hydra.mode=MULTIRUN" in (args.overrides or [])


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0].rstrip(".")


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


def group_options(group: str) -> List[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def optional_groups() -> set:
    """Groups whose entry in config.yaml's defaults list is null (e.g. experiment)."""
    defaults = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "config.yaml"))["defaults"]
    return {k for entry in defaults if isinstance(entry, dict)
            for k, v in entry.items() if v is None}
