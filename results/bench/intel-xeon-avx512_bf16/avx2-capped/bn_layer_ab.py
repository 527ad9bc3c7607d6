"""One BN layer + ReLU, forward and backward, on ResNet-20's largest BN input (128x32x32x16,
NHWC, float32): milliseconds per call for each way TensorFlow offers, and PyTorch's.

  python bn_layer_ab.py fused|composed|composed_xla|torch   (one variant per process)

fused: rescore's BN (FusedBatchNormV3, which oneDNN's graph pass turns into its own kernel);
composed: the moments and normalisation as TensorFlow ops with a hand-written gradient;
composed_xla: the same compiled by XLA (jit_compile); torch: BatchNorm2d, channels-last.
Run under the AVX2 cap by bn_layer_ab.sh, interleaved, to see whether any BN that TensorFlow
can run is as cheap as PyTorch's ATen kernel (results/bench/README.md, issue 17)."""
import sys
import time

import numpy as np

SHAPE, EPS, CALLS, ROUNDS = (128, 32, 32, 16), 1e-3, 50, 3


def tensorflow_step(variant):
    import tensorflow as tf
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal(SHAPE, dtype=np.float32))
    dy = tf.constant(rng.standard_normal(SHAPE, dtype=np.float32))
    gamma, beta = tf.Variable(tf.ones(SHAPE[-1])), tf.Variable(tf.zeros(SHAPE[-1]))

    def fused_bn(x):
        y, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=tf.constant([], tf.float32),
            variance=tf.constant([], tf.float32), epsilon=EPS, exponential_avg_factor=1.0,
            data_format="NHWC", is_training=True)
        return y

    @tf.custom_gradient
    def composed_bn(x, g, b):
        mean, var = tf.nn.moments(x, [0, 1, 2])
        rstd = tf.math.rsqrt(var + EPS)
        scale = g * rstd

        def grad(dy):
            n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
            xhat = (x - mean) * rstd
            db, dg = tf.reduce_sum(dy, [0, 1, 2]), tf.reduce_sum(dy * xhat, [0, 1, 2])
            return scale / n * (n * dy - db - xhat * dg), dg, db
        return x * scale + (b - mean * scale), grad

    def step(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fused_bn(x) if variant == "fused" else composed_bn(x, gamma, beta)
            y = tf.nn.relu(y)
        return tape.gradient(y, [x, gamma, beta], output_gradients=dy)

    compiled = tf.function(step, jit_compile=variant == "composed_xla")
    return lambda: compiled(x, dy)[0].numpy()


def torch_step():
    import torch
    torch.manual_seed(0)
    n, h, w, c = SHAPE
    x = torch.randn(n, c, h, w).to(memory_format=torch.channels_last).requires_grad_()
    dy = torch.randn(n, c, h, w).to(memory_format=torch.channels_last)
    bn = torch.nn.BatchNorm2d(c, eps=EPS).train()

    def step():
        torch.relu(bn(x)).backward(dy)
        x.grad = None
    return step


def main(variant):
    step = torch_step() if variant == "torch" else tensorflow_step(variant)
    for _ in range(3):
        step()  # trace, compile, warm the caches
    for r in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(CALLS):
            step()
        print(f"{variant} round {r}: {(time.perf_counter() - start) / CALLS * 1e3:.2f} ms",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
