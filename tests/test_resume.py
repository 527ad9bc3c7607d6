"""Run folders, exact resume and damaged checkpoints (issue 4).

The exact-resume tests train in this process (no TensorFlow start-up per run): a run is
stopped at a fixed iteration through the real SIGTERM path (signals.py's testing hook),
then the same config resumes it in the same folder.
"""

import json
import logging
import os

import numpy as np
import pytest

from _faults import checkpoint_steps, result, tiny, train_in_process as train, train_steps

MAX_STEPS, EVERY, STOP_AT = 12, 4, 7  # 7: between checkpoints, so the stop itself saves


@pytest.fixture
def settings_for(compose_config):
    from rescore.config import to_settings

    def make(*extra):
        return to_settings(compose_config(tiny(MAX_STEPS, EVERY, "trainer.deterministic=true",
                                               *extra)))

    return make


_BASELINE = {}
_STOPPED = {}


def baseline_hash(settings, tmp_path_factory):
    """weights_sha256 of the run trained start to finish (trained once per session)."""
    if "sha" not in _BASELINE:
        _BASELINE["sha"] = train(settings, tmp_path_factory.mktemp("straight"))["weights_sha256"]
    return _BASELINE["sha"]


def stopped_run(settings, run_dir, monkeypatch, tmp_path_factory):
    """`run_dir` becomes a copy of a run stopped by SIGTERM after iteration STOP_AT
    (trained once per session: the copies are what the damage tests break)."""
    import shutil

    if "dir" not in _STOPPED:
        _STOPPED["dir"] = tmp_path_factory.mktemp("stopped") / "run"
        train(settings, _STOPPED["dir"], stop_at=STOP_AT, monkeypatch=monkeypatch)
    shutil.copytree(_STOPPED["dir"], run_dir, dirs_exist_ok=True)


@pytest.mark.slow
def test_interrupted_and_resumed_run_is_bitwise_equal(settings_for, tmp_path, monkeypatch,
                                                     tmp_path_factory):
    settings = settings_for()
    expected = baseline_hash(settings, tmp_path_factory)

    stopped_run(settings, tmp_path, monkeypatch, tmp_path_factory)
    assert checkpoint_steps(tmp_path) == [4, STOP_AT]
    assert not (tmp_path / "result.json").exists()
    out = train(settings, tmp_path)

    assert out["weights_sha256"] == expected
    assert out["steps"] == MAX_STEPS and out["finished"]
    assert train_steps(tmp_path) == list(range(1, MAX_STEPS + 1))  # each iteration once
    assert result(tmp_path)["weights_sha256"] == expected
    assert not (tmp_path / "run.lock").exists()


@pytest.mark.slow
def test_resume_without_optimizer_state_changes_the_weights(settings_for, tmp_path,
                                                            monkeypatch,
                                                            tmp_path_factory):
    """Negative control: the hash comparison above can fail. Checkpoints that leave the
    momentum buffers out resume with zero velocity and end elsewhere."""
    import rescore.train.loop as loop

    settings = settings_for()
    expected = baseline_hash(settings, tmp_path_factory)

    class WithoutOptimizer(loop.Checkpoints):
        def __init__(self, directory, keep, **trackables):
            trackables.pop("optimizer")
            super().__init__(directory, keep, **trackables)

    monkeypatch.setattr(loop, "Checkpoints", WithoutOptimizer)
    train(settings, tmp_path, stop_at=STOP_AT, monkeypatch=monkeypatch)
    out = train(settings, tmp_path)
    assert out["steps"] == MAX_STEPS
    assert out["weights_sha256"] != expected


# An error-based warm-up on the tiny run: the mean error of the last 20 batches falls below
# 0.86 some iterations after the window first fills (iteration 20), before iteration 40
# (at 29 in a fresh process with trainer.threads=1 on the reference machine; at 38 where TF
# already runs with its default threads — either way after the stop).
WARMUP_RUN = (40, 10, "trainer.deterministic=true", "optim.warmup.until_train_error=0.86")
WARMUP_STOP = 15  # the window holds 15 errors: not yet full


