"""Per-stage summaries and multiply-accumulate (MAC) counts of the model zoo.

Layers are grouped by the prefix of their name: `stem_*`, `stage{s}_*`, `head_*` (every
builder names its layers that way). MACs count the multiply-accumulates of
convolutions and fully connected layers for one image (biases, BN, ReLU, additions and
pooling are not counted, the usual convention: ResNet-50 at 224x224 is ~4.09 GMACs).
Known CIFAR figures: resnet20 40.55M, resnet56 125.5M, resnet110 252.9M.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import keras

_STAGE = re.compile(r"^(stage\d+)_block(\d+)_")


def group_of(layer_name: str) -> Optional[str]:
    """'stem', 'stage{s}' or 'head' for a layer name; None for the input layer."""
    m = _STAGE.match(layer_name)
    if m:
        return m.group(1)
    for prefix in ("stem", "head"):
        if layer_name == prefix or layer_name.startswith(prefix + "_"):
            return prefix
    return None


def _params(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-accumulates per image of one Conv2D or Dense layer (0 for anything else)."""
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(
            layer, (keras.layers.DepthwiseConv2D, keras.layers.Conv2DTranspose)):
        _, h, w, c_out = layer.output.shape
        c_in = layer.input.shape[-1]
        kh, kw = layer.kernel_size
        return int(h * w * c_out * kh * kw * c_in // layer.groups)
    if isinstance(layer, keras.layers.Dense):
        positions = math.prod(layer.input.shape[1:-1]) if len(layer.input.shape) > 2 else 1
        return int(positions * layer.input.shape[-1] * layer.units)
    # (a dropout shortcut's step seed is a weight that multiplies nothing)
    if layer.trainable_weights and not isinstance(layer, keras.layers.BatchNormalization):
        raise NotImplementedError(f"no MAC rule for {type(layer).__name__} {layer.name!r}")
    return 0


def count_macs(model: keras.Model) -> int:
    """Total conv + dense multiply-accumulates for one image."""
    return sum(layer_macs(layer) for layer in model.layers)


def count_params(model: keras.Model) -> Dict[str, int]:
    """{'trainable': ..., 'non_trainable': ...}; trainable equals torchvision's count."""
    return {"trainable": _params(model.trainable_weights),
            "non_trainable": _params(model.non_trainable_weights)}


@dataclass
class StageRow:
    name: str
    output_shape: tuple
    blocks: int
    params: int  # trainable
    macs: int


def stage_summary(model: keras.Model) -> List[StageRow]:
    """One row per group (stem, stage1..N, head), in forward order."""
    rows: Dict[str, StageRow] = {}
    blocks: Dict[str, set] = {}
    for layer in model.layers:  # topological order: a group's last layer is its output
        group = group_of(layer.name)
        if group is None:
            if layer.weights:
                raise ValueError(f"layer {layer.name!r} has weights but no stem_/stage<s>_/"
                                 f"head_ prefix, so it cannot be grouped")
            continue
        row = rows.setdefault(group, StageRow(group, (), 0, 0, 0))
        row.output_shape = tuple(layer.output.shape[1:])
        row.params += _params(layer.trainable_weights)
        row.macs += layer_macs(layer)
        m = _STAGE.match(layer.name)
        if m:
            blocks.setdefault(group, set()).add(int(m.group(2)))
    for group, row in rows.items():
        row.blocks = len(blocks.get(group, ()))
    return list(rows.values())


def build_for_inspection(name: str, num_classes: int = 10, shortcut: Optional[str] = None,
                         input_size: Optional[int] = None, **kwargs) -> keras.Model:
    """build_model with the family's default shortcut (None) and an optional square input."""
    from . import build_model  # late import: rescore.models imports the zoo modules

    if input_size is not None:
        kwargs["input_shape"] = (input_size, input_size, 3)
    return build_model(name, num_classes=num_classes, shortcut=shortcut, **kwargs)


def format_count(n: int) -> str:
    """Paper style: 0.85M, 1.73M, 4.09G (M from 0.1M up)."""
    for unit, scale, low in (("G", 1e9, 1e9), ("M", 1e6, 1e5), ("K", 1e3, 1e3)):
        if n >= low:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def format_summary(model: keras.Model, rows: Sequence[StageRow]) -> str:
    params = count_params(model)
    macs = count_macs(model)
    lines = [f"{model.name}: input {tuple(model.input.shape[1:])}",
             f"{'group':<8} {'output shape':<16} {'blocks':>6} {'params':>12} {'MACs':>15}"]
    for r in rows:
        lines.append(f"{r.name:<8} {str(r.output_shape):<16} {r.blocks or '':>6} "
                     f"{r.params:>12,} {r.macs:>15,}")
    lines.append(f"{'total':<8} {'':<16} {sum(r.blocks for r in rows):>6} "
                 f"{params['trainable']:>12,} {macs:>15,}")
    lines.append(f"trainable params {params['trainable']:,} ({format_count(params['trainable'])}), "
                 f"non-trainable {params['non_trainable']:,} (BN running statistics); "
                 f"MACs per image {macs:,} ({format_count(macs)})")
    return "\n".join(lines)
