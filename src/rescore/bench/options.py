"""The bench's own settings, `bench.*` on the command line; everything else is the
ordinary rescore config (model, data, trainer.precision, …) composed from conf/."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import List, Optional, Tuple

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..errors import ConfigError


@dataclass
class BenchOptions:
    out: Optional[str] = None  # JSON path; default <out_root>/bench/<what was measured>.json
    steps: int = 10  # iterations timed per measurement (rounded up to whole calls)
    warmup_steps: int = 4  # iterations run first and not counted (tracing, allocation)
    rounds: int = 3  # bare/loop/keras repeated this many times, interleaved; medians kept
    keras: bool = True  # measure the Keras fit baseline
    # measure the PyTorch twin (torch_baseline.py): None, when PyTorch is installed and can
    # build the model; true insists (an error says why it cannot); false never
    torch: Optional[bool] = None


def split_overrides(argv: List[str]) -> Tuple[BenchOptions, List[str]]:
    """`bench.steps=5 model=resnet8` → (BenchOptions(steps=5), ["model=resnet8"])."""
    ours = [a[len("bench."):] for a in argv if a.startswith("bench.")]
    rest = [a for a in argv if not a.startswith("bench.")]
    try:
        merged = OmegaConf.merge(OmegaConf.structured(BenchOptions),
                                 OmegaConf.from_dotlist(ours))
    except OmegaConfBaseException as err:  # an unknown bench.* key, or a wrong type
        valid = ", ".join(f"bench.{f.name}" for f in fields(BenchOptions))
        raise ConfigError(f"{str(err).splitlines()[0]} (valid: {valid})") from err
    options = OmegaConf.to_object(merged)
    for key in ("steps", "warmup_steps", "rounds"):
        if getattr(options, key) < 1:
            raise ConfigError(f"bench.{key} must be >= 1, got {getattr(options, key)}")
    return options, rest
