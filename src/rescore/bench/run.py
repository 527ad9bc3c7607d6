"""Run the three measurements, interleaved round by round, and gather the figures."""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from ..config import Config, DataConfig, WarmupConfig
from ..data.pipeline import Splits
from .cost import cost_lines, table6_cost, table6_macs
from .machine import load_average, machine_info, peak_rss_mib
from .options import BenchOptions

if TYPE_CHECKING:
    from ..train.build import Run

log = logging.getLogger(__name__)

TARGET_LOOP_OVER_BARE = 0.95
TARGET_LOOP_OVER_KERAS = 1.2
TARGET_LOOP_OVER_TORCH = 1.2  # issue 17: ahead of a channels-last PyTorch step by 1.2x
# baseline measurement → its ratio's name; keras_fit_same_model compares the loops alone
BASELINE_RATIOS = {"keras_fit": "loop_over_keras",
                   "keras_fit_same_model": "loop_over_keras_same_model",
                   "torch": "loop_over_torch"}


def figures(timings: List, iterations: int, batch_size: int) -> Dict:
    """Medians over rounds (robust to a round disturbed by other load), and each round.
    images_per_cpu_second: images per second of this process's CPU time (all threads),
    the work each way costs, less sensitive than the wall clock to other load."""
    images = iterations * batch_size
    per_round = [images / t.wall for t in timings]
    median = statistics.median(per_round)
    return {"images_per_sec": median, "ms_per_step": 1000 * batch_size / median,
            "images_per_cpu_second": statistics.median(images / t.cpu for t in timings),
            "images_per_sec_by_round": per_round,
            "wall_seconds_by_round": [t.wall for t in timings],
            "cpu_seconds_by_round": [t.cpu for t in timings]}


def ratio(result: Dict, a: str, b: str, key: str = "images_per_sec") -> float:
    return result[a][key] / result[b][key]


def bench_data(d: DataConfig) -> Tuple[Splits, str]:
    """The real data set (CIFAR-10 or -100) when it can be had, otherwise the synthetic set
    of the same number of classes (and say so): the step costs the same on either."""
    from ..data import load_splits

    if d.name == "synthetic":
        return load_splits(d), d.name
    try:
        return load_splits(d), str(d.name)
    except Exception as err:  # no files and no network: measure on synthetic data
        log.warning("%s unavailable (%s); benchmarking on synthetic data", d.name, err)
        reason = f"synthetic ({d.name} unavailable: {type(err).__name__})"
        # the synthetic set's own sizes; no held-out split (the bench never evaluates)
        return load_splits(replace(d, name="synthetic", val_split=0)), reason


def steady(c: Config) -> Config:
    """`c` without warm-up (the schema's default): the bench measures the steady state, k
    iterations per call even for an error-based warm-up."""
    return replace(c, optim=replace(c.optim, warmup=WarmupConfig()))


def bench_run(c: Config) -> Tuple["Run", str]:
    """The run `c` describes, as training builds it (train/build.py), without warm-up; and
    which data it holds."""
    from ..train.build import build_run

    splits, data_used = bench_data(c.data)
    return build_run(steady(c), splits), data_used


