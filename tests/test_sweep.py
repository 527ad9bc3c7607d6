"""Sweeps (issue 4): in a Hydra multirun a failing job does not stop or lose the others;
the sweep folder gets sweep_summary.json/.md listing each job's overrides, status and
result, and the process exits 6 if any job failed or diverged."""

import json
import math

import pytest

from _faults import run_cli, tiny

LRS = ["0.05", "1e30", "-1"]  # trains | diverges | invalid config


def sweep(tmp_path):
    args = ["-m", *tiny(10, 5, f"out_root={tmp_path / 'out'}"), f"optim.lr={','.join(LRS)}"]
    proc = run_cli(args, cwd=tmp_path)
    summary = json.loads((tmp_path / "out" / "smoke" / "sweep_summary.json").read_text())
    return proc, summary["jobs"]


@pytest.fixture(scope="module")
def first_sweep(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sweep")
    return (tmp_path, *sweep(tmp_path))


def test_failing_jobs_do_not_stop_the_sweep_and_are_summarised(first_sweep):
    tmp_path, proc, jobs = first_sweep
    assert proc.returncode == 6, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 of 3 sweep jobs failed or diverged" in proc.stderr

    assert [j["job"] for j in jobs] == [0, 1, 2]
    assert [next(o for o in j["overrides"] if o.startswith("optim.lr=")) for j in jobs] == [
        "optim.lr=0.05", "optim.lr=1e+30", "optim.lr=-1"]  # as Hydra writes them
    assert [j["status"] for j in jobs] == ["finished", "diverged", "failed"]
    finished, diverged, invalid = jobs
    assert 0 <= finished["test_error"] <= 1 and finished["error"] is None
    saved = json.loads(open(f"{finished['run_dir']}/result.json").read())
    assert saved["test_error"] == finished["test_error"] and saved["steps"] == 10
    assert diverged["test_error"] is None or math.isnan(diverged["test_error"])
    assert diverged["error"].startswith("DivergedError: non-finite loss or gradient at iteration")
    assert invalid["error"].startswith("ConfigError: invalid config")
    assert "optim.lr must be > 0, got -1.0" in invalid["error"]

    table = (tmp_path / "out" / "smoke" / "sweep_summary.md").read_text().splitlines()
    assert len(table) == 2 + 3
    assert "| finished | " in table[2] and f"{100 * finished['test_error']:.2f}%" in table[2]
    assert "| diverged | — |" in table[3] and "| failed | — |" in table[4]


def test_rerunning_a_sweep_reports_finished_jobs_without_training(first_sweep):
    proc, jobs = sweep(first_sweep[0])
    assert proc.returncode == 6
    assert [j["status"] for j in jobs] == ["already_finished", "diverged", "failed"]
