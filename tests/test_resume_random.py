"""A run stopped again and again, at iterations drawn from a seed, ends as one uninterrupted
run: the weights, metrics.jsonl, TensorBoard's scalars and result.json, timings aside
(issue 18 §2). The stops fall inside an error-based warm-up and between log points; some
are SIGTERM (a checkpoint where it stops), some kill -9 (back to the last periodic
checkpoint, redoing the iterations since).

Everything runs in this process (no TensorFlow start-up per segment). A kill -9 is
simulated: an exception at the iteration it would strike, with no checkpoint and no
handler. What it leaves on disk is what a real one leaves, since every record reaches
the disk when it is written (the real kill -9 is test_observers.py's TensorBoard test).
"""

import random

import pytest

from _faults import (checkpoint_steps, result, tensorboard_scalars, tiny, train_in_process,
                     train_records, without_timing)

SEED = 18
MAX_STEPS, CHECKPOINT_EVERY, LOG_EVERY, EVAL_EVERY = 40, 10, 3, 20
RUN = tiny(MAX_STEPS, CHECKPOINT_EVERY, "trainer.deterministic=true",
           f"trainer.log_every={LOG_EVERY}", f"trainer.eval_every={EVAL_EVERY}",
           "optim.warmup.until_train_error=0.86")  # ends by error between 20 and 40


class Killed(BaseException):
    """kill -9 in this process: nothing after it runs but the unwinding."""


def kill_after(monkeypatch, iteration: int) -> None:
    """The run dies after `iteration` (after its periodic checkpoint, if any, as a real
    kill arriving then would)."""
    from rescore.train import signals

    keep = signals.StopRequest.should_stop

    def should_stop(self, done):
        if done == iteration:
            raise Killed(iteration)
        return keep(self, done)

    monkeypatch.setattr(signals.StopRequest, "should_stop", should_stop)


def between_log_points(low: int, high: int):
    return [i for i in range(low, high) if i % LOG_EVERY and i % CHECKPOINT_EVERY]


def draw_stops(rng: random.Random):
    """SIGTERM inside the warm-up's first window, then kill -9 between two later
    checkpoints, then one more of either kind; all between log points."""
    first = rng.choice(between_log_points(2, 20))
    second = rng.choice(between_log_points(first + 1, 30))
    third = rng.choice(between_log_points(second + 1, MAX_STEPS))
    return [("SIGTERM", first), ("kill", second), (rng.choice(["SIGTERM", "kill"]), third)]


def scalars_by_step(run_dir):
    """TensorBoard's scalars without timing tags, each tag's points in step order."""
    return {tag: sorted(points) for tag, points in
            without_timing(tensorboard_scalars(run_dir)).items()}


@pytest.mark.slow
def test_a_run_stopped_at_random_iterations_ends_as_the_uninterrupted_run(
        compose_config, tmp_path, monkeypatch):
    from rescore.config import to_settings
    from rescore.train.provenance import read_segments

    settings = to_settings(compose_config(RUN))
    stops = draw_stops(random.Random(SEED))
    straight = train_in_process(settings, tmp_path / "straight")
    first_stop = stops[0][1]
    assert first_stop < 20 <= straight["warmup_end"] < MAX_STEPS, (stops, straight)

    run_dir = tmp_path / "stopped"
    resumed_at = []  # where each resume starts: the newest checkpoint the stop left
    for kind, at in stops:
        if kind == "SIGTERM":
            train_in_process(settings, run_dir, stop_at=at, monkeypatch=monkeypatch)
            assert checkpoint_steps(run_dir)[-1] == at
        else:
            with monkeypatch.context() as m:
                kill_after(m, at)
                with pytest.raises(Killed):
                    train_in_process(settings, run_dir)
            assert checkpoint_steps(run_dir)[-1] < at  # the work since is lost
        resumed_at.append(checkpoint_steps(run_dir)[-1])
    resumed = train_in_process(settings, run_dir)

    assert resumed["weights_sha256"] == straight["weights_sha256"], stops
    assert without_timing(result(run_dir)) == without_timing(result(tmp_path / "straight"))
    for split in ("train", "test"):
        assert ([without_timing(r) for r in train_records(run_dir, split)]
                == [without_timing(r) for r in train_records(tmp_path / "straight", split)])
    assert scalars_by_step(run_dir) == scalars_by_step(tmp_path / "straight"), stops
    # segments.jsonl, unlike metrics.jsonl, keeps every start, the killed ones' too
    assert [s["start_iteration"] for s in read_segments(run_dir)] == [0, *resumed_at], stops
    assert result(run_dir)["segments"]["count"] == 1 + len(stops)