def run_bench(c: Config, options: BenchOptions,
              load_before: Optional[List[float]] = None) -> Dict:
    from .timing import BareStep, FullLoop

    load_before = load_before if load_before is not None else load_average()
    k, batch = c.trainer.steps_per_call, c.data.batch_size
    calls = math.ceil(options.steps / k)
    warm_calls = math.ceil(options.warmup_steps / k)
    iterations = calls * k

    run, data_used = bench_run(c)
    bare, loop = BareStep(run), FullLoop(run)
    bare.run(warm_calls)
    loop.run(warm_calls * k)
    baselines = keras_baselines(run) if options.keras else {}
    torch_skipped = add_torch_baseline(run, options, baselines)
    for baseline in baselines.values():
        baseline.run(warm_calls * k)

    seconds: Dict[str, List] = {"bare": [], "loop": [], **{name: [] for name in baselines}}
    for r in range(options.rounds):
        seconds["bare"].append(bare.run(calls, first_call=warm_calls + r * calls))
        seconds["loop"].append(loop.run(iterations))
        rss_rescore = peak_rss_mib()  # before the Keras models have trained in this round
        for name, baseline in baselines.items():
            seconds[name].append(baseline.run(iterations))

    for baseline in baselines.values():
        getattr(baseline, "close", lambda: None)()  # the PyTorch process
    result = {name: figures(s, iterations, batch) for name, s in seconds.items() if s}
    ratios = {"loop_over_bare": ratio(result, "loop", "bare"),
              "loop_over_bare_cpu": ratio(result, "loop", "bare", "images_per_cpu_second")}
    for baseline, key in BASELINE_RATIOS.items():
        if baseline in result:
            ratios[key] = ratio(result, "loop", baseline)
            ratios[f"{key}_cpu"] = ratio(result, "loop", baseline, "images_per_cpu_second")
    if "torch" in result:  # the step alone against PyTorch's step
        ratios["bare_over_torch"] = ratio(result, "bare", "torch")
    load_after = load_average()
    memory = {"peak_rss_mib_rescore": rss_rescore, "peak_rss_mib_process": peak_rss_mib()}
    return {
        "config": {"model": c.model.name, "batch_size": batch, "precision": c.trainer.precision,
                   "batchnorm": c.model.batchnorm,
                   "jit_compile": c.trainer.jit_compile, "steps_per_call": k,
                   "data_on_device": c.trainer.data_on_device, "tf32": c.trainer.tf32,
                   "threads": c.trainer.threads, "data": data_used,
                   "augment": c.data.augment, "timed_iterations": iterations,
                   "warmup_iterations": warm_calls * k, "rounds": options.rounds},
        **result,
        "ratios": ratios,
        "targets": {"loop_over_bare": TARGET_LOOP_OVER_BARE,
                    "loop_over_keras": TARGET_LOOP_OVER_KERAS,
                    "loop_over_bare_met": ratios["loop_over_bare"] >= TARGET_LOOP_OVER_BARE,
                    **({"loop_over_keras_met": ratios["loop_over_keras"]
                        >= TARGET_LOOP_OVER_KERAS} if "keras_fit" in result else {}),
                    "loop_over_torch": TARGET_LOOP_OVER_TORCH,
                    **({"loop_over_torch_met": ratios["loop_over_torch"]
                        >= TARGET_LOOP_OVER_TORCH} if "torch" in result else {})},
        "torch_baseline": torch_description(result, torch_skipped),
        "memory": memory,  # taken before full_run_cost builds the models it counts
        "full_run_cost": full_run_cost(run, result["loop"]["images_per_sec"]),
        "machine": {**machine_info(), "load_average_before": load_before,
                    "load_average_after": load_after,
                    # the 1-minute load before we started: other processes were running
                    "other_load_present": bool(load_before and load_before[0] >= 0.5)},
    }


def full_run_cost(run: "Run", loop_images_per_sec: float) -> Dict:
    """Hours for 64k iterations and for Table 6 at the loop's speed (cost.py)."""
    from ..models.inspect import count_macs

    c = run.settings
    macs = table6_macs(c.model.name, count_macs(run.model))
    return table6_cost(c.model.name, loop_images_per_sec, c.data.batch_size, macs)


def keras_baselines(run: "Run") -> Dict:
    """keras_fit: `fit` on the model as stock Keras layers build it (the target's baseline);
    keras_fit_same_model: `fit` on rescore's own model, when that differs (fused BN)."""
    from .keras_fit import KerasFit

    baselines = {"keras_fit": KerasFit(run, batchnorm="keras")}
    if run.settings.model.batchnorm != "keras":
        baselines["keras_fit_same_model"] = KerasFit(run, batchnorm=None)
    return baselines


def add_torch_baseline(run: "Run", options: BenchOptions, baselines: Dict) -> Optional[str]:
    """Adds the PyTorch twin to `baselines` when it can be measured; else returns why not
    (bench.torch=true turns that into an error, bench.torch=false skips it silently)."""
    from .torch_baseline import TorchProcess, why_not_measurable

    if options.torch is False:
        return "bench.torch=false"
    reason = why_not_measurable(run.settings, tensorflow_on_gpu=on_gpu())
    if reason is None:
        baselines["torch"] = TorchProcess(run)
    elif options.torch:
        raise ValueError(f"bench.torch=true, but the PyTorch baseline cannot run: {reason}")
    else:
        log.info("PyTorch baseline skipped: %s", reason)
    return reason


def on_gpu() -> bool:
    """Whether the bench times rescore on a GPU (the device timing.py places it on)."""
    from .timing import compute_device

    return compute_device().startswith("/GPU")


def torch_description(result: Dict, skipped: Optional[str]) -> Dict:
    """What the PyTorch figure is (or why there is none), kept beside it in the JSON."""
    if "torch" not in result:
        return {"measured": False, "reason": skipped}
    from importlib.metadata import version  # not `import torch`: it runs in its own process

    from .torch_baseline import INPUT_NOTE

    return {"measured": True, "version": version("torch"), "process": "its own (spawned)",
            "memory_format": "channels_last", "mode": "eager", "input": INPUT_NOTE}


