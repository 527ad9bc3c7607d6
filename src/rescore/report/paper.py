"""The published numbers the report sets beside rescore's: He et al. 2016, Table 6, and
He et al. 2016b, Tables 1 and 2 and the pre-activation column of Table 3.

Source: K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016 (arXiv:1512.03385), Table 6: classification error on the CIFAR-10 test set,
data augmentation on, option A shortcuts. "best (mean±std)": only ResNet-110 has the
mean±std over 5 runs; the other rows are single numbers. Plain nets appear only in the
curves of Fig. 6 and have no Table-6 number.

Source of UNIT_TABLE1 and UNIT_TABLE2: K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings
in Deep Residual Networks", ECCV 2016 (arXiv:1603.05027). Both tables give the CIFAR-10
test error in %, "the median accuracy of 5 runs for each architecture" (§3.1).
- Table 1: "Classification error on the CIFAR-10 test set using ResNet-110 [1], with
  different types of shortcut connections applied to all Residual Units. We report "fail"
  when the test error is higher than 20%." (f = ReLU: the original unit, Fig. 2.)
- Table 2: "Classification error (%) on the CIFAR-10 test set using different activation
  functions." ResNet-110 and the bottleneck ResNet-164 (Fig. 4).
Each row carries the unit.* settings that build its case in rescore (models/units.py).

Source of TABLE3_PREACT, and how far it is checked: of He et al. 2016b's Table 3, the test
errors of the pre-activation ResNet-164 and ResNet-1001 on CIFAR-10 and CIFAR-100. No
session could reach the paper's own Table 3 (offline; the stored copies of the paper hold
its beginning only). The four values are as the Wide ResNet authors' README quotes them
for "pre-ResNet-164" and "pre-ResNet-1001" ("Test error (%, flip/translation augmentation,
meanstd normalization, median of 5 runs)"; github.com/szagoruyko/wide-residual-networks,
README.md at commit 062a793). Its CIFAR-10 value for ResNet-164, 5.46, is the paper's own
Table 2 value above. The original-unit column of Table 3 is left out: no source for it was
reached. Check these against the paper before you lean on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple, Union

CITATION = ("He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. "
            "CVPR 2016, arXiv:1512.03385, Table 6")


@dataclass(frozen=True)
class PaperRow:
    method: str
    layers: int
    params_m: float
    error: float  # %, the paper's "best"
    mean: Optional[float] = None  # %, only where the paper reports mean±std
    std: Optional[float] = None

    def error_text(self) -> str:
        if self.mean is None:
            return f"{self.error:.2f}"
        return f"{self.error:.2f} ({self.mean:.2f}±{self.std:.2f})"


# The schedule behind every number of Table 6 (§4.2): 64k iterations, the learning rate
# divided by 10 at 32k and 48k. Only runs trained on it, on CIFAR-10, are comparable.
ITERATIONS = 64_000
MILESTONES = (32_000, 48_000)

# The rest of the training recipe behind Table 6 (§4.2, CIFAR-10): "On this dataset we use
# identity shortcuts in all cases (i.e., option A) ... We use a weight decay of 0.0001 and
# momentum of 0.9, and adopt the weight initialization in [13] and BN [16] but with no
# dropout. These models are trained with a mini-batch size of 128 on two GPUs. We start
# with a learning rate of 0.1, divide it by 10 at 32k and 48k iterations ... 4 pixels are
# padded on each side, and a 32×32 crop is randomly sampled from the padded image or its
# horizontal flip." The inputs have "the per-pixel mean subtracted"; BN sits "right after
# each convolution and before activation" (§3.4), the unit of Fig. 2 (He et al. 2016b's
# "original", Fig. 4(a)). report/recipe.py says which config keys express each of these.
# §4.2 also: "We present experiments trained on the training set and evaluated on the test
# set", the schedule's end "is determined on a 45k/5k train/val split": Table 6's models
# train on all 50k training images (no data.val_split).
TRAIN_IMAGES = 50_000
BATCH_SIZE = 128
LEARNING_RATE = 0.1
LR_DIVISOR = 10  # at each milestone
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
SHORTCUT = "A"
UNIT_PLACEMENT = "original"

# The warm-up (§4.2): for ResNet-110 "the initial learning rate of 0.1 is slightly too large
# to start converging. So we use 0.01 to warm up the training until the training error is
# below 80% (about 400 iterations), and then go back to 0.1". That ResNet-1202 warms up
# the same way is a reading, not a statement: the paper trains it "as described above" (the
# ResNet-110 paragraph just before). No other Table-6 net warms up.
WARMUP_LR = 0.01
WARMUP_UNTIL_TRAIN_ERROR = 0.8
WARMUP_MODELS = ("resnet110", "resnet1202")

# rescore model name → its Table-6 row.
TABLE6: Dict[str, PaperRow] = {
    "resnet20": PaperRow("ResNet", 20, 0.27, 8.75),
    "resnet32": PaperRow("ResNet", 32, 0.46, 7.51),
    "resnet44": PaperRow("ResNet", 44, 0.66, 7.17),
    "resnet56": PaperRow("ResNet", 56, 0.85, 6.97),
    "resnet110": PaperRow("ResNet", 110, 1.7, 6.43, mean=6.61, std=0.16),
    "resnet1202": PaperRow("ResNet", 1202, 19.4, 7.93),
}

# Other methods of Table 6 that rescore does not train, for the reference section only.
OTHER_METHODS = (
    PaperRow("FitNet", 19, 2.5, 8.39),
    PaperRow("Highway", 19, 2.3, 7.54, mean=7.72, std=0.16),
    PaperRow("Highway", 32, 1.25, 8.80),
)


def paper_row(model: str) -> Optional[PaperRow]:
    return TABLE6.get(model)


# ----------------------------------------------------------------- He et al. 2016b

HE2016B_CITATION = ("He, Zhang, Ren, Sun. Identity Mappings in Deep Residual Networks. "
                    "ECCV 2016, arXiv:1603.05027, Tables 1-2")
FAIL = "fail"  # printed where the test error was above 20 %
Error = Union[float, str]  # % test error, or FAIL


@dataclass(frozen=True)
class UnitRow:
    """One row of He et al. 2016b Table 1 or 2, as printed, with the unit.* settings that
    build its case (`settings`: (key, value) pairs; a tuple of values where one row covers
    several, e.g. b_g from 0 to -5)."""
    table: str
    case: str
    figure: str
    settings: Tuple[Tuple[str, Any], ...]
    resnet110: Error
    resnet164: Optional[Error] = None  # Table 2 only
    on_shortcut: str = ""  # Table 1's columns
    on_f: str = ""
    remark: str = ""

    def error_text(self, network: str = "resnet110") -> str:
        value = getattr(self, network)
        return "–" if value is None else value if value == FAIL else f"{value:.2f} %"

    def overrides(self) -> str:
        """The settings as command-line overrides (a range shows its first value)."""
        return " ".join(f"unit.{k}={v[0] if isinstance(v, tuple) else v}"
                        for k, v in self.settings) or "unit=original"


_GATING = "exclusive_gating"
_ONLY = "shortcut_only_gating"
UNIT_TABLE1 = (  # ResNet-110, original unit (f = ReLU); "on shortcut" / "on F" as printed
    UnitRow("Table 1", "original [1]", "Fig. 2(a)", (), 6.61, on_shortcut="1", on_f="1"),
    UnitRow("Table 1", "constant scaling", "Fig. 2(b)",
            (("shortcut", "constant_scaling"), ("scale_shortcut", 0)), FAIL,
            on_shortcut="0", on_f="1", remark="This is a plain net"),
    UnitRow("Table 1", "constant scaling", "Fig. 2(b)",
            (("shortcut", "constant_scaling"), ("scale_shortcut", 0.5)), FAIL,
            on_shortcut="0.5", on_f="1"),
    UnitRow("Table 1", "constant scaling", "Fig. 2(b)",
            (("shortcut", "constant_scaling"), ("scale_shortcut", 0.5), ("scale_residual", 0.5)),
            12.35, on_shortcut="0.5", on_f="0.5", remark="frozen gating"),
    UnitRow("Table 1", "exclusive gating", "Fig. 2(c)",
            (("shortcut", _GATING), ("gate_bias", (0, -1, -2, -3, -4, -5))), FAIL,
            on_shortcut="1−g(x)", on_f="g(x)", remark="init b_g=0 to −5"),
    UnitRow("Table 1", "exclusive gating", "Fig. 2(c)", (("shortcut", _GATING), ("gate_bias", -6)),
            8.70, on_shortcut="1−g(x)", on_f="g(x)", remark="init b_g=−6"),
    UnitRow("Table 1", "exclusive gating", "Fig. 2(c)", (("shortcut", _GATING), ("gate_bias", -7)),
            9.81, on_shortcut="1−g(x)", on_f="g(x)", remark="init b_g=−7"),
    UnitRow("Table 1", "shortcut-only gating", "Fig. 2(d)",
            (("shortcut", _ONLY), ("gate_bias", 0)), 12.86,
            on_shortcut="1−g(x)", on_f="1", remark="init b_g=0"),
    UnitRow("Table 1", "shortcut-only gating", "Fig. 2(d)",
            (("shortcut", _ONLY), ("gate_bias", -6)), 6.91,
            on_shortcut="1−g(x)", on_f="1", remark="init b_g=−6"),
    UnitRow("Table 1", "1×1 conv shortcut", "Fig. 2(e)", (("shortcut", "conv1x1"),), 12.22,
            on_shortcut="1×1 conv", on_f="1"),
    UnitRow("Table 1", "dropout shortcut", "Fig. 2(f)",
            (("shortcut", "dropout"), ("dropout_ratio", 0.5)), FAIL,
            on_shortcut="dropout 0.5", on_f="1"),
)
UNIT_TABLE2 = (  # identity shortcuts; ResNet-110 and ResNet-164
    UnitRow("Table 2", "original Residual Unit [1]", "Fig. 4(a)",
            (("placement", "original"),), 6.61, 5.93),
    UnitRow("Table 2", "BN after addition", "Fig. 4(b)",
            (("placement", "bn_after_add"),), 8.17, 6.50),
    UnitRow("Table 2", "ReLU before addition", "Fig. 4(c)",
            (("placement", "relu_before_add"),), 7.84, 6.14),
    UnitRow("Table 2", "ReLU-only pre-activation", "Fig. 4(d)",
            (("placement", "relu_only_preact"),), 6.71, 5.91),
    UnitRow("Table 2", "full pre-activation", "Fig. 4(e)",
            (("placement", "full_preact"),), 6.37, 5.46),
)
# rescore models that are the paper's ResNet-110 (basic units) and ResNet-164 (bottleneck)
UNIT_TABLE_NETWORKS = {"resnet110": "resnet110", "preact_resnet110": "resnet110",
                       "resnet164": "resnet164", "preact_resnet164": "resnet164",
                       "resnet164_v2": "resnet164"}
_SHORTCUT_KEYS = ("shortcut", "scale_shortcut", "scale_residual", "gate_bias", "dropout_ratio")


def _shortcut_settings(values: Mapping[str, Any]) -> Dict[str, Any]:
    """unit.* shortcut settings with their implicit values made explicit (λ unset is 1)."""
    out = {k: values.get(k) for k in _SHORTCUT_KEYS}
    out["shortcut"] = str(out["shortcut"] or "identity")
    for key in ("scale_shortcut", "scale_residual"):
        if out["shortcut"] == "constant_scaling" and out[key] is None:
            out[key] = 1.0
    return out


def _row_matches(row: UnitRow, settings: Mapping[str, Any]) -> bool:
    wanted = _shortcut_settings(dict(row.settings))
    for key, value in wanted.items():
        got = settings[key]
        if isinstance(value, tuple) and got in value:
            continue
        if got != value:
            return False
    return True


def unit_paper_error(model: str, placement: str, unit: Mapping[str, Any]
                     ) -> Optional[Tuple[UnitRow, Error]]:
    """The row of Table 1 or 2 that a run of `model` with the resolved `placement` and the
    config's `unit` settings reproduces, and the paper's error for that network; None when
    the paper has no such case. Table 1 is ResNet-110 with the original unit only. The
    shortcut option is not compared: the paper's ResNet-110 is option A ([1]), its
    bottleneck and pre-activation nets project (B)."""
    network = UNIT_TABLE_NETWORKS.get(model)
    if network is None:
        return None
    settings = _shortcut_settings(unit)
    if settings["shortcut"] == "identity":
        for row in UNIT_TABLE2:
            if dict(row.settings)["placement"] == placement:
                return row, getattr(row, network)
        return None
    if network != "resnet110" or placement != "original":
        return None
    for row in UNIT_TABLE1:
        if _row_matches(row, settings):
            return row, row.resnet110
    return None


def gating_summary() -> str:
    """Table 1's gating rows in one line: what the initial gate bias b_g gave."""
    return "; ".join(f"{row.case}, {row.remark.removeprefix('init ')}: {row.error_text()}"
                     for row in UNIT_TABLE1 if "gate_bias" in dict(row.settings))


