"""The app as a user runs it: `python -m rescore …` and the `rescore` console script."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _checks import RESNET8_PARAMS

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def rescore(*args, cwd):
    return subprocess.run([sys.executable, "-m", "rescore", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600)


def run_folder(root: Path) -> Path:
    (result,) = root.rglob("result.json")
    return result.parent


def train_losses(folder: Path):
    lines = [json.loads(l) for l in (folder / "metrics.jsonl").read_text().splitlines()]
    return [l["loss"] for l in lines if l["split"] == "train"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("smoke")
    proc = rescore("experiment=smoke", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, run_folder(cwd / "outputs")


@pytest.mark.slow
def test_smoke_writes_its_run_folder(smoke_run):
    cwd, folder = smoke_run
    assert folder.relative_to(cwd / "outputs").parts[:2] == ("smoke", "resnet8")
    assert folder.name == "seed=0"
    result = json.loads((folder / "result.json").read_text())
    assert result["steps"] == result["max_steps"] == 40 and result["finished"]
    assert result["params"] == RESNET8_PARAMS and 0 <= result["test_error"] <= 1
    assert result["config"]["optim"]["wd"] == 1e-4 and result["config"]["optim"]["wd_bn"] is False
    records = [json.loads(l) for l in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "train"] == [10, 20, 30, 40]
    assert [r["step"] for r in records if r["split"] == "test"] == [20, 40]
    assert [r["lr"] for r in records if r["split"] == "train"] == pytest.approx(
        [0.1, 0.1, 0.01, 0.001])
    assert any((folder / "tensorboard").iterdir())
    assert (folder / ".hydra" / "config.yaml").exists()


@pytest.mark.slow
def test_same_seed_same_loss_trace_other_seed_differs(smoke_run, tmp_path):
    _, first = smoke_run
    assert rescore("experiment=smoke", cwd=tmp_path).returncode == 0
    assert train_losses(run_folder(tmp_path / "outputs")) == train_losses(first)
    other = tmp_path / "other"
    other.mkdir()
    assert rescore("experiment=smoke", "seed=1", cwd=other).returncode == 0
    assert train_losses(run_folder(other / "outputs")) != train_losses(first)


def test_print_config_with_hydra_cfg_flag(tmp_path):
    proc = rescore("--cfg", "job", "model=resnet110", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "name: resnet110" in proc.stdout and "until_train_error: 0.8" in proc.stdout
    assert not (tmp_path / "outputs").exists()


def test_console_script_is_installed(tmp_path):
    script = shutil.which("rescore")
    assert script, "the `rescore` console script is not on PATH"
    proc = subprocess.run([script, "--cfg", "job", "model=resnet56"], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "name: resnet56" in proc.stdout


@pytest.mark.slow
def test_console_script_routes_eval_and_reproduces_the_smoke_run(smoke_run):
    """`rescore eval` goes to rescore.eval before Hydra sees argv (issue 11)."""
    _, folder = smoke_run
    proc = subprocess.run([shutil.which("rescore"), "eval", str(folder)], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((folder / "result.json").read_text())
    assert f"test_error      {result['test_error']!r}  " in proc.stdout
    assert "equals result.json's exactly" in proc.stdout
    assert (folder / "model.weights.h5").stat().st_size > 300_000  # resnet8: 75,770 values


@pytest.mark.slow
def test_report_lists_the_smoke_run_apart_from_the_paper(smoke_run, capsys):
    """A 40-iteration run on synthetic data is "other", never "full schedule" (issue 11)."""
    from rescore.report.__main__ import main as report_main

    cwd, _ = smoke_run
    out = cwd / "report"
    assert report_main([str(cwd / "outputs"), "--out", str(out)]) == 0
    markdown = (out / "table6.md").read_text()
    assert "## Full schedule" not in markdown
    assert ("## Other runs (not the paper's data, schedule or training recipe), NOT "
            "comparable to the paper's numbers: synthetic data, trained on 512 images; 40 "
            "iterations") in markdown
    assert markdown.count("not the paper's recipe: data.batch_size=32") == 1  # and its batch
    assert "1 run(s) (1 other)" in capsys.readouterr().out
