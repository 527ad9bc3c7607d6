"""Config schemas (dataclasses in Hydra's ConfigStore) and the start-up checks.

Hydra composes conf/ against these schemas, so a wrong type or an unknown key fails at
composition. `check_config` then catches values that are well typed but wrong (a negative
rate, milestones out of order), before an hour of training is spent. Config is read here,
once; everything below takes the checked groups whole (`c.optim`, `c.data`), never a
re-read of the config or a copy of its defaults.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from .errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent / "conf"  # the shipped configs


class Choice(str, Enum):
    """A setting that takes one of a few names. A wrong name fails at composition, where
    OmegaConf lists the valid ones. Members are their names as plain strings (compare,
    hash, format and serialise as such), so code below the config sees "float32", not
    an Enum, and run folders' digests are the strings they always were."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __hash__(self) -> int:
        return hash(self.value)


class BatchNormKind(Choice):  # models/batchnorm.py
    fused = "fused"
    keras = "keras"


class ShortcutOption(Choice):  # models/layers.py; None: the model family's own
    A = "A"
    B = "B"
    C = "C"


class Placement(Choice):  # models/units.py: where BN and ReLU sit (He et al. 2016b, Fig. 4)
    original = "original"
    bn_after_add = "bn_after_add"
    relu_before_add = "relu_before_add"
    relu_only_preact = "relu_only_preact"
    full_preact = "full_preact"


class ShortcutVariant(Choice):  # models/units.py: what the identity shortcut does (Fig. 2)
    identity = "identity"
    constant_scaling = "constant_scaling"
    exclusive_gating = "exclusive_gating"
    shortcut_only_gating = "shortcut_only_gating"
    conv1x1 = "conv1x1"
    dropout = "dropout"


class DataName(Choice):  # data/__init__.py
    cifar10 = "cifar10"
    cifar100 = "cifar100"  # fine labels, 100 classes (data/cifar100.py)
    synthetic = "synthetic"


class Normalize(Choice):  # data/pipeline.py
    pixel_mean = "pixel_mean"
    channel_std = "channel_std"


class CropPadding(Choice):  # data/augment.py: what fills the 4 pixels a crop may reach past
    black = "black"  # zeros before the mean is subtracted (torchvision, akamaster): the default
    mean = "mean"  # zeros after it, i.e. the mean (fb.resnet.torch)


class Schedule(Choice):  # train/schedule.py
    step = "step"  # the paper's: optim.lr × optim.gamma at each milestone
    cosine = "cosine"  # optim.lr → 0 along a cosine over max_steps (SGDR, ICLR 2017)


class Resume(Choice):  # train/rundir.py
    auto = "auto"
    never = "never"


class Strategy(Choice):  # train/distributed.py
    default = "default"
    mirrored = "mirrored"


class Precision(Choice):  # train/precision.py
    float32 = "float32"
    mixed_bfloat16 = "mixed_bfloat16"
    mixed_float16 = "mixed_float16"


# The schema below is the one place every default is written; conf/ files list only what
# differs from it (tests/test_config.py checks that they do).

@dataclass
class ModelConfig:
    name: str = "resnet20"
    kwargs: Dict[str, Any] = field(default_factory=dict)  # extra builder args, e.g. stem
    # fused: one BN kernel per layer in training (faster; running variance unbiased, as
    # Caffe/Torch); keras: Keras' stock layer. Same weights either way (models/batchnorm.py)
    batchnorm: BatchNormKind = BatchNormKind.fused


@dataclass
class ShortcutConfig:
    # None: the model family's own (A for CIFAR v1, B for bottleneck/pre-activation/ImageNet);
    # A: zero-pad, B: project when dims change, C: always project
    option: Optional[ShortcutOption] = None


