"""The residual-unit ablations of He et al. 2016b, "Identity Mappings in Deep Residual
Networks" (ECCV 2016, arXiv:1603.05027), chosen by the `unit` config group (UnitConfig).

A residual unit computes y = h(x) + F(x) and passes x' = f(y) on. The paper varies:

Where BN and ReLU sit (Fig. 4, Table 2), `unit.placement`:
  original          F = conv-BN-ReLU-conv-BN        f = ReLU      (He et al. 2016; Fig. 4a)
  bn_after_add      F = conv-BN-ReLU-conv           f = BN-ReLU   (4b)
  relu_before_add   F = conv-BN-ReLU-conv-BN-ReLU   f = identity  (4c)
  relu_only_preact  F = ReLU-conv-BN-ReLU-conv-BN   f = identity  (4d)
  full_preact       F = BN-ReLU-conv-BN-ReLU-conv   f = identity  (4e)
(bottleneck units alike, with three weight layers). The first three keep the layout of
the v1 nets (cifar.py, bottleneck.py: conv-BN-ReLU stem, v1 layer names). The two
pre-activation ones take the layout of preact.py: as the paper's appendix says, the first
unit's activation comes right after the stem conv, before the split into two paths, and
the last unit gets an extra activation after its addition (head_relu; full_preact also
head_bn); the stem keeps its BN where BN follows the weight layers (relu_only_preact).
So resnet164 with unit=full_preact is preact_resnet164, layer for layer, and
preact_resnet110 with unit=original is resnet110 with shortcut=B.

What the identity shortcut does (Fig. 2, Table 1), `unit.shortcut`, s being what an
identity shortcut carries (x; in a pre-activation net's first unit, the shared activation):
  identity              y = s + F
  constant_scaling      y = λs·s + λF·F   (unit.scale_shortcut, unit.scale_residual; unset: 1)
  exclusive_gating      y = (1−g)·s + g·F,  g = σ(conv1x1(s) + b_g)   (unit.gate_bias: b_g)
  shortcut_only_gating  y = (1−g)·s + F
  conv1x1               y = conv1x1(s) + F
  dropout               y = dropout(s) + F  (unit.dropout_ratio)

Choices, following the paper wherever it says:
- Only identity shortcuts vary: Fig. 2 and §3.1 put each variant in the place of the
  identity h(x) = x (the 1x1 conv shortcuts "replace the identity"); where dimensions
  change, which the paper does not discuss, the unit keeps its option's zero-pad or
  projection shortcut and an unscaled, ungated F. Option C leaves no identity shortcut to
  vary and is refused. ResNet-110 so varies 52 of its 54 units.
- The gate g is a 1x1 conv with a bias and no BN (a BN would make b_g meaningless). Its
  weights are He-normal like every weight layer ("the weights are initialized as in [23]",
  appendix), its bias starts at b_g ("the initialization of the biases b_g is critical";
  the paper searched 0 to -10). Weight decay takes its kernel, as any conv kernel.
- The 1x1 conv shortcut is followed by BN (Fig. 2: "BN layers ... are adopted right after
  the weight layers for all units here"), except in full pre-activation units, whose weight
  layers end bare like their projection shortcuts (preact.py). With option B it is option
  C of He et al. 2016, which is what the paper calls it: the same layers, names and weights.
- λ are constants ("frozen gating"), not trained; a λ left unset is 1.
- Dropout is the standard one of Caffe (the paper's experiments ran in Caffe, says the
  resnet-1k-layers README) and Torch: kept values are scaled by 1/(1−p) in training, the
  shortcut passes unchanged in evaluation. The paper's remark that dropout "statistically
  imposes a scale of λ with an expectation of 0.5 on the shortcut" would fit a mask without
  that rescaling; it does not say which it used. The mask is a function of (seed,
  iteration): unit_layers.py.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, List, Optional

import keras
from keras import layers

from ..config import Placement, ShortcutVariant, UnitConfig
from .layers import bn, conv, conv_bn, he_normal, relu, shortcut
from .unit_layers import GatedSum, Scale, ShortcutDropout

POST_ACTIVATION = (Placement.original, Placement.bn_after_add, Placement.relu_before_add)
PRE_ACTIVATION = (Placement.relu_only_preact, Placement.full_preact)
GATING = (ShortcutVariant.exclusive_gating, ShortcutVariant.shortcut_only_gating)


# ----------------------------------------------------------------- settings


def is_default(unit: Optional[UnitConfig]) -> bool:
    """True when `unit` asks for nothing: the family's own unit, exactly as before."""
    return unit is None or unit == UnitConfig()


