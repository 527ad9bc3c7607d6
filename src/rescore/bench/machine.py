"""What the figures were measured on: CPU and its ISA, oneDNN, cores, GPU, versions, load,
peak memory."""

from __future__ import annotations

import os
import platform
import resource
from typing import Dict, List, Optional

from .. import cpu
from ..code_version import code_commit


def load_average() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def onednn_record() -> Dict:
    """oneDNN as TensorFlow runs it (`enabled`), the variable it read, and who set it."""
    return {"enabled": cpu.onednn_active(), cpu.ONEDNN_VAR: os.environ.get(cpu.ONEDNN_VAR),
            "decided_by": cpu.choose_at_startup().decided_by}


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
            "onednn": onednn_record(), "logical_cores": os.cpu_count(),
            "usable_cores": cpu.usable_cores(),
            "gpus": gpus, "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "rescore_commit": code_commit(), "isa_cap": isa_cap()}


# Variables that make oneDNN (TensorFlow's and PyTorch's) and PyTorch's ATen use a narrower
# ISA than the CPU has: how one CPU can stand in for an AVX2-only one. A figure measured so
# is not of this CPU kind, and the tables say so (results/bench/table.py).
ISA_CAP_VARS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")


def isa_cap() -> Optional[Dict[str, str]]:
    """The ISA-capping variables set for this process; None when none is."""
    found = {var: os.environ[var] for var in ISA_CAP_VARS if os.environ.get(var)}
    return found or None