@dataclass
class UnitConfig:
    """The residual unit, as ablated by He et al. 2016b ("Identity Mappings in Deep Residual
    Networks"): where BN and ReLU sit around the addition (Fig. 4, Table 2) and what the
    identity shortcuts do (Fig. 2, Table 1); models/units.py. The defaults build the
    model family's own unit. A setting stays None unless its variant uses it."""
    # None: the family's own (original for CIFAR v1, full_preact for pre-activation nets)
    placement: Optional[Placement] = None
    shortcut: ShortcutVariant = ShortcutVariant.identity
    scale_shortcut: Optional[float] = None  # constant_scaling: λ on the shortcut (unset: 1)
    scale_residual: Optional[float] = None  # constant_scaling: λ on F (unset: 1)
    gate_bias: Optional[float] = None  # exclusive/shortcut_only_gating: initial gate bias b_g
    dropout_ratio: Optional[float] = None  # dropout: share of shortcut values dropped, [0, 1)


@dataclass
class DataConfig:
    name: DataName = DataName.cifar10
    root: Optional[str] = None  # None: $RESCORE_DATA or ~/.cache/rescore
    download: bool = True
    val_split: int = 0  # >0: hold out that many training images (paper: 5000)
    normalize: Normalize = Normalize.pixel_mean  # the paper's per-pixel mean | channel_std
    augment: bool = True
    crop_padding: CropPadding = CropPadding.black  # the paper does not say; data/augment.py
    batch_size: int = 128
    eval_batch_size: int = 1000
    # the data set's own: data=cifar100 sets 100; only data=synthetic takes any number
    num_classes: int = 10
    synthetic_train: int = 2048  # sizes of data=synthetic
    synthetic_test: int = 512
    # Regularisers of the training batch (data/mixing.py), each off at its default.
    # cutout: side in pixels of a square zeroed at a random centre of each image (DeVries &
    # Taylor 2017); 0: none
    cutout: int = 0
    # mixup: α of λ ~ Beta(α, α), images and targets mixed λ:1−λ (Zhang et al. 2018); 0: none
    mixup: float = 0.0
    # cutmix: α of λ ~ Beta(α, α), a box of area 1−λ pasted from another image (Yun et al.
    # 2019); 0: none. At most one of mixup and cutmix.
    cutmix: float = 0.0


@dataclass
class WarmupConfig:
    lr: float = 0.01
    until_train_error: Optional[float] = None  # e.g. 0.8: warm up until train error < 80%
    steps: int = 0  # or a fixed number of iterations (scaled by schedule_scale)
    max_steps: int = 4000  # the error-based warm-up gives up here (scaled)


@dataclass
class EmaConfig:
    """An exponential moving average of the weights, evaluated beside them (train/ema.py):
    avg ← decay·avg + (1−decay)·w after every applied iteration, over every model variable
    including BN's running statistics (as timm's ModelEmaV2). None: off."""
    decay: Optional[float] = None  # e.g. 0.9998 (timm's train.py default)


@dataclass
class SwaConfig:
    """Stochastic weight averaging (Izmailov et al. 2018, train/swa.py): from iteration
    `start` (scaled by optim.schedule_scale) the rate is the constant `lr`, the weights are
    averaged equally every `every` iterations, and at the end the average becomes the
    model, with BN statistics recomputed on the training set. None: off."""
    start: Optional[int] = None
    lr: float = 0.05  # the authors' SWA rate for PreResNet-164 on CIFAR (timgaripov/swa)
    every: Optional[int] = None  # None: one epoch of training images (scaled), the paper's


