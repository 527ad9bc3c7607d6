"""Preemption and crashes (issue 4): SIGTERM/SIGUSR1 finish the iteration, save a
checkpoint and exit with trainer.signal_exit_code; kill -9 loses at most the iterations
since the last periodic checkpoint. After resuming, every iteration ran exactly once
(counted from the per-iteration training records, trainer.log_every=1)."""

import random
import signal
import time

import pytest

from _faults import (checkpoint_steps, folders_holding, only_run_dir, result, run_cli,
                     start_cli, tiny, train_steps)


def wait_for_step(out_root, at_least, proc, timeout=240.0):
    """Poll until the run has logged iteration `at_least`; the last logged iteration."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        folders = folders_holding(out_root, "metrics.jsonl")
        steps = train_steps(folders[0]) if folders else []
        if steps and steps[-1] >= at_least:
            return steps[-1]
        assert proc.poll() is None, f"run ended early: {proc.communicate()[0][-3000:]}"
        time.sleep(0.02)
    raise AssertionError("run did not get going in time")


def finish(proc, timeout=120):
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


@pytest.mark.slow
def test_sigterm_at_a_random_moment_then_resume_runs_every_iteration_once(tmp_path):
    max_steps = 300
    args = tiny(max_steps, 50, f"out_root={tmp_path / 'out'}")
    proc = start_cli(args, cwd=tmp_path)
    wait_for_step(tmp_path / "out", 1, proc)
    delay = random.Random().uniform(0.0, 1.0)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc)

    run_dir = only_run_dir(tmp_path / "out")
    stopped = train_steps(run_dir)[-1]
    assert code == 143, f"delay {delay:.3f}s: {out[-3000:]}"
    assert f"SIGTERM: stopped after iteration {stopped} of {max_steps}" in out
    assert checkpoint_steps(run_dir)[-1] == stopped  # saved where it stopped
    assert not (run_dir / "result.json").exists()

    resumed = run_cli(args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"(iteration {stopped})" in resumed.stdout
    assert train_steps(run_dir) == list(range(1, max_steps + 1)), f"delay {delay:.3f}s"
    assert result(run_dir)["steps"] == max_steps


@pytest.mark.slow
def test_sigusr1_at_a_fixed_iteration_exits_with_the_configured_code(tmp_path):
    max_steps, stop_at = 20, 9  # 9: not a checkpoint iteration (every 4)
    args = tiny(max_steps, 4, f"out_root={tmp_path / 'out'}", "trainer.signal_exit_code=99")
    stopped = run_cli(args, cwd=tmp_path, RESCORE_TESTING_SIGNAL_AT=f"{stop_at}:SIGUSR1")
    assert stopped.returncode == 99, stopped.stdout[-3000:] + stopped.stderr[-3000:]
    assert f"SIGUSR1: stopped after iteration {stop_at} of {max_steps}" in stopped.stdout
    run_dir = only_run_dir(tmp_path / "out")
    assert checkpoint_steps(run_dir) == [4, 8, 9]
    assert train_steps(run_dir) == list(range(1, stop_at + 1))

    resumed = run_cli(args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert train_steps(run_dir) == list(range(1, max_steps + 1))
    assert result(run_dir)["steps"] == max_steps


@pytest.mark.slow
def test_kill_9_loses_only_the_iterations_since_the_last_checkpoint(tmp_path):
    max_steps, every = 200, 10
    args = tiny(max_steps, every, f"out_root={tmp_path / 'out'}")
    proc = start_cli(args, cwd=tmp_path)
    wait_for_step(tmp_path / "out", 25, proc)
    proc.kill()
    finish(proc)
    run_dir = only_run_dir(tmp_path / "out")
    killed_after = train_steps(run_dir)[-1]  # the last whole record
    written = (run_dir / "metrics.jsonl").read_text()
    torn = int(bool(written) and not written.endswith("\n"))  # a line the kill cut short
    last_checkpoint = checkpoint_steps(run_dir)[-1]
    assert killed_after - every <= last_checkpoint <= killed_after
    assert last_checkpoint % every == 0
    assert (run_dir / "run.lock").exists()  # left behind by the killed process

    resumed = run_cli(args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "taking over the stale lock" in resumed.stdout
    assert f"ckpt-{last_checkpoint} (iteration {last_checkpoint})" in resumed.stdout
    lost = killed_after - last_checkpoint  # iterations logged after the last save: redone
    if lost + torn:  # their old records are dropped, so each iteration is recorded once
        assert (f"dropped {lost + torn} records written after iteration {last_checkpoint}"
                in resumed.stdout)
    assert train_steps(run_dir) == list(range(1, max_steps + 1))
    assert result(run_dir)["steps"] == max_steps


@pytest.mark.slow
def test_stop_waits_for_the_end_of_a_multi_iteration_chunk(compose_config, tmp_path,
                                                           monkeypatch):
    """With trainer.steps_per_call=4 the weights jump 4 iterations per call: a signal after
    iteration 5 stops (and saves) at 8, where the chunk ends, never at a half-applied 5."""
    from rescore.config import to_settings
    from rescore.errors import Preempted
    from rescore.train.loop import run

    settings = to_settings(compose_config(tiny(12, 4, "trainer.steps_per_call=4")))
    monkeypatch.setenv("RESCORE_TESTING_SIGNAL_AT", "5")
    with pytest.raises(Preempted, match="stopped after iteration 8 of 12"):
        run(settings, tmp_path)
    assert checkpoint_steps(tmp_path) == [4, 8]
    monkeypatch.delenv("RESCORE_TESTING_SIGNAL_AT")
    out = run(settings, tmp_path)
    assert out["steps"] == 12
    assert train_steps(tmp_path) == list(range(1, 13))


@pytest.mark.slow
def test_a_stop_in_the_last_chunk_still_stops_once_the_result_is_saved(compose_config,
                                                                       tmp_path, monkeypatch):
    """A signal inside the final chunk (iterations 9-12 of 12, four per call) used to be
    forgotten once the loop ended, so a sequential sweep trained its next job on."""
    from rescore.config import to_settings
    from rescore.errors import Preempted
    from rescore.train.loop import run

    settings = to_settings(compose_config(tiny(12, 4, "trainer.steps_per_call=4")))
    monkeypatch.setenv("RESCORE_TESTING_SIGNAL_AT", "9")
    with pytest.raises(Preempted, match="came as the run was finishing: it finished and its "
                                        "result is saved"):
        run(settings, tmp_path)
    assert result(tmp_path)["steps"] == 12 and result(tmp_path)["finished"]
    monkeypatch.delenv("RESCORE_TESTING_SIGNAL_AT")
    assert run(settings, tmp_path)["already_finished"]