def resolved_unit(unit: UnitConfig, own: str) -> UnitConfig:
    """`unit` with its placement filled in: the family's own (`own`) when left open."""
    return dataclasses.replace(unit, placement=Placement(unit.placement or own))


def placement_of(unit: Optional[UnitConfig], own: str) -> Placement:
    return Placement(unit.placement if unit is not None and unit.placement else own)


def unit_problems(unit: UnitConfig, model: str, option: Optional[str]) -> List[str]:
    """What is wrong with `unit` on `model` with shortcut `option` (resolved): one message
    per problem saying why and what is valid; [] when it can be built."""
    from . import model_info  # the registry's facts; rescore.models imports this module
    from ..report.paper import gating_summary  # data only; the report may import models

    if is_default(unit):
        return []
    info = model_info(model)
    if info["placement"] is None:
        kind = "a plain net: it has no shortcuts" if info["family"] == "plain" else \
            "an ImageNet-style net"
        return [f"unit.* varies the residual units of the CIFAR ResNets (He et al. 2016b: "
                f"resnet8…1202, resnet164, preact_resnet*, resnet*_v2); {model} is {kind}, "
                f"so leave the unit group at its default"]
    problems = []
    variant = ShortcutVariant(unit.shortcut)
    settings = {"scale_shortcut": (ShortcutVariant.constant_scaling,),
                "scale_residual": (ShortcutVariant.constant_scaling,),
                "gate_bias": GATING, "dropout_ratio": (ShortcutVariant.dropout,)}
    for key, variants in settings.items():
        value = getattr(unit, key)
        if value is None:
            continue
        if variant not in variants:
            problems.append(f"unit.{key}={value:g} belongs to unit.shortcut="
                            f"{' or '.join(map(str, variants))}, but unit.shortcut={variant} "
                            f"has none: drop it, or choose that shortcut")
        elif not math.isfinite(value):
            problems.append(f"unit.{key} must be a finite number, got {value}")
    if variant == ShortcutVariant.constant_scaling and unit.scale_shortcut is None \
            and unit.scale_residual is None:
        problems.append("unit.shortcut=constant_scaling needs unit.scale_shortcut and/or "
                        "unit.scale_residual (λ on the shortcut and on F; the paper: 0.5 "
                        "on the shortcut, 1 or 0.5 on F); with neither it is the identity")
    if variant in GATING and unit.gate_bias is None:
        problems.append(f"unit.shortcut={variant} needs unit.gate_bias, the initial bias b_g "
                        f"of the gate g(x) = sigmoid(conv1x1(x) + b_g); the paper (Table 1): "
                        f"{gating_summary()}")
    if variant == ShortcutVariant.dropout:
        ratio = unit.dropout_ratio
        if ratio is None:
            problems.append("unit.shortcut=dropout needs unit.dropout_ratio, the share of "
                            "shortcut values dropped in training, in [0, 1) (the paper: 0.5)")
        elif math.isfinite(ratio) and not 0 <= ratio < 1:
            problems.append(f"unit.dropout_ratio must be in [0, 1), got {ratio}")
    if variant != ShortcutVariant.identity and option == "C":
        problems.append(f"unit.shortcut={variant} replaces identity shortcuts, but shortcut=C "
                        f"puts a projection on every unit, so none is left: use shortcut=A "
                        f"or B (the option's shortcut stays where dimensions change)")
    return problems


def is_pre_activation(unit: Optional[UnitConfig]) -> bool:
    """True when `unit` asks for one of the pre-activation placements (Fig. 4d, 4e)."""
    return unit is not None and unit.placement in PRE_ACTIVATION


# ----------------------------------------------------------------- the addition


