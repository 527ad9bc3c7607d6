"""A run trained with optim.ema (issue 15) saves its averaged weights as
model_ema.weights.h5, and `rescore eval` checks them as it checks the raw ones: the hash
against result.json's ema_weights_sha256, the test error and loss against ema_test_error and
ema_test_loss, exactly. rescore-publish copies the file and refuses one whose hash is not
the recorded one.

One tiny EMA run is trained through the CLI (resnet8 on synthetic data, a validation split
and an eval batch that splits both sets unevenly, as test_eval.py's run).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from _faults import eval_cli, printed, result, tiny, trained_run
from rescore.train.weights_file import EMA_WEIGHTS_FILE, read_description

RUN = tiny(12, 6, "data.val_split=16", "data.synthetic_test=100", "data.eval_batch_size=30",
           "optim.ema.decay=0.9")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory, RUN)


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "copy"))


def edit_result(run_dir: Path, **changes) -> None:
    path = run_dir / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def main_of(module: str, *args) -> int:
    if module == "eval":
        from rescore.eval.__main__ import main
    else:
        from rescore.report.publish import main
    return main([str(a) for a in args])


@pytest.mark.slow
def test_the_averaged_weights_are_saved_with_their_own_hash(run_dir: Path):
    saved = result(run_dir)
    description = read_description(run_dir / EMA_WEIGHTS_FILE)
    assert description.weights_sha256 == saved["ema_weights_sha256"]
    assert saved["ema_weights_sha256"] != saved["weights_sha256"]  # 12 steps at decay 0.9
    assert description.config == saved["config"]
    assert read_description(run_dir / "model.weights.h5").weights_sha256 == \
        saved["weights_sha256"]
    # that the raw weights are back after the EMA file is written is eval's check below:
    # model.weights.h5 is written first, so only result.json's hash of them can tell


@pytest.mark.slow
def test_eval_reproduces_ema_test_error_exactly(run_dir: Path):
    proc = eval_cli(run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = result(run_dir)
    assert printed(proc.stdout, "weights_sha256") == saved["weights_sha256"]
    assert float(printed(proc.stdout, "test_error")) == saved["test_error"]
    assert printed(proc.stdout, "ema_sha256") == saved["ema_weights_sha256"]
    assert float(printed(proc.stdout, "ema_test_error")) == saved["ema_test_error"]
    assert float(printed(proc.stdout, "ema_test_loss")) == saved["ema_test_loss"]
    # test_error, test_loss, val_error, val_loss, ema_test_error, ema_test_loss
    assert proc.stdout.count("equals result.json's exactly") == 6, proc.stdout
    assert f"decay {saved['ema_decay']} as the run used it" in proc.stdout


@pytest.mark.slow
def test_the_ema_weights_file_alone_gives_the_ema_test_error(run_dir: Path):
    proc = eval_cli(run_dir / EMA_WEIGHTS_FILE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = result(run_dir)
    assert printed(proc.stdout, "weights_sha256") == saved["ema_weights_sha256"]
    assert float(printed(proc.stdout, "test_error")) == saved["ema_test_error"]


@pytest.mark.slow
def test_an_ema_hash_differing_from_result_json_exits_9(run_dir, tmp_path, capsys):
    copy = copy_run(run_dir, tmp_path)
    edit_result(copy, ema_weights_sha256="0" * 64)
    assert main_of("eval", copy) == 9
    out, err = capsys.readouterr()
    assert str(copy / EMA_WEIGHTS_FILE) in err and "0" * 64 in err
    assert "test_error" in out and "equals result.json's exactly" in out  # raw: checked


@pytest.mark.slow
def test_an_ema_result_without_its_loss_is_checked_on_what_it_has(run_dir, tmp_path, capsys):
    copy = copy_run(run_dir, tmp_path)
    saved = result(copy)
    del saved["ema_test_loss"]
    (copy / "result.json").write_text(json.dumps(saved))
    assert main_of("eval", copy) == 0
    out = capsys.readouterr().out
    loss_line = next(line for line in out.splitlines() if "ema_test_loss" in line)
    assert "result.json" not in loss_line  # nothing recorded to compare with
    assert out.count("equals result.json's exactly") == 5


@pytest.mark.slow
def test_the_raw_and_the_averaged_weights_are_checked_on_one_read_of_the_data(
        run_dir, monkeypatch, capsys):
    """Both checks use the same test set: reading it twice cost an EMA run's eval a second
    load of the data set (seconds for real CIFAR), and nothing else."""
    import rescore.eval.check as check_module

    reads = []
    real_load = check_module.load_splits
    monkeypatch.setattr(check_module, "load_splits",
                        lambda d: reads.append(d) or real_load(d))
    assert main_of("eval", run_dir) == 0
    assert capsys.readouterr().out.count("equals result.json's exactly") == 6
    assert len(reads) == 1 and reads[0].download is False


@pytest.mark.slow
def test_an_ema_run_from_before_the_file_is_checked_and_says_what_it_cannot(run_dir, tmp_path,
                                                                            capsys):
    copy = copy_run(run_dir, tmp_path)
    (copy / EMA_WEIGHTS_FILE).unlink()
    assert main_of("eval", copy) == 0
    out = capsys.readouterr().out
    assert "ema_test_error cannot be checked" in out and "ema_sha256" not in out


@pytest.mark.slow
def test_publish_copies_the_ema_weights_and_refuses_a_wrong_hash(run_dir, tmp_path, capsys):
    dest = tmp_path / "results"
    assert main_of("publish", run_dir, "--to", dest) == 0
    published = dest.joinpath(*run_dir.parts[-3:])
    assert (published / EMA_WEIGHTS_FILE).read_bytes() == \
        (run_dir / EMA_WEIGHTS_FILE).read_bytes()
    copy = copy_run(run_dir, tmp_path)
    edit_result(copy, ema_weights_sha256="f" * 64)
    assert main_of("publish", copy, "--to", tmp_path / "elsewhere") == 9
    assert "model_ema.weights.h5 carries weights_sha256" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.slow
def test_publish_refuses_an_ema_file_beside_a_result_without_ema(run_dir, tmp_path, capsys):
    copy = copy_run(run_dir, tmp_path)
    saved = result(copy)
    for key in ("ema_test_error", "ema_test_loss", "ema_weights_sha256", "ema_decay"):
        del saved[key]
    (copy / "result.json").write_text(json.dumps(saved))
    assert main_of("publish", copy, "--to", tmp_path / "results") == 2
    assert "records no EMA (no ema_weights_sha256)" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_an_unreadable_ema_file_fails_after_the_raw_check_is_printed(run_dir, tmp_path,
                                                                     capsys):
    copy = copy_run(run_dir, tmp_path)
    (copy / EMA_WEIGHTS_FILE).write_bytes(b"not HDF5")
    assert main_of("eval", copy) == 9
    out, err = capsys.readouterr()
    assert "equals result.json's exactly" in out and "ema_sha256" not in out
    assert f"{copy / EMA_WEIGHTS_FILE} is not a readable HDF5 weights file" in err
