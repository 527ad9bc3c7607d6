"""The launcher configs compose, the GPU pinning gives each joblib worker its own GPU, and a
2-job joblib multirun of the smoke experiment runs to its result.json files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _faults import train_steps

from rescore import gpu_pinning
from rescore.gpu_pinning import claim_slot, launched_by_joblib, pin_one_gpu

from rescore.config import CONF_DIR


def compose_hydra(overrides):
    from hydra import compose, initialize_config_dir

    from rescore.config import register_resolvers, register_schemas

    register_schemas()
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides),
                       return_hydra_config=True).hydra


def test_local_gpus_is_joblib_with_two_workers():
    launcher = compose_hydra(["hydra/launcher=local_gpus", "experiment=smoke"]).launcher
    assert launched_by_joblib(launcher._target_)
    assert (launcher.n_jobs, launcher.prefer) == (2, "processes")
    launcher = compose_hydra(["hydra/launcher=local_gpus", "hydra.launcher.n_jobs=4"]).launcher
    assert launcher.n_jobs == 4


def test_slurm_gpu_carries_the_requeue_settings():
    hydra_cfg = compose_hydra(["hydra/launcher=slurm_gpu", "experiment=table6",
                               "hydra.launcher.partition=gpu"])
    launcher = hydra_cfg.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node) == ("gpu", 1, 1)
    assert launcher.signal_delay_s == 120 and launcher.max_num_timeout == 10
    assert launcher.timeout_min == 720
    # A requeued job must find its own folder: the sweep subdir is a function of the
    # config, seed and restart number only (no job number, no time).
    from omegaconf import OmegaConf

    subdir = OmegaConf.to_container(hydra_cfg.sweep, resolve=False)["subdir"]
    assert subdir == "${model.name}/${rescore_digest:}/seed=${seed}${rescore_restart:}"


def test_shipped_launchers_still_compose():
    assert compose_hydra(["hydra/launcher=joblib"]).launcher.n_jobs == -1
    assert compose_hydra(["hydra/launcher=submitit_slurm"]).launcher.max_num_timeout == 0


def test_claim_slot_gives_each_holder_its_own_slot(tmp_path: Path):
    first, lock_a = claim_slot(3, first=1, lock_dir=tmp_path)
    second, lock_b = claim_slot(3, first=1, lock_dir=tmp_path)  # 1 is held: next free
    third, lock_c = claim_slot(3, first=1, lock_dir=tmp_path)  # wraps round to 0
    assert (first, second, third) == (1, 2, 0)
    assert claim_slot(3, first=4, lock_dir=tmp_path) == (1, None)  # all held: share 4 mod 3
    lock_b.close()  # that worker ended
    assert claim_slot(3, first=0, lock_dir=tmp_path)[0] == 2
    lock_a.close(), lock_c.close()


def test_a_dead_worker_frees_its_gpu(tmp_path: Path):
    child = ("from pathlib import Path; from rescore.gpu_pinning import claim_slot; "
             f"slot, lock = claim_slot(2, 0, Path({str(tmp_path)!r})); print(slot, flush=True); "
             "input()")
    proc = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "0"
    slot, lock = claim_slot(2, first=0, lock_dir=tmp_path)
    assert slot == 1  # the other process holds GPU 0
    lock.close()
    proc.communicate("\n", timeout=30)
    slot, lock = claim_slot(2, first=0, lock_dir=tmp_path)
    assert slot == 0  # freed when that process ended
    lock.close()


@pytest.fixture
def fresh_process_state(monkeypatch):
    monkeypatch.setattr(gpu_pinning, "_pinned", None)
    monkeypatch.setattr(gpu_pinning, "_held_lock", None)


def test_pin_one_gpu_makes_one_visible_and_sticks(tmp_path, fresh_process_state):
    chosen = []
    gpus = ["GPU:0", "GPU:1"]
    assert pin_one_gpu(3, lambda: gpus, chosen.append, tmp_path) == 1  # job 3 → 3 mod 2
    assert chosen == [["GPU:1"]]
    # The same (reused) worker, next job: TF is already on GPU 1, nothing changes.
    assert pin_one_gpu(4, lambda: gpus, chosen.append, tmp_path) == 1
    assert chosen == [["GPU:1"]]
    gpu_pinning._held_lock.close()


def test_no_pinning_with_fewer_than_two_gpus(tmp_path, fresh_process_state):
    chosen = []
    assert pin_one_gpu(0, lambda: [], chosen.append, tmp_path) is None
    assert pin_one_gpu(1, lambda: ["GPU:0"], chosen.append, tmp_path) is None
    assert chosen == []


@pytest.mark.slow
def test_two_job_joblib_multirun_completes(tmp_path: Path):
    """The real thing on CPU: two tiny runs in two joblib worker processes."""
    overrides = ["hydra/launcher=local_gpus", "experiment=smoke", "seed=0,1",
                 f"out_root={tmp_path}", "trainer.threads=1", "optim.max_steps=6",
                 "optim.milestones=[3,5]", "trainer.eval_every=6", "trainer.log_every=3",
                 "trainer.checkpoint_every=6", "data.synthetic_train=64",
                 "data.synthetic_test=32", "data.eval_batch_size=32"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-m", "rescore", "-m", *overrides], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Parallel(n_jobs=2)" in done.stdout + done.stderr
    results = sorted((tmp_path / "smoke").glob("resnet8/*/seed=*/result.json"))
    assert [p.parent.name for p in results] == ["seed=0", "seed=1"]
    for path in results:
        result = json.loads(path.read_text())
        assert result["finished"] and result["steps"] == 6


@pytest.mark.slow
def test_a_requeued_submitit_job_resumes_its_own_run_folder(tmp_path: Path):
    """submitit's time-limit path, run locally: the job gets submitit's signal (SIGUSR2)
    after iteration 4, between the periodic checkpoints at 3 and 6. The loop saves
    iteration 4 and only then hands the signal to submitit, which requeues the job with
    the same arguments; the new process must land in the same run folder, resume from
    iteration 4 and run every iteration exactly once."""
    overrides = ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
                 "experiment=smoke", "seed=0", f"out_root={tmp_path}", "trainer.threads=1",
                 "optim.max_steps=6", "optim.milestones=[3,5]", "trainer.eval_every=6",
                 "trainer.log_every=1", "trainer.checkpoint_every=3",
                 "data.synthetic_train=64", "data.synthetic_test=32", "data.eval_batch_size=32"]
    # The loop's testing hook (train/signals.py) sends the signal at a fixed iteration.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", RESCORE_TESTING_SIGNAL_AT="4:SIGUSR2")
    done = subprocess.run([sys.executable, "-m", "rescore", "-m", *overrides], env=env,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "smoke" / "resnet8").glob("*/seed=*")  # one folder, no restart
    result = json.loads((run_dir / "result.json").read_text())
    assert result["finished"] and result["steps"] == 6
    logs = "".join(p.read_text() for p in (tmp_path / "smoke" / ".submitit").rglob("*.err"))
    logs += "".join(p.read_text() for p in (tmp_path / "smoke" / ".submitit").rglob("*.out"))
    assert "Requeued job" in logs
    assert "passing SIGUSR2 on to SignalHandler.checkpoint_and_try_requeue" in logs
    assert f"resuming from {run_dir}/checkpoints/ckpt-4" in logs
    assert train_steps(run_dir) == [1, 2, 3, 4, 5, 6]  # none lost, none twice
