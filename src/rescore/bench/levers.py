"""`python -m rescore.bench.levers model=resnet20 …`: is each lever worth switching on?

One process builds the config as given (the reference) and one variant per lever, then
times rescore's full loop for each in turn, round after round, so slow drifts in the
machine's load fall on all of them alike; the median of the rounds is compared with the
reference. Thread counts are process-wide in TensorFlow, so `trainer.threads` is compared
by running this (or the bench) once per setting instead.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional

from .. import cpu
from .machine import load_average

LEVERS = {  # name → what it changes, per config group
    "jit_compile": {"trainer": {"jit_compile": True}},
    "mixed_bfloat16": {"trainer": {"precision": "mixed_bfloat16"}},
    "mixed_float16": {"trainer": {"precision": "mixed_float16"}},
    "steps_per_call=4": {"trainer": {"steps_per_call": 4}},
    "data_on_device": {"trainer": {"data_on_device": True}},  # indices only per call
    "batchnorm=keras": {"model": {"batchnorm": "keras"}},  # a lever taken back: how much
}


def variant(c, changes: Dict[str, Dict]):
    """The config `c` with `changes` ({group: {key: value}}) applied."""
    return replace(c, **{group: replace(getattr(c, group), **values)
                         for group, values in changes.items()})


def compare_levers(c, steps: int, warmup_steps: int, rounds: int,
                   levers: Dict[str, Dict] = LEVERS) -> Dict:
    from .machine import machine_info, peak_rss_mib
    from ..train.build import build_run
    from .run import bench_data, steady
    from .timing import FullLoop

    variants = {"reference": c, **{name: variant(c, changes) for name, changes in levers.items()}}
    splits, _ = bench_data(c.data)  # no lever changes the data: loaded once for all
    loops = {}
    for name, settings in variants.items():
        k = settings.trainer.steps_per_call
        loops[name] = (FullLoop(build_run(steady(settings), splits)), k)
        loops[name][0].run(-(-warmup_steps // k) * k)  # trace and warm up, not counted
    images: Dict[str, List[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (loop, k) in loops.items():
            iterations = -(-steps // k) * k
            images[name].append(iterations * c.data.batch_size / loop.run(iterations).wall)
    reference = statistics.median(images["reference"])
    return {
        "config": {"model": c.model.name, "batch_size": c.data.batch_size,
                   "reference": {"precision": c.trainer.precision,
                                 "jit_compile": c.trainer.jit_compile,
                                 "steps_per_call": c.trainer.steps_per_call,
                                 "data_on_device": c.trainer.data_on_device,
                                 "threads": c.trainer.threads,
                                 "batchnorm": c.model.batchnorm},
                   "steps": steps, "warmup_steps": warmup_steps, "rounds": rounds},
        "loop_images_per_sec": {n: statistics.median(v) for n, v in images.items()},
        "speedup_over_reference": {n: statistics.median(v) / reference
                                   for n, v in images.items()},
        "by_round": images,
        "peak_rss_mib": peak_rss_mib(),
        "machine": machine_info(),
    }


def main(argv: Optional[List[str]] = None) -> Dict:
    load_before = load_average()
    from .startup import start

    options, c = start(argv)
    print(cpu.log_startup(c.trainer.threads))  # no logging set up here: print it
    result = compare_levers(c, options.steps, options.warmup_steps, options.rounds)
    result["machine"].update(load_average_before=load_before, load_average_after=load_average(),
                             other_load_present=bool(load_before and load_before[0] >= 0.5))
    out = Path(options.out or Path(c.out_root) / "bench" / f"levers_{c.model.name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, speed in result["loop_images_per_sec"].items():
        print(f"  {name:18s} {speed:8.1f} img/s  x{result['speedup_over_reference'][name]:.3f}")
    print(f"  load before {load_before} after {load_average()}; written to {out}")
    return result


if __name__ == "__main__":
    main()
