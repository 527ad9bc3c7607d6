"""The CPU this process runs on, and the TensorFlow CPU settings rescore chooses for it.

TensorFlow 2.21 turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI or
BF16, AVX-VNNI or AMX (`DefaultOneDnnPolicy`, tensorflow/core/util/port.cc). On a CPU
with AVX2 and none of those it leaves them off, and ResNet-20 trains 1.9x slower there
(issue 17: AMD EPYC Zen 3, 155-165 img/s off, 300 on). So rescore turns oneDNN on for
every x86 CPU with AVX2, unless the user set TF_ENABLE_ONEDNN_OPTS (the user wins).
TensorFlow reads the variable once, when it loads, so every entry point that trains
calls `choose_at_startup` before anything imports TensorFlow.

oneDNN changes the rounding of convolutions, so on a CPU where TensorFlow would have
left it off, the same run gives other weights than with TensorFlow's default.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import FrozenSet, Iterable, Mapping, MutableMapping, Optional

from .errors import ConfigError

log = logging.getLogger(__name__)

ONEDNN_VAR = "TF_ENABLE_ONEDNN_OPTS"
# The value rescore set. A process started by a rescore process (a launcher's worker)
# inherits both variables, and reports the choice as rescore's, not the user's.
CHOSEN_BY_RESCORE_VAR = "RESCORE_ONEDNN_CHOSEN"
INTRA_OP_VAR, INTER_OP_VAR = "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"

# The x86 flags that decide the speed of training; the bench records these.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
             "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")
# Any of these and TensorFlow 2.21 turns oneDNN on by itself (DefaultOneDnnPolicy).
TENSORFLOW_ONEDNN_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8",
                           "amx_bf16")
# TensorFlow's ReadBoolFromEnvVar: these, in any case; anything else it ignores.
ONEDNN_VALUES = {"1": True, "true": True, "0": False, "false": False}


@dataclass(frozen=True)
class Cpu:
    model: str
    flags: FrozenSet[str]  # x86 feature flags; empty where they could not be read
    # "family 25 model 17" (x86 CPUID numbers): tells CPU generations apart where a
    # virtual machine names them all alike ("AMD EPYC"); "" where not given
    family_model: str = ""


@dataclass(frozen=True)
class OneDnnChoice:
    enabled: Optional[bool]  # None: left to TensorFlow, which decides as it loads
    decided_by: str  # "user", "rescore" or "tensorflow"
    value: Optional[str]  # TF_ENABLE_ONEDNN_OPTS as the process has it (None: unset)
    why: str


@dataclass(frozen=True)
class ThreadCounts:
    intra_op: int
    inter_op: int
    source: str


def parse_cpuinfo(text: str) -> Cpu:
    """Model name, flags, family and model number of the first processor in a /proc/cpuinfo
    text (x86 names its features `flags`; other architectures use other keys and get no
    flags)."""
    fields: dict = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor's
    family, number = fields.get("cpu family"), fields.get("model")
    return Cpu(fields.get("model name") or platform.processor() or platform.machine()
               or "unknown", frozenset(fields.get("flags", "").split()),
               f"family {family} model {number}" if family and number else "")


def read_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> Cpu:
    """This machine's CPU; where /proc/cpuinfo does not exist (macOS, Windows), the name
    Python's platform module gives and no flags, so the ISA reads as unknown."""
    try:
        return parse_cpuinfo(cpuinfo.read_text())
    except OSError:
        return parse_cpuinfo("")


def isa_level(flags: Iterable[str]) -> str:
    """The widest vector ISA for training: amx, avx512_bf16, avx512, avx2, below-avx2, or
    unknown when no flags could be read."""
    flags = frozenset(flags)
    if not flags:
        return "unknown"
    for level, needs in (("amx", "amx_tile"), ("avx512_bf16", "avx512_bf16"),
                         ("avx512", "avx512f"), ("avx2", "avx2")):
        if needs in flags:
            return level
    return "below-avx2"


