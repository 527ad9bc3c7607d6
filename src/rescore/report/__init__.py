"""rescore.report: Table 6 and Fig. 6 of He et al. 2016 from the runs in some folders, and
an ablation table over the config keys the runs differ in.

    python -m rescore.report outputs/table6 outputs/fig6 [--by KEY[,KEY]] [--out DIR]
"""

from .collect import Run, collect
from .table6 import build_rows, to_csv, to_markdown

__all__ = ["Run", "collect", "build_rows", "to_csv", "to_markdown", "main"]


def main(argv=None) -> int:
    from .__main__ import main as _main

    return _main(argv)
