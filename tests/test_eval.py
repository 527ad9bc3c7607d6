"""rescore eval (issue 11): a finished run's test error reproduced exactly from its folder or
its weights file alone, the normalisation that travels in the weights file, and every kind
of bad input refused with its exit status and a message naming what was wrong.

One tiny run is trained through the CLI (resnet8 on synthetic data, with a validation
split so the training split is not the whole set, and an eval batch that does not divide
the test set). The exactness checks run eval as a subprocess too, as a user does; the
refusals call eval's main() in this process (their messages do not depend on numerics).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _checks import RESNET8_PARAMS
from _faults import (cli_env, eval_cli, only_run_dir, printed, result, run_cli, tiny,
                     trained_run)
from rescore.data.cifar10 import ENV_ROOT

TRAIN_IMAGES, VAL_SPLIT, TEST_IMAGES, EVAL_BATCH = 64, 16, 100, 30
RUN = tiny(12, 6, f"data.val_split={VAL_SPLIT}", f"data.synthetic_test={TEST_IMAGES}",
           f"data.eval_batch_size={EVAL_BATCH}")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory, RUN)


def eval_main(*args):
    from rescore.eval.__main__ import main

    return main([str(a) for a in args])


def snapshot(folder: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "copy"))


# ------------------------------------------------------------------ reproduces exactly

@pytest.mark.slow
def test_run_folder_reproduces_result_json_exactly_and_writes_nothing(run_dir: Path):
    before = snapshot(run_dir)
    proc = eval_cli(run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = result(run_dir)
    assert float(printed(proc.stdout, "test_error")) == saved["test_error"]
    assert float(printed(proc.stdout, "test_loss")) == saved["test_loss"]
    # The validation split first, as training evaluated it: the loss is then bitwise equal
    # too, though the eval batch (30) splits both sets unevenly (check.py).
    assert float(printed(proc.stdout, "val_error")) == saved["val_error"]
    assert float(printed(proc.stdout, "val_loss")) == saved["val_loss"]
    assert printed(proc.stdout, "weights_sha256") == saved["weights_sha256"]
    assert int(printed(proc.stdout, "params").replace(",", "")) == saved["params"] == RESNET8_PARAMS
    assert "equals result.json's exactly" in proc.stdout
    assert f"synthetic test set, {TEST_IMAGES} images" in proc.stdout
    assert snapshot(run_dir) == before
    # The module form prints the same.
    same = eval_cli(run_dir, module=("rescore.eval",))
    assert same.returncode == 0 and same.stdout == proc.stdout


def eval_with_onednn(run_dir: Path, value) -> subprocess.CompletedProcess:
    """rescore eval with TF_ENABLE_ONEDNN_OPTS as given (None: unset, rescore chooses)."""
    from rescore.cpu import CHOSEN_BY_RESCORE_VAR, ONEDNN_VAR

    env = {k: v for k, v in cli_env().items() if k not in (ONEDNN_VAR, CHOSEN_BY_RESCORE_VAR)}
    if value is not None:
        env[ONEDNN_VAR] = value
    return subprocess.run([sys.executable, "-m", "rescore", "eval", str(run_dir)], env=env,
                          text=True, capture_output=True, timeout=300)


@pytest.mark.slow
def test_eval_makes_the_cpu_choice_training_makes_and_prints_it(run_dir: Path):
    """Training turns oneDNN on for any AVX2 CPU (cpu.py); eval must too, or an AVX2-only
    machine, where TensorFlow leaves it off, would not reproduce its own runs."""
    from rescore.cpu import choose_onednn, read_cpu

    proc = eval_with_onednn(run_dir, None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    machine = re.search(r"^  machine\s+(.+)$", proc.stdout, re.MULTILINE).group(1)
    cpu = read_cpu()
    assert machine.startswith(f"{cpu.model}; oneDNN ")
    if "avx2" in cpu.flags:
        assert machine.endswith(f"oneDNN on (rescore: {choose_onednn({}, cpu.flags).why})")
    off = eval_with_onednn(run_dir, "0")
    assert off.returncode == 0, off.stderr[-3000:]
    assert "oneDNN off (user: TF_ENABLE_ONEDNN_OPTS set by the user)" in off.stdout


@pytest.mark.slow
def test_eval_says_whether_it_runs_where_the_run_trained(run_dir: Path, tmp_path: Path,
                                                          capsys):
    assert eval_main(run_dir) == 0
    assert ("  trained on      the same CPU kind and oneDNN state as the run's last stretch "
            "(segments.jsonl)") in capsys.readouterr().out
    moved = copy_run(run_dir, tmp_path)
    lines = (moved / "segments.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    # the same name, another generation: what two of the project's Xeons report
    last["cpu_family_model"] = "family 6 model 1"
    (moved / "segments.jsonl").write_text("\n".join(lines[:-1] + [json.dumps(last)]) + "\n")
    assert eval_main(moved) == 0
    assert (f"  trained on      CPU {last['cpu']} (family 6 model 1, {last['isa']}) in the run's "
            f"last stretch (segments.jsonl), not this machine's {last['cpu']} (") \
        in capsys.readouterr().out


def test_cpu_kinds_tell_apart_cpus_a_virtual_machine_names_alike():
    from rescore.cpu import Cpu
    from rescore.eval.__main__ import cpu_kinds

    xeon = "Intel(R) Xeon(R) Processor"
    amx = Cpu(xeon, frozenset({"avx2", "avx512f", "avx512_bf16", "amx_tile"}),
              "family 6 model 143")
    segment = {"cpu": xeon, "cpu_family_model": "family 6 model 207", "isa": "avx512_bf16"}
    assert cpu_kinds(segment, amx) == (f"{xeon} (family 6 model 207, avx512_bf16)",
                                       f"{xeon} (family 6 model 143, amx)")
    same = {"cpu": xeon, "cpu_family_model": "family 6 model 143", "isa": "amx"}
    assert cpu_kinds(same, amx) == (f"{xeon} (family 6 model 143, amx)",) * 2
    # a segment from before family/model and ISA were recorded: by name alone
    assert cpu_kinds({"cpu": xeon}, amx) == (xeon, xeon)
    assert cpu_kinds({"cpu": "AMD EPYC 7B13"}, amx) == ("AMD EPYC 7B13", xeon)


def test_a_onednn_value_tensorflow_ignores_exits_2_before_anything():
    from rescore.cpu import CHOSEN_BY_RESCORE_VAR, ONEDNN_VAR

    env = {k: v for k, v in cli_env().items() if k != CHOSEN_BY_RESCORE_VAR}
    env[ONEDNN_VAR] = "on"
    proc = subprocess.run([sys.executable, "-m", "rescore", "eval", "nowhere"], env=env,
                          text=True, capture_output=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("rescore eval: error: TF_ENABLE_ONEDNN_OPTS='on' is not a "
                                  "value TensorFlow reads")


@pytest.mark.slow
def test_weights_file_alone_reproduces_the_test_error(run_dir: Path, tmp_path: Path):
    lone = tmp_path / "resnet8_seed0.weights.h5"  # away from its run folder
    shutil.copy(run_dir / "model.weights.h5", lone)
    proc = eval_cli(lone)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = result(run_dir)
    assert float(printed(proc.stdout, "test_error")) == saved["test_error"]
    assert float(printed(proc.stdout, "test_loss")) == saved["test_loss"]
    assert f"pixel_mean of {TRAIN_IMAGES - VAL_SPLIT} training images (stored" in proc.stdout


@pytest.mark.slow
def test_a_run_without_weights_file_is_read_from_its_final_checkpoint(run_dir: Path,
                                                                     tmp_path: Path):
    older = copy_run(run_dir, tmp_path)
    (older / "model.weights.h5").unlink()  # as a run finished before the file existed
    proc = eval_cli(older)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "checkpoints/ckpt-12 (newest checkpoint)" in proc.stdout
    assert float(printed(proc.stdout, "test_error")) == result(run_dir)["test_error"]
    assert float(printed(proc.stdout, "test_loss")) == result(run_dir)["test_loss"]


@pytest.mark.slow
def test_build_settings_precision_and_channel_std_travel_with_the_run(tmp_path: Path):
    """Not the defaults: option B, Keras' BN, bfloat16 compute, channel mean and std."""
    from rescore.config import DataConfig
    from rescore.data import load_splits
    from rescore.data.pipeline import normalization
    from rescore.train.weights_file import read_description

    proc = run_cli(tiny(6, 6, "shortcut=B", "model.batchnorm=keras",
                        "trainer.precision=mixed_bfloat16", "data.normalize=channel_std"),
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = only_run_dir(tmp_path / "outputs")
    checked = eval_cli(folder)
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "resnet8, shortcut B, 10 classes, batchnorm keras, mixed_bfloat16" in checked.stdout
    assert float(printed(checked.stdout, "test_error")) == result(folder)["test_error"]
    assert float(printed(checked.stdout, "test_loss")) == result(folder)["test_loss"]
    stored = read_description(folder / "model.weights.h5")
    mean, std = normalization(load_splits(DataConfig(
        name="synthetic", synthetic_train=64, synthetic_test=32)).x_train, "channel_std")
    assert stored.mean.shape == stored.std.shape == (1, 1, 3)
    assert np.array_equal(stored.mean, mean) and np.array_equal(stored.std, std)


# ------------------------------------------------------------- what the file carries

@pytest.mark.slow
def test_weights_file_carries_the_training_split_normalisation(run_dir: Path):
    from rescore.config import DataConfig
    from rescore.data import load_splits
    from rescore.data.pipeline import normalization
    from rescore.train.weights_file import read_description

    stored = read_description(run_dir / "model.weights.h5")
    saved = result(run_dir)
    splits = load_splits(DataConfig(name="synthetic", val_split=VAL_SPLIT,
                                    synthetic_train=TRAIN_IMAGES, synthetic_test=TEST_IMAGES))
    mean, std = normalization(splits.x_train, "pixel_mean")
    assert stored.mean.dtype == np.float32 and stored.mean.shape == (32, 32, 3)
    assert np.array_equal(stored.mean, mean) and np.array_equal(stored.std, std)
    assert stored.train_images == len(splits.x_train) == TRAIN_IMAGES - VAL_SPLIT
    everything = load_splits(DataConfig(name="synthetic", synthetic_train=TRAIN_IMAGES,
                                        synthetic_test=TEST_IMAGES)).x_train
    assert not np.array_equal(stored.mean, normalization(everything)[0])  # 48, not 64 images
    assert stored.config == saved["config"]
    assert stored.weights_sha256 == saved["weights_sha256"]


def test_keras_load_weights_ignores_the_rescore_group(run_dir: Path):
    from rescore.models import build_model
    from rescore.train.weights import weights_sha256

    model = build_model("resnet8")
    before = weights_sha256(model)
    model.load_weights(run_dir / "model.weights.h5")  # plain Keras, no rescore code
    assert weights_sha256(model) == result(run_dir)["weights_sha256"] != before


# ---------------------------------------------------------------------- bad input

def test_a_sha256_differing_from_result_json_exits_9_naming_both(run_dir, tmp_path, capsys):
    copy = copy_run(run_dir, tmp_path)
    saved = result(copy)
    wrong = "0" * 64
    (copy / "result.json").write_text(json.dumps({**saved, "weights_sha256": wrong}))
    assert eval_main(copy) == 9
    err = capsys.readouterr().err
    assert saved["weights_sha256"] in err and wrong in err
    assert str(copy / "model.weights.h5") in err and "result.json" in err


def test_altered_weights_fail_the_hash_check(run_dir, tmp_path, capsys):
    import h5py

    copy = copy_run(run_dir, tmp_path)
    with h5py.File(copy / "model.weights.h5", "a") as f:
        f["layers/dense/vars/1"][0] += 1.0  # one bias of the classifier
    assert eval_main(copy) == 9
    assert "not that run's final weights" in capsys.readouterr().err


def test_a_stale_checkpoint_is_not_taken_for_the_final_weights(run_dir, tmp_path, capsys):
    copy = copy_run(run_dir, tmp_path)
    (copy / "model.weights.h5").unlink()
    for final in (copy / "checkpoints").glob("ckpt-12.*"):
        final.unlink()
    assert eval_main(copy) == 9
    assert "not of the run's final iteration 12" in capsys.readouterr().err


def test_an_unknown_model_name_is_a_typo_whatever_the_path_holds(run_dir, capsys):
    for path in (run_dir, run_dir / "model.weights.h5"):
        assert eval_main("--model", "resnt8", path) == 2
        err = capsys.readouterr().err
        assert "unknown model 'resnt8'. Did you mean 'resnet8'?" in err and "resnet20" in err


def test_an_swa_run_without_its_weights_file_is_refused_not_blamed_on_the_weights(
        run_dir, tmp_path, capsys):
    copy = copy_run(run_dir, tmp_path)
    (copy / "model.weights.h5").unlink()
    saved = json.loads((copy / "result.json").read_text())
    saved["config"]["optim"]["swa"]["start"] = 6
    (copy / "result.json").write_text(json.dumps(saved))
    assert eval_main(copy) == 9
    assert "an SWA run's final weights" in capsys.readouterr().err


def test_weights_of_resnet8_named_resnet20_exit_9(run_dir, capsys):
    assert eval_main("--model", "resnet20", run_dir / "model.weights.h5") == 9
    assert "holds resnet8 weights" in capsys.readouterr().err
    assert eval_main("--model", "resnet20", run_dir) == 2  # a run folder says its model
    assert "is a resnet8 run" in capsys.readouterr().err


@pytest.mark.parametrize("saved_as, given, kwargs", [
    ("resnet8", "resnet20", {}),  # too few arrays
    ("resnet20", "resnet8", {}),  # arrays to spare: Keras alone would load the first ones
    ("resnet8", "resnet8", {"shortcut": "B"}),  # option B's projections to spare
])
def test_plain_keras_weights_that_do_not_fit_exit_9(tmp_path, capsys, saved_as, given, kwargs):
    from rescore.models import build_model

    bare = tmp_path / f"{saved_as}.weights.h5"
    build_model(saved_as, **kwargs).save_weights(bare)
    assert eval_main("--model", given, bare, "--data-root", tmp_path) == 9
    err = capsys.readouterr().err
    assert f"{bare} does not fit {given}, shortcut A" in err and "arrays" in err


def test_plain_keras_weights_need_a_known_model_name(tmp_path, capsys):
    from rescore.models import build_model

    bare = tmp_path / "net.weights.h5"
    build_model("resnet8").save_weights(bare)
    assert eval_main(bare) == 2
    assert "name its model with --model NAME; valid: plain110" in capsys.readouterr().err
    assert eval_main("--model", "resnt20", bare) == 2
    assert "unknown model 'resnt20'. Did you mean 'resnet20'?" in capsys.readouterr().err


def test_missing_data_exits_7_and_creates_nothing(tmp_path, capsys):
    from rescore.models import build_model

    bare = tmp_path / "net.weights.h5"
    build_model("resnet8").save_weights(bare)
    empty = tmp_path / "no-data"
    empty.mkdir()
    assert eval_main("--model", "resnet8", bare, "--data-root", empty) == 7
    err = capsys.readouterr().err
    assert "CIFAR-10 not found and download=False" in err and "--data-root" in err
    assert list(empty.iterdir()) == []


def test_paths_that_are_not_runs_or_weights(tmp_path, capsys):
    assert eval_main(tmp_path / "nowhere") == 9
    assert "does not exist" in capsys.readouterr().err
    assert eval_main(tmp_path) == 2
    assert "holds no result.json" in capsys.readouterr().err
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert eval_main(other) == 2
    assert "must end in .weights.h5" in capsys.readouterr().err


# ------------------------------------------------------------------ real CIFAR-10

REAL_ROOT = os.environ.get(ENV_ROOT)  # RESCORE_DATA, the variable rescore itself reads


@pytest.mark.slow
@pytest.mark.skipif(not REAL_ROOT, reason="set RESCORE_DATA to a folder containing "
                                          "cifar-10-batches-py/")
def test_plain_keras_weights_on_real_cifar10_say_the_mean_was_recomputed(tmp_path):
    from rescore.models import build_model

    bare = tmp_path / "resnet8.weights.h5"
    build_model("resnet8").save_weights(bare)
    proc = eval_cli("--model", "resnet8", bare, "--data-root", REAL_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cifar10 test set, 10,000 images" in proc.stdout
    assert "pixel_mean of 50,000 training images (recomputed)" in proc.stdout
    assert "stores no build settings or normalisation" in proc.stdout
    assert printed(proc.stdout, "weights_sha256") != ""