def tensorflow_would_enable(flags: Iterable[str]) -> bool:
    """TensorFlow 2.21's own oneDNN default on Linux for a CPU with these flags."""
    return any(f in TENSORFLOW_ONEDNN_FLAGS for f in flags)


def parse_onednn_value(value: str) -> bool:
    try:
        return ONEDNN_VALUES[value.lower()]
    except KeyError:
        raise ConfigError(f"{ONEDNN_VAR}={value!r} is not a value TensorFlow reads: use 1 or "
                          f"true (oneDNN on), 0 or false (off), or unset it to let rescore "
                          f"choose for this CPU") from None


def choose_onednn(environ: Mapping[str, str], flags: Iterable[str],
                  tensorflow_loaded: bool = False) -> OneDnnChoice:
    """Whether oneDNN should be on, from the environment and the CPU flags alone."""
    flags = frozenset(flags)
    value = environ.get(ONEDNN_VAR)
    if value is not None:
        enabled = parse_onednn_value(value)
        if environ.get(CHOSEN_BY_RESCORE_VAR) == value:
            return OneDnnChoice(enabled, "rescore", value,
                                "chosen by the rescore process that started this one")
        return OneDnnChoice(enabled, "user", value, f"{ONEDNN_VAR} set by the user")
    if tensorflow_loaded:
        return OneDnnChoice(None, "tensorflow", None,
                            "TensorFlow was loaded before rescore could choose")
    if "avx2" not in flags:
        return OneDnnChoice(None, "tensorflow", None,
                            f"ISA {isa_level(flags)}, for which rescore has no measurement")
    if tensorflow_would_enable(flags):
        return OneDnnChoice(True, "rescore", "1", "TensorFlow's own default on this CPU, "
                            "made explicit")
    return OneDnnChoice(True, "rescore", "1", "TensorFlow leaves it off on CPUs without "
                        "AVX-512 VNNI/BF16, AVX-VNNI or AMX, which trains 1.9x slower on "
                        "AVX2 (issue 17)")


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_counts(threads: int, environ: Mapping[str, str], cores: int) -> ThreadCounts:
    """The intra-/inter-op pool sizes TensorFlow will use: `trainer.threads` for both when
    set (train.loop.configure_tensorflow), else TensorFlow's default, one thread per usable
    core unless TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS say otherwise."""
    if threads > 0:
        return ThreadCounts(threads, threads, f"trainer.threads={threads}")
    from_env = {var: int(environ[var]) for var in (INTRA_OP_VAR, INTER_OP_VAR)
                if environ.get(var, "").isdigit() and int(environ[var]) > 0}
    source = ("trainer.threads=0: TensorFlow's default, one per usable core"
              + "".join(f"; {var}={n}" for var, n in from_env.items()))
    return ThreadCounts(from_env.get(INTRA_OP_VAR, cores), from_env.get(INTER_OP_VAR, cores),
                        source)


_chosen: Optional[OneDnnChoice] = None  # this process's choice, once made


def choose_at_startup(environ: MutableMapping[str, str] = os.environ) -> OneDnnChoice:
    """Choose once per process and set TF_ENABLE_ONEDNN_OPTS when rescore decides; must
    run before TensorFlow is imported. Raises ConfigError for a value TensorFlow ignores."""
    global _chosen
    if _chosen is None:
        choice = choose_onednn(environ, read_cpu().flags, "tensorflow" in sys.modules)
        if choice.decided_by == "rescore" and ONEDNN_VAR not in environ:
            environ[ONEDNN_VAR] = environ[CHOSEN_BY_RESCORE_VAR] = choice.value
        _chosen = choice
    return _chosen


def current_choice(environ: Mapping[str, str] = os.environ) -> OneDnnChoice:
    """This process's choice, for a record: the one choose_at_startup made or, where none was
    made (rescore's run called from Python), who decides now, setting nothing: the user if
    TF_ENABLE_ONEDNN_OPTS is set (even to a value TensorFlow ignores), else TensorFlow."""
    if _chosen is not None:
        return _chosen
    try:
        return choose_onednn(environ, read_cpu().flags, tensorflow_loaded=True)
    except ConfigError:  # TensorFlow ignores the value and keeps its default
        return OneDnnChoice(None, "user", environ.get(ONEDNN_VAR),
                            f"{ONEDNN_VAR} set by the user to a value TensorFlow ignores")


