"""4 training steps of rescore's ResNet-20 (after 3 warm-up ones) for oneDNN's verbose log.
Run: ONEDNN_MAX_CPU_ISA=AVX2 ONEDNN_VERBOSE=1 python onednn_tensorflow_step.py > tf.txt 2>&1
(add TF_NUM_INTEROP_THREADS=1 for one op at a time), then python onednn_per_step.py tf.txt."""
import os, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "src"))  # the repository's
from rescore import cpu
cpu.choose_at_startup()
from rescore.config import compose_settings
from rescore.train.loop import configure_tensorflow
c = compose_settings(["model=resnet20"])
configure_tensorflow(c.trainer)
import tensorflow as tf
from rescore.train.build import build_run
run = build_run(c)
idx = run.order.indices(0)
x = tf.constant(run.splits.x_train[idx]); y = tf.constant(run.splits.y_train[idx])
for i in range(3):
    run.train_step(x, y, tf.constant(i, tf.int64), tf.constant(0.1))
print("=== MEASURE", flush=True)
for i in range(4):
    out = run.train_step(x, y, tf.constant(i, tf.int64), tf.constant(0.1))
float(out["loss"])
