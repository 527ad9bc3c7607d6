"""rescore.bench on a tiny config: the JSON has every figure, and they are positive.
No timing is asserted: speeds depend on the machine and its load."""

import json
import os

import pytest

from rescore.bench.__main__ import main
from rescore.bench.cost import TABLE6_RUNS, model_macs
from rescore.cpu import ISA_FLAGS, isa_level, onednn_active, read_cpu
from rescore.bench.options import BenchOptions, split_overrides

TINY = ["model=resnet8", "data=synthetic", "data.synthetic_train=64", "data.synthetic_test=16",
        "data.batch_size=8", "bench.steps=2", "bench.warmup_steps=1", "bench.rounds=1"]


def test_bench_options_are_split_from_the_training_overrides():
    options, rest = split_overrides(["bench.steps=5", "model=resnet8", "bench.out=x.json"])
    assert options == BenchOptions(out="x.json", steps=5, warmup_steps=4, rounds=3)
    assert rest == ["model=resnet8"]
    with pytest.raises(ValueError, match="bench.rounds"):
        split_overrides(["bench.rounds=0"])


@pytest.mark.slow
@pytest.mark.parametrize("levers, baselines", [
    ([], ("keras_fit", "keras_fit_same_model")),  # fused BN: fit on both models
    (["trainer.steps_per_call=2", "model.batchnorm=keras"], ("keras_fit",)),
])
def test_bench_writes_positive_figures(tmp_path, levers, baselines):
    out = tmp_path / "bench.json"
    main([*TINY, *levers, f"bench.out={out}"])
    r = json.loads(out.read_text())
    assert ("keras_fit_same_model" in r) == ("keras_fit_same_model" in baselines)
    assert ("loop_over_keras_same_model" in r["ratios"]) == ("keras_fit_same_model" in baselines)
    for name in ("bare", "loop", *baselines):
        assert r[name]["images_per_sec"] > 0 and r[name]["ms_per_step"] > 0
        assert r[name]["images_per_cpu_second"] > 0
        assert len(r[name]["images_per_sec_by_round"]) == 1
    assert r["ratios"]["loop_over_bare"] > 0 and r["ratios"]["loop_over_keras"] > 0
    assert set(r["targets"]) >= {"loop_over_bare_met", "loop_over_keras_met"}
    assert r["memory"]["peak_rss_mib_process"] >= r["memory"]["peak_rss_mib_rescore"] > 0
    m = r["machine"]
    assert m["usable_cores"] >= 1 and m["tensorflow"] and m["cpu"]
    assert m["isa"] == isa_level(read_cpu().flags)
    assert set(m["cpu_flags"]) == set(ISA_FLAGS) & read_cpu().flags
    assert m["onednn"]["enabled"] is onednn_active() is not None  # TensorFlow's own answer
    assert m["onednn"]["TF_ENABLE_ONEDNN_OPTS"] == os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    cost = r["full_run_cost"]  # every Table 6 depth scaled from resnet8's loop speed
    loop, scale = r["loop"]["images_per_sec"], model_macs("resnet8")
    assert cost["measured_hours_per_run"] == pytest.approx(64000 * 8 / loop / 3600)
    assert [row["hours_per_run"] for row in cost["rows"]] == pytest.approx(
        [64000 * 8 / (loop * scale / model_macs(name)) / 3600 for name in TABLE6_RUNS])
    assert isinstance(m["gpus"], list) and isinstance(m["other_load_present"], bool)
    assert r["config"]["model"] == "resnet8" and r["config"]["data"] == "synthetic"
    assert r["config"]["batchnorm"] == ("keras" if "model.batchnorm=keras" in levers
                                        else "fused")
    k = r["config"]["steps_per_call"]
    assert r["config"]["timed_iterations"] % k == 0 and r["config"]["timed_iterations"] >= 2


