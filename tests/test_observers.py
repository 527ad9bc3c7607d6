"""What a resumed run writes besides its weights equals what the uninterrupted run writes
(issue 18 §2): the records of metrics.jsonl, TensorBoard's scalars, and the progress lines
a run prints where no terminal shows a bar (issue 12)."""

import logging
import re

import pytest

from _faults import (checkpoint_steps, only_run_dir, run_cli, tensorboard_scalars, tiny,
                     train_in_process, train_records, without_timing)


@pytest.fixture
def settings_for(compose_config):
    from rescore.config import to_settings

    def make(max_steps, checkpoint_every, *extra):
        return to_settings(compose_config(tiny(max_steps, checkpoint_every,
                                               "trainer.deterministic=true", *extra)))

    return make


@pytest.mark.slow
def test_a_record_after_a_stop_between_log_points_equals_the_uninterrupted_one(
        settings_for, tmp_path, monkeypatch):
    """log_every=5, stopped after iteration 7: the record at 10 averages iterations 6-10
    (the sums of 6 and 7 come from the checkpoint), as without the stop. Loss and error
    are equal to the last bit; images_per_sec is a timing and may differ."""
    settings = settings_for(12, 4, "trainer.log_every=5")
    train_in_process(settings, tmp_path / "straight")
    train_in_process(settings, tmp_path / "stopped", stop_at=7, monkeypatch=monkeypatch)
    assert checkpoint_steps(tmp_path / "stopped") == [4, 7]
    train_in_process(settings, tmp_path / "stopped")

    straight = train_records(tmp_path / "straight")
    resumed = train_records(tmp_path / "stopped")
    assert [r["step"] for r in resumed] == [5, 10, 12]
    assert [without_timing(r) for r in resumed] == [without_timing(r) for r in straight]
    assert all(r["images_per_sec"] > 0 for r in resumed)


@pytest.mark.slow
def test_tensorboard_after_kill_9_sees_each_logged_step_once(tmp_path):
    """kill -9 after iteration 35 of a run that checkpoints every 20 and logs every 10,
    then the same command again: TensorBoard's EventAccumulator sees train/loss at 10, 20,
    30, 40 (not 10, 20, 30, 30, 40), with the values metrics.jsonl holds."""
    args = tiny(40, 20, "trainer.log_every=10", f"out_root={tmp_path / 'out'}")
    killed = run_cli(args, cwd=tmp_path, RESCORE_TESTING_SIGNAL_AT="35:SIGKILL")
    assert killed.returncode == -9, killed.stdout[-3000:] + killed.stderr[-3000:]
    run_dir = only_run_dir(tmp_path / "out")
    assert checkpoint_steps(run_dir) == [20]
    assert [s for s, _ in tensorboard_scalars(run_dir)["train/loss"]] == [10, 20, 30]

    resumed = run_cli(args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "tensorboard: dropped 4 events written after iteration 20" in resumed.stdout
    scalars = tensorboard_scalars(run_dir)
    assert [s for s, _ in scalars["train/loss"]] == [10, 20, 30, 40]
    assert scalars["train/loss"] == [(r["step"], pytest.approx(r["loss"], rel=1e-6))
                                     for r in train_records(run_dir)]
    assert [s for s, _ in scalars["test/error"]] == [40]


def test_event_files_keep_events_up_to_the_checkpoint_and_drop_a_torn_one(tmp_path):
    import tensorflow as tf

    from rescore.train.logging import MetricsLog

    first = MetricsLog(tmp_path)
    for step in (1, 2, 3, 4):
        first.write(step, "train", loss=float(step))
    first.close()
    (events,) = (tmp_path / "tensorboard").iterdir()
    with open(events, "r+b") as f:  # cut the last record short, as a kill can
        f.truncate(events.stat().st_size - 5)

    resumed = MetricsLog(tmp_path, resume_step=2)
    assert resumed.dropped_events == 2  # step 3, and step 4's torn record
    resumed.write(3, "train", loss=30.0)
    resumed.close()
    assert tensorboard_scalars(tmp_path) == {"train/loss": [(1, 1.0), (2, 2.0), (3, 30.0)]}
    assert list(tf.data.TFRecordDataset(str(events)))  # the rewritten file reads whole


class _Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("stdout_tty, stderr_tty, progress, bar, lines", [
    (False, False, None, False, True),   # nohup, SLURM: lines
    (False, True, None, True, True),     # `> log` from a terminal: the bar, and lines in log
    (True, True, None, True, False),     # a terminal: the bar only
    (True, True, False, False, True),    # trainer.progress=false: lines instead of the bar
])
def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere(monkeypatch, stdout_tty,
                                                             stderr_tty, progress, bar, lines):
    from rescore.train.logging import Progress

    monkeypatch.setattr("sys.stdout", _Stream(stdout_tty))
    monkeypatch.setattr("sys.stderr", _Stream(stderr_tty))
    shown = Progress(0, 100, progress)
    assert (shown.bar_shown, shown.lines) == (bar, lines)
    shown.close()


@pytest.mark.slow
def test_off_a_terminal_a_run_prints_a_line_per_log_point(settings_for, tmp_path, caplog):
    """Under pytest stdout is no terminal: iteration/max, loss, error, lr, images/s, ETA at
    iterations 5, 10 and the last, with the values of the training records."""
    with caplog.at_level(logging.INFO, logger="rescore.train.logging"):
        train_in_process(settings_for(12, 4, "trainer.log_every=5"), tmp_path)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("iteration")]
    expected = [rf"iteration {r['step']}/12  loss {r['loss']:.4f}  error "
                rf"{100 * r['error']:.2f}%  lr {r['lr']:.4g}  \d+ img/s  ETA \d+:\d\d:\d\d"
                for r in train_records(tmp_path)]
    assert len(lines) == len(expected) == 3
    for line, pattern in zip(lines, expected):
        assert re.fullmatch(pattern, line), (line, pattern)
