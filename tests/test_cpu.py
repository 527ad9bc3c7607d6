"""rescore.cpu: the oneDNN decision from (environment, CPU flags), the ISA read from
/proc/cpuinfo, the thread counts, and the start-up line of a real run."""

import json
import os
import subprocess
import sys

import pytest

from rescore.cpu import (CHOSEN_BY_RESCORE_VAR, ONEDNN_VAR, Cpu, OneDnnChoice, ThreadCounts,
                         choose_onednn, isa_level, parse_cpuinfo, startup_line, thread_counts,
                         tensorflow_would_enable)
from rescore.errors import ConfigError

# Flag sets as /proc/cpuinfo shows them (trimmed to the vector ones and a few others).
ZEN3_AVX2 = frozenset("sse4_2 fma avx avx2 bmi2 sha_ni vaes".split())  # AMD EPYC Zen 3
CASCADE_LAKE_VNNI = frozenset("fma avx2 avx512f avx512bw avx512_vnni".split())
ZEN4 = frozenset("fma avx2 avx512f avx512bw avx512_bf16 avx512_vnni".split())  # this machine
SAPPHIRE_RAPIDS_AMX = frozenset(
    "fma avx2 avx512f avx512_vnni avx512_bf16 avx512_fp16 avx_vnni amx_tile amx_bf16 "
    "amx_int8".split())
ALDER_LAKE_AVX_VNNI = frozenset("fma avx2 avx_vnni".split())

SET_BY_RESCORE = "TensorFlow's own default on this CPU, made explicit"
TURNED_ON_BY_RESCORE = ("TensorFlow leaves it off on CPUs without AVX-512 VNNI/BF16, "
                        "AVX-VNNI or AMX, which trains 1.9x slower on AVX2 (issue 17)")


@pytest.mark.parametrize("flags, isa, tensorflow_default, why", [
    (ZEN3_AVX2, "avx2", False, TURNED_ON_BY_RESCORE),
    (CASCADE_LAKE_VNNI, "avx512", True, SET_BY_RESCORE),
    (ZEN4, "avx512_bf16", True, SET_BY_RESCORE),
    (SAPPHIRE_RAPIDS_AMX, "amx", True, SET_BY_RESCORE),
    (ALDER_LAKE_AVX_VNNI, "avx2", True, SET_BY_RESCORE),
])
def test_unset_variable_rescore_turns_onednn_on(flags, isa, tensorflow_default, why):
    assert isa_level(flags) == isa
    assert tensorflow_would_enable(flags) is tensorflow_default
    assert choose_onednn({}, flags) == OneDnnChoice(True, "rescore", "1", why)


@pytest.mark.parametrize("value, enabled", [("0", False), ("1", True), ("false", False),
                                            ("TRUE", True)])
@pytest.mark.parametrize("flags", [ZEN3_AVX2, SAPPHIRE_RAPIDS_AMX])
def test_the_users_value_wins(value, enabled, flags):
    assert choose_onednn({ONEDNN_VAR: value}, flags) == OneDnnChoice(
        enabled, "user", value, f"{ONEDNN_VAR} set by the user")


def test_a_value_tensorflow_would_ignore_is_a_config_error():
    with pytest.raises(ConfigError, match=r"TF_ENABLE_ONEDNN_OPTS='yes' .* use 1 or true"):
        choose_onednn({ONEDNN_VAR: "yes"}, ZEN3_AVX2)
    with pytest.raises(ConfigError):
        choose_onednn({ONEDNN_VAR: ""}, ZEN3_AVX2)  # TensorFlow ignores an empty value too


def test_a_value_inherited_from_a_rescore_parent_is_rescores_choice():
    inherited = {ONEDNN_VAR: "1", CHOSEN_BY_RESCORE_VAR: "1"}
    assert choose_onednn(inherited, ZEN3_AVX2).decided_by == "rescore"
    overridden = {ONEDNN_VAR: "0", CHOSEN_BY_RESCORE_VAR: "1"}  # the user changed it since
    assert choose_onednn(overridden, ZEN3_AVX2) == OneDnnChoice(
        False, "user", "0", f"{ONEDNN_VAR} set by the user")


@pytest.mark.parametrize("flags, tensorflow_loaded, why", [
    (frozenset(), False, "ISA unknown, for which rescore has no measurement"),
    (frozenset("sse4_2 avx".split()), False, "ISA below-avx2, for which rescore has no "
                                               "measurement"),
    (ZEN3_AVX2, True, "TensorFlow was loaded before rescore could choose"),
])
def test_left_to_tensorflow(flags, tensorflow_loaded, why):
    assert choose_onednn({}, flags, tensorflow_loaded) == OneDnnChoice(
        None, "tensorflow", None, why)


