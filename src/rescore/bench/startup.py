"""What every bench entry point (`rescore.bench`, `.levers`, `.profile`) does first, in this
order: rescore's CPU choice (it sets TF_ENABLE_ONEDNN_OPTS, so before TensorFlow loads), the
bench.* options split from the ordinary overrides, the config composed from conf/, and
TensorFlow's threads and determinism as the config asks."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, List, Optional, Tuple

from .. import cpu
from ..errors import ConfigError
from .options import BenchOptions, split_overrides

if TYPE_CHECKING:
    from ..config import Config


def start(argv: Optional[List[str]]) -> Tuple[BenchOptions, "Config"]:
    """argv None: the command line. A bad override or bench.* value ends the process with
    exit 2 and one line saying what was wrong and what is valid, as `python -m rescore`
    does, before anything is measured."""
    try:
        return _start(list(sys.argv[1:] if argv is None else argv))
    except ConfigError as err:
        print(f"rescore.bench: error: {err}", file=sys.stderr)
        sys.exit(ConfigError.exit_code)


def _start(argv: List[str]) -> Tuple[BenchOptions, "Config"]:
    cpu.choose_at_startup()
    from ..config import compose_settings
    from ..overrides import check_overrides
    from ..train.loop import configure_tensorflow

    options, overrides = split_overrides(argv)
    check_overrides(overrides)  # before Hydra: its unknown-key error names no options
    settings = compose_settings(overrides)
    configure_tensorflow(settings.trainer)
    return options, settings
