"""Time single element-wise ops on one ResNet-20 stage-1 activation (128x32x32x16), 2 threads:
are TensorFlow's bfloat16 Relu, AddV2, ReluGrad and AddN slower than float32's on their own?
(The profile of the bf16 training step says 2-3x; results/bench/README.md.) Run it with the
long run frozen:
  TF_CPP_MIN_LOG_LEVEL=2 python elementwise_ops.py > elementwise_ops.txt
Prints ms per call: one tf.function per op, 100 calls after 2 untimed ones, so the call's
dispatch (about 0.1 ms) is included."""

import time

import tensorflow as tf

SHAPE = (128, 32, 32, 16)  # ResNet-20's largest activation at batch 128
CALLS = 100


def ms_per_call(fn, *args) -> float:
    compiled = tf.function(fn)
    for _ in range(2):  # trace, then allocate
        compiled(*args)
    start = time.perf_counter()
    for _ in range(CALLS):
        result = compiled(*args)
    result.numpy()  # wait for the last call
    return 1e3 * (time.perf_counter() - start) / CALLS


def relu_grad(upstream, features):
    return tf.raw_ops.ReluGrad(gradients=upstream, features=features)


def other_float(x):
    return tf.cast(x, tf.float32 if x.dtype == tf.bfloat16 else tf.bfloat16)


def add_relu_in_float32(x, y):
    return tf.cast(tf.nn.relu(tf.cast(x, tf.float32) + tf.cast(y, tf.float32)), tf.bfloat16)


def main() -> None:
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    a, b, g = (tf.random.normal(SHAPE, seed=k) for k in range(3))
    for dtype in (tf.float32, tf.bfloat16):
        x, y, z = (tf.cast(t, dtype) for t in (a, b, g))
        name = dtype.name
        for label, fn, args in (
                ("relu", tf.nn.relu, (x,)),
                ("add", tf.add, (x, y)),
                ("addn of 3", lambda p, q, r: tf.add_n([p, q, r]), (x, y, z)),
                ("relugrad", relu_grad, (z, x)),
                ("cast to the other float", other_float, (x,)),
                ("add+relu", lambda p, q: tf.nn.relu(p + q), (x, y))):
            print(f"{label + ' ' + name:40s} {ms_per_call(fn, *args):7.3f} ms")
    x16, y16 = tf.cast(a, tf.bfloat16), tf.cast(b, tf.bfloat16)
    print(f"{'add+relu bfloat16 computed in float32':40s} "
          f"{ms_per_call(add_relu_in_float32, x16, y16):7.3f} ms")


if __name__ == "__main__":
    main()
