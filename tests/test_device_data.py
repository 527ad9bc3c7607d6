"""trainer.data_on_device: the training split on the device, each call fed batch indices.

The gather picks the same uint8 rows the host's `x_train[idx]` does, so every comparison
here is bitwise (weights_sha256, logged metrics), not to a tolerance: on CPU with op
determinism the two paths run the same step on the same batch, and any difference means a
batch, a seed or a rate went somewhere else.
"""

import numpy as np
import pytest
import tensorflow as tf

from _faults import TINY_WARMUP_RUN, run_composed
from rescore.config import OptimConfig
from rescore.data.pipeline import BatchOrder, normalization
from rescore.models import build_model
from rescore.train.device_data import DeviceSteps, make_device_steps, upload
from rescore.train.multistep import chunk_end, iterate_steps, make_multi_step
from rescore.train.optimizer import SGDMomentum
from rescore.train.schedule import lr_at
from rescore.train.step import StepInputs, make_train_step
from rescore.train.weights import weights_sha256

BATCH, STOP, BOUNDARIES = 8, 10, (5,)  # chunks of 4 cut at 5: 0-3, 4, 5-8, 9


pytestmark = pytest.mark.usefixtures("deterministic_ops")


def test_the_device_gather_is_the_hosts_rows_bitwise(data):
    """What a device step is handed: x_train[idx] and y_train[idx], same dtype, same bytes,
    for one batch ([B]) and a chunk ([k, B]); the call itself was sent int32 indices."""
    x, y = data

    def recording_step(images, labels, steps, lrs):
        return {"images": images, "labels": labels}

    steps = make_device_steps(recording_step, recording_step, *upload(x, y))
    order = BatchOrder(len(x), BATCH, seed=5)
    one = order.indices(9)  # epoch 1: a second permutation
    chunk = np.stack([order.indices(s) for s in range(6, 10)])
    for fn, idx in ((steps.single, one), (steps.multi, chunk)):
        out = fn(idx, tf.constant(0, tf.int64), tf.constant(0.1))
        assert out["images"].dtype == tf.uint8 and out["labels"].dtype == y.dtype
        np.testing.assert_array_equal(out["images"].numpy(), x[idx])
        np.testing.assert_array_equal(out["labels"].numpy(), y[idx])
        # the call's one trace took int32 indices (asking for that signature adds none)
        fn.compiled.get_concrete_function(tf.TensorSpec(idx.shape, tf.int32),
                                          tf.TensorSpec([], tf.int64),
                                          tf.TensorSpec([], tf.float32))
        assert fn.compiled.experimental_get_tracing_count() == 1


def fresh(x, y, on_device, images=None):
    """A seeded resnet8, its optimizer and its steps: host-fed, or fed indices into
    `images` (by default the training images themselves)."""
    tf.keras.utils.set_random_seed(3)
    model = build_model("resnet8")
    optimizer = SGDMomentum(model.trainable_variables, OptimConfig(momentum=0.9))
    mean, std = normalization(x)
    step = make_train_step(model, optimizer, OptimConfig(wd=1e-4),
                           StepInputs(mean, std, seed=5, augment=True))
    multi = make_multi_step(step)
    device = (make_device_steps(step, multi, *upload(x if images is None else images, y))
              if on_device else None)
    return model, step, multi, device


def run_steps(data, steps_per_call, on_device, images=None, record=None):
    x, y = data
    model, step, multi, device = fresh(x, y, on_device, images)
    if record is not None and device is not None:
        device = DeviceSteps(single=record("single", device.single),
                             multi=record("multi", device.multi))
    seen = list(iterate_steps(
        train_step=step, multi_step=multi if steps_per_call > 1 else None, x_train=x,
        y_train=y, order=BatchOrder(len(x), BATCH, seed=5),
        lr_for=lambda s: lr_at(s, 0.1, (3,), gamma=0.1), start=0, stop=STOP,
        chunk_length=lambda s: chunk_end(s, steps_per_call, STOP, BOUNDARIES) - s,
        device_steps=device))
    return weights_sha256(model), [(s, lr, o["loss"], o["errors"], o["l2"], o["finite"])
                                   for s, lr, o in seen]


