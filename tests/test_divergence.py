"""NaN and divergence (issue 4): a non-finite loss or gradient is caught before it is
applied; the process exits 3 naming the iteration, the loss and the last good checkpoint,
and the newest checkpoint on disk holds only finite values."""

import re

import numpy as np
import pytest

from _faults import checkpoint_steps, only_run_dir, run_cli, tiny, train_steps


@pytest.mark.slow
def test_huge_learning_rate_stops_with_a_message_and_finite_checkpoints(tmp_path):
    # Five warm-up iterations at a sane rate (checkpointed every iteration), then 1e30.
    args = tiny(20, 1, f"out_root={tmp_path / 'out'}", "optim.lr=1e30",
                "optim.warmup.steps=5", "optim.warmup.lr=0.01")
    proc = run_cli(args, cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    message = re.search(r"rescore: error: (.*)", proc.stderr).group(1)

    run_dir = only_run_dir(tmp_path / "out")
    newest = checkpoint_steps(run_dir)[-1]
    failed_at = re.search(r"at iteration (\d+)", message)
    assert failed_at, message
    assert "loss=nan" in message or "loss=inf" in message or "non-finite values" in message
    assert message.endswith(f"Last good checkpoint: {run_dir / 'checkpoints'}/ckpt-{newest}")
    assert 5 <= newest <= int(failed_at.group(1)) <= 7  # it went wrong right after warm-up
    assert not (run_dir / "result.json").exists()

    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" / f"ckpt-{newest}"))
    floats = [name for name, dtype in reader.get_variable_to_dtype_map().items()
              if dtype.is_floating]
    assert len(floats) > 30  # the model and the momentum buffers, not just counters
    for name in floats:
        assert np.all(np.isfinite(reader.get_tensor(name))), name
    assert train_steps(run_dir)[-1] == int(failed_at.group(1))  # the bad step was not logged


@pytest.mark.slow
def test_divergence_before_any_checkpoint_says_so(compose_config, tmp_path):
    """Straight to 1e30: it fails within two iterations, with nothing saved to fall back on —
    and nothing non-finite is saved either."""
    import pytest

    from rescore.config import to_settings
    from rescore.errors import DivergedError
    from rescore.train.loop import run

    settings = to_settings(compose_config(tiny(10, 5, "optim.lr=1e30")))
    with pytest.raises(DivergedError, match=r"at iteration [01]\b.*Last good checkpoint: none yet"):
        run(settings, tmp_path)
    assert checkpoint_steps(tmp_path) == []
    assert not (tmp_path / "result.json").exists()
    assert not (tmp_path / "run.lock").exists()  # released on the way out
