"""Every job of a multirun checked before the first one starts.

overrides.py refuses unknown keys, options and types of a sweep before Hydra composes, but
a value that type-checks and cannot run (`-m optim.lr=0.1,-1`, `optim.schedule_scale=1/3x`,
`model.name=resnet21`) is found only by config.check_config on the composed config, which
each job runs for itself: the sweep would train its good jobs for hours and report the bad
one at the end. So, before Hydra launches anything, the jobs are expanded as Hydra's basic
sweeper expands them (the experiment's `hydra.sweeper.params` first, then the command
line's overrides) and each job's config is composed and checked, as the job itself would.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Sequence

from .config import CONF_DIR, compose_settings, register_resolvers, register_schemas
from .errors import ConfigError
from .overrides import is_multirun


def check_sweep_jobs(argv: Sequence[str]) -> None:
    """Raise ConfigError naming each problem and the jobs it is in; nothing if `argv` is
    not a multirun, chooses a sweeper other than Hydra's basic one (its jobs are its own
    business), or cannot be expanded here (Hydra then says why, as it always has)."""
    from hydra._internal.utils import get_args_parser

    overrides = list(get_args_parser().parse_known_args(list(argv))[0].overrides or [])
    if not is_multirun(argv) or any(_key(o).startswith("hydra/sweeper") for o in overrides):
        return
    try:
        jobs = expand_jobs(overrides)
    except Exception:  # noqa: BLE001 — Hydra's own refusal: it gives it at launch
        return
    problems: Dict[str, List[str]] = defaultdict(list)
    for job in jobs:
        try:
            compose_settings(job)
        except ConfigError as err:
            problems[str(err)].append(" ".join(job) or "(no overrides)")
        except Exception:  # noqa: BLE001 — as above
            continue
    if problems:
        raise ConfigError("\n".join(_problem_text(message, failing, len(jobs))
                                    for message, failing in problems.items()))


def expand_jobs(overrides: List[str]) -> List[List[str]]:
    """Each job's overrides, as Hydra's BasicSweeper builds them (the sweeper's params, the
    experiment's or the command line's `hydra.sweeper.params.*`, first), without hydra's
    own overrides."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    register_schemas()
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        parsed = parser.parse_overrides(overrides)  # a glob needs the loader: the options
        fixed = [o.input_line for o in parsed if not o.is_sweep_override()
                 and (not _key(o.input_line).startswith("hydra")
                      or _key(o.input_line).startswith("hydra.sweeper.params."))]
        # the sweep in the config (hydra.sweeper.params); compose takes no sweep itself
        cfg = compose(config_name="config", overrides=fixed, return_hydra_config=True)
        params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.get("params") or {}).items()]
        own = [o for o in overrides if not _key(o).startswith("hydra")]
        (batch,) = BasicSweeper.split_arguments(parser.parse_overrides(params + own),
                                                max_batch_size=None)
    return [[o for o in job if not _key(o).startswith("hydra")] for job in batch]


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def _problem_text(message: str, failing: List[str], total: int) -> str:
    where = (f"in every job of the sweep ({total})" if len(failing) == total else
             f"in {len(failing)} of the sweep's {total} jobs, e.g. {failing[0]}")
    return f"{message}\n  ({where}; no job was started)"
