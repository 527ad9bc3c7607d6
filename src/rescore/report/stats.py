"""Mean, sample std and a Student-t 95 % confidence interval over a few seeds, without
scipy (not a dependency of rescore; numpy has no t quantile).

The two-sided 95 % interval is mean ± t(0.975, n−1)·s/√n, s the sample standard deviation
(ddof=1). t(0.975, df):
- df 1..30: the quantiles of every printed t table (e.g. NIST/SEMATECH e-Handbook of
  Statistical Methods, §1.3.6.7.2, "Critical values of the Student's t distribution",
  to 3 decimals: 12.706, 4.303, 3.182, 2.776, ...), here to 7 decimals; the test checks
  each against the exact t CDF for integer df (Abramowitz & Stegun 26.7.3-4);
- df > 30: the Cornish-Fisher expansion around the normal quantile z = 1.959964
  (Abramowitz & Stegun 26.7.5, four terms), within 3e-8 of the exact value there
  (largest at df 31: -2.6e-8; the tables print 2 decimals).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import List, Optional, Sequence

T975 = (  # t(0.975, df) for df = 1..30
    12.7062047, 4.3026527, 3.1824463, 2.7764451, 2.5705818, 2.4469119, 2.3646243,
    2.3060041, 2.2621572, 2.2281389, 2.2009852, 2.1788128, 2.1603687, 2.1447867,
    2.1314495, 2.1199053, 2.1098156, 2.1009220, 2.0930241, 2.0859634, 2.0796138,
    2.0738731, 2.0686576, 2.0638986, 2.0595386, 2.0555294, 2.0518305, 2.0484071,
    2.0452296, 2.0422725)
Z975 = 1.959963984540054  # the standard normal's 0.975 quantile


def t_quantile_975(df: int) -> float:
    """t(0.975, df): the multiplier of s/√n for a two-sided 95 % interval."""
    if df < 1:
        raise ValueError(f"a t quantile needs df >= 1 (two or more values), got df={df}")
    if df <= len(T975):
        return T975[df - 1]
    x = Z975  # A&S 26.7.5: x + g1/df + g2/df² + g3/df³ + g4/df⁴
    g1 = (x**3 + x) / 4
    g2 = (5 * x**5 + 16 * x**3 + 3 * x) / 96
    g3 = (3 * x**7 + 19 * x**5 + 17 * x**3 - 15 * x) / 384
    g4 = (79 * x**9 + 776 * x**7 + 1482 * x**5 - 1920 * x**3 - 945 * x) / 92160
    return x + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


@dataclass(frozen=True)
class Summary:
    """What the ablation table says about one setting's values (e.g. test errors in %)."""
    values: List[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> Optional[float]:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> Optional[float]:
        """Sample standard deviation (ddof=1); undefined for one value."""
        return statistics.stdev(self.values) if self.n > 1 else None

    @property
    def half_width(self) -> Optional[float]:
        """Half the 95 % confidence interval of the mean; undefined for one value."""
        if self.n < 2:
            return None
        return t_quantile_975(self.n - 1) * self.std / math.sqrt(self.n)

    @property
    def interval(self) -> Optional[tuple]:
        if self.half_width is None:
            return None
        return (self.mean - self.half_width, self.mean + self.half_width)


def summarize(values: Sequence[float]) -> Summary:
    return Summary(list(values))
