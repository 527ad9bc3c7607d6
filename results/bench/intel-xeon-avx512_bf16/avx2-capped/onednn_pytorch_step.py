"""4 training steps of the bench's PyTorch twin of ResNet-20 (after 3 warm-up ones) for
oneDNN's verbose log. Run: ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_VERBOSE=1
python onednn_pytorch_step.py > pt.txt 2>&1, then python onednn_per_step.py pt.txt."""
import numpy as np, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "src"))  # the repository's
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