@pytest.mark.parametrize("environ, decided_by, enabled", [
    ({}, "tensorflow", None),
    ({ONEDNN_VAR: "0"}, "user", False),
    ({ONEDNN_VAR: "1", CHOSEN_BY_RESCORE_VAR: "1"}, "rescore", True),  # a rescore parent's
    ({ONEDNN_VAR: "yes"}, "user", None),  # ignored by TensorFlow: recorded, not refused
])
def test_the_choice_a_run_records_where_none_was_made_at_start_up(monkeypatch, environ,
                                                                  decided_by, enabled):
    """A run called from Python (no rescore start-up) records who decides, setting nothing."""
    import rescore.cpu as cpu

    monkeypatch.setattr(cpu, "_chosen", None)
    choice = cpu.current_choice(dict(environ))
    assert (choice.decided_by, choice.enabled) == (decided_by, enabled)
    assert cpu._chosen is None  # nothing chosen for the process by asking
    made = OneDnnChoice(True, "rescore", "1", "made at start-up")
    monkeypatch.setattr(cpu, "_chosen", made)
    assert cpu.current_choice(dict(environ)) is made


def test_cpuinfo_gives_the_first_processors_model_and_flags():
    text = ("processor\t: 0\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC 7B13\n"
            "flags\t\t: fpu avx2 fma\n\nprocessor\t: 1\ncpu family\t: 6\nmodel\t\t: 85\n"
            "model name\t: other\nflags\t\t: fpu\n")
    assert parse_cpuinfo(text) == Cpu("AMD EPYC 7B13", frozenset({"fpu", "avx2", "fma"}),
                                      "family 25 model 1")
    arm = "processor\t: 0\nFeatures\t: fp asimd sve\nCPU implementer\t: 0x41\n"
    assert parse_cpuinfo(arm).flags == frozenset() and isa_level(frozenset()) == "unknown"


