"""Fig. 6 of He et al. 2016: training error (dashed) and held-out error (bold) against
iterations, plain nets in one panel and ResNets in the other.

One curve per model: of its runs, the one nearest the paper's (CIFAR-10 before other data;
full schedule, then scaled, unfinished, other; the furthest, then the lowest seed). The
data sets and schedules of the curves drawn go in the title, and a curve of another data
set or an altered schedule says so in its label, as does one drawn for several seeds of
its config (which seed, of how many): the paper's figure draws single runs too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use("Agg")  # files only; no display on a cluster or in CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .collect import Run  # noqa: E402
from .table6 import has_original_unit  # noqa: E402

PANELS = (("plain", re.compile(r"plain(\d+)")), ("ResNet", re.compile(r"resnet(\d+)")))
DEPTH_COLOURS = {20: "tab:orange", 32: "tab:cyan", 44: "tab:green", 56: "tab:red",
                 110: "black", 1202: "tab:purple"}


def depth_of(model: str) -> Optional[int]:
    match = re.search(r"(\d+)$", model)
    return int(match.group(1)) if match else None


def representative_runs(runs: List[Run]) -> Dict[str, Run]:
    """model → the run whose curve is drawn."""
    chosen: Dict[str, Run] = {}
    rank = {"full": 0, "scaled": 1, "unfinished": 2, "other": 3}
    # the paper's data, status and unit first: a unit.* ablation is not Fig. 6's net
    for run in sorted(runs, key=lambda r: (not r.on_cifar10, rank[r.status],
                                           not has_original_unit(r), -r.steps, r.seed)):
        if run.train_curve or run.heldout_curve:
            chosen.setdefault(run.model, run)
    return chosen


def plot_fig6(runs: List[Run], out_file: Path) -> Optional[Path]:
    chosen = representative_runs(runs)
    if not chosen:
        return None
    panels = []
    for family, pattern in PANELS:
        members = sorted((r for m, r in chosen.items() if pattern.fullmatch(m)),
                         key=lambda r: depth_of(r.model) or 0)
        panels.append((f"{family} nets", [(_fig6_label(run, family, seeds_of_config(run, runs)),
                                           DEPTH_COLOURS.get(depth_of(run.model)), run)
                                          for run in members],
                       f"no {family} runs found"))
    return plot_curve_panels(panels, figure_title(list(chosen.values())), out_file)


Curves = List[Tuple[str, Optional[str], Run]]  # (label, colour, run) per curve


def plot_curve_panels(panels: List[Tuple[str, Curves, str]], title: str, out_file: Path,
                      panel_width: float = 5.5, ema: bool = False,
                      legend_below: bool = False) -> Path:
    """Fig. 6's style: per panel (title, curves, text when empty), each run's training
    error dashed and held-out error bold, on one shared error axis; with `ema` also the
    held-out error of a run's EMA weights, dotted, where it has one. `legend_below`: long
    (multi-line) labels go under each panel instead of over its curves."""
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_width * len(panels), 4.2),
                             sharey=True, squeeze=False)
    axes = axes[0]
    top = 20.0  # the paper's y-range, widened when scaled runs sit higher
    for ax, (panel_title, curves, empty_text) in zip(axes, panels):
        for label, colour, run in curves:
            top = max(top, draw_run(ax, run, label, colour, ema))
        ax.set_title(panel_title)
        ax.set_xlabel("iterations")
        ax.grid(alpha=0.3)
        if not curves:
            ax.text(0.5, 0.5, empty_text, ha="center", transform=ax.transAxes)
        elif not legend_below:  # a legend below is placed after the layout
            ax.legend(fontsize=8, loc="best")
    axes[0].set_ylabel("error (%)")
    axes[0].set_ylim(0, min(100.0, top * 1.05))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if legend_below:  # after the layout, which would shrink the axes to fit it; the saved
        for ax, (_, curves, _) in zip(axes, panels):  # figure grows to hold it instead
            if curves:
                ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    fig.savefig(out_file, dpi=120, **({"bbox_inches": "tight"} if legend_below else {}))
    plt.close(fig)
    return out_file


def figure_title(drawn: List[Run]) -> str:
    """The data sets and schedules of the curves drawn: a figure never implies CIFAR-10 or
    the paper's schedule for curves that had neither."""
    data = sorted({r.data_text.split(",")[0] for r in drawn})
    schedules = sorted({r.schedule_text for r in drawn})
    heldout = sorted({r.heldout_name for r in drawn})
    return (f"{' and '.join(data)}: training error (dashed), {'/'.join(heldout)} error "
            f"(bold)\n{'; '.join(schedules)}")