def default_out(c: Config) -> Path:
    t = c.trainer
    name = (f"{c.model.name}_{t.precision}_b{c.data.batch_size}_k{t.steps_per_call}"
            f"{'_xla' if t.jit_compile else ''}{'_dev' if t.data_on_device else ''}"
            f"{'_tf32' if t.tf32 else ''}.json")
    return Path(c.out_root) / "bench" / name


def summary(r: Dict) -> str:
    cfg, m = r["config"], r["machine"]
    lines = [f"rescore.bench {cfg['model']} batch {cfg['batch_size']} {cfg['precision']} "
             f"batchnorm={cfg['batchnorm']} "
             f"jit_compile={cfg['jit_compile']} steps_per_call={cfg['steps_per_call']} "
             f"data_on_device={cfg.get('data_on_device', False)} tf32={cfg.get('tf32', False)} "
             f"data={cfg['data']} ({cfg['timed_iterations']} timed iterations x "
             f"{cfg['rounds']} round(s), {cfg['warmup_iterations']} warm-up)"]
    for name, label in (("bare", "1 bare compiled step"), ("loop", "2 rescore loop"),
                        ("keras_fit", "3 Keras fit"),
                        ("keras_fit_same_model", "3' fit, rescore model"),
                        ("torch", "4 PyTorch step")):
        if name in r:
            lines.append(f"  {label:22s} {r[name]['images_per_sec']:9.1f} img/s "
                         f"{r[name]['ms_per_step']:9.1f} ms/step "
                         f"{r[name]['images_per_cpu_second']:9.1f} img/CPU-s")
    lines.extend(cost_lines(r["full_run_cost"]))
    ratios, targets = r["ratios"], r["targets"]
    lines.append(f"  ratios on CPU time: loop/bare {ratios['loop_over_bare_cpu']:.3f}"
                 + (f", loop/keras {ratios['loop_over_keras_cpu']:.3f}"
                    if "loop_over_keras_cpu" in ratios else "")
                 + (f", loop/fit on the same model "
                    f"{ratios['loop_over_keras_same_model_cpu']:.3f}"
                    if "loop_over_keras_same_model_cpu" in ratios else ""))
    lines.append(f"  loop/bare  {ratios['loop_over_bare']:.3f} (target >= "
                 f"{targets['loop_over_bare']}: {'met' if targets['loop_over_bare_met'] else 'NOT met'})")
    if "loop_over_torch" in ratios:
        lines.append(f"  loop/PyTorch {ratios['loop_over_torch']:.3f}, bare step/PyTorch "
                     f"{ratios['bare_over_torch']:.3f} (target >= {targets['loop_over_torch']}: "
                     f"{'met' if targets['loop_over_torch_met'] else 'NOT met'}; PyTorch "
                     f"{r['torch_baseline']['version']}, {r['torch_baseline']['input']})")
    elif r["torch_baseline"]["reason"]:
        lines.append(f"  PyTorch baseline not measured: {r['torch_baseline']['reason']}")
    if "loop_over_keras" in ratios:
        lines.append(f"  loop/keras {ratios['loop_over_keras']:.3f} (target >= "
                     f"{targets['loop_over_keras']}: "
                     f"{'met' if targets['loop_over_keras_met'] else 'NOT met'})")
    lines.append(f"  machine: {m['cpu']} ({m['usable_cores']} cores; ISA {m['isa']}, flags "
                 f"{' '.join(m['cpu_flags']) or '-'}), oneDNN {onednn_label(m['onednn'])}, "
                 f"GPUs: {', '.join(m['gpus']) or 'none'}, "
                 f"TF {m['tensorflow']}, load before {m['load_average_before']} after "
                 f"{m['load_average_after']}"
                 f"{' (shared with other load)' if m['other_load_present'] else ''}")
    lines.append(f"  peak host memory: {r['memory']['peak_rss_mib_process']:.0f} MiB "
                 f"(rescore alone {r['memory']['peak_rss_mib_rescore']:.0f} MiB)")
    return "\n".join(lines)


def onednn_label(state: Dict) -> str:
    """'on (rescore)', 'off (user)', … from machine.onednn_record()."""
    enabled = {True: "on", False: "off", None: "unknown"}[state["enabled"]]
    return f"{enabled} ({state['decided_by']})"