@pytest.mark.slow
@pytest.mark.parametrize("steps_per_call", [1, 4])
def test_indices_on_device_train_bitwise_as_rows_from_the_host(data, steps_per_call):
    """10 iterations over an epoch boundary (8 batches an epoch) and a milestone (3);
    with k=4, chunks 0-3, 4 (cut at 5: a one-iteration call), 5-8 and 9."""
    host = run_steps(data, steps_per_call, on_device=False)
    device = run_steps(data, steps_per_call, on_device=True)
    assert device == host
    assert [s for s, *_ in device[1]] == list(range(STOP))


@pytest.mark.slow
def test_each_call_sends_only_indices_one_call_per_chunk(data):
    calls = []

    def record(name, fn):
        def wrapped(idx, steps, lrs):
            calls.append((name, np.asarray(idx).shape))
            return fn(idx, steps, lrs)
        return wrapped

    run_steps(data, 4, on_device=True, record=record)
    assert calls == [("multi", (4, BATCH)), ("single", (BATCH,)), ("multi", (4, BATCH)),
                     ("single", (BATCH,))]


@pytest.mark.slow
def test_gathering_from_other_rows_changes_the_weights(data):
    """Negative control: the comparison above can fail. The same indices into the images
    rolled by one row train on other batches and end elsewhere."""
    x, _ = data
    host, _ = run_steps(data, 4, on_device=False)
    rolled, _ = run_steps(data, 4, on_device=True, images=np.roll(x, 1, axis=0))
    assert rolled != host


# ------------------------------------------------------------- whole runs, run()

def train_run(compose_config, tmp_path, name, *overrides):
    """test_multistep's run: an error-based warm-up (one iteration per call until it ends),
    a milestone, eval every 5 and checkpoints every 4 (no multiple of k=4 after the
    warm-up)."""
    return run_composed(compose_config, tmp_path / name,
                        [*TINY_WARMUP_RUN, "optim.max_steps=14", "optim.warmup.max_steps=3",
                         *overrides])


def without_speed(run_dir):
    from rescore.train.logging import read_metrics

    return [{k: v for k, v in r.items() if k != "images_per_sec"}
            for r in read_metrics(run_dir / "metrics.jsonl")]


def checkpoint_contents(run_dir):
    """(name, shape) of every variable in the run's newest checkpoint."""
    return sorted((name, tuple(shape)) for name, shape in
                  tf.train.list_variables(tf.train.latest_checkpoint(run_dir / "checkpoints")))


@pytest.mark.slow
@pytest.mark.parametrize("steps_per_call", [1, 4])
def test_whole_run_with_data_on_device_is_the_host_fed_run(compose_config, tmp_path,
                                                           steps_per_call):
    k = f"trainer.steps_per_call={steps_per_call}"
    host = train_run(compose_config, tmp_path, "host", k)
    device = train_run(compose_config, tmp_path, "device", k, "trainer.data_on_device=true")
    assert device["weights_sha256"] == host["weights_sha256"]
    assert device["test_error"] == host["test_error"] and device["steps"] == 14
    assert device["warmup_end"] == host["warmup_end"]
    assert without_speed(tmp_path / "device") == without_speed(tmp_path / "host")
    # the uploaded split is no part of a checkpoint: the same variables as host-fed
    contents = checkpoint_contents(tmp_path / "device")
    assert contents == checkpoint_contents(tmp_path / "host")
    assert not [name for name, shape in contents if shape[:1] == (128,)]


@pytest.mark.slow
def test_data_on_device_stopped_and_resumed_equals_the_host_fed_run(compose_config, tmp_path,
                                                                    monkeypatch):
    """k=3 with checkpoints every 4: chunks 0-2, 3, 4-6, 7 …; SIGTERM after iteration 7,
    resume (the data uploaded again): bitwise the uninterrupted host-fed run."""
    from _faults import tiny

    from rescore.config import to_settings
    from rescore.errors import Preempted
    from rescore.train.loop import run

    def settings(*extra):
        return to_settings(compose_config(tiny(12, 4, "trainer.deterministic=true", *extra)))

    on = ("trainer.steps_per_call=3", "trainer.data_on_device=true")
    straight = run(settings(), tmp_path / "host")
    monkeypatch.setenv("RESCORE_TESTING_SIGNAL_AT", "7")
    with pytest.raises(Preempted, match="stopped after iteration 7 "):
        run(settings(*on), tmp_path / "device")
    monkeypatch.delenv("RESCORE_TESTING_SIGNAL_AT")
    resumed = run(settings(*on), tmp_path / "device")
    assert resumed["steps"] == 12 and resumed["weights_sha256"] == straight["weights_sha256"]
    assert without_speed(tmp_path / "device") == without_speed(tmp_path / "host")