def old_style_checkpoints(monkeypatch):
    """Checkpoints as rescore wrote them before the warm-up window and the log window were
    saved (base commit 46a5696): model, optimizer and state only."""
    import rescore.train.loop as loop

    class WithoutAccumulators(loop.Checkpoints):
        def __init__(self, directory, keep, may_be_missing, **trackables):
            for name in may_be_missing:
                trackables.pop(name)
            super().__init__(directory, keep, **trackables)

    monkeypatch.setattr(loop, "Checkpoints", WithoutAccumulators)


@pytest.mark.slow
def test_stopped_during_an_error_based_warmup_resumes_bitwise(compose_config, tmp_path,
                                                              monkeypatch):
    """Issue 12: the window of recent training errors is checkpointed, so the warm-up ends
    where the uninterrupted run's does, and the weights are the same."""
    from rescore.config import to_settings

    settings = to_settings(compose_config(tiny(*WARMUP_RUN)))
    straight = train(settings, tmp_path / "straight")
    assert WARMUP_STOP < straight["warmup_end"] < 40  # ended by the error test, after the stop

    train(settings, tmp_path / "stopped", stop_at=WARMUP_STOP, monkeypatch=monkeypatch)
    assert checkpoint_steps(tmp_path / "stopped") == [10, WARMUP_STOP]
    resumed = train(settings, tmp_path / "stopped")
    assert resumed["warmup_end"] == straight["warmup_end"]
    assert resumed["weights_sha256"] == straight["weights_sha256"]


@pytest.mark.slow
def test_a_checkpoint_without_the_warmup_window_resumes_with_an_empty_one(
        compose_config, tmp_path, monkeypatch, caplog):
    """A checkpoint written before the window was saved (a run started with an older
    rescore) still resumes, says so, and warms up as that version did: with an empty window.
    Stopped at the last warm-up iteration, that window needs 20 new batches, so the warm-up
    ends at least 20 iterations after the stop, later than uninterrupted (the bug the
    window in the checkpoint fixes; the negative control of the test above)."""
    from rescore.config import to_settings

    settings = to_settings(compose_config(tiny(*WARMUP_RUN)))
    straight = train(settings, tmp_path / "straight")
    stop = straight["warmup_end"] - 1
    with monkeypatch.context() as m:
        old_style_checkpoints(m)
        train(settings, tmp_path / "old", stop_at=stop, monkeypatch=monkeypatch)
    with caplog.at_level(logging.INFO):
        resumed = train(settings, tmp_path / "old")
    prefix = tmp_path / "old" / "checkpoints" / f"ckpt-{stop}"
    assert (f"checkpoint {prefix} holds no warm-up error window (written by an older "
            f"rescore): it starts empty") in caplog.text
    assert "holds no running sums of the next training record" in caplog.text
    assert resumed["steps"] == 40
    assert resumed["warmup_end"] >= stop + 20 > straight["warmup_end"]


@pytest.mark.slow
def test_a_checkpoint_from_before_the_accumulators_resumes_the_default_run_bitwise(
        settings_for, tmp_path, monkeypatch, tmp_path_factory):
    """Without a warm-up, an older checkpoint gives the same weights as ever."""
    settings = settings_for()
    with monkeypatch.context() as m:
        old_style_checkpoints(m)
        train(settings, tmp_path, stop_at=STOP_AT, monkeypatch=monkeypatch)
    assert train(settings, tmp_path)["weights_sha256"] == baseline_hash(settings,
                                                                         tmp_path_factory)


