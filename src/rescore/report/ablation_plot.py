"""The ablation's figures: the mean test error of each setting with its 95 % interval
(ablation_means.png), and each setting's training curves in Fig. 6's style
(ablation_curves.png, drawn by figures.plot_curve_panels; a run that kept an EMA of its
weights also has the EMA's held-out curve, dotted).

One panel per section of the table (class × data set), so scaled and full runs, or two
data sets, never share an axis. Paper values are drawn only beside full-schedule rows,
where they compare.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import List, Optional, Sequence

from .ablation import AblationRow, sections
from .collect import Run, data_set_name
from .figures import plot_curve_panels, plt
from .settings import setting_text

COLOURS = plt.rcParams["axes.prop_cycle"].by_key()["color"]
# characters per line of a title that fit across a figure inch at its font size (9-10 pt)
TITLE_CHARS_PER_INCH = 12.5
PANEL_WIDTH = 6.5  # inches per panel of ablation_curves.png
LABEL_WIDTH = 60  # a curve's label wider than this is wrapped and put under the panel


def plot_means(rows: Sequence[AblationRow], keys: Sequence[str], out_file: Path
               ) -> Optional[Path]:
    drawn = [(title, [r for r in members if r.test.n])
             for title, members in sections(rows)]
    drawn = [(title, members) for title, members in drawn if members]
    if not drawn:
        return None
    width = max(6.0, 1.3 * max(len(m) for _, m in drawn))
    fig, axes = plt.subplots(len(drawn), 1, squeeze=False, figsize=(width, 3.4 * len(drawn)))
    for ax, (title, members) in zip(axes[:, 0], drawn):
        _means_panel(ax, title, members)
    data_sets = sorted({data_set_name(r.data_name) for _, members in drawn for r in members})
    fig.suptitle(wrapped_title(f"{' and '.join(data_sets)}: test error by {', '.join(keys)}, "
                               f"mean and 95 % CI (Student's t)", width), fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
    return out_file


def _means_panel(ax, title: str, members: List[AblationRow]) -> None:
    xs = range(len(members))
    paper_label = "paper (He 2016b, else Table 6)"  # in the legend once
    for x, row in zip(xs, members):
        bar = row.test.half_width
        ax.errorbar([x], [row.test.mean], yerr=None if bar is None else [[bar], [bar]],
                    fmt="o", color="black", capsize=5, markersize=5)
        ax.annotate(f"n={row.test.n}", (x, row.test.mean), textcoords="offset points",
                    xytext=(8, -3), fontsize=7)
        paper = row.he2016b or row.table6
        if row.comparable and paper is not None and paper.value is not None:
            ax.plot([x], [paper.value], "x", color="tab:red", markersize=8,
                    label=paper_label)
            paper_label = None
    ax.set_xticks(list(xs))
    ax.set_xticklabels([_wrapped(setting_text(r.setting)) for r in members], fontsize=7)
    ax.set_xlim(-0.5, len(members) - 0.5)
    ax.set_ylabel("test error (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _wrapped(text: str) -> str:
    return text.replace(" ", "\n")  # one key=value per line under each point


def wrapped_title(text: str, figure_width: float) -> str:
    """Each line of `text` broken at spaces to fit a figure `figure_width` inches wide (many
    ablated keys make a title wider than the figure, cut at both edges)."""
    width = int(TITLE_CHARS_PER_INCH * figure_width)
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def curve_label(text: str) -> str:
    """A curve's legend label, wrapped at spaces when longer than LABEL_WIDTH."""
    return text if len(text) <= LABEL_WIDTH else textwrap.fill(text, LABEL_WIDTH)


def representative(row: AblationRow) -> Optional[Run]:
    """The run whose curves stand for the row: the furthest, then the lowest seed."""
    with_curves = [r for r in row.runs if r.train_curve or r.heldout_curve]
    return min(with_curves, key=lambda r: (-r.steps, r.seed), default=None)


def plot_curves(rows: Sequence[AblationRow], keys: Sequence[str], out_file: Path
                ) -> Optional[Path]:
    panels = []
    for title, members in sections(rows):
        curves = []
        for i, row in enumerate(members):
            run = representative(row)
            if run is not None:
                curves.append((curve_label(f"{setting_text(row.setting)} (seed {run.seed})"),
                               COLOURS[i % len(COLOURS)], run))
        if curves:
            panels.append((title, curves, ""))
    if not panels:
        return None
    drawn = [run for _, curves, _ in panels for _, _, run in curves]
    heldout = "/".join(sorted({run.heldout_name for run in drawn}))
    ema = any(run.ema_curve for run in drawn)
    title = (f"Training error (dashed), {heldout} error (bold) by {', '.join(keys)}; one "
             "run per setting" + (f"\nthe EMA weights' {heldout} error dotted" if ema else ""))
    long_labels = any("\n" in label for _, curves, _ in panels for label, _, _ in curves)
    return plot_curve_panels(panels, wrapped_title(title, PANEL_WIDTH * len(panels)), out_file,
                             panel_width=PANEL_WIDTH, ema=ema, legend_below=long_labels)
