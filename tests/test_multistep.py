"""steps_per_call: k iterations in one compiled call must be k ordinary iterations.

Compared bitwise (weights_sha256), not to a tolerance: on CPU with op determinism both
paths run the same ops on the same inputs in the same order, so any difference at all
means a batch, a seed, a rate or an update went somewhere else.
"""

import numpy as np
import pytest
import tensorflow as tf

from _faults import TINY_WARMUP_RUN, run_composed
from rescore.config import OptimConfig
from rescore.data.pipeline import BatchOrder, normalization
from rescore.models import build_model
from rescore.train.multistep import chunk_end, iterate_steps, make_multi_step
from rescore.train.optimizer import SGDMomentum
from rescore.train.schedule import lr_at
from rescore.train.step import StepInputs, make_train_step
from rescore.train.weights import weights_sha256

BATCH = 8
MILESTONES = (3,)  # the rate drops inside the first chunk below


pytestmark = pytest.mark.usefixtures("deterministic_ops")


def lr_for(step):
    return lr_at(step, 0.1, MILESTONES, gamma=0.1)


def fresh(x, lr_scale=1.0):
    """A seeded resnet8 with its optimizer and both step functions."""
    tf.keras.utils.set_random_seed(3)
    model = build_model("resnet8")
    optimizer = SGDMomentum(model.trainable_variables, OptimConfig(momentum=0.9))
    mean, std = normalization(x)
    step = make_train_step(model, optimizer, OptimConfig(wd=1e-4),
                           StepInputs(mean, std, seed=5, augment=True))
    return model, step, make_multi_step(step)


def run_steps(data, steps_per_call, stop=6, boundaries=()):
    x, y = data
    model, step, multi = fresh(x)
    order = BatchOrder(len(x), BATCH, seed=5)
    seen = list(iterate_steps(
        train_step=step, multi_step=multi if steps_per_call > 1 else None, x_train=x,
        y_train=y, order=order, lr_for=lr_for, start=0, stop=stop,
        chunk_length=lambda s: chunk_end(s, steps_per_call, stop, boundaries) - s))
    return model, seen


@pytest.mark.slow
def test_k_iterations_per_call_give_bitwise_the_weights_of_k_single_calls(data):
    single, seen_single = run_steps(data, 1)
    multi, seen_multi = run_steps(data, 4)  # chunks 0-3 and 4-5: a short last call too
    assert weights_sha256(multi) == weights_sha256(single)
    assert [s for s, _, _ in seen_multi] == list(range(6))
    for (_, _, a), (_, _, b) in zip(seen_single, seen_multi):
        assert a["loss"] == b["loss"] and a["errors"] == b["errors"] and b["finite"]


@pytest.mark.slow
def test_rate_vector_is_applied_per_iteration_across_a_milestone(data):
    """Iterations 0-2 at 0.1, 3 at 0.01, in one call: the update of iteration 3 must be
    the one a single call at 0.01 makes (and not 0.1's)."""
    x, y = data
    order = BatchOrder(len(x), BATCH, seed=5)
    idx = np.stack([order.indices(s) for s in range(4)])
    lrs = [lr_for(s) for s in range(4)]
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.01])

    model, step, multi = fresh(x)
    multi(x[idx], y[idx], tf.constant(range(4), tf.int64), tf.constant(lrs, tf.float32))

    reference, ref_step, _ = fresh(x)
    for s in range(4):
        ref_step(x[idx[s]], y[idx[s]], tf.constant(s, tf.int64),
                 tf.constant(lrs[s], tf.float32))
    assert weights_sha256(model) == weights_sha256(reference)

    wrong, wrong_step, _ = fresh(x)  # the same but iteration 3 at 0.1: must differ
    for s in range(4):
        wrong_step(x[idx[s]], y[idx[s]], tf.constant(s, tf.int64), tf.constant(0.1))
    assert weights_sha256(model) != weights_sha256(wrong)


