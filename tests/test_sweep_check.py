"""A multirun with a bad value in some of its jobs stops before any job trains
(sweep_check.py): the jobs are expanded as Hydra's basic sweeper does and each one's
config checked, so `-m optim.lr=0.1,-1` does not train the good job for hours first."""

import pytest

from _faults import run_cli
from rescore.errors import ConfigError
from rescore.sweep_check import check_sweep_jobs, expand_jobs


def test_the_jobs_are_expanded_as_hydras_basic_sweeper_does():
    jobs = expand_jobs(["experiment=smoke", "model=resnet8,resnet20", "seed=0,1,2"])
    assert len(jobs) == 6
    assert jobs[0] == ["experiment=smoke", "model=resnet8", "seed=0"]
    assert jobs[-1] == ["experiment=smoke", "model=resnet20", "seed=2"]


def test_an_experiments_own_sweep_counts_and_hydras_overrides_are_left_out():
    jobs = expand_jobs(["experiment=table6", "optim.schedule_scale=1/32",
                        "hydra/launcher=local_gpus", "hydra.launcher.n_jobs=2"])
    assert len(jobs) == 30  # Table 6: six depths x five seeds (conf/experiment/table6.yaml)
    assert ["model=resnet1202", "seed=4", "experiment=table6",
            "optim.schedule_scale=1/32"] in jobs
    assert not any(o.startswith("hydra") for job in jobs for o in job)


def test_globs_and_command_line_sweeper_params_expand_as_hydra_does():
    assert expand_jobs(["model=glob(resnet2*)", "experiment=smoke"]) == [
        ["model=resnet20", "experiment=smoke"]]  # a glob over the group's options
    assert expand_jobs(["experiment=fig6", "hydra.sweeper.params.model='resnet20,resnet56'",
                        "unit=full_preact"]) == [
        ["model=resnet20", "experiment=fig6", "unit=full_preact"],
        ["model=resnet56", "experiment=fig6", "unit=full_preact"]]  # not fig6's 9 models


def test_what_hydra_refuses_itself_is_left_to_it():
    check_sweep_jobs(["-m", "model.kwargs.x=1"])  # Hydra: "use +model.kwargs.x=1"


def test_hydra_mode_multirun_is_a_multirun_too():
    with pytest.raises(ConfigError, match="in every job of the sweep"):
        check_sweep_jobs(["hydra.mode=MULTIRUN", "experiment=smoke", "seed=0,1",
                          "optim.lr=-1"])


def test_a_bad_value_in_some_jobs_names_the_problem_and_the_jobs():
    with pytest.raises(ConfigError) as raised:
        check_sweep_jobs(["-m", "experiment=smoke", "optim.lr=0.1,-1", "seed=0,1"])
    assert str(raised.value) == ("invalid config:\n  - optim.lr must be > 0, got -1.0\n  (in 2 "
                                 "of the sweep's 4 jobs, e.g. experiment=smoke optim.lr=-1 "
                                 "seed=0; no job was started)")


def test_a_good_sweep_and_a_single_run_pass():
    check_sweep_jobs(["-m", "experiment=smoke", "optim.lr=0.1,0.05", "seed=0,1"])
    check_sweep_jobs(["experiment=smoke", "optim.lr=-1"])  # a single run: check_config's


@pytest.mark.slow
def test_the_cli_exits_2_before_any_job_starts(tmp_path):
    proc = run_cli(["-m", "experiment=smoke", "optim.schedule_scale=1/2,1/3x",
                    f"out_root={tmp_path / 'out'}"], cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "schedule_scale '1/3x' is not a number or a fraction like 1/32" in proc.stderr
    assert "no job was started" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "multirun").exists()
