"""In one process: ResNet-20's bare step with option A as a strided slice + concat (before d501636)
and as a 1x1 average pool + pad (after), interleaved rounds, medians."""
import sys, statistics, keras
from rescore.models import layers as L
from rescore.config import compose_settings
from rescore.bench.run import bench_run
from rescore.bench.timing import BareStep

def old_call(self, x):
    x = x[:, :: self.stride, :: self.stride, :]
    zeros = keras.ops.zeros_like(x[..., :1])
    pad = keras.ops.repeat(zeros, self.extra_channels, axis=-1)
    return keras.ops.concatenate([x, pad], axis=-1)
new_call = L.SubsampleZeroPad.call
c = compose_settings(sys.argv[1:] or ["model=resnet20"])
steps = {}
for name, call in (("slice+concat", old_call), ("avgpool+pad", new_call)):
    L.SubsampleZeroPad.call = call
    run, _ = bench_run(c)
    steps[name] = BareStep(run)
    steps[name].run(4)  # traces with this call
res = {n: [] for n in steps}; cpu = {n: [] for n in steps}
for r in range(8):
    for n, b in steps.items():
        t = b.run(8, first_call=4 + 8 * r)
        res[n].append(8 * 128 / t.wall); cpu[n].append(8 * 128 / t.cpu)
for n in steps:
    print(f"{n}: {statistics.median(res[n]):.1f} img/s, {statistics.median(cpu[n]):.1f} img/CPU-s, rounds {[round(v) for v in res[n]]}")
a, b = (statistics.median(res[n]) for n in steps)
ac, bc = (statistics.median(cpu[n]) for n in steps)
print(f"avgpool+pad / slice+concat: {b/a:.3f} wall, {bc/ac:.3f} CPU time")
