"""Was a run trained on the paper's recipe (He et al. 2016 §4.2)? Where it was not, the
config keys that depart from it, each named with the value the run used.

Only a run on the paper's recipe can be `full` (or `scaled`) in the report (collect.py):
a 64k-iteration CIFAR-10 run with cutout or wd 5e-4 is not the experiment behind Table 6,
and its error does not belong beside the paper's. The paper's values are in paper.py;
this module maps them onto rescore's config keys:

- data: batch 128 (`data.batch_size`), the per-pixel mean subtracted
  (`data.normalize=pixel_mean`), pad 4 + random 32×32 crop + flip (`data.augment=true`);
  no cutout, mixup or CutMix (none is in the paper).
- optim: lr 0.1, momentum 0.9 (plain: the paper names no Nesterov), weight decay 1e-4
  (`optim.wd`; on the kernels only, `optim.wd_bn=false`, as config.OptimConfig reads the
  paper), the rate divided by 10 at each milestone (`optim.gamma=0.1`), plain cross-entropy
  (`optim.label_smoothing=0`), no SWA (`optim.swa.start`), and the warm-up only where the
  paper has it (ResNet-110/1202: lr 0.01 until the training error is below 80 %, as their
  model groups conf/model/resnet110.yaml and resnet1202.yaml set it).
- the net: option A shortcuts (`shortcut.option`), the original unit with BN right after
  each convolution (`unit.*`), no extra builder arguments (`model.kwargs`), rescore's fused
  BN (`model.batchnorm=fused`: its running variance is unbiased, as the paper's Caffe keeps
  it; Keras' stock layer keeps the biased one, models/batchnorm.py), float32
  (`trainer.precision`: bfloat16/float16 change every step's arithmetic).

Not part of the recipe, because they do not change what is trained or what result.json's
`test_error` measures: an EMA of the weights (`optim.ema`: evaluated beside the raw
weights, whose error is `test_error`), `data.crop_padding` (what the 4 pixels hold; the
paper does not say), `data.eval_batch_size` and the trainer's determinism, XLA, strategy
and device feeding. The data set and the schedule (iterations, milestones, step or
cosine, `schedule_scale`) are compared by collect.py and named in its own words
(Run.data_text, Run.schedule_text). `data.val_split` is a departure: the 45k/5k split
chose the schedule, and the models of Table 6 were then trained on all 50k images.

A departure is `(key, text)`: the dotted key, and e.g. "optim.wd=0.0005". Where the config
left the shortcut or the unit to the model (unset) and the model's own is not the paper's,
the text says so: "shortcut.option=B (resnet164's own)".
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..config import OptimConfig, UnitConfig
from . import paper
from .settings import config_settings, flatten, value_text

Departure = Tuple[str, str]  # (dotted config key, "key=value" as the report prints it)

# Dotted config key → the paper's value, as the schema spells it (see the docstring).
PAPER_SETTINGS: Dict[str, Any] = {
    "data.batch_size": paper.BATCH_SIZE,
    "data.val_split": 0,  # all paper.TRAIN_IMAGES: the 45k/5k split only chose the schedule
    "data.normalize": "pixel_mean",
    "data.augment": True,
    "data.cutout": 0,
    "data.mixup": 0,
    "data.cutmix": 0,
    "optim.lr": paper.LEARNING_RATE,
    "optim.momentum": paper.MOMENTUM,
    "optim.nesterov": False,
    "optim.wd": paper.WEIGHT_DECAY,
    "optim.wd_bn": False,
    "optim.gamma": 1 / paper.LR_DIVISOR,
    "optim.cosine_warmup_steps": 0,
    "optim.label_smoothing": 0,
    "optim.swa.start": None,
    "model.batchnorm": "fused",
    "trainer.precision": "float32",
    # the unit's shortcut: identity, none of its variants' settings (He et al. 2016b Fig. 2)
    **{key: value for key, value in flatten({"unit": asdict(UnitConfig())}).items()
       if key != "unit.placement"},
}
SWA_SETTINGS = ("optim.swa.lr", "optim.swa.every")  # named only with SWA on
# The paper's warm-up as rescore's keys; max_steps is rescore's cap on the error-based
# warm-up (the paper's ended after "about 400 iterations"), kept at the schema's value.
PAPER_WARMUP = {"optim.warmup.until_train_error": paper.WARMUP_UNTIL_TRAIN_ERROR,
                "optim.warmup.steps": 0, "optim.warmup.lr": paper.WARMUP_LR,
                "optim.warmup.max_steps": OptimConfig().warmup.max_steps}
NO_WARMUP = {"optim.warmup.until_train_error": None, "optim.warmup.steps": 0}


def departures(model: str, shortcut: Optional[str], placement: Optional[str],
               config: Mapping[str, Any]) -> Tuple[Departure, ...]:
    """Where a run of `model` departs from the paper's recipe. `shortcut` and `placement`
    are what the net was built with (result.json's; None: none, or not recorded) and
    `config` the run's saved config (keys it lacks have the schema's defaults)."""
    settings = config_settings(config)
    found = [(key, settings.get(key)) for key, value in PAPER_SETTINGS.items()
             if not _same(settings.get(key), value)]
    if settings.get("optim.swa.start") is not None:
        found += [(key, settings.get(key)) for key in SWA_SETTINGS]
    found += _warmup(model, settings)
    found += [(key, value) for key, value in settings.items()
              if key.startswith("model.kwargs.")]
    named = [(key, f"{key}={value_text(value)}") for key, value in found]
    return tuple(named + _architecture(model, shortcut, placement, settings))


def _warmup(model: str, settings: Dict[str, Any]) -> List[Tuple[str, Any]]:
    """The warm-up where the paper has it (ResNet-110/1202) and none elsewhere; with a
    warm-up that is not the paper's, its rate and cap too where they differ."""
    expected = PAPER_WARMUP if model in paper.WARMUP_MODELS else NO_WARMUP
    found = [(key, settings.get(key)) for key, value in expected.items()
             if not _same(settings.get(key), value)]
    if found and expected is NO_WARMUP:
        found += [(key, settings.get(key)) for key in ("optim.warmup.lr",
                                                       "optim.warmup.max_steps")
                  if not _same(settings.get(key), PAPER_WARMUP[key])]
    return found


def _architecture(model: str, shortcut: Optional[str], placement: Optional[str],
                  settings: Dict[str, Any]) -> List[Departure]:
    """Option A (plain nets have no shortcut: None) and the original unit, as built."""
    found = []
    if shortcut is not None and shortcut != paper.SHORTCUT:
        found.append(_built("shortcut.option", shortcut, settings, model))
    # result.json records the placement built; a run without it built what its config says,
    # and unset is the CIFAR v1 family's own, the original
    built = placement or settings.get("unit.placement") or paper.UNIT_PLACEMENT
    if built != paper.UNIT_PLACEMENT:
        found.append(_built("unit.placement", built, settings, model))
    return found


def _built(key: str, value: str, settings: Dict[str, Any], model: str) -> Departure:
    own = f" ({model}'s own)" if settings.get(key) is None else ""
    return key, f"{key}={value}{own}"


def _same(value: Any, expected: Any) -> bool:
    """Numbers compare as numbers (1e-4 == 0.0001, 0 == 0.0); anything else exactly."""
    numeric = isinstance(expected, (int, float)) and not isinstance(expected, bool)
    if not numeric or isinstance(value, bool):
        return value == expected
    try:
        return float(value) == float(expected)
    except (TypeError, ValueError):
        return False