@dataclass
class OptimConfig:
    """He et al. 2016 §4.2: SGD with momentum 0.9 and batch 128, lr 0.1 divided by 10 at
    32k and 48k iterations, stop at 64k; weight decay 1e-4 as wd/2·||w||² on the conv and
    fc kernels (optim.wd_bn adds BN's gamma/beta)."""
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    wd: float = 1e-4
    wd_bn: bool = False  # also decay BN gamma/beta and biases
    # step: the paper's milestones | cosine: optim.lr to 0 over max_steps (SGDR, Loshchilov &
    # Hutter 2017), which ignores milestones and gamma (train/schedule.py)
    schedule: Schedule = Schedule.step
    milestones: List[int] = field(default_factory=lambda: [32000, 48000])
    gamma: float = 0.1
    max_steps: int = 64000
    schedule_scale: Any = 1  # a number or a fraction like "1/32"
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    # cosine only: ramp linearly up to lr over this many iterations (scaled); 0: none
    cosine_warmup_steps: int = 0
    # ε of label smoothing: targets (1−ε)·one-hot + ε/K (Szegedy et al. 2016 §7,
    # train/losses.py); 0: the paper's plain cross-entropy
    label_smoothing: float = 0.0
    ema: EmaConfig = field(default_factory=EmaConfig)
    swa: SwaConfig = field(default_factory=SwaConfig)