def seeds_of_config(run: Run, runs: List[Run]) -> int:
    """How many runs with curves share `run`'s model, config and class: the seeds its
    curve stands for."""
    return len({r.seed for r in runs if (r.model, r.config_digest, r.status)
                == (run.model, run.config_digest, run.status)
                and (r.train_curve or r.heldout_curve)})


def _fig6_label(run: Run, family: str, seeds: int = 1) -> str:
    label = f"{family}-{depth_of(run.model)}"
    if seeds > 1:
        label += f" (seed {run.seed}, one of {seeds})"
    if run.status == "unfinished":
        label += " (unfinished)"
    if run.status == "other" or not run.on_cifar10:
        label += f" ({run.data_text.split(',')[0]}, {run.max_steps or '?'} it.)"
    if run.departures:
        label += " (not the paper's recipe)"
    return label


def draw_run(ax, run: Run, label: str, colour: Optional[str], ema: bool = False) -> float:
    """One run's curves: training error dashed, held-out error bold (labelled), with `ema`
    its EMA's held-out error dotted; returns the highest error of their later halves, for
    the y-range."""
    highest = 0.0
    if run.train_curve:
        steps, errors = zip(*run.train_curve)
        values = [100 * e for e in errors]
        ax.plot(steps, values, "--", color=colour, linewidth=0.8)
        highest = max(values[len(values) // 2:])  # the early, near-chance part may clip
    if run.heldout_curve:
        steps, errors = zip(*run.heldout_curve)
        values = [100 * e for e in errors]
        few = len(values) < 3  # a marker, or a single evaluation would not show at all
        ax.plot(steps, values, "-", color=colour, linewidth=2.0, label=label,
                marker="o" if few else None, markersize=4)
        highest = max(highest, *values[len(values) // 2:])
    if ema and run.ema_curve:
        steps, errors = zip(*run.ema_curve)
        values = [100 * e for e in errors]
        # the average starts at the initial weights: its early errors sit near chance
        ax.plot(steps, values, ":", color=colour, linewidth=1.6,
                marker="s" if len(values) < 3 else None, markersize=4)
        highest = max(highest, *values[len(values) // 2:])
    return highest


def plot_fig7(stds: Dict[str, List[float]], out_file: Path) -> Optional[Path]:
    """Fig. 7: std of each 3×3 layer's response (top: in network order; bottom: sorted by
    magnitude). `stds`: model name → one value per layer."""
    if not stds:
        return None
    fig, (ordered, ranked) = plt.subplots(2, 1, figsize=(7, 6.5), sharey=True)
    for model in sorted(stds, key=lambda m: (not m.startswith("plain"), depth_of(m) or 0)):
        values = stds[model]
        family = "plain" if model.startswith("plain") else "ResNet"
        style = "--" if family == "plain" else "-"
        colour = DEPTH_COLOURS.get(depth_of(model))
        label = f"{family}-{depth_of(model)}"
        layers = range(1, len(values) + 1)
        ordered.plot(layers, values, style, color=colour, label=label, linewidth=1.2)
        ranked.plot(layers, sorted(values, reverse=True), style, color=colour, linewidth=1.2)
    ordered.set_xlabel("layer index (original)")
    ranked.set_xlabel("layer index (sorted by magnitude)")
    for ax in (ordered, ranked):
        ax.set_ylabel("std")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    ordered.legend(fontsize=8)
    fig.suptitle("Std of 3×3 layer responses (after BN, before ReLU/addition), test images",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
    return out_file
