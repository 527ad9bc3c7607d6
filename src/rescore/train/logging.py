"""Where metrics go: metrics.jsonl (one JSON object per line, read by rescore.report),
TensorBoard (tf.summary), and progress: a tqdm bar on a terminal, log lines elsewhere.

What a resumed run writes equals what an uninterrupted run writes: the running sums of the
record being built (`LogWindow`) are checkpointed, and records and TensorBoard events
written after the checkpoint a run resumes from are dropped before it continues."""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf
from tensorflow.core.util import event_pb2
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

EVENT_FILES = "events.out.tfevents.*"


class LogWindow(tf.Module):
    """Sums over the iterations since the last training record: loss, errors, images,
    iterations and step seconds. A checkpoint holds them, so a run stopped between two log
    points and resumed writes the record the uninterrupted run writes (the same loss and
    error; its images/s, a timing, may differ)."""

    FIELDS = ("loss", "errors", "images", "steps", "seconds")

    def __init__(self):
        super().__init__(name="log_window")
        self.sums = tf.Variable(tf.zeros([len(self.FIELDS)], tf.float64), trainable=False,
                                name="sums")

    def add(self, loss: float, errors: float, images: int, seconds: float) -> None:
        self.sums.assign_add([loss, errors, images, 1.0, seconds])  # float64: exact as Python

    def record(self) -> Dict[str, float]:
        """The averages a training record holds (lr aside)."""
        loss, errors, images, steps, seconds = (float(v) for v in self.sums.numpy())
        return {"loss": loss / steps, "error": errors / images,
                "images_per_sec": images / max(seconds, 1e-9)}

    def images_per_sec(self) -> float:
        images, seconds = self.sums.numpy()[[2, 4]]
        return float(images) / max(float(seconds), 1e-9)

    def reset(self) -> None:
        self.sums.assign(tf.zeros_like(self.sums))


class MetricsLog:
    """metrics.jsonl and TensorBoard, continued by a resumed run from the iteration it
    resumes at.

    Records past `resume_step` were written after the checkpoint being resumed from (the
    process was killed before it could save again); those iterations run again, so their
    old records are dropped first, and so is a line torn by the kill. The same goes for the
    TensorBoard event files (rewritten without events past `resume_step` or a torn last
    event; the resumed run writes a new file). Every iteration is then recorded once, as if
    the run had never stopped. Each record reaches the disk when it is written (jsonl line
    buffering, a TensorBoard flush), so nothing a checkpoint covers is lost by a kill."""

    def __init__(self, run_dir: Path, resume_step: int = 0):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.dropped = _keep_records_up_to(self.path, resume_step)
        events = Path(run_dir) / "tensorboard"
        self.dropped_events = sum(_keep_events_up_to(f, resume_step)
                                  for f in sorted(events.glob(EVENT_FILES)))
        self._file = open(self.path, "a", buffering=1)
        self._writer = tf.summary.create_file_writer(str(events))

    def write(self, step: int, split: str, **values: Any) -> None:
        record = {"step": int(step), "split": split, **{k: _plain(v) for k, v in values.items()}}
        self._file.write(json.dumps(record) + "\n")
        with self._writer.as_default(step=int(step)):
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(f"{split}/{key}", value)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
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


def _keep_events_up_to(path: Path, step: int) -> int:
    """Rewrite the event file `path` (atomically) without events after `step` or a record
    torn by a kill; how many went."""
    records, torn = _read_records(path)
    kept = [r for r in records if event_pb2.Event.FromString(r).step <= step]
    dropped = len(records) - len(kept) + torn
    if dropped:
        tmp = path.with_name("rewriting.tmp")  # no "tfevents" in it: TensorBoard skips it
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for record in kept:
                writer.write(record)
        os.replace(tmp, path)
    return dropped


def _read_records(path: Path) -> Tuple[List[bytes], bool]:
    """The whole records of a TFRecord file, and whether a torn one followed them."""
    records = []
    try:
        for record in tf.data.TFRecordDataset(str(path)):
            records.append(record.numpy())
    except tf.errors.DataLossError:
        return records, True
    return records, False


def _plain(value: Any) -> Any:
    return float(value) if hasattr(value, "__float__") and not isinstance(value, int) else value


class Progress:
    """A tqdm bar over iterations when stderr is a terminal (trainer.progress=null) or when
    asked for (true). One log line per training record (iteration, loss, error, lr,
    images/s and the time left) where output goes elsewhere than a terminal (nohup, SLURM,
    `> log`: stdout is none), and with trainer.progress=false; never under a bar on the
    same terminal."""

    def __init__(self, start: int, total: int, enabled: Optional[bool] = None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar_shown = enabled
        self.lines = not enabled or not sys.stdout.isatty()
        self._start, self._total, self._tic = start, total, time.perf_counter()
        self._bar = tqdm(total=total, initial=start, unit="it", dynamic_ncols=True,
                         disable=not enabled)

    def line(self, step: int, loss: float, error: float, lr: float,
             images_per_sec: float) -> None:
        """The log line for the training record at iteration `step` (if lines are on)."""
        if not self.lines:
            return
        per_iteration = (time.perf_counter() - self._tic) / max(step - self._start, 1)
        eta = datetime.timedelta(seconds=round(per_iteration * (self._total - step)))
        log.info("iteration %d/%d  loss %.4f  error %.2f%%  lr %.4g  %.0f img/s  ETA %s",
                 step, self._total, loss, 100 * error, lr, images_per_sec, eta)

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
