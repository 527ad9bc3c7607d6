"""Print the markdown tables of results/bench/**/*_cpu.json, one per CPU kind
(python results/bench/table.py [FILE.json …]).

A CPU kind is the CPU model with its ISA level (rescore.cpu.isa_level). Files written
before the bench recorded the ISA and oneDNN get the ISA from their recorded flags and
"not recorded" for oneDNN. 3 is Keras fit on the model built from stock Keras layers
(what a Keras user trains); 3' is Keras fit on rescore's own model (fused BN), so 2/3'
compares the loops alone; 4 is the same step in PyTorch (bench/torch_baseline.py), where it
was measured. "64k it. h" is the loop's hours for the paper's 64k iterations; "code" the
rescore commit measured, where the file records it."""

import json
import sys
from pathlib import Path
from typing import Dict, List

from rescore.bench.cost import run_hours
from rescore.cpu import isa_level

HERE = Path(__file__).resolve().parent
ORDER = {"resnet20": 0, "resnet56": 1, "resnet110": 2, "resnet1202": 3}


def number(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def cpu_kind(machine: Dict) -> str:
    """'AMD EPYC, ISA avx512_bf16': what the tables are split by; figures measured with the
    ISA capped (machine.isa_cap: ONEDNN_MAX_CPU_ISA, …) are a kind of their own."""
    kind = f"{machine['cpu']}, ISA {machine.get('isa') or isa_level(machine['cpu_flags'])}"
    cap = machine.get("isa_cap")
    return kind + (", capped: " + ", ".join(f"{k}={v}" for k, v in sorted(cap.items()))
                   if cap else "")


def as_recorded(machine: Dict) -> str:
    """The flags (and the CPUID family/model, where recorded) one file saw."""
    family_model = machine.get("cpu_family_model")
    return " ".join(machine["cpu_flags"]) + (f" ({family_model})" if family_model else "")


def onednn(machine: Dict) -> str:
    state = machine.get("onednn")
    if state is None:
        return "not recorded"
    enabled = {True: "on", False: "off", None: "?"}[state["enabled"]]
    return f"{enabled} ({state['decided_by']})"


def rows(results: List[Dict]):
    yield ("| model | precision | BN | 1 bare step img/s (ms/step) | 2 loop img/s | 3 Keras fit "
           "img/s | 3' fit, same model img/s | 2/1 | 2/3 | 2/1 CPU time | 2/3 CPU time "
           "| 2/3' CPU time | 4 PyTorch img/s | 2/4 | 1/4 | 64k it. h | timed it. x rounds "
           "| peak RSS MiB | load avg before | TF | oneDNN | code |")
    yield "|" + "---|" * 22
    for r in results:
        c, q, m = r["config"], r["ratios"], r["machine"]
        fit = r.get("keras_fit", {}).get("images_per_sec")
        same = r.get("keras_fit_same_model", {}).get("images_per_sec")
        torch = r.get("torch", {}).get("images_per_sec")
        yield (f"| {c['model']} | {c['precision']} | {c.get('batchnorm', 'keras')} | "
               f"{r['bare']['images_per_sec']:.1f} ({r['bare']['ms_per_step']:.0f}) | "
               f"{r['loop']['images_per_sec']:.1f} | {number(fit, 1)} | {number(same, 1)} | "
               f"{q['loop_over_bare']:.2f} | {number(q.get('loop_over_keras'))} | "
               f"{q['loop_over_bare_cpu']:.2f} | {number(q.get('loop_over_keras_cpu'))} | "
               f"{number(q.get('loop_over_keras_same_model_cpu'))} | "
               f"{number(torch, 1)} | {number(q.get('loop_over_torch'))} | "
               f"{number(q.get('bare_over_torch'))} | "
               f"{run_hours(r['loop']['images_per_sec'], c['batch_size']):.1f} | "
               f"{c['timed_iterations']} x {c['rounds']} | "
               f"{r['memory']['peak_rss_mib_process']:.0f} | "
               f"{m['load_average_before'][0]:.1f} | {m['tensorflow']} | {onednn(m)} | "
               f"{m.get('rescore_commit') or 'not recorded'} |")


def tables(files: List[Path]) -> str:
    by_kind: Dict[str, List[Dict]] = {}
    for f in files:
        r = json.loads(f.read_text())
        by_kind.setdefault(cpu_kind(r["machine"]), []).append(r)
    return "\n\n".join(
        f"CPU: {kind}; flags recorded: "
        + "; ".join(sorted({as_recorded(r["machine"]) for r in results}))
        + "\n\n" + "\n".join(rows(results)) for kind, results in by_kind.items())


if __name__ == "__main__":
    files = sorted(Path(a) for a in sys.argv[1:]) or sorted(
        HERE.glob("**/resnet*_cpu.json"),
        key=lambda p: (ORDER.get(p.name.split("_")[0], 9), p.name))
    print(tables(files))
