"""`python -m rescore.bench.profile [bench.steps=N bench.out=PATH] [rescore overrides …]`:
where a training step's time goes, from TensorFlow's own profiler (issue 17: measure before
changing anything).

It traces `bench.steps` calls of the bare compiled step (bench/timing.py: the step the loop
calls, on device-resident tensors, after `bench.warmup_steps` untimed ones), reads the trace
TensorFlow writes (XSpace protobuf), and adds up the time of every op executed on the
compute threads. Ops are grouped by what they do for the net: the convolutions' three
passes, batch norm, ReLU, the option-A shortcut, the explicit padding before stride-2
convs, the input pipeline (crop, flip, normalisation), the L2 term and the optimizer.

Op time is summed over threads, so with two ops running side by side it can exceed the
wall time; the shares are what to read.
"""

from __future__ import annotations

import collections
import glob
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple


log = logging.getLogger(__name__)

# layers.conv's ZeroPadding2D is named "<conv>_pad"; Keras adds "_1" to the op scope
STRIDE2_PAD = re.compile(r"_conv_pad(_\d+)?(/|$)")
# (group, test on (scope, op type)); the first that matches names an op's group
GROUPS: Tuple[Tuple[str, callable], ...] = (
    ("conv forward", lambda scope, op: op.endswith("Conv2D") and "gradient_tape" not in scope),
    ("conv backward, input", lambda scope, op: "Conv2DBackpropInput" in op),
    ("conv backward, filter", lambda scope, op: "Conv2DBackpropFilter" in op),
    ("batch norm (forward, +ReLU where fused)", lambda scope, op:
        "FusedBatchNorm" in op and "Grad" not in op),
    ("batch norm backward", lambda scope, op: "FusedBatchNorm" in op and "Grad" in op),
    ("option-A shortcut (subsample, zero channels)", lambda scope, op: "subpad" in scope),
    ("padding before stride-2 convs", lambda scope, op: STRIDE2_PAD.search(scope) is not None),
    ("ReLU and its gradient", lambda scope, op: op in ("Relu", "ReluGrad")),
    ("residual additions", lambda scope, op: op == "AddV2" and "resnet" in scope),
    ("gradient sums at branch points", lambda scope, op: op == "AddN"),
    ("pooling and classifier", lambda scope, op: "head_" in scope),
    ("optimizer update", lambda scope, op: scope.startswith("cond/")),
    ("L2 term", lambda scope, op: op == "Square" or "l2" in scope.lower()),
)
OTHER = "other (input pipeline, loss, finiteness checks, …)"


def group_of(scope: str, op: str) -> str:
    for name, matches in GROUPS:
        if matches(scope, op):
            return name
    return OTHER


@dataclass
class OpTime:
    scope: str
    op: str
    picoseconds: int


def read_op_times(trace_dir: str) -> List[OpTime]:
    """Every TensorFlow op event on the host's compute threads in the newest trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = sorted(glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True))
    if not files:
        raise FileNotFoundError(f"the profiler wrote no *.xplane.pb under {trace_dir}")
    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(files[-1]).read_bytes())
    times = []
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # op events are "scope/name:OpType"; executor bookkeeping has "::"
                if ":" in name and "::" not in name:
                    scope, op = name.rsplit(":", 1)
                    times.append(OpTime(scope, op, event.duration_ps))
    return times


def summarise(times: Iterable[OpTime], steps: int) -> Dict:
    """Milliseconds per step and share of all op time, by group and by op type."""
    by_group, by_op = collections.Counter(), collections.Counter()
    for t in times:
        by_group[group_of(t.scope, t.op)] += t.picoseconds
        by_op[t.op] += t.picoseconds
    total = sum(by_group.values())

    def rows(counter):
        return [{"name": name, "ms_per_step": ps / 1e9 / steps, "share": ps / total}
                for name, ps in counter.most_common()]

    return {"op_ms_per_step": total / 1e9 / steps, "groups": rows(by_group),
            "op_types": rows(by_op)}


def trace_steps(c, options) -> Tuple[Dict, float]:
    """Warm up, then trace `options.steps` calls of the bare step; the summary and the
    wall time per step of the traced calls."""
    import tensorflow as tf

    from .run import bench_run
    from .timing import BareStep

    run, _ = bench_run(c)
    bare = BareStep(run)
    bare.run(options.warmup_steps)
    with tempfile.TemporaryDirectory() as trace_dir:
        tf.profiler.experimental.start(trace_dir)
        timing = bare.run(options.steps, first_call=options.warmup_steps)
        tf.profiler.experimental.stop()
        iterations = options.steps * c.trainer.steps_per_call
        return summarise(read_op_times(trace_dir), iterations), timing.wall / iterations


def report(summary: Dict, wall_per_step: float, header: str) -> str:
    lines = [header, f"  wall {1000 * wall_per_step:.1f} ms/step (traced), op time "
                     f"{summary['op_ms_per_step']:.1f} ms/step summed over threads"]
    for row in summary["groups"]:
        lines.append(f"  {row['ms_per_step']:8.1f} ms {100 * row['share']:5.1f} %  {row['name']}")
    lines.append("  top op types:")
    for row in summary["op_types"][:12]:
        lines.append(f"  {row['ms_per_step']:8.1f} ms {100 * row['share']:5.1f} %  {row['name']}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> Dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    from .machine import machine_info
    from .startup import start

    options, c = start(argv)
    summary, wall = trace_steps(c, options)
    machine = machine_info()
    header = (f"rescore.bench.profile {c.model.name} batch {c.data.batch_size} "
              f"{c.trainer.precision}, {options.steps} traced calls; {machine['cpu']} "
              f"(ISA {machine['isa']}), oneDNN {'on' if machine['onednn']['enabled'] else 'off'}")
    print(report(summary, wall, header))
    result = {"config": {"model": c.model.name, "batch_size": c.data.batch_size,
                         "precision": str(c.trainer.precision),
                         "shortcut": str(c.shortcut.option), "traced_calls": options.steps,
                         "steps_per_call": c.trainer.steps_per_call},
              "wall_ms_per_step": 1000 * wall, **summary, "machine": machine}
    if options.out:
        Path(options.out).parent.mkdir(parents=True, exist_ok=True)
        Path(options.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"  written to {options.out}")
    return result


if __name__ == "__main__":
    main()