# He et al. 2016b, Table 3, pre-activation units (see the module docstring for the source):
# (data set, network) -> % test error. The only CIFAR-100 numbers of the paper that the
# report sets beside runs; ResNet-164's CIFAR-10 value repeats Table 2's full pre-activation.
TABLE3_PREACT: Dict[Tuple[str, str], float] = {
    ("cifar10", "resnet164"): 5.46, ("cifar10", "resnet1001"): 4.92,
    ("cifar100", "resnet164"): 24.33, ("cifar100", "resnet1001"): 22.71,
}
# rescore models that are the paper's bottleneck ResNet-164 and ResNet-1001
TABLE3_NETWORKS = {"resnet164": "resnet164", "preact_resnet164": "resnet164",
                   "resnet164_v2": "resnet164", "preact_resnet1001": "resnet1001",
                   "resnet1001_v2": "resnet1001"}
TABLE3_PLACEMENT = "full_preact"
TABLE3_SHORTCUT = "B"  # projections only where the dimensions grow, as these nets' own


def table3_preact_error(data_name: Optional[str], model: str, placement: str,
                        unit: Mapping[str, Any], option: Optional[str]) -> Optional[float]:
    """He et al. 2016b Table 3's error for a run of `model` on `data_name` that built the
    full pre-activation unit with identity shortcuts (the unit's own, no Fig. 2 variant)
    and shortcut `option` B (None: the model's own, which is B for these nets; C
    projects on every unit, which the paper's nets do not); None when the table has no
    such case."""
    network = TABLE3_NETWORKS.get(model)
    if network is None or placement != TABLE3_PLACEMENT \
            or option not in (None, TABLE3_SHORTCUT) \
            or _shortcut_settings(unit)["shortcut"] != "identity":
        return None
    return TABLE3_PREACT.get((str(data_name), network))