def merge(residual, short, unit: Optional[UnitConfig], name: str,
          conv1x1: Callable):
    """residual + h(short) at an identity shortcut, h the unit's variant (None: identity).
    `conv1x1(short)` builds the layout's 1x1 conv shortcut. The sum is `{name}_add`."""
    variant = ShortcutVariant.identity if unit is None else ShortcutVariant(unit.shortcut)
    if variant == ShortcutVariant.constant_scaling:
        if unit.scale_residual is not None:
            residual = Scale(unit.scale_residual, name=f"{name}_residual_scale")(residual)
        if unit.scale_shortcut is not None:
            short = Scale(unit.scale_shortcut, name=f"{name}_short_scale")(short)
    elif variant in GATING:
        gate = layers.Conv2D(short.shape[-1], 1, use_bias=True, activation="sigmoid",
                             kernel_initializer=he_normal(),
                             bias_initializer=keras.initializers.Constant(unit.gate_bias),
                             name=f"{name}_short_gate")(short)
        exclusive = variant == ShortcutVariant.exclusive_gating
        return GatedSum(exclusive, name=f"{name}_add")([residual, short, gate])
    elif variant == ShortcutVariant.conv1x1:
        short = conv1x1(short)
    elif variant == ShortcutVariant.dropout:
        short = ShortcutDropout(unit.dropout_ratio, name=f"{name}_short_dropout")(short)
    return layers.Add(name=f"{name}_add")([residual, short])


def add_v1_shortcut(residual, x, in_channels: int, out_channels: int, stride: int,
                    option: str, unit: Optional[UnitConfig], name: str):
    """The addition of a post-activation unit: the option's shortcut (layers.shortcut)
    where dimensions change or with option C; elsewhere the unit's variant of the identity."""
    changes = stride != 1 or in_channels != out_channels
    if changes or option == "C":
        return layers.Add(name=f"{name}_add")(
            [residual, shortcut(x, in_channels, out_channels, stride, option,
                                name=f"{name}_short")])
    return merge(residual, x, unit, name,
                 conv1x1=lambda s: conv_bn(s, out_channels, 1, 1, name=f"{name}_short_proj"))


# ----------------------------------------------------------------- post-activation units


def post_branch_end(y, filters: int, kernel: int, placement: str, name: str):
    """The residual branch's last weight layer in a post-activation unit (`name`: its
    prefix, e.g. stage1_block1_2): conv-BN (Fig. 4a), conv alone when BN moves after the
    addition (4b), conv-BN-ReLU when ReLU moves before it (4c)."""
    if placement == Placement.bn_after_add:
        return conv(y, filters, kernel, 1, name=f"{name}_conv")
    y = conv_bn(y, filters, kernel, 1, name=name)
    return relu(y, name=f"{name}_relu") if placement == Placement.relu_before_add else y


def after_addition(y, placement: str, name: str):
    """f of a post-activation unit: ReLU (4a), BN-ReLU (4b), nothing (4c)."""
    if placement == Placement.relu_before_add:
        return y
    if placement == Placement.bn_after_add:
        y = bn(y, name=f"{name}_add_bn")
    return relu(y, name=f"{name}_out")


# ----------------------------------------------------------------- pre-activation units


def pre_activation(x, k: int, placement: str, name: str):
    """What comes before the k-th weight layer of a pre-activation unit: BN-ReLU (Fig. 4e)
    or ReLU alone (4d, where BN follows the weight layers: `after_weight`)."""
    if placement == Placement.full_preact:
        x = bn(x, name=f"{name}_bn{k}")
    return relu(x, name=f"{name}_relu{k}")


def after_weight(y, k: int, placement: str, name: str):
    """What follows the k-th weight layer of a pre-activation unit: BN in ReLU-only units
    (Fig. 4d), nothing in full pre-activation ones (4e)."""
    return bn(y, name=f"{name}_bn{k}") if placement == Placement.relu_only_preact else y


def pre_projection(x, filters: int, stride: int, placement: str, name: str):
    """A pre-activation unit's 1x1 shortcut conv (`{name}_short_proj_conv`), followed by BN
    where the unit's weight layers are (ReLU-only pre-activation)."""
    y = conv(x, filters, 1, stride, name=f"{name}_short_proj_conv")
    if placement == Placement.relu_only_preact:
        y = bn(y, name=f"{name}_short_proj_bn")
    return y