def onednn_active() -> Optional[bool]:
    """TensorFlow's own answer once it is loaded (None before, or if it cannot say)."""
    if "tensorflow" not in sys.modules:
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port  # no public API says this
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def onednn_state(choice: OneDnnChoice, active: Optional[bool]) -> str:
    """on | off | TensorFlow's default: TensorFlow's own answer when it is loaded, else
    what was chosen."""
    return onednn_word(active if active is not None else choice.enabled)


def onednn_word(enabled: Optional[bool]) -> str:
    """How logs and records say oneDNN's state (None: left to TensorFlow's default)."""
    return {True: "on", False: "off", None: "TensorFlow's default"}[enabled]


def startup_line(cpu: Cpu, choice: OneDnnChoice, active: Optional[bool],
                 env_value: Optional[str], threads: ThreadCounts) -> str:
    """`active`: TensorFlow's own answer when loaded; `env_value`: the variable as the
    process has it now, so the line shows what TensorFlow read, not what was meant."""
    return (f"CPU {cpu.model}, ISA {isa_level(cpu.flags)}; oneDNN {onednn_state(choice, active)} "
            f"({choice.decided_by}: {choice.why}; {ONEDNN_VAR}={env_value or 'unset'}); "
            f"threads: intra-op {threads.intra_op}, inter-op {threads.inter_op} "
            f"({threads.source})")


BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # bfloat16 arithmetic in hardware


def bfloat16_warning(flags: Iterable[str], precision: str, has_gpu: bool) -> Optional[str]:
    """What to tell a user who asks for bfloat16 on a CPU that has no bfloat16 arithmetic
    (issue 17: say what it costs, do not recommend it); None when it does not apply."""
    if precision != "mixed_bfloat16" or has_gpu or any(f in BF16_FLAGS for f in flags):
        return None
    return (f"trainer.precision=mixed_bfloat16 on a CPU without AVX-512 BF16 or AMX (ISA "
            f"{isa_level(flags)}): oneDNN converts to and from bfloat16 in software here, so "
            f"it costs time instead of saving it, and it changes the numerics; use float32 "
            f"(the default). Even with AVX-512 BF16 it was slower than float32 on one of this "
            f"project's Xeons (results/bench/README.md)")


def bfloat16_note(flags: Iterable[str], precision: str, has_gpu: bool) -> Optional[str]:
    """What the project measured of bfloat16's speed on a CPU with bfloat16 arithmetic
    (results/bench/README.md), on AMX and on AVX-512 BF16 without it; None elsewhere."""
    flags = set(flags)
    if precision != "mixed_bfloat16" or has_gpu or not flags & set(BF16_FLAGS):
        return None
    if "amx_bf16" in flags:
        return ("trainer.precision=mixed_bfloat16 with AMX: measured 1.47-1.54x float32's "
                "images/s (ResNet-20, -56, -110) on an Intel Xeon with AMX (family 6 model "
                "167); it changes the numerics. `python -m rescore.bench "
                "trainer.precision=mixed_bfloat16` measures this CPU")
    return ("trainer.precision=mixed_bfloat16 on AVX-512 BF16 without AMX: measured 1.4-1.6x "
            "less CPU per image than float32 on an AMD EPYC (Zen 4 class), but 0.71-0.80x "
            "float32's images/s on an Intel Xeon (family 6 model 207); it changes the "
            "numerics either way. `python -m rescore.bench trainer.precision=mixed_bfloat16` "
            "measures this CPU")


def log_startup(threads: int) -> str:
    """Log, and return, what was chosen for this CPU (after choose_at_startup)."""
    threads_used = thread_counts(threads, os.environ, usable_cores())
    line = startup_line(read_cpu(), choose_at_startup(), onednn_active(),
                        os.environ.get(ONEDNN_VAR), threads_used)
    log.info("%s", line)
    return line
