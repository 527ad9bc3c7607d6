"""The published numbers the report sets beside rescore's: He et al. 2016, Table 6.

Source: K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016 (arXiv:1512.03385), Table 6: classification error on the CIFAR-10 test set,
data augmentation on, option A shortcuts. "best (mean±std)": only ResNet-110 has the
mean±std over 5 runs; the other rows are single numbers. Plain nets appear only in the
curves of Fig. 6 and have no Table-6 number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

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
