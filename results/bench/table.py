"""Print the markdown table of results/bench/*_cpu.json (python results/bench/table.py).

3 is Keras fit on the model built from stock Keras layers (what a Keras user trains);
3' is Keras fit on rescore's own model (fused BN), so 2/3' compares the loops alone."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = {"resnet20": 0, "resnet56": 1, "resnet110": 2, "resnet1202": 3}


def number(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def rows(files):
    yield ("| model | precision | BN | 1 bare step img/s (ms/step) | 2 loop img/s | 3 Keras fit "
           "img/s | 3' fit, same model img/s | 2/1 | 2/3 | 2/1 CPU time | 2/3 CPU time "
           "| 2/3' CPU time | timed it. x rounds | peak RSS MiB | load avg before |")
    yield "|" + "---|" * 15
    for f in files:
        r = json.loads(f.read_text())
        c, q = r["config"], r["ratios"]
        fit = r.get("keras_fit", {}).get("images_per_sec")
        same = r.get("keras_fit_same_model", {}).get("images_per_sec")
        yield (f"| {c['model']} | {c['precision']} | {c.get('batchnorm', 'keras')} | "
               f"{r['bare']['images_per_sec']:.1f} ({r['bare']['ms_per_step']:.0f}) | "
               f"{r['loop']['images_per_sec']:.1f} | {number(fit, 1)} | {number(same, 1)} | "
               f"{q['loop_over_bare']:.2f} | {number(q.get('loop_over_keras'))} | "
               f"{q['loop_over_bare_cpu']:.2f} | {number(q.get('loop_over_keras_cpu'))} | "
               f"{number(q.get('loop_over_keras_same_model_cpu'))} | "
               f"{c['timed_iterations']} x {c['rounds']} | "
               f"{r['memory']['peak_rss_mib_process']:.0f} | "
               f"{r['machine']['load_average_before'][0]:.1f} |")


if __name__ == "__main__":
    files = sorted(Path(a) for a in sys.argv[1:]) or sorted(
        HERE.glob("resnet*_cpu.json"),
        key=lambda p: (ORDER.get(p.name.split("_")[0], 9), p.name))
    print("\n".join(rows(files)))
