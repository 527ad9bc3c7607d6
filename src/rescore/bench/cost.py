"""What a full run costs at the measured speed: hours for the paper's 64k iterations of
the measured model, and for all of Table 6.

Only the measured model's speed is measured. Every other depth is an estimate: the
measured images/s scaled by the ratio of multiply-accumulates per image
(models/inspect.py), which assumes time goes in proportion to convolution work. The
output says which figures are which. Training iterations only: evaluation and
checkpoints add a little on top.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, List

PAPER_ITERATIONS = 64_000  # He et al. §4.2: stop at 64k iterations
# Table 6 as the paper reports it: one run per depth, and ResNet-110 as the mean of 5 runs.
TABLE6_RUNS = {"resnet20": 1, "resnet32": 1, "resnet44": 1, "resnet56": 1, "resnet110": 5,
               "resnet1202": 1}
MEASURED, SCALED = "measured", "scaled by MACs"


def run_hours(images_per_sec: float, batch_size: int,
              iterations: int = PAPER_ITERATIONS) -> float:
    return iterations * batch_size / images_per_sec / 3600


def scaled_speed(images_per_sec: float, measured_macs: int, macs: int) -> float:
    """images/s of a model with `macs` per image, from one with `measured_macs`."""
    return images_per_sec * measured_macs / macs


def table6_cost(measured_model: str, images_per_sec: float, batch_size: int,
                macs: Dict[str, int]) -> Dict:
    """Hours per depth and in all; `macs` holds the measured model's count and each
    Table 6 depth's."""
    rows: List[Dict] = []
    for model, runs in TABLE6_RUNS.items():
        measured = model == measured_model
        speed = (images_per_sec if measured
                 else scaled_speed(images_per_sec, macs[measured_model], macs[model]))
        hours = run_hours(speed, batch_size)
        rows.append({"model": model, "runs": runs, "images_per_sec": speed,
                     "basis": MEASURED if measured else SCALED,
                     "hours_per_run": hours, "hours": runs * hours})
    return {"iterations": PAPER_ITERATIONS, "batch_size": batch_size,
            "measured_model": measured_model,
            "measured_hours_per_run": run_hours(images_per_sec, batch_size),
            "rows": rows, "total_hours": sum(r["hours"] for r in rows)}


@lru_cache(maxsize=None)
def model_macs(name: str) -> int:
    """MACs per image of a registered model at its defaults (the family's shortcut: A for
    the CIFAR ResNets, as in Table 6). Building ResNet-1202 takes tens of seconds, so
    each count is made once per process."""
    import keras

    from ..models.inspect import build_for_inspection, count_macs

    macs = count_macs(build_for_inspection(name))
    keras.backend.clear_session()  # the counted models are not kept
    return macs


def table6_macs(measured_model: str, measured_macs: int) -> Dict[str, int]:
    return {**{name: model_macs(name) for name in TABLE6_RUNS if name != measured_model},
            measured_model: measured_macs}


def cost_lines(cost: Dict) -> List[str]:
    """The cost block of the bench's printout."""
    lines = [f"  a full run at the loop's speed ({cost['iterations']} iterations at batch "
             f"{cost['batch_size']}, training only): {cost['measured_model']} "
             f"{cost['measured_hours_per_run']:.2f} h"]
    for r in cost["rows"]:
        lines.append(f"    {r['model']:<11} {r['runs']} run{'s' if r['runs'] > 1 else ' '} "
                     f"{r['images_per_sec']:9.1f} img/s {'(' + r['basis'] + ')':<16} "
                     f"{r['hours']:9.2f} h")
    scaled = [r["model"] for r in cost["rows"] if r["basis"] == SCALED]
    lines.append(f"    Table 6 (six depths, 5 runs of resnet110): {cost['total_hours']:.1f} h"
                 + (f"; {', '.join(scaled)}: estimates scaled by MACs from "
                    f"{cost['measured_model']}'s measured speed, not measured" if scaled else ""))
    return lines
