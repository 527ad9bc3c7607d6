"""`python -m rescore.bench [bench.steps=N bench.out=PATH …] [any rescore override …]`.

The config is composed from the same conf/ tree and schema as `python -m rescore` (Hydra's
compose API, so the bench keeps its own `bench.*` keys out of the training schema).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import List, Optional

from .. import cpu
from .machine import load_average
from .startup import start

def main(argv: Optional[List[str]] = None) -> dict:
    load_before = load_average()  # before this process adds its own load
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    options, settings = start(argv)
    from .run import default_out, run_bench, summary

    cpu.log_startup(settings.trainer.threads)
    result = run_bench(settings, options, load_before)
    out = Path(options.out) if options.out else default_out(settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(summary(result))
    print(f"  written to {out}")
    return result


if __name__ == "__main__":
    main()
