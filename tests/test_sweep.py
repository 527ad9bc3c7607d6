"""Sweeps (issue 4): in a Hydra multirun a failing job does not stop or lose the others;
the sweep folder gets sweep_summary.json/.md listing each job's overrides, status and
result, and the process exits 6 if any job failed or diverged. (A job whose config is
invalid stops the sweep before it starts: tests/test_sweep_check.py. The failure here is
one only the job finds: its data are missing.)"""

import json
import math
import os

import pytest

from _faults import run_cli, tiny

LRS = ["0.05", "1e30"]  # trains | diverges
DATA = ["synthetic", "cifar10"]  # there | missing (download=false, empty root): fails


def sweep(tmp_path):
    (tmp_path / "no-data").mkdir(exist_ok=True)
    args = ["-m", *tiny(10, 5, f"out_root={tmp_path / 'out'}"), f"optim.lr={','.join(LRS)}",
            f"data={','.join(DATA)}", f"data.root={tmp_path / 'no-data'}",
            "data.download=false"]
    proc = run_cli(args, cwd=tmp_path)
    summary = json.loads((tmp_path / "out" / "smoke" / "sweep_summary.json").read_text())
    return proc, summary["jobs"]


@pytest.fixture(scope="module")
def first_sweep(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sweep")
    return (tmp_path, *sweep(tmp_path))


@pytest.mark.slow
def test_failing_jobs_do_not_stop_the_sweep_and_are_summarised(first_sweep):
    tmp_path, proc, jobs = first_sweep
    assert proc.returncode == 6, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 of 4 sweep jobs failed or diverged" in proc.stderr

    assert [j["job"] for j in jobs] == [0, 1, 2, 3]
    assert [next(o for o in j["overrides"] if o.startswith("optim.lr=")) for j in jobs] == [
        "optim.lr=0.05", "optim.lr=0.05", "optim.lr=1e+30", "optim.lr=1e+30"]  # as Hydra writes
    assert [j["status"] for j in jobs] == ["finished", "failed", "diverged", "failed"]
    finished, no_data, diverged, _ = jobs
    assert 0 <= finished["test_error"] <= 1 and finished["error"] is None
    saved = json.loads(open(f"{finished['run_dir']}/result.json").read())
    assert saved["test_error"] == finished["test_error"] and saved["steps"] == 10
    assert diverged["test_error"] is None or math.isnan(diverged["test_error"])
    assert diverged["error"].startswith("DivergedError: non-finite loss or gradient at iteration")
    assert no_data["error"].startswith("DataError: CIFAR-10 not found and download=False")

    markdown = (tmp_path / "out" / "smoke" / "sweep_summary.md").read_text()
    assert "Varied: data (synthetic, cifar10); optim.lr (0.05, 1e+30)." in markdown
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 4
    assert "| finished | " in table[2] and f"{100 * finished['test_error']:.2f}%" in table[2]
    assert "| failed | — |" in table[3] and "| diverged | — |" in table[4]


@pytest.mark.slow
def test_rerunning_a_sweep_reports_finished_jobs_without_training(first_sweep):
    proc, jobs = sweep(first_sweep[0])
    assert proc.returncode == 6
    assert [j["status"] for j in jobs] == ["already_finished", "failed", "diverged", "failed"]


# ------------------------------------- several sweeps into one folder (issue 12)

def _hydra_config(sweep_dir, job=0, run_dir="", overrides=()):
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    return OmegaConf.create({"hydra": {
        "mode": RunMode.MULTIRUN, "sweep": {"dir": str(sweep_dir)},
        "overrides": {"task": list(overrides)}, "job": {"num": job},
        "runtime": {"output_dir": str(run_dir)}}})


def _run_sweep(sweep_dir, command, jobs):
    """What Hydra calls on the callback for a sweep: `jobs` (overrides, run folder,
    status, test error) in order."""
    from hydra.core.utils import JobReturn, JobStatus

    from rescore import sweep as sweep_module

    callback = sweep_module.SweepSummary()
    callback.on_multirun_start(_hydra_config(sweep_dir, overrides=command))
    for num, (overrides, run_dir, status, error) in enumerate(jobs):
        config = _hydra_config(sweep_dir, num, run_dir, overrides)
        callback.on_job_start(config)
        if status == "failed":
            sweep_module.report_job(status, error="ConfigError: invalid config")
        else:
            sweep_module.report_job(status, test_error=error, run_dir=str(run_dir))
        callback.on_job_end(config, JobReturn(overrides=list(overrides),
                                              status=JobStatus.COMPLETED))
    callback.on_multirun_end(_hydra_config(sweep_dir, overrides=command))
    return sweep_module.last_summary


def test_a_second_sweep_into_the_folder_keeps_the_first_ones_jobs(tmp_path, monkeypatch):
    from rescore.sweep import SWEEP_ID_ENV

    monkeypatch.setenv(SWEEP_ID_ENV, "restored after the test")
    sweep_dir = tmp_path / "out" / "units"
    a, b, c = (sweep_dir / "resnet110" / d / "seed=0" for d in ("da", "db", "dc"))
    first = _run_sweep(sweep_dir, ["model=resnet110", "optim.lr=0.1,0.05"], [
        (["model=resnet110", "optim.lr=0.1"], a, "finished", 0.07),
        (["model=resnet110", "optim.lr=0.05"], b, "finished", 0.08)])
    assert [j["status"] for j in first] == ["finished", "finished"]
    # Same name, other overrides: one new run folder (fails), one swept again.
    second = _run_sweep(sweep_dir, ["model=resnet110", "optim.lr=0.02,0.1"], [
        (["model=resnet110", "optim.lr=0.02"], c, "failed", None),
        (["model=resnet110", "optim.lr=0.1"], a, "already_finished", 0.07)])
    # The exit status of the second sweep is about its own jobs only.
    assert [(j["job"], j["status"]) for j in second] == [(0, "failed"),
                                                         (1, "already_finished")]

    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    jobs = summary["jobs"]
    # b from the first sweep stays; a appears once, as the second sweep left it.
    assert [(j["run_dir"], j["status"]) for j in jobs] == [
        (str(b), "finished"), (str(c), "failed"), (str(a), "already_finished")]
    sweeps = summary["sweeps"]
    assert [s["overrides"] for s in sweeps] == [["model=resnet110", "optim.lr=0.1,0.05"],
                                                ["model=resnet110", "optim.lr=0.02,0.1"]]
    assert [j["sweep"] for j in jobs] == [sweeps[0]["sweep"]] + [sweeps[1]["sweep"]] * 2
    assert sweeps[1]["varied"] == {"optim.lr": ["0.02", "0.1"]}
    assert summary["varied"] == {"optim.lr": ["0.05", "0.02", "0.1"]}

    markdown = (sweep_dir / "sweep_summary.md").read_text()
    assert "Varied: optim.lr (0.05, 0.02, 0.1)." in markdown
    titles = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert titles == [f"## Sweep {sweeps[0]['sweep']}: `model=resnet110 optim.lr=0.1,0.05`",
                      f"## Sweep {sweeps[1]['sweep']}: `model=resnet110 optim.lr=0.02,0.1`"]
    first_section = markdown.split("## Sweep")[1]
    assert "| 1 | model=resnet110 optim.lr=0.05 | finished | 8.00% |" in first_section
    assert "optim.lr=0.1 " not in first_section  # re-swept: listed under the second


def test_without_the_environment_a_job_files_under_the_latest_sweep(tmp_path, monkeypatch):
    from rescore.sweep import SWEEP_ID_ENV, current_sweep

    monkeypatch.setenv(SWEEP_ID_ENV, "x")
    sweep_dir = tmp_path / "s"
    _run_sweep(sweep_dir, ["optim.lr=0.1"], [(["optim.lr=0.1"], sweep_dir / "r", "finished",
                                             0.1)])
    started = os.environ[SWEEP_ID_ENV]
    monkeypatch.delenv(SWEEP_ID_ENV)  # a launcher that did not pass it on
    assert current_sweep(sweep_dir) == started
    assert current_sweep(tmp_path / "empty") == "unknown"