@dataclass
class TrainerConfig:
    """How a run is watched, stored and run; the cadences never change what it computes.
    Faults (train/rundir.py, train/signals.py): the same command resumes its run folder;
    a finished run only reports its result."""
    eval_every: int = 2000
    log_every: int = 100
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    # None: a bar when stderr is a terminal, and a log line per log_every when stdout is
    # not (nohup, SLURM, `> log`) | true: the bar | false: the lines (train/logging.py)
    progress: Optional[bool] = None
    deterministic: bool = False  # TF op determinism (bitwise-repeatable on CPU)
    jit_compile: bool = False
    threads: int = 0  # intra-op threads; 0 lets TF decide
    # default: one device | mirrored: tf.distribute.MirroredStrategy over all visible GPUs,
    # per-replica BN as the paper's 2 GPUs x 64 images (train/distributed.py)
    strategy: Strategy = Strategy.default
    # float32 | mixed_bfloat16 | mixed_float16 (loss-scaled); train/precision.py
    precision: Precision = Precision.float32
    # TensorFloat-32 for float32 convolutions and matmuls on Ampere and later GPUs, which
    # TensorFlow uses unless told otherwise; false: float32 computes in float32, as on the
    # paper's GPUs. Nothing on a CPU (train/precision.py, set_tensor_float_32)
    tf32: bool = False
    # iterations per compiled call, metrics accumulated on device; train/multistep.py
    steps_per_call: int = 1
    # copy the training split to the device once and send each call only batch indices
    # (the gather runs in the call): for GPUs; bitwise the same run (train/device_data.py)
    data_on_device: bool = False
    # auto: continue from the newest checkpoint in the run folder | never: refuse a folder
    # that already holds checkpoints or a result (train/rundir.py)
    resume: Resume = Resume.auto
    # false | k (true is 1): train in the folder seed=<n>.restart<k>, started over from
    # iteration 0 and resumed by the same command; the run it restarts is not touched
    restart: Any = False
    signal_exit_code: int = 143  # exit status after SIGTERM/USR1/USR2 + checkpoint (requeue)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    shortcut: ShortcutConfig = field(default_factory=ShortcutConfig)
    unit: UnitConfig = field(default_factory=UnitConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = 0
    name: str = "default"  # experiment name: the first level of the run folder
    out_root: str = "outputs"


def register_schemas() -> None:
    cs = ConfigStore.instance()
    cs.store(name="schema", node=Config)
    for group, node in (("model", ModelConfig), ("data", DataConfig), ("optim", OptimConfig),
                        ("shortcut", ShortcutConfig), ("unit", UnitConfig),
                        ("trainer", TrainerConfig)):
        cs.store(group=group, name="schema", node=node)


# Keys that change how a run is watched or stored, never what it computes: left out of
# the digest, so changing them resumes the same run folder.
NON_RESULT_KEYS = {
    "data": {"root", "download"},
    "trainer": {"eval_every", "log_every", "checkpoint_every", "keep_checkpoints", "progress",
                "threads", "resume", "restart", "signal_exit_code",
                "steps_per_call",  # bitwise the same iterations (tests/test_multistep.py)
                "data_on_device"},  # bitwise the same batches (tests/test_device_data.py)
}
NON_RESULT_TOP = {"seed", "name", "out_root", "hydra"}


def result_defining(cfg: Dict[str, Any]) -> Dict[str, Any]:
    kept = {k: v for k, v in cfg.items() if k not in NON_RESULT_TOP}
    for group, keys in NON_RESULT_KEYS.items():
        if isinstance(kept.get(group), dict):
            kept[group] = {k: v for k, v in kept[group].items() if k not in keys}
    return kept


def differing_from(values: Dict[str, Any], defaults: Dict[str, Any]) -> Dict[str, Any]:
    """The entries of `values` that are not the schema's default, recursively."""
    kept = {}
    for key, value in values.items():
        default = defaults.get(key, _ABSENT)
        if isinstance(value, dict) and isinstance(default, dict):
            value = differing_from(value, default)
            if value:
                kept[key] = value
        elif value != default:
            kept[key] = value
    return kept


_ABSENT = object()


def config_digest(cfg: Dict[str, Any], length: int = 10) -> str:
    """A short hash of everything that defines a run's result (not its seed or folder).

    Only values that differ from the schema's defaults enter it: a new option added with a
    default leaves every existing run folder where it was, so a run started before an
    upgrade still resumes after it."""
    changed = differing_from(result_defining(with_canonical_scale(cfg)),
                             result_defining(asdict(Config())))
    text = json.dumps(changed, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def with_canonical_scale(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """`cfg` with optim.schedule_scale spelt one way per value, so that equal scales share a
    run folder (0.03125, 2/64 and 1/32 all become "1/32"; 1.0 and 1/1 become 1). Fractions
    keep the n/d form every documented command types, so those folders stay where they
    were; a scale that does not parse is left for check_config to refuse."""
    from .train.schedule import parse_scale  # TF-free

    optim = cfg.get("optim")
    if not isinstance(optim, dict) or "schedule_scale" not in optim:
        return cfg
    try:
        scale = parse_scale(optim["schedule_scale"])
    except ValueError:
        return cfg
    canonical = int(scale) if scale.denominator == 1 else f"{scale.numerator}/{scale.denominator}"
    return {**cfg, "optim": {**optim, "schedule_scale": canonical}}


def _digest_resolver(*, _root_: DictConfig) -> str:
    plain = OmegaConf.to_container(_root_, resolve=False)
    plain.pop("hydra", None)
    resolved = OmegaConf.to_container(OmegaConf.create(plain), resolve=True)
    return config_digest(resolved)


def _restart_suffix_resolver(*, _root_: DictConfig) -> str:
    """`.restart<k>` with trainer.restart=k, else nothing: Hydra's folder for the run, its
    .hydra/ and its log, is then the restart's own, and the run it restarts is not touched
    (train/rundir.py; a bad value is left for check_config to name)."""
    from .train.rundir import restart_number  # TF-free

    k = restart_number(_root_.trainer.restart)
    return f".restart{k}" if k else ""


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("rescore_digest"):
        OmegaConf.register_new_resolver("rescore_digest", _digest_resolver)
    if not OmegaConf.has_resolver("rescore_restart"):
        OmegaConf.register_new_resolver("rescore_restart", _restart_suffix_resolver)


def to_settings(cfg: DictConfig) -> Config:
    """The composed DictConfig → a plain, checked `Config` dataclass (read once, here)."""
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra", None)  # Hydra's own node, resolvable only inside a running app
    container = OmegaConf.to_container(OmegaConf.create(container), resolve=True)
    settings = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), container))
    check_config(settings)
    return settings


