"""What every bench entry point (`rescore.bench`, `.levers`, `.profile`) does first, in this
order: rescore's CPU choice (it sets TF_ENABLE_ONEDNN_OPTS, so before TensorFlow loads), the
bench.* options split from the ordinary overrides, the config composed from conf/, and
TensorFlow's threads and determinism as the config asks."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, List, Optional, Tuple

from .. import cpu
from .options import BenchOptions, split_overrides

if TYPE_CHECKING:
    from ..config import Config


def start(argv: Optional[List[str]]) -> Tuple[BenchOptions, "Config"]:
    """argv None: the command line."""
    cpu.choose_at_startup()
    from ..config import compose_settings
    from ..train.loop import configure_tensorflow

    options, overrides = split_overrides(list(sys.argv[1:] if argv is None else argv))
    settings = compose_settings(overrides)
    configure_tensorflow(settings.trainer.threads, settings.trainer.deterministic)
    return options, settings
