"""A checkpoint that cannot be written (issue 18 §3): a full disk, a quota or a file-size
limit ends the run with exit 8 and a message naming the path, what the OS said and the
newest good checkpoint; what the failed save left is removed, the earlier checkpoints stay
intact, and every mode treats the folder alike afterwards."""

import resource
import subprocess

import numpy as np
import pytest

from _faults import cli_env, rescore_cmd, tiny
from test_resume import _Tiny

FILE_SIZE_LIMIT = 200 * 1024  # bytes: the logs fit, resnet8's weights and momentum do not


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


@pytest.mark.slow
def test_a_save_past_the_file_size_limit_is_exit_8_and_leaves_nothing(tmp_path):
    args = tiny(10, 5, f"out_root={tmp_path / 'out'}")
    proc = subprocess.run(rescore_cmd(args), cwd=tmp_path, env=cli_env(), text=True,
                          capture_output=True, timeout=300, preexec_fn=_limit_file_size)
    assert proc.returncode == 8, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "rescore: error: could not write the checkpoint " in proc.stderr
    assert "checkpoints/ckpt-5 (OutOfRangeError: File too large" in proc.stderr
    assert "No checkpoint was saved before it" in proc.stderr
    (checkpoints,) = (tmp_path / "out").rglob("checkpoints")
    assert list(checkpoints.iterdir()) == []  # no ckpt-5_temp/ left behind

    # the folder holds no run for either mode: resume=never trains there from iteration 0
    again = subprocess.run(rescore_cmd(args + ["trainer.resume=never"]), cwd=tmp_path,
                           env=cli_env(), text=True, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (checkpoints.parent / "result.json").exists()


def test_a_failed_save_keeps_the_checkpoints_before_it(tmp_path, monkeypatch):
    import tensorflow as tf

    from rescore.errors import SaveError
    from rescore.train.checkpoint import Checkpoints

    saved = _Tiny(1.0)
    checkpoints = Checkpoints(tmp_path, 3, model=saved.model, optimizer=saved.optimizer)
    first = checkpoints.save(1)
    saved.model.w.assign([2.0, 2.0, 2.0])

    def disk_full(**_):
        (tmp_path / "ckpt-2_temp").mkdir()  # where TF writes before it renames
        (tmp_path / "ckpt-2_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
        raise tf.errors.ResourceExhaustedError(None, None, "tmp/ckpt-2_temp/x; No space left "
                                                           "on device")

    monkeypatch.setattr(checkpoints.manager, "save", disk_full)
    with pytest.raises(SaveError) as raised:
        checkpoints.save(2)
    message = str(raised.value)
    assert f"could not write the checkpoint {tmp_path / 'ckpt-2'} (ResourceExhaustedError: " \
           f"No space left on device). The newest good checkpoint is {first};" in message
    assert raised.value.exit_code == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "ckpt-1.data-00000-of-00001",
                                                          "ckpt-1.index"]

    fresh = _Tiny(0.0)
    restored = Checkpoints(tmp_path, 3, model=fresh.model, optimizer=fresh.optimizer)
    assert restored.restore_latest() == first
    np.testing.assert_array_equal(fresh.model.w.numpy(), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("leftover", ["ckpt-20_temp", "corrupt"])
def test_leftovers_are_not_checkpoints_in_any_mode(tmp_path, leftover):
    from rescore.train.rundir import choose_run_dir, has_checkpoints

    (tmp_path / "checkpoints" / leftover).mkdir(parents=True)
    assert not has_checkpoints(tmp_path)
    assert choose_run_dir(tmp_path, restart=False, resume="never") == tmp_path  # not refused
