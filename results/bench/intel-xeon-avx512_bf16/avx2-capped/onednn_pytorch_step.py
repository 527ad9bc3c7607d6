import numpy as np, sys
sys.path.insert(0, "/work/main/src")
from rescore.bench.torch_baseline import TorchSpec, TorchStep
rng = np.random.default_rng(0)
spec = TorchSpec(blocks=3, widths=(16, 32, 64), num_classes=10, shortcuts=True, lr=0.1, momentum=0.9,
                 nesterov=False, wd=1e-4, wd_bn=False, threads=2, seed=0, bfloat16=False,
                 images=rng.standard_normal((128, 3, 32, 32)).astype(np.float32),
                 labels=rng.integers(0, 10, 128).astype(np.int64))
s = TorchStep(spec)
s.run(3)
print("=== MEASURE", flush=True)
s.run(4)
