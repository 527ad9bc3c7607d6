"""Where metrics go: metrics.jsonl (one JSON object per line, read by rescore.report),
TensorBoard (tf.summary) and, on a terminal, a tqdm progress bar."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import tensorflow as tf
from tqdm.auto import tqdm


class MetricsLog:
    """metrics.jsonl, continued by a resumed run from the iteration it resumes at.

    Records past `resume_step` were written after the checkpoint being resumed from (the
    process was killed before it could save again); those iterations run again, so their
    old records are dropped first, and so is a line torn by the kill. Every iteration is
    then recorded once, as if the run had never stopped."""

    def __init__(self, run_dir: Path, resume_step: int = 0):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.dropped = _keep_records_up_to(self.path, resume_step)
        self._file = open(self.path, "a", buffering=1)
        self._writer = tf.summary.create_file_writer(str(Path(run_dir) / "tensorboard"))

    def write(self, step: int, split: str, **values: Any) -> None:
        record = {"step": int(step), "split": split, **{k: _plain(v) for k, v in values.items()}}
        self._file.write(json.dumps(record) + "\n")
        with self._writer.as_default(step=int(step)):
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(f"{split}/{key}", value)

    def close(self) -> None:
        self._writer.flush()
        self._file.close()


def _keep_records_up_to(path: Path, step: int) -> int:
    """Rewrite `path` (atomically) without records after `step` or torn lines; how many
    went."""
    if not path.exists():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            keep = json.loads(line)["step"] <= step
        except (ValueError, KeyError, TypeError):
            keep = False  # a line cut short by kill -9
        if keep:
            kept.append(line + "\n")
        else:
            dropped += line.strip() != ""
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(kept))
        os.replace(tmp, path)
    return dropped


def _plain(value: Any) -> Any:
    return float(value) if hasattr(value, "__float__") and not isinstance(value, int) else value


class Progress:
    """A tqdm bar over iterations; silent when stderr is not a terminal (unless forced)."""

    def __init__(self, start: int, total: int, enabled: Optional[bool] = None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._bar = tqdm(total=total, initial=start, unit="it", dynamic_ncols=True,
                         disable=not enabled)

    def update(self, steps: int, **postfix: Any) -> None:
        self._bar.update(steps)
        if postfix:
            self._bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v)
                                   for k, v in postfix.items()}, refresh=False)

    def close(self) -> None:
        self._bar.close()


def read_metrics(path: Path) -> list[Dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