def test_thread_counts():
    assert thread_counts(3, {}, 2) == ThreadCounts(3, 3, "trainer.threads=3")
    default = "trainer.threads=0: TensorFlow's default, one per usable core"
    assert thread_counts(0, {}, 2) == ThreadCounts(2, 2, default)
    env = {"TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "zero"}
    assert thread_counts(0, env, 4) == ThreadCounts(4, 1, default + "; TF_NUM_INTEROP_THREADS=1")


def test_startup_line():
    line = startup_line(Cpu("AMD EPYC", ZEN3_AVX2), choose_onednn({}, ZEN3_AVX2), True, "1",
                        ThreadCounts(2, 2, "trainer.threads=2"))
    assert line == (f"CPU AMD EPYC, ISA avx2; oneDNN on (rescore: {TURNED_ON_BY_RESCORE}; "
                    f"TF_ENABLE_ONEDNN_OPTS=1); threads: intra-op 2, inter-op 2 "
                    f"(trainer.threads=2)")


def smoke(tmp_path, **env_changes):
    """`python -m rescore experiment=smoke` with TF_ENABLE_ONEDNN_OPTS as given (None:
    unset); its stdout, and the run folder's log."""
    env = {k: v for k, v in os.environ.items() if k not in (ONEDNN_VAR, CHOSEN_BY_RESCORE_VAR)}
    env.update({k: v for k, v in env_changes.items() if v is not None},
               TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "rescore", "experiment=smoke",
                           f"out_root={tmp_path}"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = tmp_path.rglob("result.json")
    return proc.stdout, (result.parent / "__main__.log").read_text(), json.loads(
        result.read_text())


def cpu_lines(log: str):
    return [line.split(" - ", 1)[1] for line in log.splitlines() if "[rescore.cpu]" in line]


@pytest.mark.slow
@pytest.mark.parametrize("user_value", [None, "0"])
def test_a_run_logs_what_it_chose_once(tmp_path, user_value):
    """On this machine's kind of CPU, whatever it is: the line in stdout and in the run's log,
    naming who decided and the variable TensorFlow read inside the process."""
    from rescore.cpu import read_cpu

    stdout, log, _ = smoke(tmp_path, **{ONEDNN_VAR: user_value})
    (line,) = cpu_lines(log)
    assert cpu_lines(stdout) == [line]
    flags = read_cpu().flags
    assert line.startswith(f"CPU {read_cpu().model}, ISA {isa_level(flags)}; oneDNN ")
    if user_value == "0":
        assert "oneDNN off (user: TF_ENABLE_ONEDNN_OPTS set by the user; " \
               "TF_ENABLE_ONEDNN_OPTS=0)" in line
    elif "avx2" in flags:
        choice = choose_onednn({}, flags)
        assert f"oneDNN on (rescore: {choice.why}; TF_ENABLE_ONEDNN_OPTS=1)" in line
    assert "threads: intra-op " in line


def test_a_bad_value_stops_the_app_before_anything_runs(tmp_path):
    env = {**os.environ, ONEDNN_VAR: "on", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "rescore", "experiment=smoke",
                           f"out_root={tmp_path}"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == ConfigError.exit_code == 2
    assert proc.stderr == ("rescore: error: TF_ENABLE_ONEDNN_OPTS='on' is not a value "
                           "TensorFlow reads: use 1 or true (oneDNN on), 0 or false (off), "
                           "or unset it to let rescore choose for this CPU\n")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("flags, precision, has_gpu, warns", [
    (ZEN3_AVX2, "mixed_bfloat16", False, True),  # AVX2 only: emulated, warned
    (ZEN3_AVX2 | {"avx512f"}, "mixed_bfloat16", False, True),  # AVX-512 without BF16
    (ZEN3_AVX2 | {"avx512f", "avx512_bf16"}, "mixed_bfloat16", False, False),
    (ZEN3_AVX2 | {"amx_tile", "amx_bf16"}, "mixed_bfloat16", False, False),
    (ZEN3_AVX2, "mixed_bfloat16", True, False),  # the GPU trains it
    (ZEN3_AVX2, "float32", False, False),
    (ZEN3_AVX2, "mixed_float16", False, False),
])
def test_bfloat16_without_hardware_support_is_warned_against(flags, precision, has_gpu, warns):
    """(bfloat16_note covers the middle case, AVX-512 BF16 without AMX: see below.)"""
    from rescore.cpu import bfloat16_warning

    warning = bfloat16_warning(flags, precision, has_gpu)
    assert (warning is not None) == warns
    if warns:
        assert warning.startswith("trainer.precision=mixed_bfloat16 on a CPU without AVX-512 "
                                  f"BF16 or AMX (ISA {isa_level(flags)})")
        assert "use float32 (the default)" in warning


@pytest.mark.parametrize("flags, precision, has_gpu, noted", [
    (ZEN3_AVX2 | {"avx512f", "avx512_bf16"}, "mixed_bfloat16", False, True),
    (ZEN3_AVX2 | {"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, "mixed_bfloat16", False,
     True),  # AMX: the speed-up measured there (below)
    (ZEN3_AVX2 | {"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, "mixed_bfloat16", True,
     False),  # the GPU trains it
    (ZEN3_AVX2 | {"amx_tile", "amx_bf16"}, "mixed_bfloat16", False, True),  # AMX alone
    (ZEN3_AVX2, "mixed_bfloat16", False, False),  # warned instead (above)
    (ZEN3_AVX2 | {"avx512f", "avx512_bf16"}, "mixed_bfloat16", True, False),
    (ZEN3_AVX2 | {"avx512f", "avx512_bf16"}, "float32", False, False),
])
def test_bfloat16_on_bf16_hardware_gets_what_was_measured_there(flags, precision, has_gpu,
                                                               noted):
    from rescore.cpu import bfloat16_note

    note = bfloat16_note(flags, precision, has_gpu)
    assert (note is not None) == noted
    if noted and "amx_bf16" in flags:  # results/bench/intel-xeon-amx: loop bf16 / fp32
        assert note.startswith("trainer.precision=mixed_bfloat16 with AMX: measured "
                               "1.47-1.54x float32's images/s")
    elif noted:
        assert "1.4-1.6x less CPU per image" in note and "0.71-0.80x" in note


def test_the_amx_bfloat16_note_quotes_the_committed_bench_figures():
    """The note's 1.47-1.54x is the loop's bf16/fp32 images/s in results/bench/intel-xeon-amx
    (one JSON per model and precision, measured on that Xeon): a new measurement there must
    change the note too."""
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "results" / "bench" / "intel-xeon-amx"

    def loop_speed(model: str, precision: str) -> float:
        record = json.loads((bench / f"{model}_{precision}_b128_cpu.json").read_text())
        assert "amx_bf16" in record["machine"]["cpu_flags"]
        return record["loop"]["images_per_sec"]

    ratios = [loop_speed(m, "mixed_bfloat16") / loop_speed(m, "float32")
              for m in ("resnet20", "resnet56", "resnet110")]
    assert f"{min(ratios):.2f}-{max(ratios):.2f}" == "1.47-1.54"