@pytest.mark.slow
def test_call_stops_at_the_first_non_finite_iteration_and_applies_nothing_from_it(data):
    x, y = data
    order = BatchOrder(len(x), BATCH, seed=5)
    idx = np.stack([order.indices(s) for s in range(4)])
    lrs = tf.constant([0.1, float("inf"), 0.1, 0.1], tf.float32)  # iteration 1 blows up

    model, step, multi = fresh(x)
    out = multi(x[idx], y[idx], tf.constant(range(4), tf.int64), lrs)
    # iteration 1's own loss and grads are finite (inf lr only poisons the weights after
    # it is applied); iteration 2 then sees non-finite weights and is refused.
    assert int(out["ran"]) == 3
    assert list(out["finite"].numpy()) == [True, True, False, False]

    # the same as a single-call loop stopping at iteration 2
    reference, ref_step, _ = fresh(x)
    for s in range(3):
        ref_step(x[idx[s]], y[idx[s]], tf.constant(s, tf.int64), lrs[s])
    for a, b in zip(model.variables, reference.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.slow
def test_iterate_steps_yields_nothing_after_a_non_finite_iteration(data):
    x, y = data
    model, step, multi = fresh(x)
    bad = lambda s: float("inf") if s == 1 else 0.1  # noqa: E731
    seen = list(iterate_steps(train_step=step, multi_step=multi, x_train=x, y_train=y,
                              order=BatchOrder(len(x), BATCH, seed=5), lr_for=bad, start=0,
                              stop=8, chunk_length=lambda s: 4))
    assert [s for s, _, _ in seen] == [0, 1, 2]
    assert [o["finite"] for _, _, o in seen] == [True, True, False]


@pytest.mark.parametrize("step, k, stop, boundaries, end", [
    (0, 4, 100, (), 4), (0, 4, 3, (), 3), (0, 8, 100, (5,), 5), (5, 8, 100, (5, 100), 10),
    (6, 4, 100, (8, 10), 8), (8, 4, 100, (8, 10), 10), (0, 1, 100, (2,), 1)])
def test_chunks_end_at_eval_and_checkpoint_boundaries(step, k, stop, boundaries, end):
    assert chunk_end(step, k, stop, boundaries) == end


def train_run(compose_config, tmp_path, name, *overrides):
    return run_composed(compose_config, tmp_path / name,
                        [*TINY_WARMUP_RUN, "optim.max_steps=10", "optim.warmup.max_steps=4",
                         *overrides])


@pytest.mark.slow
def test_whole_run_with_steps_per_call_matches_one_per_call(compose_config, tmp_path):
    """Through run(): an error-based warm-up, a milestone, eval and checkpoint cadences
    that are no multiple of k: the same weights and the same logged metrics."""
    one = train_run(compose_config, tmp_path, "one")
    three = train_run(compose_config, tmp_path, "three", "trainer.steps_per_call=3")
    assert three["weights_sha256"] == one["weights_sha256"]
    assert three["warmup_end"] == one["warmup_end"]
    assert three["steps"] == one["steps"] == 10
    from rescore.train.logging import read_metrics

    def drop_speed(rows):
        return [{k: v for k, v in r.items() if k != "images_per_sec"} for r in rows]

    assert (drop_speed(read_metrics(tmp_path / "three" / "metrics.jsonl"))
            == drop_speed(read_metrics(tmp_path / "one" / "metrics.jsonl")))


@pytest.mark.slow
def test_multistep_run_stopped_and_resumed_equals_the_single_step_run(compose_config, tmp_path,
                                                                      monkeypatch):
    """k=3 with checkpoints every 4: chunks 0-2, 3, 4-6, 7, 8-10, 11. SIGTERM after
    iteration 7 (a chunk end, between checkpoints), resume: bitwise the k=1 run."""
    from _faults import tiny

    from rescore.config import to_settings
    from rescore.errors import Preempted
    from rescore.train.loop import run

    def settings(*extra):
        return to_settings(compose_config(tiny(12, 4, "trainer.deterministic=true", *extra)))

    straight = run(settings(), tmp_path / "one")["weights_sha256"]
    monkeypatch.setenv("RESCORE_TESTING_SIGNAL_AT", "7")
    with pytest.raises(Preempted, match="stopped after iteration 7 "):
        run(settings("trainer.steps_per_call=3"), tmp_path / "three")
    monkeypatch.delenv("RESCORE_TESTING_SIGNAL_AT")
    resumed = run(settings("trainer.steps_per_call=3"), tmp_path / "three")
    assert resumed["steps"] == 12 and resumed["weights_sha256"] == straight