def compose_settings(overrides: Sequence[str]) -> Config:
    """A checked `Config` composed from conf/ outside a Hydra app (the bench; rescore eval's
    `--model NAME`): the same defaults list and schema as `python -m rescore`."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    register_schemas()
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return to_settings(cfg)


def check_config(c: Config) -> None:
    """Values that type-check but cannot be right fail here, at start-up."""
    from .train.rundir import restart_number  # noqa: avoid TF at import
    from .train.schedule import parse_scale, scaled_schedule  # noqa: avoid TF at import

    problems = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    o, d, t = c.optim, c.data, c.trainer
    need(o.lr > 0, f"optim.lr must be > 0, got {o.lr}")
    need(o.wd >= 0, f"optim.wd must be >= 0, got {o.wd}")
    need(0 <= o.momentum < 1, f"optim.momentum must be in [0, 1), got {o.momentum}")
    need(0 < o.gamma <= 1, f"optim.gamma must be in (0, 1], got {o.gamma}")
    need(o.max_steps > 0, f"optim.max_steps must be > 0, got {o.max_steps}")
    if o.schedule == "step":  # the cosine ignores the milestones (experiments set them)
        need(list(o.milestones) == sorted(set(o.milestones)),
             f"optim.milestones must be strictly increasing, got {list(o.milestones)}")
        need(all(0 < m < o.max_steps for m in o.milestones), _milestones_outside(o))
    _check_cosine(o, problems)
    need(d.augment or d.crop_padding == CropPadding.black,
         "data.crop_padding=mean says what the random crop pads with, but data.augment=false "
         "takes no crops: drop data.crop_padding or set data.augment=true")
    _check_modern(c, problems)
    need(o.warmup.lr > 0, f"optim.warmup.lr must be > 0, got {o.warmup.lr}")
    need(o.warmup.steps >= 0, f"optim.warmup.steps must be >= 0, got {o.warmup.steps}")
    need(o.warmup.until_train_error is None or 0 < o.warmup.until_train_error <= 1,
         f"optim.warmup.until_train_error must be in (0, 1], got {o.warmup.until_train_error}")
    try:
        parse_scale(o.schedule_scale)
        max_steps, milestones, _ = scaled_schedule(o.max_steps, o.milestones, o.warmup.steps,
                                                   o.schedule_scale)
        unscaled_ok = (o.schedule == "step"  # the cosine has no milestones to keep apart
                       and list(o.milestones) == sorted(set(o.milestones))
                       and all(0 < m < o.max_steps for m in o.milestones))  # else said above
        need(not unscaled_ok or (list(milestones) == sorted(set(milestones))
                                 and all(m < max_steps for m in milestones)),
             f"optim.schedule_scale={o.schedule_scale} turns max_steps {o.max_steps} and "
             f"milestones {list(o.milestones)} into {max_steps} and {list(milestones)}: "
             f"the milestones must stay distinct and below max_steps; use a larger "
             f"optim.schedule_scale")
    except ValueError as err:
        problems.append(f"optim.schedule_scale: {err}")
    need(d.batch_size > 0, f"data.batch_size must be > 0, got {d.batch_size}")
    need(d.eval_batch_size > 0, f"data.eval_batch_size must be > 0, got {d.eval_batch_size}")
    images = training_images(d)
    need(0 <= d.val_split < images, f"data.val_split must be in [0, {images}): {d.name} has "
                                    f"{images} training images, got {d.val_split}")
    _check_num_classes(d, problems)
    for key in ("eval_every", "log_every", "checkpoint_every", "keep_checkpoints"):
        need(getattr(t, key) > 0, f"trainer.{key} must be > 0, got {getattr(t, key)}")
    need(c.seed >= 0, f"seed must be >= 0, got {c.seed}")
    need(restart_number(t.restart) is not None,
         f"trainer.restart must be false, true (= 1) or a restart number k >= 1, "
         f"got {t.restart!r}")
    need(0 < t.signal_exit_code < 256,
         f"trainer.signal_exit_code must be in 1..255, got {t.signal_exit_code}")
    gpu_preset = (" (trainer=gpu sets both steps_per_call=50 and data_on_device=true; "
                  "with several GPUs use trainer=default)"
                  if t.strategy == "mirrored" and t.steps_per_call > 1 and t.data_on_device
                  else "")
    need(t.strategy != "mirrored" or (t.steps_per_call == 1 and not t.jit_compile
                                      and t.precision != "mixed_float16"),
         "trainer.strategy=mirrored needs trainer.steps_per_call=1, trainer.jit_compile=false "
         f"and no float16 loss scaling (train/distributed.py){gpu_preset}")
    need(not (t.data_on_device and t.strategy == "mirrored"),
         "trainer.data_on_device=true works on one device only: with "
         "trainer.strategy=mirrored each replica is fed its share of a host batch "
         "(train/distributed.py); set trainer.data_on_device=false or trainer.strategy=default")
    need(t.steps_per_call >= 1, f"trainer.steps_per_call must be >= 1, got {t.steps_per_call}")
    _check_model(c, problems)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def _check_cosine(o: OptimConfig, problems: List[str]) -> None:
    """The cosine's linear warm-up needs the cosine, and is the only warm-up of its run."""
    from .train.schedule import scaled_linear_warmup, scaled_schedule  # noqa: TF-free

    w = o.cosine_warmup_steps
    if w < 0:
        problems.append(f"optim.cosine_warmup_steps must be >= 0, got {w}")
    elif w > 0 and o.schedule != "cosine":
        problems.append(f"optim.cosine_warmup_steps={w} is the linear warm-up of the cosine "
                        f"schedule: add optim.schedule=cosine, or leave it 0 with "
                        f"optim.schedule={o.schedule} (whose warm-up is optim.warmup.steps or "
                        f"optim.warmup.until_train_error, at optim.warmup.lr)")
    elif w > 0 and (o.warmup.steps > 0 or o.warmup.until_train_error is not None):
        problems.append(f"optim.cosine_warmup_steps={w} and the constant warm-up "
                        f"(optim.warmup.steps / optim.warmup.until_train_error) are two "
                        f"warm-ups: keep one of them")
    elif w > 0:
        try:
            max_steps = scaled_schedule(o.max_steps, [], 0, o.schedule_scale)[0]
            ramp = scaled_linear_warmup(w, o.schedule_scale)
        except ValueError:
            return  # a bad schedule_scale is reported on its own
        if ramp >= max_steps:
            problems.append(f"optim.cosine_warmup_steps={w} (scaled: {ramp}) must be below "
                            f"optim.max_steps={o.max_steps} (scaled: {max_steps})")


