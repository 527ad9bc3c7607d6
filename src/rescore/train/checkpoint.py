"""Checkpoints: model, optimizer state, iteration, warm-up end and elapsed time.

The data position is a function of (seed, iteration), so no iterator is saved; the
optimizer's momentum buffers exist before any restore (optimizer.py), so a restore can be
checked for having consumed everything it saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import tensorflow as tf


class RunState(tf.Module):
    """Everything besides the model and optimizer that a resumed run must continue from."""

    def __init__(self, warmup_end: int):
        super().__init__(name="run_state")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.warmup_end = tf.Variable(warmup_end, dtype=tf.int64, trainable=False,
                                      name="warmup_end")
        self.elapsed = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed_s")
        self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                         name="train_seconds")


class Checkpoints:
    def __init__(self, directory: Path, keep: int, **trackables):
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory),
                                                  max_to_keep=keep)

    @property
    def latest(self) -> Optional[str]:
        return self.manager.latest_checkpoint

    def save(self, step: int) -> str:
        return self.manager.save(checkpoint_number=step)

    def restore_latest(self) -> Optional[str]:
        """Restore the newest checkpoint, checking every saved value found its variable."""
        path = self.latest
        if path is None:
            return None
        self.checkpoint.restore(path).assert_consumed()
        return path
