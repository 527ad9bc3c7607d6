"""What the figures were measured on: CPU and its ISA, oneDNN, cores, GPU, versions, load,
peak memory."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

from .. import cpu


def load_average() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def onednn_state() -> Dict:
    """oneDNN as TensorFlow runs it (`enabled`), the variable it read, and who set it."""
    return {"enabled": cpu.onednn_active(), cpu.ONEDNN_VAR: os.environ.get(cpu.ONEDNN_VAR),
            "decided_by": cpu.choose_at_startup().decided_by}


def code_commit() -> Optional[str]:
    """The git commit of the rescore source being measured (with "+dirty" when the work tree
    has changes), or None for an installed copy outside a repository."""
    here = Path(__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", "-C", str(here), *args], capture_output=True,
                              text=True, timeout=10)
    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "../..").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def machine_info() -> Dict:
    import keras
    import tensorflow as tf

    this_cpu = cpu.read_cpu()
    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append(details.get("device_name", gpu.name))
    return {"cpu": this_cpu.model, "cpu_family_model": this_cpu.family_model,
            "isa": cpu.isa_level(this_cpu.flags),
            "cpu_flags": [f for f in cpu.ISA_FLAGS if f in this_cpu.flags],
            "onednn": onednn_state(), "logical_cores": os.cpu_count(),
            "usable_cores": cpu.usable_cores(),
            "gpus": gpus, "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "rescore_commit": code_commit()}