@pytest.mark.slow
def test_build_run_leaves_the_device_copy_out_of_the_trackables(compose_config):
    from rescore.config import to_settings
    from rescore.train.build import build_run

    def built(*extra):
        return build_run(to_settings(compose_config(  # 96: no layer has that many channels
            ["model=resnet8", "data=synthetic", "data.synthetic_train=96",
             "data.batch_size=16", *extra])))

    host, device = built(), built("trainer.data_on_device=true")
    assert host.device_steps is None
    assert device.device_steps.multi is None  # steps_per_call=1: one-iteration calls
    assert device.trackables().keys() == host.trackables().keys()
    shapes = [tuple(v.shape) for m in device.trackables().values() for v in m.variables]
    assert shapes and (96, 32, 32, 3) not in shapes and (96,) not in shapes
    assert built("trainer.data_on_device=true",
                 "trainer.steps_per_call=2").device_steps.multi is not None


def test_data_on_device_with_the_mirrored_strategy_is_refused_at_startup(compose_config):
    from rescore.config import to_settings
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.data_on_device=true works on one device "
                                          "only") as refused:
        to_settings(compose_config(["trainer.data_on_device=true",
                                    "trainer.strategy=mirrored"]))
    assert refused.value.exit_code == 2
    assert "trainer.strategy=default" in str(refused.value)


def test_data_on_device_does_not_move_the_run_folder(compose_config):
    """Bitwise the same run, so the same digest: a run may resume with the switch flipped."""
    from dataclasses import asdict

    from rescore.config import config_digest, to_settings

    def digest(*overrides):
        return config_digest(asdict(to_settings(compose_config(list(overrides)))))

    assert digest("trainer.data_on_device=true") == digest() == "44136fa355"


def test_the_gpu_preset_sets_both_keys_and_keeps_the_run_folder(compose_config):
    """trainer=gpu (issue 17): data on the device, 50 iterations per call; neither moves the
    run folder, so a run may resume under the other trainer option."""
    from dataclasses import asdict

    from rescore.config import config_digest, to_settings

    settings = to_settings(compose_config(["trainer=gpu"]))
    assert (settings.trainer.data_on_device, settings.trainer.steps_per_call) == (True, 50)
    assert (settings.trainer.jit_compile, settings.trainer.precision) == (False, "float32")
    assert config_digest(asdict(settings)) == "44136fa355"  # the default run's folder
    from rescore.errors import ConfigError
    with pytest.raises(ConfigError, match="trainer=gpu sets both steps_per_call=50 and "
                                          "data_on_device=true; with several GPUs use "
                                          "trainer=default"):
        to_settings(compose_config(["trainer=gpu", "trainer.strategy=mirrored"]))


@pytest.mark.slow
def test_a_run_with_the_gpu_preset_is_the_default_run_bitwise(compose_config, tmp_path):
    """On CPU (the preset's logic; no GPU here): the same weights and records as the
    host-fed one-iteration run. 130 iterations, an error-based warm-up (single steps until
    it ends), checkpoints every 60 and evaluation every 100: calls of 50 iterations, cut at
    60, 100, 120 and the end."""
    cadence = ["optim.max_steps=130", "optim.milestones=[90]", "optim.warmup.max_steps=3",
               "trainer.eval_every=100", "trainer.checkpoint_every=60", "trainer.log_every=10"]

    def trained(name, *extra):
        return run_composed(compose_config, tmp_path / name,
                            [*TINY_WARMUP_RUN, *cadence, *extra])

    host, gpu = trained("host"), trained("gpu", "trainer=gpu")
    assert gpu["weights_sha256"] == host["weights_sha256"] and gpu["steps"] == 130
    assert without_speed(tmp_path / "gpu") == without_speed(tmp_path / "host")