@pytest.mark.slow
def test_finished_run_is_reported_not_retrained(settings_for, tmp_path):
    settings = settings_for()
    first = train(settings, tmp_path)
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    lines = (tmp_path / "metrics.jsonl").read_text()
    segments = (tmp_path / "segments.jsonl").read_text()

    again = train(settings, tmp_path)
    assert again["already_finished"] is True
    assert again["weights_sha256"] == first["weights_sha256"]
    assert again["test_error"] == first["test_error"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == files
    assert (tmp_path / "metrics.jsonl").read_text() == lines  # nothing trained
    assert (tmp_path / "segments.jsonl").read_text() == segments  # nor started

    # A result cut short (killed while writing it) is recomputed from the final
    # checkpoint: nothing is trained again and the weights are the same.
    (tmp_path / "result.json").write_text('{"test_error": 0.')
    recomputed = train(settings, tmp_path)
    assert "already_finished" not in recomputed
    assert recomputed["weights_sha256"] == first["weights_sha256"]
    assert (tmp_path / "metrics.jsonl").read_text().count('"train"') == lines.count('"train"')
    assert result(tmp_path)["test_error"] == first["test_error"]
    # that start computed the result: a segment from the last iteration
    assert [json.loads(line)["start_iteration"] for line in
            (tmp_path / "segments.jsonl").read_text().splitlines()] == [0, MAX_STEPS]
    assert recomputed["segments"]["count"] == 2


def test_resume_never_refuses_a_folder_with_checkpoints(settings_for, tmp_path,
                                                        monkeypatch, tmp_path_factory):
    from rescore.errors import CheckpointError

    stopped_run(settings_for(), tmp_path, monkeypatch, tmp_path_factory)
    with pytest.raises(CheckpointError, match="trainer.resume=never"):
        train(settings_for("trainer.resume=never"), tmp_path)


# ------------------------------------------------------------- damaged checkpoints


def _truncate_data(folder, step):
    path = folder / f"ckpt-{step}.data-00000-of-00001"
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    return path


def _remove_index(folder, step):
    path = folder / f"ckpt-{step}.index"
    path.unlink()
    return path


def _garbage_state(folder, step):
    path = folder / "checkpoint"
    path.write_bytes(b"\x00garbage {{ not a CheckpointState")
    return path


def _empty_state(folder, step):
    """What a crash right after TF's unsynced write-then-rename can leave: it parses, and
    names no checkpoint, which CheckpointManager itself refuses."""
    path = folder / "checkpoint"
    path.write_bytes(b"")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("damage, resumes_at", [(_truncate_data, 4), (_remove_index, 4),
                                                (_garbage_state, STOP_AT),
                                                (_empty_state, STOP_AT)])
def test_damaged_newest_checkpoint_falls_back_with_a_warning(settings_for, tmp_path,
                                                              monkeypatch, caplog, damage,
                                                              resumes_at,
                                                              tmp_path_factory):
    """Truncated data or a missing index: the older checkpoint, with a warning naming
    the bad file; a garbage state file: the checkpoints are found by listing the folder.
    Never iteration 0, and the run still ends bitwise where the uninterrupted one does."""
    settings = settings_for()
    expected = baseline_hash(settings, tmp_path_factory)
    stopped_run(settings, tmp_path, monkeypatch, tmp_path_factory)
    bad = damage(tmp_path / "checkpoints", STOP_AT)

    with caplog.at_level(logging.INFO):
        out = train(settings, tmp_path)
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert str(bad) in warnings
    assert f"(iteration {resumes_at})" in caplog.text
    assert train_steps(tmp_path) == list(range(1, MAX_STEPS + 1))  # each recorded once
    if resumes_at < STOP_AT:  # the records of the iterations that ran again were replaced
        assert (f"dropped {STOP_AT - resumes_at} records written after iteration "
                f"{resumes_at}") in caplog.text
    assert out["weights_sha256"] == expected
    if damage is _empty_state:
        assert (tmp_path / "checkpoints" / "corrupt" / "checkpoint").read_bytes() == b""
    elif damage is not _garbage_state:  # the bad one is kept aside, not reused
        assert (tmp_path / "checkpoints" / "corrupt" / f"ckpt-{STOP_AT}.data-00000-of-00001"
                ).exists()


@pytest.mark.slow
def test_a_checkpoint_set_aside_earlier_is_kept_beside_the_new_one(settings_for, tmp_path,
                                                                    monkeypatch,
                                                                    tmp_path_factory):
    """corrupt/ already holds a ckpt-STOP_AT (an earlier crash at the same iteration): the
    new bad one goes to ckpt-STOP_AT.1, its files under one prefix, and the old stays."""
    settings = settings_for()
    stopped_run(settings, tmp_path, monkeypatch, tmp_path_factory)
    corrupt = tmp_path / "checkpoints" / "corrupt"
    corrupt.mkdir()
    earlier = corrupt / f"ckpt-{STOP_AT}.index"
    earlier.write_bytes(b"set aside by an earlier run")
    _truncate_data(tmp_path / "checkpoints", STOP_AT)
    train(settings, tmp_path)
    assert earlier.read_bytes() == b"set aside by an earlier run"
    assert sorted(p.name for p in corrupt.glob(f"ckpt-{STOP_AT}.1.*")) == [
        f"ckpt-{STOP_AT}.1.data-00000-of-00001", f"ckpt-{STOP_AT}.1.index"]


def test_free_name_never_takes_a_name_in_use(tmp_path):
    from rescore.paths import free_name, prefix_taken

    assert free_name(tmp_path / "a") == tmp_path / "a"
    (tmp_path / "a").touch()
    (tmp_path / "a.1").touch()
    assert free_name(tmp_path / "a") == tmp_path / "a.2"
    (tmp_path / "ckpt-7.index").touch()  # a prefix is taken by any file of it
    assert free_name(tmp_path / "ckpt-7", taken=prefix_taken) == tmp_path / "ckpt-7.1"
    (tmp_path / "ckpt-70.index").touch()  # another checkpoint's files take nothing of it
    assert not prefix_taken(tmp_path / "ckpt-8") and prefix_taken(tmp_path / "ckpt-70")


def test_no_usable_checkpoint_is_an_error_not_a_fresh_start(settings_for, tmp_path,
                                                            monkeypatch, tmp_path_factory):
    from rescore.errors import CheckpointError

    settings = settings_for()
    stopped_run(settings, tmp_path, monkeypatch, tmp_path_factory)  # ckpt-4, ckpt-7
    for step in (4, STOP_AT):
        _truncate_data(tmp_path / "checkpoints", step)
    with pytest.raises(CheckpointError, match="refusing to start over from iteration 0") as err:
        train(settings, tmp_path)
    assert "ckpt-4" in str(err.value) and f"ckpt-{STOP_AT}" in str(err.value)
    assert train_steps(tmp_path) == list(range(1, STOP_AT + 1))  # nothing ran


# ------------------------------------------------------------- checkpoint contents


class _Tiny:
    """A model/optimizer pair small enough to checkpoint in milliseconds."""

    def __init__(self, value: float = 0.0):
        import tensorflow as tf

        self.model = tf.Module()
        self.model.w = tf.Variable(tf.fill([3], value))
        self.optimizer = tf.Module()
        self.optimizer.v = tf.Variable(tf.fill([3], value))


def test_checkpoint_without_optimizer_state_is_refused(tmp_path):
    """Restore checks that every variable found a value: a checkpoint missing the
    momentum buffers is not half-restored."""
    from rescore.errors import CheckpointError
    from rescore.train.checkpoint import Checkpoints

    saved = _Tiny(1.0)
    Checkpoints(tmp_path, 3, model=saved.model).save(10)
    fresh = _Tiny(0.0)
    with pytest.raises(CheckpointError, match="ckpt-10"):
        Checkpoints(tmp_path, 3, model=fresh.model, optimizer=fresh.optimizer).restore_latest()


def test_save_refuses_non_finite_weights(tmp_path):
    from rescore.errors import DivergedError
    from rescore.train.checkpoint import Checkpoints

    tiny_ = _Tiny(1.0)
    checkpoints = Checkpoints(tmp_path, 3, model=tiny_.model, optimizer=tiny_.optimizer)
    first = checkpoints.save(1)
    tiny_.model.w.assign([1.0, np.inf, 2.0])
    with pytest.raises(DivergedError, match=f"Last good checkpoint: {first}"):
        checkpoints.save(2)
    assert [p.name for p in tmp_path.glob("ckpt-*.index")] == ["ckpt-1.index"]


def test_checkpoints_keep_the_last_k(tmp_path):
    from rescore.train.checkpoint import Checkpoints

    tiny_ = _Tiny(1.0)
    checkpoints = Checkpoints(tmp_path, 2, model=tiny_.model)
    for step in (5, 10, 15, 20):
        checkpoints.save(step)
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.index")) == ["ckpt-15.index",
                                                                      "ckpt-20.index"]