def _check_modern(c: Config, problems: List[str]) -> None:
    """The modern switches (issue 15): label smoothing, cutout, mixup/cutmix, EMA, SWA."""
    from .train.schedule import scale_steps, scaled_schedule  # noqa: TF-free

    o, d, t = c.optim, c.data, c.trainer
    if not 0 <= o.label_smoothing < 1:
        problems.append(f"optim.label_smoothing must be in [0, 1), got {o.label_smoothing} "
                        f"(0: plain cross-entropy; 0.1 is Szegedy et al.'s)")
    if not 0 <= d.cutout <= 32:
        problems.append(f"data.cutout is the side of the zeroed square in pixels and must be "
                        f"in 0..32 (the images are 32x32; 0: off; 16 is DeVries & Taylor's "
                        f"CIFAR-10 value), got {d.cutout}")
    for key in ("mixup", "cutmix"):
        alpha = getattr(d, key)
        if alpha < 0:
            problems.append(f"data.{key} is α of Beta(α, α) and must be >= 0 (0: off), "
                            f"got {alpha}")
    if d.mixup > 0 and d.cutmix > 0:
        problems.append(f"data.mixup={d.mixup} and data.cutmix={d.cutmix}: choose one of "
                        f"them (set the other to 0)")
    if t.strategy == "mirrored" and (d.cutout or d.mixup or d.cutmix or o.label_smoothing
                                     or o.ema.decay is not None or o.swa.start is not None):
        problems.append("data.cutout/mixup/cutmix, optim.label_smoothing, optim.ema and "
                        "optim.swa are not wired into trainer.strategy=mirrored's step: use "
                        "trainer.strategy=default")
    if o.ema.decay is not None and not 0 < o.ema.decay < 1:
        problems.append(f"optim.ema.decay must be in (0, 1) (e.g. 0.9998), or null for no "
                        f"EMA, got {o.ema.decay}")
    s = o.swa
    if s.start is None:
        return
    if s.lr <= 0:
        problems.append(f"optim.swa.lr must be > 0, got {s.lr}")
    if s.every is not None and s.every < 1:
        problems.append(f"optim.swa.every must be >= 1 iterations, or null for one epoch, "
                        f"got {s.every}")
    try:
        max_steps = scaled_schedule(o.max_steps, [], 0, o.schedule_scale)[0]
        start = scale_steps(s.start, o.schedule_scale)
    except ValueError:
        return  # a bad schedule_scale is reported on its own
    if not 0 <= start < max_steps:
        problems.append(f"optim.swa.start={s.start} (scaled: {start}) must lie in "
                        f"[0, optim.max_steps={o.max_steps} (scaled: {max_steps})): SWA "
                        f"averages the iterations from there to the end (the paper starts "
                        f"at 75% of the budget, e.g. optim.swa.start="
                        f"{3 * o.max_steps // 4})")