def test_the_keras_baseline_uses_stock_layers_and_the_second_one_rescores(compose_config):
    """keras_fit trains what a Keras user builds (stock BatchNormalization); the
    same-model baseline trains rescore's model (fused BN), so the two gains are apart."""
    import keras
    from _checks import bn_layer_types

    from rescore.bench.keras_fit import build_keras_model
    from rescore.config import to_settings
    from rescore.models.batchnorm import FusedBatchNormalization

    c = to_settings(compose_config(["model=resnet8"]))
    assert bn_layer_types(build_keras_model(c, "keras")) == {keras.layers.BatchNormalization}
    assert bn_layer_types(build_keras_model(c)) == {FusedBatchNormalization}


@pytest.mark.slow
def test_levers_compare_each_variant_with_the_reference(tmp_path):
    """One lever per config group: the report has a speed for each and the reference is 1."""
    from rescore.bench.levers import main as levers_main

    out = tmp_path / "levers.json"
    r = levers_main([*TINY, f"bench.out={out}"])
    assert json.loads(out.read_text())["speedup_over_reference"] == r["speedup_over_reference"]
    assert set(r["loop_images_per_sec"]) == {"reference", "jit_compile", "mixed_bfloat16",
                                             "mixed_float16", "steps_per_call=4",
                                             "data_on_device", "batchnorm=keras"}
    assert r["speedup_over_reference"]["reference"] == 1.0
    assert all(v > 0 for v in r["loop_images_per_sec"].values())
    assert r["config"]["reference"]["batchnorm"] == "fused"
    assert r["config"]["reference"]["data_on_device"] is False


def test_a_lever_changes_only_its_own_group(compose_config):
    from rescore.bench.levers import variant
    from rescore.config import to_settings

    c = to_settings(compose_config(["model=resnet8"]))
    v = variant(c, {"model": {"batchnorm": "keras"}, "trainer": {"steps_per_call": 4}})
    assert (v.model.batchnorm, v.trainer.steps_per_call) == ("keras", 4)
    assert (c.model.batchnorm, c.trainer.steps_per_call) == ("fused", 1)
    assert v.model.name == c.model.name and v.optim == c.optim


def test_the_bench_records_the_commit_of_the_code_it_measured(tmp_path):
    import subprocess
    from pathlib import Path

    import rescore
    from rescore.bench.machine import code_commit

    src = Path(rescore.__file__).resolve().parent
    head = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("rescore is not imported from a git work tree here")
    assert code_commit().removesuffix("+dirty") == head.stdout.strip()


@pytest.mark.parametrize("argv, message", [
    (["bench.stepz=3"], "Key 'stepz' not in 'BenchOptions' (valid: bench.out, bench.steps, "),
    (["bench.steps=abc"], "(valid: bench.out, bench.steps, "),
    (["bench.rounds=0"], "bench.rounds must be >= 1, got 0"),
    (["model=resnet21"], "resnet20"),  # the override check's list of what exists
    (["optim.lrr=0.2"], "optim.lr"),
])
def test_a_bad_bench_argument_exits_2_with_one_line_before_measuring(argv, message, capsys):
    from rescore.bench.startup import start

    with pytest.raises(SystemExit) as raised:
        start(argv)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("rescore.bench: error: ") and message in err
    assert err.count("\n") == 1


def test_an_isa_cap_is_recorded_so_its_figures_stand_apart(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 makes an AVX-512 CPU run AVX2 kernels: such figures are not
    of the CPU's own kind, and the JSON must say so (results/bench/table.py splits on it)."""
    from rescore.bench.machine import ISA_CAP_VARS, isa_cap

    for var in ISA_CAP_VARS:
        monkeypatch.delenv(var, raising=False)
    assert isa_cap() is None
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert isa_cap() == {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def test_the_output_file_names_every_setting_that_changes_the_figures(tmp_path):
    """Two benches that differ in data_on_device or tf32 never overwrite each other."""
    from rescore.bench.run import default_out
    from rescore.config import compose_settings

    def name(*overrides):
        return default_out(compose_settings([f"out_root={tmp_path}", *overrides])).name

    assert name() == "resnet20_float32_b128_k1.json"
    assert name("trainer=gpu") == "resnet20_float32_b128_k50_dev.json"
    assert name("trainer.tf32=true", "trainer.jit_compile=true") == \
        "resnet20_float32_b128_k1_xla_tf32.json"