# ------------------------------------------------------------- the run-folder lock


def _write_lock(folder, **holder):
    import json

    (folder / "run.lock").write_text(json.dumps(holder))


def test_lock_refuses_a_second_user_and_is_released(tmp_path):
    from rescore.errors import RunLockedError
    from rescore.train.rundir import RunLock

    with RunLock(tmp_path):
        with pytest.raises(RunLockedError, match=f"in use by pid {os.getpid()} "):
            with RunLock(tmp_path):
                pass
        assert (tmp_path / "run.lock").exists()
    assert not (tmp_path / "run.lock").exists()
    with RunLock(tmp_path):  # free again
        pass


def test_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    import subprocess
    import sys

    from rescore.train.rundir import RunLock, this_process

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    _write_lock(tmp_path, **{**this_process(), "pid": int(gone)})
    with caplog.at_level(logging.WARNING), RunLock(tmp_path):
        pass
    assert f"stale lock {tmp_path / 'run.lock'} of pid {gone}" in caplog.text


@pytest.mark.parametrize("change, stale", [
    ({"start_ticks": -1}, True),         # our pid, but reused by a younger process
    ({"boot_id": "rebooted"}, True),     # written before the machine rebooted
    ({"host": "elsewhere"}, False),      # cannot be judged from here: refuse
    ({}, False),                         # this very process: alive
])
def test_lock_staleness(tmp_path, change, stale):
    from rescore.train.rundir import is_stale, this_process

    assert is_stale({**this_process(), **change}) is stale