def training_images(d: DataConfig) -> int:
    """How many training images data.val_split holds out from."""
    from .data import real_release  # TF-free

    release = real_release(d.name)
    return d.synthetic_train if release is None else release.train_images


def _check_num_classes(d: DataConfig, problems: List[str]) -> None:
    """A real data set has its own number of classes: a contradicting value would build a
    model with the wrong output layer (or labels beyond it)."""
    from .data import real_release  # TF-free

    release = real_release(d.name)
    if release is None:
        if d.num_classes < 2:
            problems.append(f"data.num_classes must be >= 2, got {d.num_classes}")
    elif d.num_classes != release.num_classes:
        problems.append(
            f"data.num_classes={d.num_classes} contradicts data.name={d.name}, which has "
            f"{release.num_classes} classes: choose the data set as a group, "
            f"data={d.name} (it sets data.num_classes={release.num_classes}), and leave "
            f"data.num_classes alone; only data=synthetic takes another number")


def _milestones_outside(o: OptimConfig) -> str:
    """What to do when the milestones do not all lie in (0, max_steps): fit them, or keep
    the paper's numbers and shorten the whole schedule with schedule_scale."""
    from .train.schedule import scaled_schedule  # noqa: avoid TF at import

    fitted = sorted({m for m in (o.max_steps // 2, 3 * o.max_steps // 4) if 0 < m})
    paper = OptimConfig()
    example_steps, example_milestones, _ = scaled_schedule(paper.max_steps, paper.milestones,
                                                           0, "1/32")
    return (f"optim.milestones {list(o.milestones)} must lie below "
            f"optim.max_steps={o.max_steps} (and above 0): the rate drops at each milestone, "
            f"before the run ends. Give milestones that fit, e.g. optim.milestones={fitted} "
            f"(1/2 and 3/4 of max_steps, as in the paper), or keep the paper's max_steps and "
            f"milestones and "
            f"shorten the whole schedule with optim.schedule_scale, e.g. "
            f"optim.schedule_scale=1/32: {example_steps} iterations, milestones "
            f"{list(example_milestones)}")


def _check_model(c: Config, problems: List[str]) -> None:
    from .models import list_models  # registry lookup only: no model is built here

    if c.model.name not in list_models():
        from .models.registry import unknown_name_message
        problems.append(unknown_name_message("model", c.model.name, list_models()))
        return
    from .models import resolved_shortcut
    from .models.units import unit_problems

    problems += unit_problems(c.unit, c.model.name, resolved_shortcut(c.model.name,
                                                                      c.shortcut.option))
