"""Print the markdown table of results/bench/*_cpu.json (python results/bench/table.py)."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = {"resnet20": 0, "resnet56": 1, "resnet110": 2, "resnet1202": 3}


def rows(files):
    yield ("| model | precision | 1 bare step img/s (ms/step) | 2 loop img/s | 3 Keras fit img/s "
           "| 2/1 | 2/3 | 2/1 on CPU time | 2/3 on CPU time | timed it. x rounds | peak RSS MiB "
           "| load avg before |")
    yield "|" + "---|" * 12
    for f in files:
        r = json.loads(f.read_text())
        c, q = r["config"], r["ratios"]
        keras = r.get("keras_fit", {}).get("images_per_sec")
        yield (f"| {c['model']} | {c['precision']} | {r['bare']['images_per_sec']:.1f} "
               f"({r['bare']['ms_per_step']:.0f}) | {r['loop']['images_per_sec']:.1f} | "
               f"{f'{keras:.1f}' if keras else '-'} | {q['loop_over_bare']:.2f} | "
               f"{q.get('loop_over_keras', float('nan')):.2f} | {q['loop_over_bare_cpu']:.2f} | "
               f"{q.get('loop_over_keras_cpu', float('nan')):.2f} | "
               f"{c['timed_iterations']} x {c['rounds']} | "
               f"{r['memory']['peak_rss_mib_process']:.0f} | "
               f"{r['machine']['load_average_before'][0]:.1f} |")


if __name__ == "__main__":
    files = sorted(Path(a) for a in sys.argv[1:]) or sorted(
        HERE.glob("resnet*_cpu.json"),
        key=lambda p: (ORDER.get(p.name.split("_")[0], 9), p.name))
    print("\n".join(rows(files)))