@pytest.mark.parametrize("holder_job, holder_restart, stale", [
    ("4242", 0, True),    # the incarnation SLURM killed before requeueing this one
    ("4242", 1, False),   # this very incarnation (on another node): never judged
    ("9999", 0, False),   # another job entirely: refuse
])
def test_a_requeued_slurm_job_takes_over_its_earlier_incarnations_lock(
        monkeypatch, holder_job, holder_restart, stale):
    """The holder ran on another node, so only the SLURM job id and restart count can tell."""
    from rescore.train.rundir import is_stale, this_process

    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert this_process()["slurm_restart_count"] == 1
    holder = {**this_process(), "host": "node42", "slurm_job_id": holder_job,
              "slurm_restart_count": holder_restart}
    assert is_stale(holder) is stale


def test_lock_from_another_host_says_how_to_clear_it(tmp_path):
    from rescore.errors import RunLockedError
    from rescore.train.rundir import RunLock, this_process

    _write_lock(tmp_path, **{**this_process(), "host": "node42"})
    with pytest.raises(RunLockedError, match=r"on another host \(node42\).*delete"):
        with RunLock(tmp_path):
            pass


def test_garbage_lock_file_is_stale(tmp_path):
    from rescore.train.rundir import RunLock

    (tmp_path / "run.lock").write_text("{not json")
    with RunLock(tmp_path):
        pass


@pytest.mark.slow
def test_cli_refuses_a_run_folder_in_use(tmp_path):
    """A second process on a run in progress exits 4 with a message, trains nothing."""
    from _faults import run_cli

    from rescore.train.rundir import this_process

    args = tiny(MAX_STEPS, EVERY, f"out_root={tmp_path / 'out'}",
                f"hydra.run.dir={tmp_path / 'run'}")
    (tmp_path / "run").mkdir()
    _write_lock(tmp_path / "run", **this_process())  # held by this live test process
    proc = run_cli(args, cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"is in use by pid {os.getpid()}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_resumed_metrics_drop_records_past_the_checkpoint_and_torn_lines(tmp_path):
    from rescore.train.logging import MetricsLog, read_metrics

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 4, "split": "train"}\n{"step": 5, "split": "test"}\n'
                    '{"step": 6, "split": "train"}\n{"step": 7, "spl')  # killed mid-line
    log = MetricsLog(tmp_path, resume_step=5)
    assert log.dropped == 2
    log.write(6, "train", loss=1.5)
    log.close()
    assert [(r["step"], r["split"]) for r in read_metrics(path)] == [
        (4, "train"), (5, "test"), (6, "train")]
    assert read_metrics(path)[-1]["loss"] == 1.5
