"""Measurement 4 (optional): the same training step in PyTorch, the baseline issue 17 sets.

Only when PyTorch is installed (`pip install ".[torch]"` in the rescore folder; on a machine
without a GPU, take the CPU build first:
`pip install torch --index-url https://download.pytorch.org/whl/cpu`),
and only for the nets it can build here: the CIFAR ResNets and plain nets of He et al. 2016
§4.2 with option-A shortcuts (`resnet20` … `resnet1202`, `plain20` … `plain110`) and the
paper's units. Anything else is skipped with the reason.

Kept as a PyTorch user would write it, and fair where it matters:
- the same architecture: 3x3 convs without bias, BN (momentum 0.1 in PyTorch's sense,
  epsilon 1e-5), ReLU, option A's subsample-and-zero-pad shortcut, global average pool and
  a linear head; He-normal (fan-in) kernels;
- channels-last memory format, the fast layout for oneDNN on CPU;
- SGD with momentum and the coupled weight decay (PyTorch's `weight_decay` is wd·w in the
  gradient, the paper's term) on conv and linear weights only, as rescore's default;
- `trainer.precision=mixed_bfloat16` → `torch.autocast("cpu", torch.bfloat16)`;
- eager mode (no `torch.compile`), the common way to train these nets;
- in a process of its own (spawned, so without TensorFlow), driven round by round through a
  pipe: the rounds still interleave with rescore's, so drifts in the machine's speed fall on
  both alike, and neither library's idle thread pool shares a process with the other's timed
  work (in one process, TensorFlow's inter-op threads cost PyTorch up to about 10 %).
It is favoured in one way, said here and in the output: its input is one fixed, already
normalised batch, with no crop, flip or normalisation inside the step (rescore's bare step
does those), so beating it is the harder target.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from ..config import Config

if TYPE_CHECKING:
    import numpy as np

    from ..train.build import Run
    from .timing import Timing

MEASURABLE_FAMILIES = ("resnet_v1", "plain")
INPUT_NOTE = "fixed normalised batch (no crop/flip/normalisation in the step)"


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def why_not_measurable(c: Config, tensorflow_on_gpu: bool = False) -> Optional[str]:
    """None when the PyTorch baseline can mirror this run; otherwise the reason.
    `tensorflow_on_gpu`: the bench times rescore on a GPU (timing.device), where a CPU-only
    twin would make loop/PyTorch a ratio of devices, not of frameworks."""
    from ..models import model_info, resolved_placement, resolved_shortcut

    if tensorflow_on_gpu:
        return ("rescore is timed on the GPU and the PyTorch twin runs on the CPU only: "
                "their ratio would compare devices (bench.torch=false skips it; the GPU "
                "figures stand alone)")
    if not torch_installed():
        return 'PyTorch is not installed (pip install ".[torch]" in the rescore folder)'
    info = model_info(c.model.name)
    if info["family"] not in MEASURABLE_FAMILIES or info["block"] != "basic":
        return (f"no PyTorch twin of {c.model.name} (only {', '.join(MEASURABLE_FAMILIES)} "
                f"basic-block nets)")
    if c.model.kwargs:
        return f"model.kwargs {dict(c.model.kwargs)} change the net; the PyTorch twin has none"
    shortcut = resolved_shortcut(c.model.name, c.shortcut.option)
    if info["family"] == "resnet_v1" and shortcut != "A":
        return f"the PyTorch twin has option-A shortcuts only, not {shortcut}"
    placement = resolved_placement(c.model.name, c.unit)
    if placement not in (None, "original") or c.unit.shortcut != "identity":
        return "the PyTorch twin has the paper's unit only"
    if c.trainer.precision not in ("float32", "mixed_bfloat16"):
        return f"trainer.precision={c.trainer.precision} has no PyTorch CPU counterpart here"
    return None


def build_torch_net(blocks: int, widths: Sequence[int], num_classes: int, shortcuts: bool):
    """The CIFAR ResNet (or plain net) of §4.2 as PyTorch modules: `blocks` per stage and the
    stage widths, as models/cifar.py decides them for a depth (spec_of asks it)."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    def conv3x3(c_in, c_out, stride):
        return nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False)

    class OptionA(nn.Module):
        def __init__(self, extra_channels):
            super().__init__()
            self.extra = extra_channels

        def forward(self, x):
            return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, self.extra))

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1, self.bn1 = conv3x3(c_in, c_out, stride), nn.BatchNorm2d(c_out)
            self.conv2, self.bn2 = conv3x3(c_out, c_out, 1), nn.BatchNorm2d(c_out)
            changes = stride != 1 or c_in != c_out
            self.shortcut = (None if not shortcuts
                             else OptionA(c_out - c_in) if changes else nn.Identity())

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            if self.shortcut is not None:
                y = y + self.shortcut(x)
            return F.relu(y)

    layers, c_in = [conv3x3(3, widths[0], 1), nn.BatchNorm2d(widths[0]), nn.ReLU()], widths[0]
    for stage, width in enumerate(widths):
        for b in range(blocks):
            layers.append(Block(c_in, width, 2 if stage > 0 and b == 0 else 1))
            c_in = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], num_classes)]
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
    return net.to(memory_format=torch.channels_last)


@dataclass(frozen=True)
class TorchSpec:
    """All the child process needs, as plain values (it never imports TensorFlow)."""
    blocks: int  # per stage
    widths: Tuple[int, ...]
    num_classes: int
    shortcuts: bool
    lr: float
    momentum: float
    nesterov: bool
    wd: float
    wd_bn: bool
    threads: int
    seed: int
    bfloat16: bool
    images: "np.ndarray"  # the run's first batch, normalised, NCHW float32
    labels: "np.ndarray"  # int64


def spec_of(run: "Run") -> TorchSpec:
    import numpy as np

    from .. import cpu
    from ..models import model_info
    from ..models.cifar import CIFAR_WIDTHS, blocks_per_stage
    from ..train.step import preprocess

    c, o = run.settings, run.settings.optim
    info = model_info(c.model.name)
    rows = run.order.indices(0)
    images = preprocess(run.splits.x_train[rows], run.mean, run.std).numpy()
    return TorchSpec(blocks=blocks_per_stage(info["depth"]), widths=tuple(CIFAR_WIDTHS),
                     num_classes=c.data.num_classes,
                     shortcuts=info["family"] == "resnet_v1", lr=o.lr, momentum=o.momentum,
                     nesterov=o.nesterov, wd=o.wd, wd_bn=o.wd_bn,
                     threads=c.trainer.threads or cpu.usable_cores(), seed=c.seed,
                     bfloat16=str(c.trainer.precision) == "mixed_bfloat16",
                     images=np.ascontiguousarray(images.transpose(0, 3, 1, 2), np.float32),
                     labels=run.splits.y_train[rows].astype(np.int64))


class TorchStep:
    """The PyTorch training step on one fixed batch, as described above."""

    def __init__(self, spec: TorchSpec):
        import torch

        torch.manual_seed(spec.seed)
        torch.set_num_threads(spec.threads)
        self.net = build_torch_net(spec.blocks, spec.widths, spec.num_classes, spec.shortcuts)
        self.net.train()
        decayed = [p for p in self.net.parameters() if p.dim() > 1]
        others = [p for p in self.net.parameters() if p.dim() <= 1]
        self.optimizer = torch.optim.SGD(
            [{"params": decayed, "weight_decay": spec.wd},
             {"params": others, "weight_decay": spec.wd if spec.wd_bn else 0.0}],
            lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov)
        self.images = torch.from_numpy(spec.images).contiguous(
            memory_format=torch.channels_last)
        self.labels = torch.from_numpy(spec.labels)
        self.bfloat16 = spec.bfloat16
        self.torch = torch

    def step(self):
        torch = self.torch
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
            logits = self.net(self.images)
        loss = torch.nn.functional.cross_entropy(logits.float(), self.labels)
        loss.backward()
        self.optimizer.step()
        return loss

    def run(self, iterations: int) -> Tuple[float, float]:
        """(wall, CPU) seconds of `iterations` steps of this process."""
        wall, cpu = time.perf_counter(), time.process_time()
        loss = None
        for _ in range(iterations):
            loss = self.step()
        float(loss.detach())  # CPU work is synchronous; this keeps the shape of the other timers
        return time.perf_counter() - wall, time.process_time() - cpu


def serve(conn, spec: TorchSpec) -> None:
    """The child process: build the step, then run as many iterations as each message asks
    and send back the seconds; None ends it. A failure is sent back as its message."""
    try:
        step = TorchStep(spec)
        conn.send(("ready", None))
        while (iterations := conn.recv()) is not None:
            conn.send(("timing", step.run(iterations)))
    except Exception as err:  # reported by the parent, which raises it with context
        conn.send(("error", f"{type(err).__name__}: {err}"))


class TorchProcess:
    """The PyTorch step in a spawned child process, timed there, one round per call."""

    def __init__(self, run: "Run"):
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no TensorFlow
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, spec_of(run)), daemon=True)
        self.process.start()
        self._receive("ready")

    def _receive(self, expected: str):
        try:
            kind, value = self.conn.recv()
        except EOFError:
            raise RuntimeError(f"the PyTorch baseline's process ended (exit code "
                               f"{self.process.exitcode}) before it answered") from None
        if kind == "error":
            raise RuntimeError(f"the PyTorch baseline failed in its process: {value}")
        assert kind == expected, (kind, expected)
        return value

    def run(self, iterations: int) -> "Timing":
        from .timing import Timing

        self.conn.send(iterations)
        return Timing(*self._receive("timing"))

    def close(self) -> None:
        if self.process.is_alive():
            self.conn.send(None)
            self.process.join(timeout=30)
